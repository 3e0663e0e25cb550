//! What one sync owns in OSM, as far as it has recorded it. Prune touches what is recorded here or
//! marked in OSM as this sync's own (see `owner.rs`), and nothing OSM marks as someone else's.
//! Serializable: the CLI keeps it in a state file, the controller in the `OsmSync` status.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
}

impl Inventory {
    pub fn is_empty(&self) -> bool {
        self.ns_instances.is_empty() && self.packages.is_empty()
    }
}
