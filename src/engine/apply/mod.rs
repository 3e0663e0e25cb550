//! Applying a plan in phases: packages → NS creates, upgrades and remediations (with a check for
//! duplicates created concurrently) → NS deletes → following operations → waiting for deleted NS
//! to be gone → package deletes. Writes whose outcome is unknown (dropped connection, gateway
//! error) are resolved by re-listing, never by sending them again. Every answered write updates
//! the inventory at once.
//!
//! One file per phase, each an `impl Apply` block over the shared [`State`]:
//! `packages.rs` (uploads and package deletes), `ns_writes.rs` (creates, upgrades, rollbacks,
//! recreates), `rollout.rs` (batches and their health), `duplicates.rs` (concurrent creates),
//! `deletes.rs` (NS deletes), `operations.rs` (following operations) and `wait_gone.rs` (waiting
//! until OSM has removed deleted NS).

mod deletes;
mod duplicates;
mod ns_writes;
mod operations;
mod packages;
mod rollout;
mod wait_gone;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use serde_json::{Map, Value};
use tracing::Instrument;

use super::follow::{follow, wait_gone, OperationReport};
use super::record::{forget_ns, forget_vanished, record};
use super::{ActionResult, ActionStatus, EngineOptions, Progress, ProgressFn};
use crate::model::{LcmOperationType, NsState};
use crate::osm::{
    change_vnfpkg_body, scale_body, KduParams, KduUpgrade, NbiClient, NbiError, NsCreate,
    NsDeletion, NsRecord, VnfParams,
};
use crate::plan::{
    package_filename, rolled_out, FailurePolicy, Inventory, LiveState, Marked, NsdRef, ObjectKind,
    Operation, Plan, ScaleDirection, Target,
};
use crate::repo::{DesiredState, Kdu, NsInstance};

pub(super) struct Applied {
    pub results: Vec<ActionResult>,
    pub operations: Vec<OperationReport>,
    pub inventory: Inventory,
    pub rollout_paused: Option<String>,
}

fn result(status: ActionStatus, message: impl Into<String>) -> ActionResult {
    ActionResult {
        status,
        message: message.into(),
        osm_id: None,
        nslcmop_id: None,
    }
}

fn succeeded(message: impl Into<String>, osm_id: &str, op: Option<String>) -> ActionResult {
    ActionResult {
        status: ActionStatus::Succeeded,
        message: message.into(),
        osm_id: Some(osm_id.to_owned()),
        nslcmop_id: op,
    }
}

fn failed(e: &NbiError) -> ActionResult {
    result(ActionStatus::Failed, e.to_string())
}

/// What an apply has done so far. The NS jobs run concurrently in one task, so a plain mutex,
/// held only between awaits, is enough.
struct State {
    results: Vec<ActionResult>,
    inventory: Inventory,
    /// Operations started or found, with the action they belong to.
    operations: Vec<(Option<usize>, OperationReport)>,
    /// NS instances OSM confirmed gone during this apply.
    gone: HashSet<String>,
    /// Why the rollout stopped early (failure policy `pause`).
    rollout_paused: Option<String>,
}

pub(super) struct Apply<'a> {
    pub client: &'a NbiClient,
    pub desired: &'a DesiredState,
    pub live: &'a LiveState,
    pub plan: &'a Plan,
    pub opts: &'a EngineOptions,
    pub deadline: Instant,
    pub progress: ProgressFn<'a>,
}

impl Apply<'_> {
    pub async fn run(self, inventory: &Inventory) -> Applied {
        let results = self
            .plan
            .actions
            .iter()
            .map(|a| match &a.operation {
                Operation::Unchanged { osm_id, .. } => ActionResult {
                    osm_id: osm_id.clone(),
                    ..result(ActionStatus::NoOp, "unchanged")
                },
                Operation::Blocked => result(ActionStatus::Blocked, a.reason.clone()),
                // Nothing is sent: the failure is OSM's, reported as it is.
                Operation::Broken { osm_id } => ActionResult {
                    osm_id: Some(osm_id.clone()),
                    ..result(ActionStatus::Failed, a.reason.clone())
                },
                // Drift the policy only reports: nothing is sent, the inventory keeps what this
                // sync applied (so the drift is reported again until it is resolved).
                Operation::Drifted { osm_id } => ActionResult {
                    osm_id: osm_id.clone(),
                    ..result(ActionStatus::NoOp, a.reason.clone())
                },
                _ => result(ActionStatus::Skipped, "not attempted"),
            })
            .collect();
        let state = Mutex::new(State {
            results,
            inventory: inventory.clone(),
            operations: Vec::new(),
            gone: HashSet::new(),
            rollout_paused: None,
        });
        // Unchanged objects are recorded as they are now (an NS found again by its mark, or one
        // adopted explicitly).
        for (i, a) in self.plan.actions.iter().enumerate() {
            if matches!(a.operation, Operation::Unchanged { .. }) {
                let r = state.lock().expect("apply state").results[i].clone();
                self.finish(&state, i, r);
            }
        }
        self.packages(&state).await;
        self.ns_writes(&state).await;
        self.ns_deletes(&state).await;
        self.follow_operations(&state).await;
        self.confirm_gone(&state).await;
        self.package_deletes(&state).await;
        let mut st = state.into_inner().expect("apply state");
        forget_vanished(&mut st.inventory, self.desired, self.live);
        (self.progress)(
            self.plan,
            &Progress::Inventory {
                inventory: st.inventory.clone(),
            },
        );
        Applied {
            results: st.results,
            operations: st.operations.into_iter().map(|(_, r)| r).collect(),
            inventory: st.inventory,
            rollout_paused: st.rollout_paused,
        }
    }

    fn lock<'s>(&self, state: &'s Mutex<State>) -> std::sync::MutexGuard<'s, State> {
        state.lock().expect("apply state")
    }

    /// Whether OSM's copy of the package an action names (by OSM id) carries this sync's tag.
    fn tagged_in_osm(&self, a: &crate::plan::Action, osm_id: Option<&str>) -> bool {
        let (Some(kind), Some(osm_id)) = (a.kind.package_kind(), osm_id) else {
            return false;
        };
        let list = match kind {
            crate::repo::PackageKind::Vnf => &self.live.vnf_packages,
            crate::repo::PackageKind::Ns => &self.live.ns_packages,
        };
        list.iter().flatten().any(|p| {
            p.osm_id == osm_id
                && self.opts.owner.judge_package(
                    p.zipfile
                        .as_deref()
                        .and_then(crate::plan::owner_tag_from_filename)
                        .as_deref(),
                ) == Marked::Ours
        })
    }

    /// Stores an action's result, updates the inventory and tells the caller.
    fn finish(&self, state: &Mutex<State>, i: usize, r: ActionResult) {
        let a = &self.plan.actions[i];
        let tagged = self.tagged_in_osm(a, r.osm_id.as_deref());
        let inventory = {
            let mut st = self.lock(state);
            let before = st.inventory.clone();
            st.results[i] = r.clone();
            // An NS is recorded as applied once every write of the plan for it (each KDU
            // upgrade and scale step) succeeded, not at its first one. Only actions about a
            // part of an NS have siblings to wait for.
            if a.target.is_none() || self.every_write_succeeded(&st.results, a) {
                record(&mut st.inventory, self.desired, a, &r, tagged);
            }
            (st.inventory != before).then(|| st.inventory.clone())
        };
        if let Some(inventory) = inventory {
            (self.progress)(self.plan, &Progress::Inventory { inventory });
        }
        if !matches!(a.operation, Operation::Unchanged { .. }) {
            (self.progress)(
                self.plan,
                &Progress::ActionFinished {
                    index: i,
                    status: r.status,
                    message: r.message,
                },
            );
        }
        // An operation OSM accepted is reported at once (state PROCESSING), before it is
        // followed: callers record it write-ahead, so a restart can resume following it.
        if let (ActionStatus::Succeeded, Some(op), Some(op_type)) =
            (r.status, &r.nslcmop_id, ns_operation_type(&a.operation))
        {
            let report = OperationReport::new(
                op,
                &a.name,
                r.osm_id.as_deref().unwrap_or_default(),
                op_type,
            )
            .about(a.target.as_ref().map(Target::label));
            (self.progress)(self.plan, &Progress::Operation { report });
        }
    }

    /// Whether every write of the plan for the object `a` is about succeeded.
    fn every_write_succeeded(&self, results: &[ActionResult], a: &crate::plan::Action) -> bool {
        self.plan
            .actions
            .iter()
            .zip(results)
            .filter(|(b, _)| b.kind == a.kind && b.name == a.name && b.operation.is_write())
            .all(|(_, r)| r.status == ActionStatus::Succeeded)
    }

    fn started(&self, i: usize) {
        (self.progress)(self.plan, &Progress::ActionStarted { index: i });
    }

    /// Follows operations until they end or the run's deadline, telling the caller of each
    /// state change.
    async fn follow(&self, reports: &mut [OperationReport]) {
        let on_change = |r: &OperationReport| {
            (self.progress)(self.plan, &Progress::Operation { report: r.clone() })
        };
        follow(
            self.client,
            reports,
            self.deadline,
            self.opts.poll_interval,
            &on_change,
        )
        .await;
    }

    fn track(&self, state: &Mutex<State>, index: Option<usize>, report: OperationReport) {
        (self.progress)(
            self.plan,
            &Progress::Operation {
                report: report.clone(),
            },
        );
        self.lock(state).operations.push((index, report));
    }

    fn ns_gone(&self, state: &Mutex<State>, osm_id: &str) {
        let inventory = {
            let mut st = self.lock(state);
            st.gone.insert(osm_id.to_owned());
            let before = st.inventory.clone();
            forget_ns(&mut st.inventory, osm_id);
            (st.inventory != before).then(|| st.inventory.clone())
        };
        if let Some(inventory) = inventory {
            (self.progress)(self.plan, &Progress::Inventory { inventory });
        }
    }
}

/// The OSM operation an NS action starts (`lcmOperationType`), if any.
fn ns_operation_type(op: &Operation) -> Option<LcmOperationType> {
    match op {
        Operation::CreateNs { .. } | Operation::RecreateNs { .. } => {
            Some(LcmOperationType::Instantiate)
        }
        Operation::UpgradeNs { .. } | Operation::RollbackNs { .. } => {
            Some(LcmOperationType::Action)
        }
        Operation::ScaleNs { .. } => Some(LcmOperationType::Scale),
        Operation::UpdateNs { .. } => Some(LcmOperationType::Update),
        Operation::DeleteNs { .. } => Some(LcmOperationType::Terminate),
        _ => None,
    }
}
