//! Applying a plan in phases: packages → NS creates, upgrades and remediations (with a check for
//! duplicates created concurrently) → NS deletes → following operations → waiting for deleted NS
//! to be gone → package deletes. Writes whose outcome is unknown (dropped connection, gateway
//! error) are resolved by re-listing, never by sending them again. Every answered write updates
//! the inventory at once.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use serde_json::{Map, Value};
use tracing::Instrument;

use super::follow::{follow, wait_gone, OperationReport};
use super::record::{forget_ns, forget_vanished, record};
use super::{ActionResult, ActionStatus, EngineOptions, Progress, ProgressFn};
use crate::osm::{
    KduParams, KduUpgrade, NbiClient, NbiError, NsCreate, NsDeletion, NsRecord, VnfParams,
};
use crate::plan::{
    package_filename, rolled_out, FailurePolicy, Inventory, LiveState, Marked, NsdRef, ObjectKind,
    Operation, Plan,
};
use crate::repo::{DesiredState, NsInstance};

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

/// The body of `POST ns_instances_content` for one NsInstance document, marked with the owner.
pub fn ns_create_body(
    want: &NsInstance,
    nsd_osm_id: &str,
    vim_account_id: &str,
    owner: &crate::plan::Owner,
) -> NsCreate {
    NsCreate {
        ns_name: want.name.clone(),
        nsd_id: nsd_osm_id.to_owned(),
        vim_account_id: vim_account_id.to_owned(),
        ns_description: Some(owner.ns_description(want.description.as_deref())),
        additional_params_for_vnf: if want.kdu.params.is_some() || want.kdu.model.is_some() {
            vec![VnfParams {
                member_vnf_index: want.vnf_name.clone(),
                additional_params_for_kdu: vec![KduParams {
                    kdu_name: want.kdu.name.clone(),
                    additional_params: want.params_or_empty(),
                    kdu_model: want.kdu.model.clone(),
                }],
            }]
        } else {
            Vec::new()
        },
    }
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
            record(&mut st.inventory, self.desired, a, &r, tagged);
            st.results[i] = r.clone();
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
            );
            (self.progress)(self.plan, &Progress::Operation { report });
        }
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

    /// Phase 1: packages, one at a time in dependency order.
    async fn packages(&self, state: &Mutex<State>) {
        let mut failed_pkgs: HashSet<&str> = HashSet::new();
        for (i, a) in self.plan.actions.iter().enumerate() {
            let (Some(kind), Operation::CreatePackage | Operation::UpdatePackage { .. }) =
                (a.kind.package_kind(), &a.operation)
            else {
                continue;
            };
            let pkg = self
                .desired
                .package(&a.name)
                .expect("planned packages come from the desired state");
            if let Some(dep) = pkg
                .vnfd_refs
                .iter()
                .find(|r| failed_pkgs.contains(r.as_str()))
            {
                failed_pkgs.insert(&a.name);
                self.finish(
                    state,
                    i,
                    result(
                        ActionStatus::Skipped,
                        format!("skipped: VNF package '{dep}' was not onboarded"),
                    ),
                );
                continue;
            }
            self.started(i);
            let filename = package_filename(pkg, &self.opts.owner);
            let r = match &a.operation {
                Operation::CreatePackage => {
                    match self
                        .client
                        .create_package(kind, pkg.tarball.clone(), &filename, &pkg.md5)
                        .await
                    {
                        Ok(id) => succeeded("onboarded", &id, None),
                        Err(e @ NbiError::OutcomeUnknown { .. }) => {
                            match self.client.list_packages(kind, &[("id", &pkg.id)]).await {
                            Ok(found) if !found.is_empty() => succeeded(
                                format!("onboarded (confirmed by re-listing after: {e})"),
                                &found[0].osm_id,
                                None,
                            ),
                            Ok(_) => result(
                                ActionStatus::Failed,
                                format!("{e}; re-listing shows it was not onboarded, next reconcile retries"),
                            ),
                            Err(e2) => result(
                                ActionStatus::Failed,
                                format!("{e}; re-listing failed too: {e2}"),
                            ),
                        }
                        }
                        // Created meanwhile (a concurrent run of this sync): fine if it is this content.
                        Err(e) if e.is_status(409) => {
                            match self.client.list_packages(kind, &[("id", &pkg.id)]).await {
                            Ok(found)
                                if found.first().and_then(|r| {
                                    r.zipfile.as_deref().and_then(crate::plan::digest_from_filename)
                                }) == Some(pkg.digest.clone()) =>
                            {
                                succeeded(
                                    "onboarded meanwhile with the same content (a concurrent run)",
                                    &found[0].osm_id,
                                    None,
                                )
                            }
                            _ => failed(&e),
                        }
                        }
                        Err(e) => failed(&e),
                    }
                }
                Operation::UpdatePackage { osm_id } => match self
                    .client
                    .replace_package(kind, osm_id, pkg.tarball.clone(), &filename, &pkg.md5)
                    .await
                {
                    Ok(()) => succeeded("re-uploaded", osm_id, None),
                    Err(e) => failed(&e),
                },
                _ => unreachable!("filtered above"),
            };
            if r.status != ActionStatus::Succeeded {
                failed_pkgs.insert(&a.name);
            }
            self.finish(state, i, r);
        }
    }

    /// The NSD `_id` an NS is created with, once phase 1 has run.
    fn nsd_osm_id(&self, state: &Mutex<State>, nsd: &NsdRef) -> Option<String> {
        match nsd {
            NsdRef::Live { osm_id } => Some(osm_id.clone()),
            NsdRef::Repo { id } => {
                let i = self
                    .plan
                    .actions
                    .iter()
                    .position(|a| a.kind == ObjectKind::NsPackage && &a.name == id)?;
                let st = self.lock(state);
                let r = &st.results[i];
                matches!(r.status, ActionStatus::Succeeded | ActionStatus::NoOp)
                    .then(|| r.osm_id.clone())
                    .flatten()
            }
        }
    }

    /// Phase 2: NS creates, upgrades, rollbacks and recreates, independent of each other, with
    /// bounded concurrency (or in the plan's rollout batches); then a check that no create
    /// duplicated a concurrent run's.
    async fn ns_writes(&self, state: &Mutex<State>) {
        let known: HashSet<&str> = self
            .live
            .ns_instances
            .iter()
            .map(|n| n.osm_id.as_str())
            .collect();
        if self.plan.batches.is_empty() {
            let jobs = rolled_out(self.plan);
            self.run_ns_jobs(state, jobs, &known, self.opts.concurrency)
                .await;
        } else {
            self.roll_out(state, &known).await;
        }
        self.check_duplicates(state).await;
    }

    /// The rollout: batch after batch, each followed to its end and checked healthy before the
    /// next starts; a failed batch stops the rest under failure policy `pause`.
    async fn roll_out(&self, state: &Mutex<State>, known: &HashSet<&str>) {
        let rollout = self.opts.rollout;
        let parallel = rollout.max_parallel.unwrap_or(self.opts.concurrency);
        let mut paused: Option<String> = None;
        for (n, batch) in self.plan.batches.iter().enumerate() {
            let label = if batch.canary {
                "the canary batch".to_owned()
            } else {
                format!("batch {} of {}", n + 1, self.plan.batches.len())
            };
            if let Some(why) = &paused {
                for &i in &batch.actions {
                    self.finish(
                        state,
                        i,
                        result(ActionStatus::Skipped, format!("not started: {why}")),
                    );
                }
                continue;
            }
            let span = tracing::info_span!("rollout.batch", batch = n + 1, canary = batch.canary);
            self.run_ns_jobs(state, batch.actions.clone(), known, parallel)
                .instrument(span.clone())
                .await;
            let failed = self
                .settle_batch(state, &batch.actions)
                .instrument(span)
                .await;
            if failed.is_empty() {
                continue;
            }
            tracing::info!(batch = n + 1, failed = ?failed, policy = rollout.failure_policy.label(), "rollout batch failed");
            if rollout.failure_policy == FailurePolicy::Pause {
                paused = Some(format!(
                    "rollout paused after {label} failed ({})",
                    failed.join(", ")
                ));
            }
        }
        self.lock(state).rollout_paused = paused;
    }

    /// Follows the operations a batch started until they end, then checks that each NS is
    /// healthy (`nsState` READY) in OSM. Returns the names of the actions that failed.
    async fn settle_batch(&self, state: &Mutex<State>, batch: &[usize]) -> Vec<String> {
        let mut started: Vec<(usize, OperationReport)> = {
            let st = self.lock(state);
            batch
                .iter()
                .filter_map(|&i| {
                    let (a, r) = (&self.plan.actions[i], &st.results[i]);
                    let op = r
                        .nslcmop_id
                        .as_ref()
                        .filter(|_| r.status == ActionStatus::Succeeded)?;
                    let op_type = ns_operation_type(&a.operation)?;
                    Some((
                        i,
                        OperationReport::new(
                            op,
                            &a.name,
                            r.osm_id.as_deref().unwrap_or_default(),
                            op_type,
                        ),
                    ))
                })
                .collect()
        };
        let mut reports: Vec<OperationReport> = started.iter().map(|(_, r)| r.clone()).collect();
        self.follow(&mut reports).await;
        for ((_, slot), rep) in started.iter_mut().zip(reports) {
            *slot = rep;
        }
        for (i, rep) in &started {
            self.lock(state).operations.push((Some(*i), rep.clone()));
            let mut r = self.lock(state).results[*i].clone();
            if !rep.succeeded() {
                r.status = ActionStatus::Failed;
                r.message = format!(
                    "operation {} {}{}",
                    rep.nslcmop_id,
                    rep.state,
                    rep.error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
                self.finish(state, *i, r);
                continue;
            }
            match self.client.get_ns_instance(&rep.ns_osm_id).await {
                Ok(Some(ns)) if ns.ns_state == "READY" => {}
                Ok(found) => {
                    r.status = ActionStatus::Failed;
                    r.message = match found {
                        Some(ns) => format!(
                            "operation {} completed but the NS is not healthy: nsState {}{}",
                            rep.nslcmop_id,
                            ns.ns_state,
                            ns.error_detail
                                .map(|e| format!(" ({e})"))
                                .unwrap_or_default()
                        ),
                        None => format!(
                            "operation {} completed but OSM no longer has the NS",
                            rep.nslcmop_id
                        ),
                    };
                    self.finish(state, *i, r);
                }
                Err(e) => {
                    r.status = ActionStatus::Failed;
                    r.message = format!(
                        "operation {} completed but the NS health cannot be read: {e}",
                        rep.nslcmop_id
                    );
                    self.finish(state, *i, r);
                }
            }
        }
        let st = self.lock(state);
        batch
            .iter()
            .filter(|&&i| {
                matches!(
                    st.results[i].status,
                    ActionStatus::Failed | ActionStatus::Skipped
                )
            })
            .map(|&i| self.plan.actions[i].name.clone())
            .collect()
    }

    /// Sends NS writes with at most `concurrency` in flight.
    async fn run_ns_jobs(
        &self,
        state: &Mutex<State>,
        jobs: Vec<usize>,
        known: &HashSet<&str>,
        concurrency: usize,
    ) {
        stream::iter(jobs)
            .map(|i| async move {
                let a = &self.plan.actions[i];
                let want = self
                    .desired
                    .ns_instance(&a.name)
                    .expect("planned NS come from the desired state");
                let r = match &a.operation {
                    Operation::CreateNs {
                        nsd,
                        vim_account_id,
                    } => match self.nsd_osm_id(state, nsd) {
                        Some(nsd_id) => {
                            self.started(i);
                            self.create_ns(want, &nsd_id, vim_account_id, known).await
                        }
                        None => result(
                            ActionStatus::Skipped,
                            format!("skipped: NS package '{}' was not onboarded", want.nsd_name),
                        ),
                    },
                    Operation::UpgradeNs { osm_id } => {
                        self.started(i);
                        self.upgrade_ns(want, osm_id, want.requested_params(), "upgrade")
                            .await
                    }
                    Operation::RollbackNs { osm_id, params } => {
                        self.started(i);
                        self.upgrade_ns(want, osm_id, params.clone(), "rollback")
                            .await
                    }
                    Operation::RecreateNs {
                        osm_id,
                        nsd,
                        vim_account_id,
                    } => match self.nsd_osm_id(state, nsd) {
                        Some(nsd_id) => {
                            self.started(i);
                            self.recreate_ns(state, i, want, osm_id, &nsd_id, vim_account_id, known)
                                .await
                        }
                        None => result(
                            ActionStatus::Skipped,
                            format!("skipped: NS package '{}' was not onboarded", want.nsd_name),
                        ),
                    },
                    _ => unreachable!("filtered above"),
                };
                self.finish(state, i, r);
            })
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<()>>()
            .await;
    }

    async fn create_ns(
        &self,
        want: &NsInstance,
        nsd_osm_id: &str,
        vim: &str,
        known: &HashSet<&str>,
    ) -> ActionResult {
        let body = ns_create_body(want, nsd_osm_id, vim, &self.opts.owner);
        match self.client.create_ns_instance(&body).await {
            Ok(c) => succeeded("instantiate requested", &c.osm_id, c.nslcmop_id),
            Err(e @ NbiError::OutcomeUnknown { .. }) => {
                // Did OSM create it before the answer was lost? A new NS with this name and this
                // sync's mark says yes.
                match self.client.list_ns_instances(&[("name", &want.name)]).await {
                    Ok(found) => {
                        let new: Vec<&NsRecord> = found
                            .iter()
                            .filter(|n| !known.contains(n.osm_id.as_str()))
                            .filter(|n| {
                                self.opts.owner.judge_ns(n.description.as_deref()) == Marked::Ours
                            })
                            .collect();
                        match new.as_slice() {
                            [] => result(
                                ActionStatus::Failed,
                                format!("{e}; re-listing shows no NS was created, next reconcile retries"),
                            ),
                            [ns] => {
                                let op = self
                                    .client
                                    .list_ns_lcm_op_occs(&[
                                        ("nsInstanceId", &ns.osm_id),
                                        ("lcmOperationType", "instantiate"),
                                    ])
                                    .await
                                    .ok()
                                    .and_then(|ops| ops.into_iter().next().map(|o| o.osm_id));
                                succeeded(
                                    format!("instantiate requested (confirmed by re-listing after: {e})"),
                                    &ns.osm_id,
                                    op,
                                )
                            }
                            // Several: a concurrent run created one too; the duplicate check
                            // after this phase keeps the oldest.
                            many => {
                                let mut sorted = many.to_vec();
                                sorted.sort_by(|a, b| {
                                    a.created
                                        .cmp(&b.created)
                                        .then_with(|| a.osm_id.cmp(&b.osm_id))
                                });
                                succeeded(
                                    format!("instantiate requested (confirmed by re-listing after: {e}; {} new NS carry this sync's mark)", many.len()),
                                    &sorted[0].osm_id,
                                    None,
                                )
                            }
                        }
                    }
                    Err(e2) => result(
                        ActionStatus::Failed,
                        format!("{e}; re-listing failed too: {e2}"),
                    ),
                }
            }
            Err(e) => failed(&e),
        }
    }

    async fn upgrade_ns(
        &self,
        want: &NsInstance,
        osm_id: &str,
        params: Map<String, Value>,
        what: &str,
    ) -> ActionResult {
        let sent_at = crate::model::Timestamp::now();
        let body = KduUpgrade::new(&want.vnf_name, &want.kdu.name, params.clone());
        match self.client.ns_action(osm_id, &body).await {
            Ok(op) => succeeded(format!("{what} requested"), osm_id, Some(op)),
            Err(e @ NbiError::OutcomeUnknown { .. }) => {
                match self
                    .client
                    .list_ns_lcm_op_occs(&[
                        ("nsInstanceId", osm_id),
                        ("lcmOperationType", "action"),
                    ])
                    .await
                {
                    Ok(ops) => {
                        // Allow for clock skew between us and OSM when matching the start time.
                        let mine = ops
                            .into_iter()
                            .filter(|o| {
                                o.start_time.is_some_and(|t| {
                                    t >= sent_at - k8s_openapi::jiff::SignedDuration::from_secs(30)
                                }) && o.kdu_params(&want.vnf_name, &want.kdu.name).as_ref()
                                    == Some(&params)
                            })
                            .max_by_key(|o| o.start_time);
                        match mine {
                            Some(op) => succeeded(
                                format!("{what} requested (confirmed by re-listing after: {e})"),
                                osm_id,
                                Some(op.osm_id),
                            ),
                            None => result(
                                ActionStatus::Failed,
                                format!(
                                    "{e}; no matching operation in OSM, next reconcile retries"
                                ),
                            ),
                        }
                    }
                    Err(e2) => result(
                        ActionStatus::Failed,
                        format!("{e}; re-listing failed too: {e2}"),
                    ),
                }
            }
            Err(e) => failed(&e),
        }
    }

    /// `DELETE ns_instances_content/<id>`, resolving a lost answer by re-listing.
    async fn delete(&self, osm_id: &str) -> Result<NsDeletion, String> {
        match self.client.delete_ns_instance(osm_id).await {
            Ok(d) => Ok(d),
            // Already gone (removed by OSM, or by a concurrent run): what was wanted.
            Err(e) if e.is_status(404) => Ok(NsDeletion::Deleted),
            Err(e @ NbiError::OutcomeUnknown { .. }) => {
                // `GET ns_instances_content/<id>`: OSM has no `_id` list filter (a query `_id`
                // is a show, one object or 404), so the NS is asked for by its URL.
                match self.client.get_ns_instance(osm_id).await {
                    Ok(None) => Ok(NsDeletion::Deleted),
                    Ok(Some(_)) => match self
                        .client
                        .list_ns_lcm_op_occs(&[
                            ("nsInstanceId", osm_id),
                            ("lcmOperationType", "terminate"),
                        ])
                        .await
                    {
                        Ok(ops) => match ops.into_iter().find(|o| !o.is_terminal()) {
                            Some(op) => Ok(NsDeletion::Terminating { op_id: op.osm_id }),
                            None => Err(format!(
                                "{e}; the NS is still there, next reconcile retries"
                            )),
                        },
                        Err(e2) => Err(format!("{e}; re-listing failed too: {e2}")),
                    },
                    Err(e2) => Err(format!("{e}; re-listing failed too: {e2}")),
                }
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Remediation: delete the NS, wait until OSM has removed it, create it again. The terminate
    /// is followed here (it is part of this action) and reported with the other operations.
    #[allow(clippy::too_many_arguments)]
    async fn recreate_ns(
        &self,
        state: &Mutex<State>,
        i: usize,
        want: &NsInstance,
        old_id: &str,
        nsd_osm_id: &str,
        vim: &str,
        known: &HashSet<&str>,
    ) -> ActionResult {
        match self.delete(old_id).await {
            Err(msg) => {
                return result(
                    ActionStatus::Failed,
                    format!("cannot delete the NS to recreate it: {msg}"),
                )
            }
            Ok(NsDeletion::Deleted) => {}
            Ok(NsDeletion::Terminating { op_id }) => {
                if !self.opts.wait {
                    return result(
                        ActionStatus::Skipped,
                        format!("terminate {op_id} requested; the NS is created again on a later reconcile, once OSM has removed it"),
                    );
                }
                let mut report = [OperationReport::new(
                    &op_id,
                    &want.name,
                    old_id,
                    "terminate",
                )];
                // Reported as started (PROCESSING) before it is followed; following reports
                // each change after that, so the end is told once.
                (self.progress)(
                    self.plan,
                    &Progress::Operation {
                        report: report[0].clone(),
                    },
                );
                self.follow(&mut report).await;
                let [report] = report;
                let ok = report.succeeded();
                let state_text = format!(
                    "terminate {} {}{}",
                    report.nslcmop_id,
                    report.state,
                    report
                        .error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
                self.lock(state).operations.push((Some(i), report));
                if !ok {
                    return result(
                        ActionStatus::Failed,
                        format!("cannot recreate: {state_text}"),
                    );
                }
            }
        }
        match wait_gone(self.client, old_id, self.deadline, self.opts.poll_interval).await {
            Ok(true) => self.ns_gone(state, old_id),
            Ok(false) => {
                return result(
                    ActionStatus::Skipped,
                    format!("NS {old_id} was terminated but OSM still has it: created again on a later reconcile, once OSM has removed it"),
                )
            }
            Err(e) => {
                return result(
                    ActionStatus::Failed,
                    format!("cannot tell whether OSM removed the NS: {e}"),
                )
            }
        }
        let mut r = self.create_ns(want, nsd_osm_id, vim, known).await;
        if r.status == ActionStatus::Succeeded {
            r.message = format!("NS {old_id} deleted; {}", r.message);
        }
        r
    }

    /// After creates: OSM may now have several NS with a created name. Those that carry this
    /// sync's mark come from concurrent runs of this sync: every run keeps the oldest and deletes
    /// the others, so they all converge on exactly one NS per name. One that does not carry it
    /// was created meanwhile by another repository (or by hand) declaring the same name: the NS
    /// created second is removed by its creator, the only one that can prove it owns it, and the
    /// run that finds the conflict fails, whichever side of it it is on.
    async fn check_duplicates(&self, state: &Mutex<State>) {
        let created: Vec<(usize, String, String)> = {
            let st = self.lock(state);
            self.plan
                .actions
                .iter()
                .zip(&st.results)
                .enumerate()
                .filter(|(_, (a, r))| {
                    matches!(
                        a.operation,
                        Operation::CreateNs { .. } | Operation::RecreateNs { .. }
                    ) && r.status == ActionStatus::Succeeded
                })
                .filter_map(|(i, (a, r))| Some((i, a.name.clone(), r.osm_id.clone()?)))
                .collect()
        };
        for chunk in created.chunks(25) {
            let names: Vec<&str> = chunk.iter().map(|(_, n, _)| n.as_str()).collect();
            // NS names cannot contain commas, so a comma-separated list is the NBI's `$in`.
            let joined = names.join(",");
            let query: Vec<(&str, &str)> = if names.len() == 1 {
                vec![("name", names[0])]
            } else {
                vec![("name", joined.as_str())]
            };
            let found = match self.client.list_ns_instances(&query).await {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot check created NS instances for duplicates");
                    continue;
                }
            };
            for (i, name, mine) in chunk {
                let mut same: Vec<&NsRecord> = found.iter().filter(|n| &n.name == name).collect();
                if same.len() < 2 {
                    continue;
                }
                // OSM's creation time orders them the same way for every run (ids break ties).
                same.sort_by(|a, b| {
                    a.created
                        .cmp(&b.created)
                        .then_with(|| a.osm_id.cmp(&b.osm_id))
                });
                let ours = |n: &NsRecord| {
                    self.opts.owner.judge_ns(n.description.as_deref()) == Marked::Ours
                };
                let first = same[0];
                let foreign: Vec<String> = same
                    .iter()
                    .filter(|n| !ours(n))
                    .map(|n| {
                        let who = n
                            .description
                            .as_deref()
                            .and_then(crate::plan::Owner::of_description)
                            .map(|o| format!("managed by {o}"))
                            .unwrap_or_else(|| "without a mark".to_owned());
                        format!("{} ({who})", n.osm_id)
                    })
                    .collect();
                let keep = ours(first).then(|| first.osm_id.clone());
                let mut notes = Vec::new();
                for extra in same
                    .iter()
                    .filter(|n| ours(n) && Some(&n.osm_id) != keep.as_ref())
                {
                    let outcome = self.delete(&extra.osm_id).await;
                    if let Ok(NsDeletion::Terminating { op_id }) = &outcome {
                        self.track(
                            state,
                            None,
                            OperationReport::new(op_id, name, &extra.osm_id, "terminate"),
                        );
                    }
                    if let Ok(NsDeletion::Deleted) = &outcome {
                        self.ns_gone(state, &extra.osm_id);
                    }
                    let what = match &outcome {
                        Ok(_) => "removed",
                        Err(_) => "could not remove",
                    };
                    notes.push(match &keep {
                        Some(keep) if &extra.osm_id == mine => format!("a concurrent run of this sync had created '{name}' first ({keep}): {what} this run's NS {mine} and using that one"),
                        Some(_) => format!("{what} newer duplicate {} created by a concurrent run", extra.osm_id),
                        None if &extra.osm_id == mine => format!("{what} this run's NS {mine}, created after it"),
                        None => format!("{what} this sync's NS {}, created after it", extra.osm_id),
                    });
                }
                let mut r = self.lock(state).results[*i].clone();
                match &keep {
                    Some(keep) if keep != mine => {
                        // Its instantiate belonged to the NS that was removed: nothing to follow,
                        // and nothing was created by this run in the end (the NS it keeps was
                        // created by a concurrent run of this sync).
                        r.osm_id = Some(keep.clone());
                        r.nslcmop_id = None;
                        r.status = ActionStatus::NoOp;
                    }
                    Some(_) => {}
                    None => {
                        r.nslcmop_id = None;
                    }
                }
                if !foreign.is_empty() {
                    r.status = ActionStatus::Failed;
                    let conflict = match &keep {
                        Some(_) => format!(
                            "conflict: while this run created '{name}', OSM got another NS of that name that is not this sync's: {}. This sync's NS is older and stays; the newer one is its creator's to remove. Two repositories (or a person) declare this NS name: keep it in one",
                            foreign.join(", ")
                        ),
                        None => format!(
                            "conflict: another NS named '{name}' that is not this sync's was created first, concurrently: {}",
                            foreign.join(", ")
                        ),
                    };
                    notes.insert(0, conflict);
                }
                r.message = format!("{}; {}", r.message, notes.join("; "));
                self.finish(state, *i, r);
            }
        }
    }

    /// Phase 3: NS deletes (duplicates and prune).
    async fn ns_deletes(&self, state: &Mutex<State>) {
        let jobs: Vec<usize> = self
            .plan
            .actions
            .iter()
            .enumerate()
            .filter(|(_, a)| matches!(a.operation, Operation::DeleteNs { .. }))
            .map(|(i, _)| i)
            .collect();
        stream::iter(jobs)
            .map(|i| async move {
                let Operation::DeleteNs { osm_id } = &self.plan.actions[i].operation else {
                    unreachable!("filtered above")
                };
                self.started(i);
                let r = match self.delete(osm_id).await {
                    Ok(NsDeletion::Deleted) => {
                        self.ns_gone(state, osm_id);
                        succeeded("deleted", osm_id, None)
                    }
                    Ok(NsDeletion::Terminating { op_id }) => {
                        succeeded("terminate requested", osm_id, Some(op_id))
                    }
                    Err(msg) => result(ActionStatus::Failed, msg),
                };
                self.finish(state, i, r);
            })
            .buffer_unordered(self.opts.concurrency.max(1))
            .collect::<Vec<()>>()
            .await;
    }

    /// Follows the operations this apply started (and those it found in progress) until they
    /// end or the run's time is up; a failed operation fails its action.
    async fn follow_operations(&self, state: &Mutex<State>) {
        {
            let mut st = self.lock(state);
            let mut new = Vec::new();
            for (i, (a, r)) in self.plan.actions.iter().zip(&st.results).enumerate() {
                let ns_osm_id = r.osm_id.clone().unwrap_or_default();
                let op_type = match (&a.operation, ns_operation_type(&a.operation)) {
                    (_, Some(t)) => t,
                    (
                        Operation::Unchanged {
                            pending_op: Some(op),
                            ..
                        },
                        None,
                    ) if self.opts.wait => {
                        new.push((
                            None,
                            OperationReport::new(op, &a.name, &ns_osm_id, "pending"),
                        ));
                        continue;
                    }
                    _ => continue,
                };
                let tracked = st
                    .operations
                    .iter()
                    .any(|(_, t)| Some(&t.nslcmop_id) == r.nslcmop_id.as_ref());
                if let (ActionStatus::Succeeded, Some(op), false) =
                    (r.status, &r.nslcmop_id, tracked)
                {
                    new.push((
                        Some(i),
                        OperationReport::new(op, &a.name, &ns_osm_id, op_type),
                    ));
                }
            }
            st.operations.extend(new);
        }
        let mut reports: Vec<OperationReport> = self
            .lock(state)
            .operations
            .iter()
            .map(|(_, r)| r.clone())
            .collect();
        if self.opts.wait && reports.iter().any(|r| !r.finished()) {
            let span = tracing::info_span!("operations.follow", operations = reports.len());
            self.follow(&mut reports).instrument(span).await;
        } else if !self.opts.wait {
            for r in reports.iter_mut().filter(|r| !r.finished()) {
                r.state = crate::model::OperationState::NotFollowed;
            }
        }
        let failed_actions: Vec<(usize, ActionResult)> = {
            let mut st = self.lock(state);
            for ((_, slot), rep) in st.operations.iter_mut().zip(&reports) {
                *slot = rep.clone();
            }
            st.operations
                .iter()
                .filter_map(|(i, rep)| {
                    let i = (*i)?;
                    // Already failed (e.g. by its rollout batch): reported once.
                    let already = st.results[i].status == ActionStatus::Failed;
                    (rep.failed() && !already).then(|| {
                        let mut r = st.results[i].clone();
                        r.status = ActionStatus::Failed;
                        r.message = format!(
                            "operation {} {}: {}",
                            rep.nslcmop_id,
                            rep.state,
                            rep.error.clone().unwrap_or_default()
                        );
                        (i, r)
                    })
                })
                .collect()
        };
        for (i, r) in failed_actions {
            self.finish(state, i, r);
        }
    }

    /// Waits until OSM has removed the NS instances this apply terminated (the terminate
    /// completing is not enough: see `follow.rs`). Until then they stay in the inventory.
    async fn confirm_gone(&self, state: &Mutex<State>) {
        if !self.opts.wait {
            return;
        }
        let terminated: Vec<(Option<usize>, String)> = self
            .lock(state)
            .operations
            .iter()
            .filter(|(_, r)| r.op_type == "terminate" && r.succeeded())
            .map(|(i, r)| (*i, r.ns_osm_id.clone()))
            .collect();
        for (i, ns_id) in terminated {
            if self.lock(state).gone.contains(&ns_id) {
                continue;
            }
            let gone = wait_gone(self.client, &ns_id, self.deadline, self.opts.poll_interval).await;
            match (gone, i) {
                (Ok(true), _) => self.ns_gone(state, &ns_id),
                (outcome, Some(i)) => {
                    let mut r = self.lock(state).results[i].clone();
                    if r.status == ActionStatus::Succeeded {
                        r.status = ActionStatus::Skipped;
                        r.message = match outcome {
                            Ok(_) => format!("{}; terminated, but OSM still lists the NS: it stays owned and is deleted again on the next reconcile", r.message),
                            Err(e) => format!("{}; terminated, but cannot tell whether OSM removed the NS: {e}", r.message),
                        };
                        self.finish(state, i, r);
                    }
                }
                (_, None) => {}
            }
        }
    }

    /// Phase 4: package deletes (prune), NS packages first, once OSM has removed their users.
    async fn package_deletes(&self, state: &Mutex<State>) {
        for (i, a) in self.plan.actions.iter().enumerate() {
            let (Some(kind), Operation::DeletePackage { osm_id, waits_for }) =
                (a.kind.package_kind(), &a.operation)
            else {
                continue;
            };
            let still_there: Vec<String> = {
                let st = self.lock(state);
                let names: HashMap<&str, &str> = self
                    .live
                    .ns_instances
                    .iter()
                    .map(|n| (n.osm_id.as_str(), n.name.as_str()))
                    .collect();
                waits_for
                    .iter()
                    .filter(|id| !st.gone.contains(*id))
                    .map(|id| {
                        names
                            .get(id.as_str())
                            .map_or(id.clone(), |n| (*n).to_owned())
                    })
                    .collect()
            };
            if !still_there.is_empty() {
                self.finish(
                    state,
                    i,
                    result(
                        ActionStatus::Skipped,
                        format!(
                            "deferred: OSM still has NS instance(s) {} using it; the next reconcile deletes it",
                            still_there.join(", ")
                        ),
                    ),
                );
                continue;
            }
            self.started(i);
            let r = match self.client.delete_package(kind, osm_id).await {
                Ok(()) => succeeded("deleted", osm_id, None),
                Err(e) if e.is_status(404) => succeeded("already gone", osm_id, None),
                Err(e) => failed(&e),
            };
            self.finish(state, i, r);
        }
    }
}

/// The OSM operation an NS action starts (`lcmOperationType`), if any.
fn ns_operation_type(op: &Operation) -> Option<&'static str> {
    match op {
        Operation::CreateNs { .. } | Operation::RecreateNs { .. } => Some("instantiate"),
        Operation::UpgradeNs { .. } | Operation::RollbackNs { .. } => Some("action"),
        Operation::DeleteNs { .. } => Some("terminate"),
        _ => None,
    }
}
