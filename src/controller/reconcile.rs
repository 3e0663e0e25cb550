//! One reconcile of one OsmSync, in Flux's phases: finalizer → suspend → intervals → dependencies
//! → source → (progress) → repository → credentials → plan and apply → report. Each phase is a
//! function returning `Result<_, Stop>`; one `report` writes status, event, journal and metrics
//! on every way out, so an early return can never leave a stale status. Failures the user can act
//! on end up in the status (Ready=False with a reason); Kubernetes API errors are left to the
//! error policy, which retries with backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{finalizer, Event as FinalizerEvent};
use kube::ResourceExt;
use serde_json::json;
use tracing::Instrument;

use super::events::EventType;
use super::failure::{engine_failure, Failure, Stop};
use super::metrics::ObjectLabels;
use super::prepare;
use super::status::{
    self, desired_digest, inventory_for, inventory_to_status, mark_failed, mark_progressing,
    mark_ready, record_operations, revision_digest, running_operations, upsert_history,
};
use super::Context;
use crate::api::{condition, reason, OsmSync, OsmSyncStatus, FINALIZER, RECONCILE_REQUESTED_AT};
use crate::duration::{format_duration, parse_duration};
use crate::engine::{self, ActionStatus, EngineOptions, Outcome};
use crate::osm::NbiClient;
use crate::plan::{Inventory, Owner};
use crate::repo::DesiredState;

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
        let parse = |field: &str, v: &str| {
            parse_duration(v).map_err(|e| invalid(format!("spec.{field}: {e}")))
        };
        let interval = parse("interval", &sync.spec.interval)?;
        if interval.is_zero() {
            return Err(invalid("spec.interval must be greater than zero".into()));
        }
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

pub async fn reconcile(sync: Arc<OsmSync>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let ns = sync.namespace().unwrap_or_default();
    let labels = ObjectLabels {
        kind: "OsmSync".into(),
        name: sync.name_any(),
        namespace: ns.clone(),
    };
    let api: Api<OsmSync> = Api::namespaced(ctx.client.clone(), &ns);
    // One trace per reconcile; its id goes into every log line of the reconcile.
    let span = tracing::info_span!("reconcile", osmsync.namespace = %ns, osmsync.name = %labels.name, trace_id = tracing::field::Empty);
    span.record(
        "trace_id",
        span.in_scope(crate::telemetry::current_trace_id),
    );
    ctx.metrics.worker(1);
    // The Ready status the reconcile left (for the metrics); "Deleted" once the finalizer is gone.
    let ready: std::sync::Mutex<Option<String>> = Default::default();
    let result = finalizer(&api, FINALIZER, sync, |event| async {
        match event {
            FinalizerEvent::Apply(s) => Run::new(&api, &s, &ctx, &ready).apply().await,
            FinalizerEvent::Cleanup(s) => {
                let r = super::cleanup::cleanup(&api, &s, &ctx).await;
                if r.is_ok() {
                    *ready.lock().expect("ready lock") = Some("Deleted".into());
                }
                r
            }
        }
    })
    .instrument(span)
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(inner)
        | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner,
        other => ReconcileError::Finalizer(other.to_string()),
    });
    ctx.metrics.worker(-1);
    let seconds = started.elapsed().as_secs_f64();
    ctx.metrics
        .reconcile_duration
        .get_or_create(&labels)
        .observe(seconds);
    let ready = ready.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(status) = &ready {
        ctx.metrics.set_ready(&labels, status);
    }
    // A reconcile that ends Ready=False is a failure for dashboards and alerts, as in Flux
    // (whose reconcilers return an error then).
    let failed = result.is_err() || ready.as_deref() == Some("False");
    ctx.metrics.count_reconcile(failed, seconds);
    result
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
        &Patch::Merge(json!({ "status": next })),
    )
    .instrument(tracing::info_span!("status.write"))
    .await?;
    *current = next.clone();
    Ok(())
}

/// The result of the phases that reached OSM.
struct Applied {
    outcome: Outcome,
    intervals: Intervals,
}

/// One reconcile in progress: the object, the status as the server has it (`current`) and as
/// this reconcile will leave it (`next`).
struct Run<'a> {
    api: &'a Api<OsmSync>,
    ctx: &'a Context,
    /// Where the Ready status this reconcile leaves is reported (metrics).
    ready_out: &'a std::sync::Mutex<Option<String>>,
    sync: &'a OsmSync,
    started: Instant,
    /// Digest of the desired state (or of the revision) for the history snapshot.
    digest: Option<String>,
    /// Snapshot metadata: the revision and what the reconcile did.
    metadata: std::collections::BTreeMap<String, String>,
    current: OsmSyncStatus,
    next: OsmSyncStatus,
    /// The artifact revision, once the source is resolved.
    revision: Option<String>,
    retry: Duration,
}

impl<'a> Run<'a> {
    fn new(
        api: &'a Api<OsmSync>,
        sync: &'a OsmSync,
        ctx: &'a Context,
        ready_out: &'a std::sync::Mutex<Option<String>>,
    ) -> Run<'a> {
        let current = sync.status.clone().unwrap_or_default();
        Run {
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
        }
    }

    fn key(&self) -> (String, String) {
        (
            self.sync.namespace().unwrap_or_default(),
            self.sync.name_any(),
        )
    }

    fn generation(&self) -> Option<i64> {
        self.sync.metadata.generation
    }

    async fn apply(mut self) -> Result<Action, ReconcileError> {
        self.ctx.journal.observe_sync(self.sync);
        if self.sync.spec.suspend {
            tracing::info!(osmsync = %self.sync.name_any(), "reconciliation is suspended for this object");
            // Observe the generation that asked for suspension (as Flux's finalizeStatus does), so
            // kstatus sees the object as Current and a parent Kustomization's health check passes.
            self.next.observed_generation = self.generation();
            self.conclude_suspended().await?;
            return Ok(Action::await_change());
        }
        if let Some(at) = self.sync.annotations().get(RECONCILE_REQUESTED_AT) {
            self.next.last_handled_reconcile_at = Some(at.clone());
        }
        let result = self.phases().await;
        self.report(result).await
    }

    async fn phases(&mut self) -> Result<Applied, Stop> {
        let intervals = Intervals::from(self.sync)?;
        self.retry = intervals.retry;
        let source = prepare::source(self.ctx, self.sync).await?;
        let revision = source.revision().to_owned();
        self.revision = Some(revision.clone());
        self.digest = Some(revision_digest(&revision));
        self.metadata.insert("revision".into(), revision.clone());
        self.dependencies(&revision).await?;
        self.next.last_attempted_revision = Some(revision.clone());
        self.ctx.journal.reconcile_started(&self.key(), &revision);
        self.progress(&revision, &intervals).await?;
        let desired = prepare::repository(self.ctx, self.sync, &source).await?;
        self.digest = Some(desired_digest(&desired));
        let nbi = prepare::credentials(self.ctx, self.sync).await?;
        self.resume_operations(&nbi, &intervals).await;
        let outcome = self
            .plan_and_apply(&nbi, &desired, &revision, &intervals)
            .await?;
        Ok(Applied { outcome, intervals })
    }

    /// Every `dependsOn` OsmSync must be Ready; one that reads the same source must have applied
    /// the revision this reconcile is about to apply (Flux's rule), so a push that touches both
    /// never runs the dependent ahead of its dependency.
    async fn dependencies(&self, revision: &str) -> Result<(), Stop> {
        let ns = self.sync.namespace().unwrap_or_default();
        let mut waiting = Vec::new();
        for dep in &self.sync.spec.depends_on {
            let dep_ns = dep.namespace.clone().unwrap_or_else(|| ns.clone());
            let api: Api<OsmSync> = Api::namespaced(self.ctx.client.clone(), &dep_ns);
            let label = format!("{dep_ns}/{}", dep.name);
            let found = api
                .get_opt(&dep.name)
                .await
                .map_err(|e| prepare::api_failure(e, &format!("dependency '{label}'")))?;
            match found {
                Some(d) if !d.is_ready() => waiting.push(label),
                None => waiting.push(format!("{label} not found")),
                Some(d) if same_source(self.sync, &d) => {
                    let applied = d
                        .status
                        .as_ref()
                        .and_then(|s| s.last_applied_revision.as_deref());
                    if applied != Some(revision) {
                        waiting.push(format!(
                            "{label} has not applied revision {revision} yet (last applied: {})",
                            applied.unwrap_or("none")
                        ));
                    }
                }
                Some(_) => {}
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        Err(Failure::new(
            reason::DEPENDENCY_NOT_READY,
            format!(
                "Dependencies do not meet ready condition ({}), retrying in {}",
                waiting.join(", "),
                format_duration(self.ctx.opts.requeue_dependency)
            ),
        )
        .requeue(super::failure::Requeue::Dependency)
        .into())
    }

    /// Says what is happening when there is new work (a new generation or a new revision), so
    /// `kubectl get` shows progress. A retry of the same generation and revision keeps Ready as it
    /// is (False with the failure's reason stays False, as in Flux): flapping through Unknown on
    /// every retry would read as recovery to `kubectl get -w`, kstatus and alerting.
    async fn progress(&mut self, revision: &str, iv: &Intervals) -> Result<(), Stop> {
        let new_work = self.current.observed_generation != self.generation()
            || (self.current.last_applied_revision.as_deref() != Some(revision)
                && self.current.last_attempted_revision.as_deref() != Some(revision));
        if new_work {
            let msg = format!(
                "Fetching manifests for revision {revision} with a timeout of {}",
                format_duration(iv.timeout)
            );
            let generation = self.generation();
            mark_progressing(&mut self.next, generation, reason::PROGRESSING, &msg);
            write_status(self.api, self.sync, &mut self.current, &self.next).await?;
        }
        Ok(())
    }

    /// The inventory for the OSM this session talks to; a status recording another OSM or project
    /// (the Secret was changed) is dropped with a warning: OSM's own marks prove ownership then.
    async fn inventory(&self, nbi: &NbiClient) -> Inventory {
        match inventory_for(self.next.inventory.as_ref(), nbi.base_url(), nbi.project()) {
            Ok(inv) => inv,
            Err(recorded) => {
                let msg = format!(
                    "{recorded}, but the Secret now points at OSM {} project {}: those entries are ids in another OSM and are dropped; what this OsmSync owns in the new target is known by OSM's own marks",
                    nbi.base_url(),
                    nbi.project()
                );
                tracing::warn!(osmsync = %self.sync.name_any(), %msg, "inventory reset");
                self.ctx
                    .events
                    .publish(
                        self.sync,
                        EventType::Warning,
                        "InventoryReset",
                        &msg,
                        self.revision.as_deref(),
                        false,
                    )
                    .await;
                Inventory::default()
            }
        }
    }

    async fn plan_and_apply(
        &mut self,
        nbi: &NbiClient,
        desired: &DesiredState,
        revision: &str,
        iv: &Intervals,
    ) -> Result<Outcome, Failure> {
        let (ns, name) = self.key();
        let opts = EngineOptions {
            prune: self.sync.spec.prune,
            allow_empty: self.sync.spec.allow_empty,
            owner: Owner::controller(&ns, &name),
            remediation: self.sync.spec.remediation(),
            wait: self.sync.spec.wait,
            timeout: iv.timeout,
            concurrency: 4,
            poll_interval: self.ctx.opts.poll_interval,
            ops_cache: Some(self.ctx.ops_cache_for(nbi)),
        };
        let inventory = self.inventory(nbi).await;
        let journal = self.ctx.journal.clone();
        let key = self.key();
        // Operations OSM accepted are recorded in the status at once (write-ahead), so a
        // controller killed while following them resumes them after a restart.
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel();
        let on_progress = |_: &crate::plan::Plan, p: &engine::Progress| {
            if let engine::Progress::Operation { report } = p {
                journal.operation_seen(&key, revision, report);
                let _ = started_tx.send(report.clone());
            }
        };
        let engine_run = engine::reconcile(nbi, desired, &inventory, &opts, &on_progress)
            .instrument(tracing::info_span!("engine", revision = %revision));
        tokio::pin!(engine_run);
        let result = loop {
            tokio::select! {
                result = &mut engine_run => break result,
                Some(first) = started_rx.recv() => {
                    let mut seen = vec![first];
                    while let Ok(more) = started_rx.try_recv() {
                        seen.push(more);
                    }
                    self.persist_operations(revision, &seen).await;
                }
            }
        };
        let outcome = result.map_err(|e| engine_failure(e, revision))?;
        self.ctx.metrics.observe_outcome(&outcome);
        self.ctx
            .journal
            .plan_applied(&self.key(), revision, &outcome);
        self.next.inventory = Some(inventory_to_status(
            &outcome.inventory,
            nbi.base_url(),
            nbi.project(),
        ));
        record_operations(&mut self.next, revision, &outcome.operations);
        for (k, v) in outcome.counts() {
            self.metadata.insert(k.to_owned(), v.to_string());
        }
        if !outcome.operations.is_empty() {
            self.metadata
                .insert("operations".into(), outcome.operations.len().to_string());
        }
        Ok(outcome)
    }

    /// Writes operations OSM accepted (or that changed state) to the status right away. A failed
    /// write is logged: the final status write records them anyway.
    async fn persist_operations(&mut self, revision: &str, reports: &[engine::OperationReport]) {
        record_operations(&mut self.next, revision, reports);
        let patch = json!({"status": {"operations": self.next.operations}});
        match self
            .api
            .patch_status(
                &self.sync.name_any(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await
        {
            Ok(_) => self.current.operations = self.next.operations.clone(),
            Err(e) => {
                tracing::warn!(osmsync = %self.sync.name_any(), error = %e, "cannot record operations in the status")
            }
        }
    }

    /// Follows operations an earlier run started and could not see end (the controller was
    /// stopped or killed while following them), so their end is recorded, reported and counted
    /// before this run plans on top of them.
    async fn resume_operations(&mut self, nbi: &NbiClient, iv: &Intervals) {
        let mut running = running_operations(&self.current);
        if running.is_empty() {
            return;
        }
        tracing::info!(osmsync = %self.sync.name_any(), count = running.len(), "following operations started before a restart");
        let key = self.key();
        let journal = self.ctx.journal.clone();
        let by_id: std::collections::HashMap<String, String> = self
            .current
            .operations
            .iter()
            .map(|o| (o.nslcmop_id.clone(), o.revision.clone()))
            .collect();
        let on_change = |r: &engine::OperationReport| {
            let rev = by_id.get(&r.nslcmop_id).cloned().unwrap_or_default();
            journal.operation_seen(&key, &rev, r);
        };
        engine::follow(
            nbi,
            &mut running,
            Instant::now() + iv.timeout,
            self.ctx.opts.poll_interval,
            &on_change,
        )
        .await;
        for r in &running {
            self.ctx.journal.operation_seen(
                &key,
                by_id
                    .get(&r.nslcmop_id)
                    .map(String::as_str)
                    .unwrap_or_default(),
                r,
            );
        }
        record_operations(&mut self.next, "", &running);
        self.metadata
            .insert("resumedOperations".into(), running.len().to_string());
    }

    /// A suspended OsmSync: only the observed generation (and a handled reconcile request) change.
    async fn conclude_suspended(&mut self) -> Result<(), kube::Error> {
        if let Some(at) = self.sync.annotations().get(RECONCILE_REQUESTED_AT) {
            self.next.last_handled_reconcile_at = Some(at.clone());
        }
        write_status(self.api, self.sync, &mut self.current, &self.next).await
    }

    /// Writes the status (when it changed) and records the end of the reconcile in the journal.
    /// `result` is the Ready reason the reconcile ends with, recorded in the history.
    async fn conclude(&mut self, result: &str) -> Result<(), kube::Error> {
        if let Some(digest) = &self.digest {
            upsert_history(
                &mut self.next,
                digest,
                result,
                self.started.elapsed(),
                std::mem::take(&mut self.metadata),
            );
        }
        *self.ready_out.lock().expect("ready lock") = self
            .next
            .condition(condition::READY)
            .map(|c| c.status.clone());
        write_status(self.api, self.sync, &mut self.current, &self.next).await?;
        self.ctx.journal.reconcile_finished(
            self.sync,
            &self.next,
            self.revision.as_deref().unwrap_or_default(),
            self.started.elapsed().as_secs_f64(),
        );
        Ok(())
    }

    /// The one way out: status, event, journal, requeue.
    async fn report(self, result: Result<Applied, Stop>) -> Result<Action, ReconcileError> {
        match result {
            Err(Stop::Api(e)) => Err(e.into()),
            Err(Stop::Failure(f)) => self.fail(f).await,
            Ok(applied) => self.applied(applied).await,
        }
    }

    /// Ready=False with the failure's reason, a Warning event when the message is new, a requeue.
    async fn fail(mut self, f: Failure) -> Result<Action, ReconcileError> {
        let generation = self.generation();
        mark_failed(&mut self.next, generation, f.reason, &f.message, f.stalled);
        let changed = self
            .current
            .condition(condition::READY)
            .map(|c| (c.reason.as_str(), c.message.as_str()))
            != Some((f.reason, f.message.as_str()));
        self.conclude(f.reason).await?;
        // Waiting for a dependency is normal operation (Flux emits it as a Normal event).
        let severity = if f.reason == reason::DEPENDENCY_NOT_READY {
            EventType::Normal
        } else {
            EventType::Warning
        };
        if changed {
            self.ctx
                .events
                .publish(
                    self.sync,
                    severity,
                    f.reason,
                    &f.message,
                    self.revision.as_deref(),
                    false,
                )
                .await;
        }
        tracing::warn!(osmsync = %self.sync.name_any(), reason = f.reason, message = %f.message, "reconciliation failed");
        Ok(f.after(self.retry, self.ctx.opts.requeue_dependency)
            .map(Action::requeue)
            .unwrap_or_else(Action::await_change))
    }

    /// The end of a reconcile that reached OSM.
    async fn applied(mut self, applied: Applied) -> Result<Action, ReconcileError> {
        let Applied {
            outcome,
            intervals: iv,
        } = applied;
        let revision = self.revision.clone().unwrap_or_default();
        if outcome.failed() {
            let timeout = outcome
                .operations
                .iter()
                .any(|o| o.state == crate::model::OperationState::Timeout);
            let op_failed = outcome.operations.iter().any(|o| o.failed())
                || outcome
                    .plan
                    .actions
                    .iter()
                    .any(|a| a.operation.label() == "broken");
            let r = if timeout {
                reason::OPERATION_TIMEOUT
            } else if op_failed {
                reason::OPERATION_FAILED
            } else {
                reason::RECONCILIATION_FAILED
            };
            let msg = format!("revision {revision}: {}", failure_lines(&outcome));
            let mut f = Failure::new(r, msg);
            // Broken NS instances without remediation left: reconciling again changes nothing
            // until Git (or an operator in OSM) does.
            if only_broken(&outcome) {
                f = f.stalled();
            }
            return self.fail(f).await;
        }
        if outcome.incomplete() {
            // Blocked or deferred work is not success: Ready=False, retried soon.
            let msg = format!("revision {revision}: {}", failure_lines(&outcome));
            let generation = self.generation();
            mark_failed(
                &mut self.next,
                generation,
                reason::PROGRESSING_WITH_RETRY,
                &msg,
                false,
            );
            status::set_condition(
                &mut self.next.conditions,
                condition::RECONCILING,
                "True",
                reason::PROGRESSING_WITH_RETRY,
                &msg,
                generation,
            );
            self.conclude(reason::PROGRESSING_WITH_RETRY).await?;
            return Ok(Action::requeue(
                self.ctx.opts.requeue_dependency.min(iv.retry),
            ));
        }
        let was_ready = self
            .current
            .condition(condition::READY)
            .is_some_and(|c| c.status == "True");
        let revision_changed = self.current.last_applied_revision.as_deref() != Some(&revision);
        let generation = self.generation();
        mark_ready(
            &mut self.next,
            generation,
            reason::RECONCILIATION_SUCCEEDED,
            &format!("Applied revision: {revision}"),
        );
        self.next.last_applied_revision = Some(revision.clone());
        self.conclude(reason::RECONCILIATION_SUCCEEDED).await?;
        if outcome.plan.writes() > 0 || revision_changed || !was_ready {
            let msg = format!(
                "Reconciliation finished in {}, next run in {}\n{}",
                format_duration(Duration::from_millis(
                    self.started.elapsed().as_millis() as u64
                )),
                format_duration(iv.interval),
                outcome.summary()
            );
            self.ctx
                .events
                .publish(
                    self.sync,
                    EventType::Normal,
                    reason::RECONCILIATION_SUCCEEDED,
                    &msg,
                    Some(&revision),
                    true,
                )
                .await;
        }
        Ok(Action::requeue(super::jittered(
            iv.interval,
            self.ctx.opts.interval_jitter_percent,
        )))
    }
}

/// Whether two OsmSyncs read the same Flux source.
fn same_source(a: &OsmSync, b: &OsmSync) -> bool {
    let (ra, rb) = (&a.spec.source_ref, &b.spec.source_ref);
    let ns = |s: &OsmSync, r: &crate::api::SourceReference| {
        r.namespace
            .clone()
            .unwrap_or_else(|| s.namespace().unwrap_or_default())
    };
    ra.kind == rb.kind && ra.name == rb.name && ns(a, ra) == ns(b, rb)
}

/// True when every failure of the outcome is a broken NS that no remediation will repair.
fn only_broken(o: &Outcome) -> bool {
    let mut any = false;
    for (a, r) in o.plan.actions.iter().zip(&o.results) {
        if r.status == ActionStatus::Failed {
            if a.operation.label() != "broken" {
                return false;
            }
            any = true;
        }
    }
    any && !o.operations.iter().any(|op| op.failed())
}

/// The first few failed/blocked/skipped actions and failed operations, one line.
pub(super) fn failure_lines(o: &Outcome) -> String {
    let mut lines: Vec<String> = o
        .plan
        .actions
        .iter()
        .zip(&o.results)
        .filter(|(_, r)| !matches!(r.status, ActionStatus::Succeeded | ActionStatus::NoOp))
        .map(|(a, r)| {
            format!(
                "{} {} {}: {}",
                a.operation.label(),
                a.kind.label(),
                a.name,
                r.message
            )
        })
        .collect();
    let op_lines: Vec<String> = o
        .operations
        .iter()
        .filter(|op| op.failed() && !lines.iter().any(|l| l.contains(&op.nslcmop_id)))
        .map(|op| {
            format!(
                "operation {} ({} of {}) {}: {}",
                op.nslcmop_id,
                op.op_type,
                op.ns_name,
                op.state,
                op.error.clone().unwrap_or_default()
            )
        })
        .collect();
    lines.extend(op_lines);
    let more = lines.len().saturating_sub(5);
    lines.truncate(5);
    let mut s = lines.join("; ");
    if more > 0 {
        s.push_str(&format!("; and {more} more"));
    }
    s
}
