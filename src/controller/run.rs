//! One reconcile in progress (`Run`): the object, the status as the server has it and as this
//! reconcile will leave it, and what every phase shares — its intervals, the status write, the
//! error a reconcile ends with. The phases live in reconcile.rs (and operations.rs, gates.rs,
//! report.rs for theirs); cleanup.rs writes the status through it too.

use std::time::{Duration, Instant};

use kube::api::{Api, Patch, PatchParams};
use kube::ResourceExt;
use serde_json::json;
use tracing::Instrument;

use super::failure::Failure;
use super::Context;
use crate::api::{reason, OsmSync, OsmSyncStatus};
use crate::duration::parse_spec_duration;
use crate::engine::Outcome;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Finalizer(String),
    /// Deletion is waiting for prune to finish (kept as an error so the finalizer stays).
    #[error("prune before deletion not finished: {0}")]
    PruneIncomplete(String),
}

impl ReconcileError {
    /// Failure kind as a metric label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ReconcileError::Kube(_) => "kube_api",
            ReconcileError::Finalizer(_) => "finalizer",
            ReconcileError::PruneIncomplete(_) => "prune_incomplete",
        }
    }
}

/// Effective intervals of a spec (Flux defaults: retryInterval and timeout default to interval).
pub(super) struct Intervals {
    pub interval: Duration,
    pub retry: Duration,
    pub timeout: Duration,
}

impl Intervals {
    pub fn from(sync: &OsmSync) -> Result<Intervals, Failure> {
        let invalid = |msg: String| Failure::new(reason::INVALID_SPEC, msg).stalled();
        // What the CRD admits (pattern and CEL rule), so that an API server without CEL (or
        // an object written before the rule) is refused here with the same verdict.
        let parse = |field: &str, v: &str| {
            parse_spec_duration(v).map_err(|e| invalid(format!("spec.{field}: {e}")))
        };
        let interval = parse("interval", &sync.spec.interval)?;
        let optional = |field: &str, v: Option<&str>| match v {
            Some(v) => parse(field, v),
            None => Ok(interval),
        };
        Ok(Intervals {
            interval,
            retry: optional("retryInterval", sync.spec.retry_interval.as_deref())?,
            timeout: optional("timeout", sync.spec.timeout.as_deref())?,
        })
    }
}

/// Writes the status when it differs from what the server has (no-op writes would only produce
/// watch events and noise).
pub(super) async fn write_status(
    api: &Api<OsmSync>,
    sync: &OsmSync,
    current: &mut OsmSyncStatus,
    next: &OsmSyncStatus,
) -> Result<(), kube::Error> {
    if current == next {
        return Ok(());
    }
    api.patch_status(
        &sync.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status_patch(current, next) })),
    )
    .instrument(tracing::info_span!("status.write"))
    .await?;
    *current = next.clone();
    Ok(())
}

/// `next` as a JSON merge patch over `current`: a field `next` leaves out (an empty list, an
/// unset option) is sent as `null`, since a merge patch keeps every field it does not name.
fn status_patch(current: &OsmSyncStatus, next: &OsmSyncStatus) -> serde_json::Value {
    let mut patch = serde_json::to_value(next).expect("the status serializes");
    let before = serde_json::to_value(current).expect("the status serializes");
    if let (Some(p), Some(b)) = (patch.as_object_mut(), before.as_object()) {
        for key in b.keys() {
            if !p.contains_key(key) {
                p.insert(key.clone(), serde_json::Value::Null);
            }
        }
    }
    patch
}

/// The result of the phases that reached OSM.
pub(super) struct Applied {
    pub outcome: Outcome,
    pub intervals: Intervals,
}

/// One reconcile in progress: the object, the status as the server has it (`current`) and as
/// this reconcile will leave it (`next`).
pub(super) struct Run<'a> {
    pub api: &'a Api<OsmSync>,
    pub ctx: &'a Context,
    /// Where the Ready status this reconcile leaves is reported (metrics).
    pub ready_out: &'a std::sync::Mutex<Option<String>>,
    pub sync: &'a OsmSync,
    pub started: Instant,
    /// Digest of the desired state (or of the revision) for the history snapshot.
    pub digest: Option<String>,
    /// Snapshot metadata: the revision and what the reconcile did.
    pub metadata: std::collections::BTreeMap<String, String>,
    pub current: OsmSyncStatus,
    pub next: OsmSyncStatus,
    /// The artifact revision, once the source is resolved.
    pub revision: Option<String>,
    pub retry: Duration,
    /// Ready was True when the reconcile started (before it said it was progressing).
    pub was_ready: bool,
    /// Operations an earlier reconcile started that this one saw end (through the follower).
    pub resumed: Vec<crate::engine::OperationReport>,
}

impl<'a> Run<'a> {
    pub(super) fn new(
        api: &'a Api<OsmSync>,
        sync: &'a OsmSync,
        ctx: &'a Context,
        ready_out: &'a std::sync::Mutex<Option<String>>,
    ) -> Run<'a> {
        let current = sync.status.clone().unwrap_or_default();
        let was_ready = current
            .condition(crate::api::condition::READY)
            .is_some_and(|c| c.status == "True");
        Run {
            was_ready,
            api,
            ctx,
            sync,
            started: Instant::now(),
            digest: None,
            metadata: Default::default(),
            next: current.clone(),
            current,
            revision: None,
            retry: Duration::from_secs(60),
            ready_out,
            resumed: Vec::new(),
        }
    }

    pub(super) fn key(&self) -> (String, String) {
        (
            self.sync.namespace().unwrap_or_default(),
            self.sync.name_any(),
        )
    }

    pub(super) fn generation(&self) -> Option<i64> {
        self.sync.metadata.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_the_next_status_drops_is_removed_by_the_merge_patch() {
        let current = OsmSyncStatus {
            pending_plan: Some(Default::default()),
            drift: vec![Default::default()],
            last_applied_revision: Some("r1".into()),
            ..Default::default()
        };
        let next = OsmSyncStatus {
            last_applied_revision: Some("r2".into()),
            ..Default::default()
        };
        let patch = status_patch(&current, &next);
        assert_eq!(patch["pendingPlan"], serde_json::Value::Null);
        assert_eq!(patch["drift"], serde_json::Value::Null);
        assert_eq!(patch["lastAppliedRevision"], "r2");
        assert!(patch.as_object().unwrap().contains_key("pendingPlan"));
    }
}
