//! One reconcile of one target: live state → plan → apply in phases → follow operations → prune,
//! returning an [`Outcome`] and the new [`Inventory`]. No Kubernetes types here: the CLI and the
//! controller both drive this.

mod apply;
mod follow;
mod live_view;
mod ops_cache;
mod osm;
mod outcome;
mod record;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::Instrument;

use crate::osm::{NbiClient, NbiError, NsRecord};
use crate::plan::{
    self, DriftPolicy, Inventory, LiveState, Owner, Plan, PlanOptions, Remediation, Rollout,
};
use crate::repo::DesiredState;

pub use follow::{follow, observe_record, refresh, OperationReport, Vanished};
pub use live_view::{LiveView, NS_LIST_MAX_AGE};
pub use ops_cache::{cursor_query, OpsCache, OpsMemory, ReadKind, CLOCK_SLACK};
pub use osm::Osm;
pub use outcome::{ActionResult, ActionStatus, Outcome};

#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub prune: bool,
    /// Let prune delete every NS instance the sync owns (see the prune guard in `plan`).
    pub allow_empty: bool,
    /// Whose objects these are: creates are marked with it, prune must match it.
    pub owner: Owner,
    pub remediation: Remediation,
    /// Follow started OSM operations until they end (and terminated NS until OSM removes them).
    pub wait: bool,
    /// With `wait`: when the plan can hand its operations off
    /// ([`Plan::can_hand_off_operations`]), return them running instead of following them; the
    /// caller follows them (the controller's follower, so that no worker waits on OSM).
    pub hand_off: bool,
    /// Bounds the whole run: reading OSM, writing, following operations.
    pub timeout: Duration,
    /// Independent NS writes in flight at once.
    pub concurrency: usize,
    pub poll_interval: Duration,
    /// What to do when OSM drifted from Git.
    pub drift: DriftPolicy,
    /// How NS writes are rolled out (canary, batches, failure policy).
    pub rollout: Rollout,
    /// Whether a plan that writes must be approved first.
    pub approval: Approval,
    /// Take over objects Git declares that exist in OSM without this sync's mark.
    pub adopt: bool,
    /// In whose terms the plan's reasons say what to do.
    pub audience: plan::Audience,
    /// Recreate an owned NS whose NSD, VIM account or instantiation config changed in Git
    /// (OSM cannot change them on a running NS); otherwise the change is blocked.
    pub allow_recreate: bool,
}

/// The approval gate. `Manual` writes nothing unless the plan computed now has exactly the
/// approved digest (Terraform's saved plans; the controller's `spec.approval: manual`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Approval {
    #[default]
    Auto,
    Manual {
        /// The digest of the approved plan, if any plan was approved.
        approved: Option<String>,
    },
    /// Apply exactly a plan saved earlier (`osmops plan --out`): nothing is written, not even
    /// when the plan computed now writes nothing, unless the plan computed now has the saved
    /// digest and the saved plan's readable body is that plan (a reviewer read the body).
    Saved {
        digest: String,
        /// The saved plan as written to the file.
        body: serde_json::Value,
    },
}

/// A plan that writes and was not approved: nothing was written.
#[derive(Debug, Clone)]
pub struct PendingPlan {
    pub plan: Plan,
    /// The approval that was given, when it named another plan (it is void now).
    pub void_approval: Option<String>,
}

impl std::fmt::Display for PendingPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(old) = &self.void_approval {
            write!(
                f,
                "the approval of plan {} is void: OSM or the revision changed, so the plan now differs; ",
                plan::short_digest(old)
            )?;
        }
        write!(
            f,
            "plan {} ({}) awaits approval",
            self.plan.digest,
            plan::summary(&self.plan)
        )
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            prune: false,
            allow_empty: false,
            owner: Owner::new("unnamed").expect("a non-empty owner id"),
            remediation: Remediation::default(),
            wait: true,
            hand_off: false,
            timeout: Duration::from_secs(300),
            concurrency: 4,
            poll_interval: Duration::from_secs(2),
            drift: DriftPolicy::default(),
            rollout: Rollout::default(),
            approval: Approval::Auto,
            adopt: false,
            audience: plan::Audience::Cli,
            allow_recreate: false,
        }
    }
}

impl EngineOptions {
    fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            prune: self.prune,
            allow_empty: self.allow_empty,
            owner: self.owner.clone(),
            remediation: self.remediation,
            drift: self.drift,
            rollout: self.rollout,
            adopt: self.adopt,
            audience: self.audience,
            allow_recreate: self.allow_recreate,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The desired state cannot be applied to this OSM (unknown VIM, NSD, VNFD...): nothing was written.
    #[error("the desired state does not fit OSM ({} problem(s)); nothing was changed:\n  - {}", .0.len(), .0.join("\n  - "))]
    Invalid(Vec<String>),
    /// Prune would delete everything this sync owns and that was not allowed: nothing was written.
    #[error("{0}; nothing was changed")]
    PruneGuard(String),
    /// Reading OSM's state failed: nothing was written.
    #[error("cannot read OSM state: {0}")]
    Nbi(#[from] NbiError),
    /// Approval is manual and this plan was not approved: nothing was written.
    #[error("{0}; nothing was changed")]
    AwaitingApproval(Box<PendingPlan>),
    /// A saved plan was to be applied, but it is not the plan computed now (or its body was
    /// edited): nothing was written.
    #[error("{}; nothing was changed", .0.why)]
    SavedPlanRefused(Box<RefusedPlan>),
}

/// Why a saved plan was refused, and the plan computed now.
#[derive(Debug, Clone)]
pub struct RefusedPlan {
    pub why: String,
    pub plan: Plan,
}

/// Progress of an apply, for humans watching and for callers that record what changed.
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
    /// What the sync owns changed (an object was created or confirmed gone): callers that keep
    /// the inventory somewhere (the CLI's state file) save it now, so that a crash after any
    /// write loses nothing.
    Inventory {
        inventory: Inventory,
    },
}

pub type ProgressFn<'a> = &'a (dyn Fn(&Plan, &Progress) + Sync);

impl Progress {
    /// The event with every value from a Secret that OSM's words quote replaced by `(secret)`:
    /// callers print it (the CLI) or write it to the status at once (the controller). Events
    /// without OSM's words, and every event of a sync without secrets, are passed as they are
    /// (an inventory event carries the whole inventory: not copied).
    pub fn scrubbed(&self, secrets: &crate::repo::SecretBook) -> std::borrow::Cow<'_, Progress> {
        use std::borrow::Cow;
        if secrets.is_empty() {
            return Cow::Borrowed(self);
        }
        match self {
            Progress::ActionFinished {
                index,
                status,
                message,
            } => Cow::Owned(Progress::ActionFinished {
                index: *index,
                status: *status,
                message: secrets.scrub(message),
            }),
            Progress::Operation { report } => {
                let mut report = report.clone();
                secrets.scrub_error(&mut report);
                Cow::Owned(Progress::Operation { report })
            }
            other => Cow::Borrowed(other),
        }
    }
}

/// Fetches what `plan()` needs: the NS instances, then only the lists the desired state requires.
///
/// Which NS records: the plan decides on the NS that Git names, and prune also on every NS that
/// carries this sync's mark. OSM cannot filter on part of a description (`description.cont` is
/// `$in`, equality, in osm_common), so a run that prunes reads the whole list; one that does
/// not asks only for the names Git declares and the inventory records (`name=a,b,…`; the
/// inventory's names too, so that what it records is never taken for gone), which costs
/// nothing when they are new, however many NS OSM holds. The controller's shared view reads
/// the whole list once for every OsmSync on that OSM instead. Operations, when no view keeps
/// them, are read for the declared NS (`nsInstanceId=…`), not for all of OSM's history.
pub async fn load_live(
    client: &NbiClient,
    desired: &DesiredState,
    inventory: &Inventory,
    opts: &PlanOptions,
    view: Option<&LiveView>,
) -> Result<LiveState, NbiError> {
    let ns_instances: Vec<NsRecord> = match view {
        Some(v) if v.shares_ns_list() => v.ns_instances(client).await?.as_ref().clone(),
        _ if opts.prune => client.list_ns_instances(&[]).await?,
        _ => {
            let names: BTreeSet<&str> = desired
                .ns_instances
                .iter()
                .map(|n| n.name.as_str())
                .chain(inventory.ns_instances.keys().map(String::as_str))
                .collect();
            let names: Vec<&str> = names.into_iter().collect();
            client.list_ns_instances_named(&names).await?
        }
    };
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
        match (needs.operations, view) {
            (true, Some(view)) => view
                .ops
                .read(client, &ns_instances)
                .await
                .map(|(ops, _)| Some(ops)),
            (true, None) => {
                // The plan reads the history of the NS Git declares, nothing else.
                let ids: Vec<&str> = ns_instances
                    .iter()
                    .filter(|n| desired.ns_instance(&n.name).is_some())
                    .map(|n| n.osm_id.as_str())
                    .collect();
                client.list_ns_lcm_op_occs_of(&ids).await.map(Some)
            }
            (false, _) => Ok(None),
        }
    };
    let vnfrs = async {
        if needs.vnf_instances_of.is_empty() {
            return Ok(None);
        }
        let ids: Vec<&str> = needs.vnf_instances_of.iter().map(String::as_str).collect();
        client.list_vnf_instances_of(&ids).await.map(Some)
    };
    let (vim_accounts, vnf_packages, ns_packages, operations, vnf_instances) =
        tokio::try_join!(vims, vnfs, nsds, ops, vnfrs)?;
    Ok(LiveState {
        vim_accounts,
        vnf_packages,
        ns_packages,
        ns_instances,
        operations,
        vnf_instances,
    })
}

/// The moment a run that starts now must end by.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + crate::duration::MAX_DURATION)
}

/// Computes the plan against live OSM without writing anything. Problems and the prune guard are
/// errors here exactly as in [`reconcile`]: `plan` gives `apply`'s verdict.
pub async fn preview(
    osm: impl Into<Osm>,
    desired: &DesiredState,
    inventory: &Inventory,
    opts: &EngineOptions,
) -> Result<Plan, EngineError> {
    let osm = osm.into();
    let client = osm.client.until(deadline_after(opts.timeout));
    let plan_opts = opts.plan_options();
    let live = load_live(&client, desired, inventory, &plan_opts, osm.view.as_deref()).await?;
    let plan = plan::plan(desired, &live, inventory, &plan_opts);
    check(&plan)?;
    Ok(plan)
}

/// The approval gate: under manual approval a plan that writes must carry the approved digest.
fn gate(plan: &Plan, approval: &Approval) -> Result<(), EngineError> {
    let approved = match approval {
        Approval::Auto => return Ok(()),
        Approval::Saved { digest, body } => {
            return match plan::saved_plan_mismatch(digest, body, plan) {
                None => Ok(()),
                Some(why) => Err(EngineError::SavedPlanRefused(Box::new(RefusedPlan {
                    why,
                    plan: plan.clone(),
                }))),
            }
        }
        Approval::Manual { approved } => approved,
    };
    if plan.writes() == 0 || approved.as_deref() == Some(plan.digest.as_str()) {
        return Ok(());
    }
    Err(EngineError::AwaitingApproval(Box::new(PendingPlan {
        plan: plan.clone(),
        void_approval: approved.clone(),
    })))
}

fn check(plan: &Plan) -> Result<(), EngineError> {
    if !plan.problems.is_empty() {
        return Err(EngineError::Invalid(plan.problems.clone()));
    }
    if let Some(g) = &plan.prune_guard {
        return Err(EngineError::PruneGuard(g.clone()));
    }
    Ok(())
}

/// Plans and applies, all within `opts.timeout`. Plan problems and the prune guard stop
/// everything before the first write.
pub async fn reconcile(
    osm: impl Into<Osm>,
    desired: &DesiredState,
    inventory: &Inventory,
    opts: &EngineOptions,
    progress: ProgressFn<'_>,
) -> Result<Outcome, EngineError> {
    let started = Instant::now();
    let osm = osm.into();
    let deadline = deadline_after(opts.timeout);
    let client = osm.client.until(deadline);
    let before = client.counters().snapshot();
    let plan_opts = opts.plan_options();
    let live = load_live(&client, desired, inventory, &plan_opts, osm.view.as_deref())
        .instrument(tracing::info_span!("osm.read"))
        .await?;
    let plan =
        tracing::info_span!("plan").in_scope(|| plan::plan(desired, &live, inventory, &plan_opts));
    check(&plan)?;
    gate(&plan, &opts.approval)?;
    let applied = apply::Apply {
        client: &client,
        desired,
        live: &live,
        plan: &plan,
        opts,
        deadline,
        progress: &|plan: &Plan, p: &Progress| progress(plan, &p.scrubbed(&desired.secrets)),
    }
    .run(inventory)
    .instrument(tracing::info_span!("apply", writes = plan.writes()))
    .await;
    // What we wrote must be seen by the next reconcile of any OsmSync on this OSM.
    if let (Some(view), true) = (&osm.view, plan.writes() > 0) {
        view.invalidate().await;
    }
    Ok(Outcome {
        plan,
        results: applied.results,
        operations: applied.operations,
        inventory: applied.inventory,
        requests: client.counters().snapshot().since(&before),
        duration_ms: started.elapsed().as_millis() as u64,
        rollout_paused: applied.rollout_paused,
    }
    .scrubbed(&desired.secrets))
}
