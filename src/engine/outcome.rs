//! What a run did: the result of every planned action, the operations it started and followed,
//! the inventory after it, and the counts and summary people read.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::OperationReport;
use crate::model::OperationState;
use crate::osm::CounterSnapshot;
use crate::plan::{self, Inventory, Operation, Plan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ActionStatus {
    /// The write was accepted (and, when followed, its operation completed).
    Succeeded,
    Failed,
    /// Not attempted because something it depends on failed or is still running.
    Skipped,
    /// Nothing to do (unchanged).
    NoOp,
    Blocked,
}

impl ActionStatus {
    /// The name the gRPC API and the CLI's JSON use (as serialized).
    pub fn label(self) -> &'static str {
        match self {
            ActionStatus::Succeeded => "Succeeded",
            ActionStatus::Failed => "Failed",
            ActionStatus::Skipped => "Skipped",
            ActionStatus::NoOp => "NoOp",
            ActionStatus::Blocked => "Blocked",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    pub status: ActionStatus,
    pub message: String,
    /// OSM id of the object the action touched or created.
    pub osm_id: Option<String>,
    /// The `nslcmop` id of the operation the write started.
    pub nslcmop_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub plan: Plan,
    pub results: Vec<ActionResult>,
    pub operations: Vec<OperationReport>,
    pub inventory: Inventory,
    pub requests: CounterSnapshot,
    pub duration_ms: u64,
    /// Set when a rollout batch failed under failure policy `pause`: why later batches were not
    /// started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_paused: Option<String>,
}

impl Outcome {
    /// The outcome with every value from a Secret that OSM's answers quote replaced by
    /// `(secret)` (an NBI error may echo a value it refused).
    pub fn scrubbed(mut self, secrets: &crate::repo::SecretBook) -> Outcome {
        if secrets.is_empty() {
            return self;
        }
        self.plan.scrub(secrets);
        for r in &mut self.results {
            r.message = secrets.scrub(&r.message);
        }
        for o in &mut self.operations {
            secrets.scrub_error(o);
        }
        self.rollout_paused = self.rollout_paused.as_deref().map(|e| secrets.scrub(e));
        self
    }

    /// True when a write or a followed operation failed or timed out, an NS is broken, or a
    /// remediation left OSM other than Git says (see [`Outcome::not_converged`]).
    pub fn failed(&self) -> bool {
        self.results
            .iter()
            .any(|r| r.status == ActionStatus::Failed)
            || self.operations.iter().any(|o| o.failed())
            || !self.not_converged().is_empty()
    }

    /// True when something still has to happen (blocked/skipped actions, unfinished operations).
    pub fn incomplete(&self) -> bool {
        self.results
            .iter()
            .any(|r| matches!(r.status, ActionStatus::Blocked | ActionStatus::Skipped))
            || self.operations.iter().any(|o| !o.finished())
    }

    /// Writes that succeeded and still leave OSM other than Git says: a rollback (upgrade
    /// remediation) restores the params OSM last completed, not Git's. One line each.
    pub fn not_converged(&self) -> Vec<String> {
        self.plan
            .actions
            .iter()
            .zip(&self.results)
            .filter(|(a, r)| {
                matches!(a.operation, Operation::RollbackNs { .. })
                    && r.status == ActionStatus::Succeeded
            })
            .map(|(a, r)| {
                format!(
                    "rollback {} {}: {}; Git's params are not in OSM (the upgrade to them failed)",
                    a.kind.label(),
                    a.name,
                    r.message
                )
            })
            .collect()
    }

    /// Planned actions per label (what was intended).
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        plan::counts(&self.plan)
    }

    /// What happened, per kind. A write counts as done ("upgraded", "deleted") only when OSM
    /// completed the operation it started, or when it started none; one whose operation was not
    /// followed is "requested", one whose outcome could not be learned "unknown". A broken NS
    /// (nothing was sent) is "broken".
    pub fn done(&self) -> BTreeMap<&'static str, usize> {
        let ops: HashMap<&str, &OperationReport> = self
            .operations
            .iter()
            .map(|o| (o.nslcmop_id.as_str(), o))
            .collect();
        let mut m = BTreeMap::new();
        for (a, r) in self.plan.actions.iter().zip(&self.results) {
            let op = r.nslcmop_id.as_deref().and_then(|id| ops.get(id));
            let key = match (&a.operation, r.status) {
                (Operation::Broken { .. }, _) => "broken",
                (Operation::Drifted { .. }, ActionStatus::NoOp) => "drifted",
                (_, ActionStatus::Succeeded) => match op.map(|o| &o.state) {
                    Some(OperationState::NotFollowed) => "requested",
                    Some(s) if !s.settled() => "unknown",
                    Some(s) if s.failed() => "failed",
                    _ => match &a.operation {
                        Operation::CreatePackage | Operation::CreateNs { .. } => "created",
                        Operation::UpdatePackage { .. } | Operation::UpdateNs { .. } => "updated",
                        Operation::ScaleNs { .. } => "scaled",
                        Operation::UpgradeNs { .. } => "upgraded",
                        Operation::RollbackNs { .. } => "rolled back",
                        Operation::RecreateNs { .. } => "recreated",
                        Operation::DeletePackage { .. } | Operation::DeleteNs { .. } => "deleted",
                        other => other.label(),
                    },
                },
                (_, ActionStatus::NoOp) => "unchanged",
                (_, ActionStatus::Failed) => "failed",
                (_, ActionStatus::Skipped) => "skipped",
                (_, ActionStatus::Blocked) => "blocked",
            };
            *m.entry(key).or_insert(0) += 1;
        }
        m
    }

    /// A one-line human summary of what happened, e.g. "2 created, 1 upgraded, 5 unchanged;
    /// operations: 3 completed".
    pub fn summary(&self) -> String {
        let done = self.done();
        const ORDER: [&str; 15] = [
            "created",
            "updated",
            "upgraded",
            "scaled",
            "rolled back",
            "recreated",
            "deleted",
            "requested",
            "unchanged",
            "drifted",
            "unknown",
            "broken",
            "failed",
            "skipped",
            "blocked",
        ];
        let parts: Vec<String> = ORDER
            .iter()
            .filter_map(|k| done.get(k).map(|n| format!("{n} {k}")))
            .collect();
        let mut s = if parts.is_empty() {
            "nothing to do".to_owned()
        } else {
            parts.join(", ")
        };
        if !self.operations.is_empty() {
            let mut states: BTreeMap<String, usize> = BTreeMap::new();
            for o in &self.operations {
                *states.entry(o.state.as_str().to_lowercase()).or_default() += 1;
            }
            let st: Vec<String> = states
                .iter()
                .map(|(k, v)| format!("{v} {}", k.replace('_', " ")))
                .collect();
            s.push_str(&format!("; operations: {}", st.join(", ")));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::ActionStatus;

    #[test]
    fn the_edge_label_of_an_action_status_is_its_serialized_name() {
        for s in [
            ActionStatus::Succeeded,
            ActionStatus::Failed,
            ActionStatus::Skipped,
            ActionStatus::NoOp,
            ActionStatus::Blocked,
        ] {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.label())
            );
        }
    }
}
