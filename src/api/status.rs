//! The OsmSync status: Flux's conditions and fields, and what OSM Ops adds (inventory, OSM
//! operations, pending and approved plans, drift, rollout, history).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{condition, OsmSync};
use crate::model::{parse_rfc3339, LcmOperationType, OperationReport, OperationState, Timestamp};

/// A standard Kubernetes condition (metav1.Condition).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Reconciling` or `Stalled`.
    #[serde(rename = "type")]
    pub type_: String,
    /// True, False or Unknown.
    pub status: String,
    /// The generation this condition describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// RFC 3339 time of the last status change.
    pub last_transition_time: String,
    /// A Flux reason in CamelCase (see Conditions and reasons).
    pub reason: String,
    /// What happened, for humans.
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OsmSyncStatus {
    /// The generation the status describes; -1 until the controller first saw the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling` and `Stalled`, as Flux controllers write them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Revision of the last artifact applied successfully, e.g. `main@sha1:<hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// Revision of the last artifact an apply was attempted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// The last `reconcile.fluxcd.io/requestedAt` value handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// What this OsmSync owns in OSM; prune only ever touches these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<SyncInventory>,
    /// Reconcile results as Flux's `meta.History`: one snapshot per (digest of the desired
    /// state, result), newest first, at most 5; a repeat only updates its snapshot, so a
    /// persistent failure never pushes the last success out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Snapshot>,
    /// The OSM operations this OsmSync started, newest first (at most 20, plus any still running):
    /// recorded as soon as OSM accepts them, so a restarted controller follows the running ones
    /// to their end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<OperationEntry>,
    /// The plan waiting for approval (`spec.approval: manual`); approve it by its digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_plan: Option<PendingPlanStatus>,
    /// The last approved plan this OsmSync applied, and who approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_approved_plan: Option<ApprovedPlanStatus>,
    /// What OSM changed outside Git and the drift policy only reports (the `Drifted` condition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<DriftEntry>,
    /// The state of a progressive rollout that a failed batch paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingPlanStatus {
    /// `sha256:<hex>`: what `osmops.io/approve` must name.
    pub digest: String,
    /// The source revision it was computed for.
    pub revision: String,
    /// Its writes, e.g. `2 create, 1 upgrade`.
    pub summary: String,
    /// RFC 3339 time it was computed.
    pub computed_at: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovedPlanStatus {
    pub digest: String,
    pub revision: String,
    /// The `osmops.io/approved-by` annotation (the gRPC caller for `ApprovePlan`), or
    /// `annotation` when it was not given.
    pub approved_by: String,
    /// RFC 3339 time it was applied.
    pub applied_at: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftEntry {
    /// `NsInstance`, `VnfPackage` or `NsPackage`.
    pub kind: String,
    pub name: String,
    /// What changed in OSM.
    pub what: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// True while later batches wait for a new revision or `osmops.io/resume-rollout`.
    pub paused: bool,
    /// The revision the rollout was for.
    #[serde(default)]
    pub revision: String,
    /// Why it paused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The last `osmops.io/resume-rollout` value handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_resume: Option<String>,
}

impl OsmSyncStatus {
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

impl OsmSync {
    /// Ready=True for the current generation (what `kubectl wait --for=condition=Ready` checks).
    pub fn is_ready(&self) -> bool {
        let generation = self.metadata.generation;
        self.status.as_ref().is_some_and(|s| {
            s.condition(condition::READY)
                .is_some_and(|c| c.status == "True")
                && (generation.is_none() || s.observed_generation == generation)
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncInventory {
    /// The OSM (URL without user-info) and project the entries belong to. When the Secret points
    /// elsewhere, the entries are dropped: ownership is then proven by the marks this OsmSync
    /// leaves in OSM (see docs/osmsync.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub osm_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default)]
    pub ns_instances: Vec<NsInventoryEntry>,
    #[serde(default)]
    pub packages: Vec<PackageInventoryEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NsInventoryEntry {
    /// NS instance name (as in Git and OSM).
    pub name: String,
    /// OSM's `_id` of the NS instance.
    pub osm_id: String,
    /// Digest of the NsInstance document last applied.
    pub digest: String,
    /// Instantiate attempts for that digest (what instantiate remediation counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instantiate_attempts: Option<u32>,
    /// Adopted explicitly (`spec.adopt`) rather than created by this OsmSync: OSM keeps no mark
    /// on it, so this entry is the only proof that it is this OsmSync's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageInventoryEntry {
    /// Descriptor id.
    pub id: String,
    /// `VnfPackage` or `NsPackage`.
    pub kind: String,
    /// OSM's `_id` of the package.
    pub osm_id: String,
    /// Content digest of the package last uploaded.
    pub digest: String,
    /// Recorded after an upload that carried this OsmSync's owner tag.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tagged: bool,
}

/// One kind of reconcile result (Flux's `meta.Snapshot`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// `sha256:<hex>` of the desired state applied (every NsInstance and package digest), or of
    /// the revision when the repository could not be read.
    pub digest: String,
    /// RFC 3339 time this result was first seen for this digest.
    pub first_reconciled: String,
    /// RFC 3339 time of the latest reconcile with this result.
    pub last_reconciled: String,
    /// Duration of that reconcile, e.g. `1.234s`.
    pub last_reconciled_duration: String,
    /// The Ready reason it ended with, e.g. `ReconciliationSucceeded` or `OperationFailed`.
    pub last_reconciled_status: String,
    pub total_reconciliations: i64,
    /// `revision` and the counts of the latest reconcile per action (`create`, `upgrade`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationEntry {
    /// OSM's id of the operation (`ns_lcm_op_occs`).
    pub nslcmop_id: String,
    /// Name of the NS instance it works on.
    pub ns_name: String,
    /// OSM's `_id` of the NS instance.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ns_instance_id: String,
    /// instantiate, action (KDU upgrade), scale, update (VNF package) or terminate.
    #[serde(rename = "type")]
    pub type_: String,
    /// The part of the NS it is about: a KDU (`member/kdu`), a scaling aspect (`member/aspect`)
    /// or a member VNF (`member`); absent for the NS as a whole.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// OSM's operationState (PROCESSING while running), or TIMEOUT / UNKNOWN / NOT_FOLLOWED.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The source revision that caused it.
    #[serde(default)]
    pub revision: String,
    #[serde(default)]
    pub start_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
}

impl OperationEntry {
    /// An OSM operation as the status records it (times in RFC 3339 with milliseconds: the
    /// operations of one reconcile often start within a second).
    pub fn of(r: &OperationReport) -> OperationEntry {
        let precise = |t: Timestamp| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        OperationEntry {
            nslcmop_id: r.nslcmop_id.clone(),
            ns_name: r.ns_name.clone(),
            ns_instance_id: r.ns_osm_id.clone(),
            type_: r.op_type.to_string(),
            target: r.target.clone(),
            state: r.state.to_string(),
            error: r.error.clone(),
            revision: r.revision.clone(),
            start_time: r.start_time.map(precise).unwrap_or_default(),
            end_time: r.end_time.map(precise),
        }
    }

    /// The operation the status recorded, read back.
    pub fn report(&self) -> OperationReport {
        OperationReport {
            nslcmop_id: self.nslcmop_id.clone(),
            ns_name: self.ns_name.clone(),
            ns_osm_id: self.ns_instance_id.clone(),
            op_type: LcmOperationType::from(self.type_.as_str()),
            state: OperationState::from(self.state.as_str()),
            error: self.error.clone(),
            start_time: parse_rfc3339(&self.start_time),
            end_time: self.end_time.as_deref().and_then(parse_rfc3339),
            revision: self.revision.clone(),
            target: self.target.clone(),
        }
    }
}
