//! What one sync owns in OSM, as far as it has recorded it. Prune touches what is recorded here or
//! marked in OSM as this sync's own (see `owner.rs`), and nothing OSM marks as someone else's.
//! Serializable: the CLI keeps it in a state file, the controller in the `OsmSync` status.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::owner::Recorded;
use crate::repo::PackageKind;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// NS instance name → OSM id and the digest of the NsInstance document last applied.
    #[serde(default)]
    pub ns_instances: BTreeMap<String, NsEntry>,
    /// Package descriptor id → OSM `_id` and the content digest last uploaded.
    #[serde(default)]
    pub packages: BTreeMap<String, PackageEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NsEntry {
    pub osm_id: String,
    pub digest: String,
    /// Instantiate attempts made for `digest` (create, then each recreate) while it has not
    /// completed: what instantiate remediation counts its retries with.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub instantiate_attempts: u32,
    /// The NS was not created by this sync but adopted explicitly (`adopt`). OSM keeps no mark
    /// on it (an NS description cannot be changed after create), so this record is the only
    /// proof that it is this sync's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageEntry {
    pub kind: PackageKind,
    pub osm_id: String,
    pub digest: String,
    /// Recorded after an upload of this sync that carried its owner tag (created, updated or
    /// adopted): the package is this sync's even if OSM's copy was replaced outside Git since.
    /// Entries of earlier versions lack it: they also recorded packages they had only found.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tagged: bool,
}

impl Inventory {
    pub fn is_empty(&self) -> bool {
        self.ns_instances.is_empty() && self.packages.is_empty()
    }

    /// What this inventory records of the NS with this OSM id under this name.
    pub fn ns_record(&self, name: &str, osm_id: &str) -> Recorded {
        match self.ns_instances.get(name).filter(|e| e.osm_id == osm_id) {
            Some(e) if e.adopted => Recorded::Proven,
            Some(_) => Recorded::Unproven,
            None => Recorded::No,
        }
    }

    /// What this inventory records of the package with this OSM id and descriptor id.
    pub fn package_record(&self, id: &str, kind: PackageKind, osm_id: &str) -> Recorded {
        match self
            .packages
            .get(id)
            .filter(|e| e.osm_id == osm_id && e.kind == kind)
        {
            Some(e) if e.tagged => Recorded::Proven,
            Some(_) => Recorded::Unproven,
            None => Recorded::No,
        }
    }
}
