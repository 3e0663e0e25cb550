//! What one sync owns in OSM. Prune only ever touches what is recorded here. Serializable: the CLI
//! keeps it in a state file, the controller in the `OsmSync` status.

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
