//! Journal records → protobuf messages.

use super::pb;
use crate::journal::{EventKind, JournalEvent, PlanRecord, SyncOperation, SyncSummary};
use crate::model::Timestamp;
use crate::plan::Target;

/// A time for the wire: RFC 3339, empty when unknown.
fn rfc3339(t: Option<Timestamp>) -> String {
    t.map(crate::model::rfc3339).unwrap_or_default()
}

pub fn sync_ref(namespace: &str, name: &str) -> Option<pb::SyncRef> {
    Some(pb::SyncRef {
        namespace: namespace.into(),
        name: name.into(),
    })
}

pub fn sync(s: &SyncSummary) -> pb::Sync {
    pb::Sync {
        r#ref: sync_ref(&s.namespace, &s.name),
        ready: s.ready.clone(),
        reason: s.reason.clone(),
        message: s.message.clone(),
        last_applied_revision: s.last_applied_revision.clone(),
        last_attempted_revision: s.last_attempted_revision.clone(),
        suspended: s.suspended,
        last_reconcile_time: s.last_reconcile_time.clone(),
        source: s.source.clone(),
        pending_plan_digest: s.pending_plan_digest.clone(),
        drift: s.drift.clone(),
        rollout_paused: s.rollout_paused.clone(),
    }
}

pub fn plan(p: &PlanRecord) -> pb::Plan {
    pb::Plan {
        r#ref: sync_ref(&p.namespace, &p.name),
        revision: p.revision.clone(),
        computed_at: p.computed_at.clone(),
        actions: p
            .actions
            .iter()
            .map(|a| pb::PlanAction {
                kind: a.kind.label().into(),
                name: a.name.clone(),
                operation: a.operation.label().into(),
                reason: a.reason.clone(),
                outcome: a.outcome.map(|o| o.label().into()).unwrap_or_default(),
                outcome_message: a.outcome_message.clone(),
                osm_id: a.osm_id.clone(),
                nslcmop_id: a.nslcmop_id.clone(),
                target: a.target.as_ref().map(Target::label).unwrap_or_default(),
                target_kind: match &a.target {
                    Some(Target::Kdu { .. }) => "kdu",
                    Some(Target::Scale { .. }) => "scale",
                    Some(Target::Member { .. }) => "member",
                    None => "",
                }
                .into(),
            })
            .collect(),
        applied: p.applied,
        problems: p.problems.clone(),
        digest: p.digest.clone(),
        drift: p
            .drift
            .iter()
            .map(|d| pb::Drift {
                kind: d.kind.label().into(),
                name: d.name.clone(),
                what: d.what.clone(),
                corrected: d.corrected,
            })
            .collect(),
        batches: p
            .batches
            .iter()
            .map(|b| pb::RolloutBatch {
                canary: b.canary,
                names: b.names.clone(),
            })
            .collect(),
        awaiting_approval: p.awaiting_approval,
        rollout_paused: p.rollout_paused.clone().unwrap_or_default(),
    }
}

pub fn operation(o: &SyncOperation) -> pb::Operation {
    pb::Operation {
        nslcmop_id: o.nslcmop_id.clone(),
        r#ref: sync_ref(&o.namespace, &o.sync),
        ns_name: o.ns_name.clone(),
        ns_instance_id: o.ns_osm_id.clone(),
        r#type: o.op_type.to_string(),
        state: o.state.to_string(),
        start_time: rfc3339(o.start_time),
        end_time: rfc3339(o.end_time),
        error: o.error.clone().unwrap_or_default(),
        revision: o.revision.clone(),
        target: o.target.clone(),
    }
}

pub fn event(e: &JournalEvent) -> pb::Event {
    let kind = match &e.kind {
        EventKind::ReconcileStarted { revision } => {
            pb::event::Kind::ReconcileStarted(pb::ReconcileStarted {
                revision: revision.clone(),
            })
        }
        EventKind::ReconcileFinished {
            revision,
            ready,
            reason,
            message,
            duration_seconds,
        } => pb::event::Kind::ReconcileFinished(pb::ReconcileFinished {
            revision: revision.clone(),
            ready: ready.clone(),
            reason: reason.clone(),
            message: message.clone(),
            duration_seconds: *duration_seconds,
        }),
        EventKind::PlanComputed(p) => pb::event::Kind::PlanComputed(plan(p)),
        EventKind::OperationChanged(o) => pb::event::Kind::OperationChanged(operation(o)),
    };
    pb::Event {
        sequence: e.sequence,
        time: e.time.clone(),
        r#ref: sync_ref(&e.namespace, &e.name),
        kind: Some(kind),
    }
}
