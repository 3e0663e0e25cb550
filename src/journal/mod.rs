//! An in-memory record of what the controller planned and what OSM did, per OsmSync: sync
//! summaries, the last plan, OSM operations (with the revision that caused them) and a bounded,
//! resumable event log broadcast to watchers. Hydrated from each OsmSync's status history the
//! first time the controller sees it, so a restart keeps the recent history. Never blocks a
//! reconcile: every method takes a short lock and returns.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::api::{condition, OsmSync};
use crate::engine::{ActionStatus, OperationReport, Outcome};
use crate::plan::{ObjectKind, Operation};

/// Operations kept (oldest dropped first).
pub const MAX_OPERATIONS: usize = 20_000;
/// Events kept for resuming watchers.
pub const MAX_EVENTS: usize = 5_000;

pub type SyncKey = (String, String);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncSummary {
    pub namespace: String,
    pub name: String,
    pub ready: String,
    pub reason: String,
    pub message: String,
    pub last_applied_revision: String,
    pub last_attempted_revision: String,
    pub suspended: bool,
    pub last_reconcile_time: String,
    pub source: String,
    pub pending_plan_digest: String,
    /// Drift only reported, one line per object.
    pub drift: Vec<String>,
    pub rollout_paused: String,
}

/// One action of a plan as the journal keeps it: the plan's own types, turned into strings only
/// at the edges (gRPC, status, CLI output).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanActionRecord {
    pub kind: ObjectKind,
    pub name: String,
    pub operation: Operation,
    /// The KDU, scaling aspect or member the action is about.
    pub target: Option<crate::plan::Target>,
    pub reason: String,
    /// `None` for a previewed plan, or an action the run did not reach.
    pub outcome: Option<ActionStatus>,
    pub outcome_message: String,
    pub osm_id: String,
    pub nslcmop_id: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanRecord {
    pub namespace: String,
    pub name: String,
    pub revision: String,
    pub computed_at: String,
    pub actions: Vec<PlanActionRecord>,
    pub applied: bool,
    pub problems: Vec<String>,
    /// What the plan writes, as approvals name it.
    pub digest: String,
    /// Drift found (corrected or only reported).
    pub drift: Vec<crate::plan::Drift>,
    /// Rollout batches, in order.
    pub batches: Vec<crate::plan::Batch>,
    /// Why a rollout stopped early, when it did.
    pub rollout_paused: Option<String>,
    /// Not applied: it waits for approval.
    pub awaiting_approval: bool,
}

impl PlanRecord {
    /// A plan (previewed or applied) as a record; `outcome` adds the per-action results.
    pub fn from_plan(
        key: &SyncKey,
        revision: &str,
        plan: &crate::plan::Plan,
        outcome: Option<&Outcome>,
    ) -> PlanRecord {
        let actions = plan
            .actions
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let r = outcome.and_then(|o| o.results.get(i));
                PlanActionRecord {
                    kind: a.kind,
                    name: a.name.clone(),
                    operation: a.operation.clone(),
                    target: a.target.clone(),
                    reason: a.reason.clone(),
                    outcome: r.map(|r| r.status),
                    outcome_message: r.map(|r| r.message.clone()).unwrap_or_default(),
                    osm_id: r.and_then(|r| r.osm_id.clone()).unwrap_or_default(),
                    nslcmop_id: r.and_then(|r| r.nslcmop_id.clone()).unwrap_or_default(),
                }
            })
            .collect();
        PlanRecord {
            namespace: key.0.clone(),
            name: key.1.clone(),
            revision: revision.into(),
            computed_at: crate::model::now_rfc3339(),
            actions,
            applied: outcome.is_some(),
            problems: plan.problems.clone(),
            digest: plan.digest.clone(),
            drift: plan.drift.clone(),
            batches: plan.batches.clone(),
            rollout_paused: outcome.and_then(|o| o.rollout_paused.clone()),
            awaiting_approval: false,
        }
    }
}

/// An OSM operation and the OsmSync whose reconcile started it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOperation {
    pub namespace: String,
    pub sync: String,
    pub op: OperationReport,
}

impl SyncOperation {
    fn new(key: &SyncKey, revision: &str, r: &OperationReport) -> SyncOperation {
        let mut op = r.clone();
        if op.revision.is_empty() {
            op.revision = revision.into();
        }
        SyncOperation {
            namespace: key.0.clone(),
            sync: key.1.clone(),
            op,
        }
    }
}

impl std::ops::Deref for SyncOperation {
    type Target = OperationReport;
    fn deref(&self) -> &OperationReport {
        &self.op
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    ReconcileStarted {
        revision: String,
    },
    ReconcileFinished {
        revision: String,
        ready: String,
        reason: String,
        message: String,
        duration_seconds: f64,
    },
    PlanComputed(PlanRecord),
    OperationChanged(SyncOperation),
}

#[derive(Debug, Clone, PartialEq)]
pub struct JournalEvent {
    pub sequence: u64,
    pub time: String,
    pub namespace: String,
    pub name: String,
    pub kind: EventKind,
}

#[derive(Default)]
struct State {
    seq: u64,
    syncs: BTreeMap<SyncKey, SyncSummary>,
    plans: BTreeMap<SyncKey, PlanRecord>,
    /// Oldest first.
    operations: VecDeque<SyncOperation>,
    events: VecDeque<JournalEvent>,
    hydrated: HashSet<SyncKey>,
}

pub struct Journal {
    state: Mutex<State>,
    tx: broadcast::Sender<JournalEvent>,
}

impl Default for Journal {
    fn default() -> Self {
        Journal {
            state: Mutex::new(State::default()),
            tx: broadcast::channel(1024).0,
        }
    }
}

fn summary_of(sync: &OsmSync) -> SyncSummary {
    let st = sync.status.clone().unwrap_or_default();
    let ready = st.condition(condition::READY);
    let r = &sync.spec.source_ref;
    let ns = sync.metadata.namespace.clone().unwrap_or_default();
    SyncSummary {
        namespace: ns.clone(),
        name: sync.metadata.name.clone().unwrap_or_default(),
        ready: ready
            .map(|c| c.status.clone())
            .unwrap_or_else(|| "Unknown".into()),
        reason: ready.map(|c| c.reason.clone()).unwrap_or_default(),
        message: ready.map(|c| c.message.clone()).unwrap_or_default(),
        last_applied_revision: st.last_applied_revision.clone().unwrap_or_default(),
        last_attempted_revision: st.last_attempted_revision.clone().unwrap_or_default(),
        suspended: sync.spec.suspend,
        last_reconcile_time: st
            .history
            .first()
            .map(|h| h.last_reconciled.clone())
            .unwrap_or_default(),
        source: format!(
            "{}/{}/{}",
            r.kind.as_str(),
            r.namespace.clone().unwrap_or(ns),
            r.name
        ),
        pending_plan_digest: st
            .pending_plan
            .as_ref()
            .map(|p| p.digest.clone())
            .unwrap_or_default(),
        drift: st
            .drift
            .iter()
            .map(|d| format!("{} {}: {}", d.kind, d.name, d.what))
            .collect(),
        rollout_paused: st
            .rollout
            .as_ref()
            .filter(|r| r.paused)
            .map(|r| r.message.clone())
            .unwrap_or_default(),
    }
}

impl Journal {
    fn push_event(&self, st: &mut State, key: &SyncKey, kind: EventKind) {
        st.seq += 1;
        let ev = JournalEvent {
            sequence: st.seq,
            time: crate::model::now_rfc3339(),
            namespace: key.0.clone(),
            name: key.1.clone(),
            kind,
        };
        st.events.push_back(ev.clone());
        while st.events.len() > MAX_EVENTS {
            st.events.pop_front();
        }
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(ev);
    }

    fn upsert_operation(&self, st: &mut State, key: &SyncKey, op: SyncOperation) {
        let changed = match st
            .operations
            .iter_mut()
            .find(|o| o.nslcmop_id == op.nslcmop_id)
        {
            Some(existing) if *existing == op => false,
            Some(existing) => {
                *existing = op.clone();
                true
            }
            None => {
                st.operations.push_back(op.clone());
                while st.operations.len() > MAX_OPERATIONS {
                    st.operations.pop_front();
                }
                true
            }
        };
        if changed {
            self.push_event(st, key, EventKind::OperationChanged(op));
        }
    }

    /// Records the OsmSync as the controller sees it; the first time, imports its status history.
    pub fn observe_sync(&self, sync: &OsmSync) {
        let summary = summary_of(sync);
        let key = (summary.namespace.clone(), summary.name.clone());
        let mut st = self.state.lock().expect("journal lock");
        if st.hydrated.insert(key.clone()) {
            let recorded = sync
                .status
                .as_ref()
                .map(|s| s.operations.clone())
                .unwrap_or_default();
            // The status keeps them newest first; the journal oldest first.
            for o in recorded.iter().rev() {
                if st.operations.iter().any(|x| x.nslcmop_id == o.nslcmop_id) {
                    continue;
                }
                let op = o.report();
                st.operations
                    .push_back(SyncOperation::new(&key, &o.revision, &op));
            }
        }
        st.syncs.insert(key, summary);
    }

    pub fn forget_sync(&self, namespace: &str, name: &str) {
        let mut st = self.state.lock().expect("journal lock");
        st.syncs.remove(&(namespace.to_owned(), name.to_owned()));
    }

    pub fn reconcile_started(&self, key: &SyncKey, revision: &str) {
        let mut st = self.state.lock().expect("journal lock");
        self.push_event(
            &mut st,
            key,
            EventKind::ReconcileStarted {
                revision: revision.into(),
            },
        );
    }

    /// The end of a reconcile: the summary from the status written, and an event.
    pub fn reconcile_finished(
        &self,
        sync: &OsmSync,
        status: &crate::api::OsmSyncStatus,
        revision: &str,
        duration_seconds: f64,
    ) {
        let mut with_status = sync.clone();
        with_status.status = Some(status.clone());
        let mut summary = summary_of(&with_status);
        summary.last_reconcile_time = crate::model::now_rfc3339();
        let key = (summary.namespace.clone(), summary.name.clone());
        let mut st = self.state.lock().expect("journal lock");
        let kind = EventKind::ReconcileFinished {
            revision: revision.into(),
            ready: summary.ready.clone(),
            reason: summary.reason.clone(),
            message: summary.message.clone(),
            duration_seconds,
        };
        st.syncs.insert(key.clone(), summary);
        self.push_event(&mut st, &key, kind);
    }

    /// An applied plan and the operations it started.
    pub fn plan_applied(&self, key: &SyncKey, revision: &str, outcome: &Outcome) {
        let record = PlanRecord::from_plan(key, revision, &outcome.plan, Some(outcome));
        let mut st = self.state.lock().expect("journal lock");
        st.plans.insert(key.clone(), record.clone());
        self.push_event(&mut st, key, EventKind::PlanComputed(record));
        for r in &outcome.operations {
            self.upsert_operation(&mut st, key, SyncOperation::new(key, revision, r));
        }
    }

    /// A plan computed and not applied: it waits for approval. An event only when it is new.
    pub fn plan_pending(&self, key: &SyncKey, revision: &str, plan: &crate::plan::Plan) {
        let record = PlanRecord {
            awaiting_approval: true,
            ..PlanRecord::from_plan(key, revision, plan, None)
        };
        let mut st = self.state.lock().expect("journal lock");
        let same = st
            .plans
            .get(key)
            .is_some_and(|p| !p.applied && p.digest == record.digest);
        st.plans.insert(key.clone(), record.clone());
        if !same {
            self.push_event(&mut st, key, EventKind::PlanComputed(record));
        }
    }

    /// An operation state seen while following, or refreshed from OSM.
    pub fn operation_seen(&self, key: &SyncKey, revision: &str, report: &OperationReport) {
        let mut st = self.state.lock().expect("journal lock");
        let mut rec = SyncOperation::new(key, revision, report);
        if let Some(old) = st
            .operations
            .iter()
            .find(|o| o.nslcmop_id == rec.nslcmop_id)
        {
            // Keep what the first sighting knew (revision, ids) when a refresh lacks it.
            if rec.op.revision.is_empty() {
                rec.op.revision = old.revision.clone();
            }
            if rec.op.ns_osm_id.is_empty() {
                rec.op.ns_osm_id = old.ns_osm_id.clone();
            }
        }
        self.upsert_operation(&mut st, key, rec);
    }

    pub fn update_operation(&self, rec: SyncOperation) {
        let key = (rec.namespace.clone(), rec.sync.clone());
        let mut st = self.state.lock().expect("journal lock");
        self.upsert_operation(&mut st, &key, rec);
    }

    pub fn syncs(&self, namespace: Option<&str>) -> Vec<SyncSummary> {
        let st = self.state.lock().expect("journal lock");
        st.syncs
            .values()
            .filter(|s| namespace.is_none_or(|n| s.namespace == n))
            .cloned()
            .collect()
    }

    pub fn sync(&self, namespace: &str, name: &str) -> Option<SyncSummary> {
        self.state
            .lock()
            .expect("journal lock")
            .syncs
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    pub fn plan(&self, namespace: &str, name: &str) -> Option<PlanRecord> {
        self.state
            .lock()
            .expect("journal lock")
            .plans
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Operations, newest first, matching `keep`.
    pub fn operations(&self, keep: impl Fn(&SyncOperation) -> bool) -> Vec<SyncOperation> {
        let st = self.state.lock().expect("journal lock");
        let mut v: Vec<SyncOperation> = st.operations.iter().filter(|o| keep(o)).cloned().collect();
        v.sort_by(|a, b| {
            b.start_time
                .cmp(&a.start_time)
                .then_with(|| b.nslcmop_id.cmp(&a.nslcmop_id))
        });
        v
    }

    pub fn operation(&self, nslcmop_id: &str) -> Option<SyncOperation> {
        self.state
            .lock()
            .expect("journal lock")
            .operations
            .iter()
            .find(|o| o.nslcmop_id == nslcmop_id)
            .cloned()
    }

    /// Retained events after `after` (`None`: none, only new ones) and a receiver for new ones
    /// (subscribed under the same lock, so nothing falls between the two).
    pub fn subscribe(
        &self,
        after: Option<u64>,
    ) -> (Vec<JournalEvent>, broadcast::Receiver<JournalEvent>) {
        let st = self.state.lock().expect("journal lock");
        let rx = self.tx.subscribe();
        let backlog = match after {
            None => vec![],
            Some(after) => st
                .events
                .iter()
                .filter(|e| e.sequence > after)
                .cloned()
                .collect(),
        };
        (backlog, rx)
    }

    pub fn last_sequence(&self) -> u64 {
        self.state.lock().expect("journal lock").seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync_with_history() -> OsmSync {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "osmops.io/v1alpha1", "kind": "OsmSync", "metadata": {"name": "a", "namespace": "ns"},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "r"}, "interval": "5m", "osm": {"secretRef": {"name": "s"}}},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded", "message": "Applied revision: r2", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                "lastAppliedRevision": "r2",
                "operations": [
                    {"nslcmopId": "op2", "nsName": "ldap", "type": "action", "state": "COMPLETED", "revision": "r2",
                     "startTime": "2026-01-01T00:10:00Z", "endTime": "2026-01-01T00:11:00Z"},
                    {"nslcmopId": "op1", "nsName": "ldap", "type": "instantiate", "state": "FAILED", "error": "boom", "revision": "r1",
                     "startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-01T00:01:00Z"}
                ]}
        }))
        .unwrap()
    }

    #[test]
    fn hydrates_operations_from_the_status_once() {
        let j = Journal::default();
        j.observe_sync(&sync_with_history());
        j.observe_sync(&sync_with_history());
        let ops = j.operations(|_| true);
        let ids: Vec<&str> = ops.iter().map(|o| o.nslcmop_id.as_str()).collect();
        assert_eq!(ids, ["op2", "op1"], "newest first, no duplicates");
        assert_eq!(ops[1].revision, "r1");
        assert_eq!(ops[1].error.as_deref(), Some("boom"));
        let s = j.sync("ns", "a").unwrap();
        assert_eq!(
            (
                s.ready.as_str(),
                s.last_applied_revision.as_str(),
                s.source.as_str()
            ),
            ("True", "r2", "GitRepository/ns/r")
        );
    }

    #[test]
    fn events_are_sequenced_and_resumable() {
        let j = Journal::default();
        let key = ("ns".to_owned(), "a".to_owned());
        j.reconcile_started(&key, "r1");
        j.reconcile_started(&key, "r2");
        let (backlog, _rx) = j.subscribe(Some(1));
        assert_eq!(backlog.len(), 1);
        assert_eq!(backlog[0].sequence, 2);
        assert_eq!(
            j.subscribe(Some(0)).0.len(),
            2,
            "0 replays every retained event"
        );
        assert!(
            j.subscribe(None).0.is_empty(),
            "unset means only new events"
        );
    }
}
