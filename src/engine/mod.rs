//! One reconcile of one target: live state → plan → apply in phases → follow operations → prune,
//! returning an [`Outcome`] and the new [`Inventory`]. No Kubernetes types here: the CLI and the
//! controller both drive this.

mod apply;
mod follow;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tracing::Instrument;

use crate::osm::{CounterSnapshot, NbiClient, NbiError, NsRecord};
use crate::plan::{self, Inventory, LiveState, Plan, PlanOptions};
use crate::repo::DesiredState;

pub use follow::OperationReport;

#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub prune: bool,
    /// Follow started OSM operations until they end or `timeout` passes.
    pub wait: bool,
    pub timeout: Duration,
    /// Independent NS writes in flight at once.
    pub concurrency: usize,
    pub poll_interval: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            prune: false,
            wait: true,
            timeout: Duration::from_secs(300),
            concurrency: 4,
            poll_interval: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The desired state cannot be applied to this OSM (unknown VIM, NSD, VNFD...): nothing was written.
    #[error("the desired state does not fit OSM ({} problem(s)); nothing was changed:\n  - {}", .0.len(), .0.join("\n  - "))]
    Invalid(Vec<String>),
    /// Reading OSM's state failed: nothing was written.
    #[error("cannot read OSM state: {0}")]
    Nbi(#[from] NbiError),
}

/// Progress of an apply, for humans watching.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum Progress {
    ActionStarted {
        index: usize,
    },
    ActionFinished {
        index: usize,
        status: ActionStatus,
        message: String,
    },
    Operation {
        report: OperationReport,
    },
}

pub type ProgressFn<'a> = &'a (dyn Fn(&Plan, &Progress) + Sync);

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
}

impl Outcome {
    /// True when a write or a followed operation failed or timed out.
    pub fn failed(&self) -> bool {
        self.results
            .iter()
            .any(|r| r.status == ActionStatus::Failed)
            || self.operations.iter().any(|o| o.failed())
    }

    /// True when something still has to happen (blocked/skipped actions, unfinished operations).
    pub fn incomplete(&self) -> bool {
        self.results
            .iter()
            .any(|r| matches!(r.status, ActionStatus::Blocked | ActionStatus::Skipped))
            || self.operations.iter().any(|o| !o.finished())
    }

    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        plan::counts(&self.plan)
    }

    /// A one-line human summary, e.g. "2 created, 1 upgraded, 5 unchanged; 3 operations completed".
    pub fn summary(&self) -> String {
        let c = self.counts();
        let label =
            |k: &str, word: &str| c.get(k).filter(|n| **n > 0).map(|n| format!("{n} {word}"));
        let parts: Vec<String> = [
            label("create", "created"),
            label("update", "updated"),
            label("upgrade", "upgraded"),
            label("delete", "deleted"),
            label("unchanged", "unchanged"),
            label("blocked", "blocked"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let failed = self
            .results
            .iter()
            .filter(|r| r.status == ActionStatus::Failed)
            .count();
        let mut s = if parts.is_empty() {
            "nothing to do".to_owned()
        } else {
            parts.join(", ")
        };
        if failed > 0 {
            s.push_str(&format!("; {failed} failed"));
        }
        if !self.operations.is_empty() {
            let mut states: BTreeMap<&str, usize> = BTreeMap::new();
            for o in &self.operations {
                *states.entry(o.state.as_str()).or_default() += 1;
            }
            let st: Vec<String> = states
                .iter()
                .map(|(k, v)| format!("{v} {}", k.to_lowercase()))
                .collect();
            s.push_str(&format!("; operations: {}", st.join(", ")));
        }
        s
    }
}

/// Fetches what `plan()` needs: the NS list, then only the lists the desired state requires.
pub async fn load_live(
    client: &NbiClient,
    desired: &DesiredState,
    inventory: &Inventory,
    opts: PlanOptions,
) -> Result<LiveState, NbiError> {
    let ns_instances: Vec<NsRecord> = client.list_ns_instances(&[]).await?;
    let needs = plan::needs(desired, &ns_instances, inventory, opts);
    let vims = async {
        match needs.vim_accounts {
            true => client.list_vim_accounts().await.map(Some),
            false => Ok(None),
        }
    };
    let vnfs = async {
        match needs.vnf_packages {
            true => client
                .list_packages(crate::repo::PackageKind::Vnf, &[])
                .await
                .map(Some),
            false => Ok(None),
        }
    };
    let nsds = async {
        match needs.ns_packages {
            true => client
                .list_packages(crate::repo::PackageKind::Ns, &[])
                .await
                .map(Some),
            false => Ok(None),
        }
    };
    let ops = async {
        match needs.operations {
            true => client.list_ns_lcm_op_occs(&[]).await.map(Some),
            false => Ok(None),
        }
    };
    let (vim_accounts, vnf_packages, ns_packages, operations) =
        tokio::try_join!(vims, vnfs, nsds, ops)?;
    Ok(LiveState {
        vim_accounts,
        vnf_packages,
        ns_packages,
        ns_instances,
        operations,
    })
}

/// Computes the plan against live OSM without writing anything.
pub async fn preview(
    client: &NbiClient,
    desired: &DesiredState,
    inventory: &Inventory,
    opts: &EngineOptions,
) -> Result<Plan, EngineError> {
    let plan_opts = PlanOptions { prune: opts.prune };
    let live = load_live(client, desired, inventory, plan_opts).await?;
    Ok(plan::plan(desired, &live, inventory, plan_opts))
}

/// Plans and applies. Plan problems stop everything before the first write.
pub async fn reconcile(
    client: &NbiClient,
    desired: &DesiredState,
    inventory: &Inventory,
    opts: &EngineOptions,
    progress: ProgressFn<'_>,
) -> Result<Outcome, EngineError> {
    let started = std::time::Instant::now();
    let before = client.counters().snapshot();
    let plan_opts = PlanOptions { prune: opts.prune };
    let live = load_live(client, desired, inventory, plan_opts)
        .instrument(tracing::info_span!("osm.read"))
        .await?;
    let plan =
        tracing::info_span!("plan").in_scope(|| plan::plan(desired, &live, inventory, plan_opts));
    if !plan.problems.is_empty() {
        return Err(EngineError::Invalid(plan.problems));
    }
    let applied = apply::apply(client, desired, &live, &plan, opts, progress)
        .instrument(tracing::info_span!("apply", writes = plan.writes()))
        .await;
    let inventory = apply::next_inventory(
        desired,
        &live,
        inventory,
        &plan,
        &applied.results,
        &applied.operations,
    );
    Ok(Outcome {
        plan,
        results: applied.results,
        operations: applied.operations,
        inventory,
        requests: client.counters().snapshot().since(&before),
        duration_ms: started.elapsed().as_millis() as u64,
    })
}
