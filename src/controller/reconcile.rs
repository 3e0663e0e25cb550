//! One reconcile of one OsmSync, in Flux's phases: finalizer → suspend → intervals → source →
//! dependencies → (progress) → repository → credentials → resumed operations (operations.rs) →
//! plan and apply → report (report.rs). Each phase is a
//! function returning `Result<_, Stop>`; one `report` writes status, event, journal and metrics
//! on every way out, so an early return can never leave a stale status. Failures the user can act
//! on end up in the status (Ready=False with a reason); Kubernetes API errors are left to the
//! error policy, which retries with backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{finalizer, Event as FinalizerEvent};
use kube::ResourceExt;
use tracing::Instrument;

use super::events::EventType;
use super::failure::{engine_failure, Failure, Stop};
use super::metrics::ObjectLabels;
use super::options::engine_options;
use super::prepare;
use super::run::{write_status, Applied, Intervals, ReconcileError, Run};
use super::status::{
    desired_digest, inventory_for, inventory_to_status, mark_progressing, record_operations,
    revision_digest,
};
use super::Context;
use crate::api::{reason, OsmSync, FINALIZER, RECONCILE_REQUESTED_AT};
use crate::duration::format_duration;
use crate::engine::{self, Osm, Outcome};
use crate::osm::NbiClient;
use crate::plan::Inventory;
use crate::repo::DesiredState;

/// How long operations OSM accepted may wait before they are written to the status ahead of the
/// reconcile's end.
const WRITE_AHEAD_DELAY: Duration = Duration::from_secs(1);

pub async fn reconcile(sync: Arc<OsmSync>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let ns = sync.namespace().unwrap_or_default();
    let labels = ObjectLabels::of(&sync);
    let api: Api<OsmSync> = Api::namespaced(ctx.client.clone(), &ns);
    // One trace per reconcile; its id goes into every log line of the reconcile.
    let span = tracing::info_span!("reconcile", osmsync.namespace = %ns, osmsync.name = %labels.name, trace_id = tracing::field::Empty);
    // Only a real trace id goes into the log lines (none when tracing is off).
    let trace_id = span.in_scope(crate::telemetry::current_trace_id);
    if !trace_id.is_empty() {
        span.record("trace_id", trace_id);
    }
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
    if ctx.metrics.worker(-1) == 0 {
        // Once the shared NS lists are too old to be shared, if still nothing runs.
        let ctx = ctx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(ctx.opts.osm_list_max_age + Duration::from_secs(1)).await;
            if ctx.metrics.worker(0) == 0 {
                ctx.release_idle_memory().await;
            }
        });
    }
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

impl Run<'_> {
    async fn apply(mut self) -> Result<Action, ReconcileError> {
        self.ctx.journal.observe_sync(self.sync);
        if self.sync.spec.suspend {
            tracing::info!(osmsync = %self.sync.name_any(), "reconciliation is suspended for this object");
            // As kustomize-controller's finalizeStatus: the generation is observed only while
            // Ready is True (kstatus: Current); conditions are left as the last reconcile wrote
            // them, and a reconcile request stays unhandled until the object is resumed.
            if self
                .current
                .condition(crate::api::condition::READY)
                .is_some_and(|c| c.status == "True")
            {
                self.next.observed_generation = self.generation();
            }
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
        let (subs, credentials) = prepare::substitutions(self.ctx, self.sync).await?;
        let desired = prepare::repository(self.ctx, self.sync, &source, subs).await?;
        self.digest = Some(desired_digest(&desired));
        let osm = prepare::credentials(self.ctx, self.sync, credentials).await?;
        self.resume_operations(&osm, &intervals, &desired.secrets)
            .await?;
        self.rollout_gate(&revision).await?;
        let outcome = self
            .plan_and_apply(&osm, &desired, &revision, &intervals)
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
        // Already in progress for this generation and revision (its operations were handed off
        // to the follower): this reconcile continues that work, it does not start new work.
        let continuing = self.current.last_attempted_revision.as_deref() == Some(revision)
            && self
                .current
                .condition(crate::api::condition::READY)
                .is_some_and(|c| {
                    c.status == "Unknown"
                        && c.reason == reason::PROGRESSING
                        && c.observed_generation == self.generation()
                });
        let new_work = !continuing
            && (self.current.observed_generation != self.generation()
                || (self.current.last_applied_revision.as_deref() != Some(revision)
                    && self.current.last_attempted_revision.as_deref() != Some(revision)));
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
        osm: &Osm,
        desired: &DesiredState,
        revision: &str,
        iv: &Intervals,
    ) -> Result<Outcome, Failure> {
        let opts = engine_options(self.ctx, self.sync, iv.timeout, self.approval());
        let inventory = self.inventory(&osm.client).await;
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
        let engine_run = engine::reconcile(osm, desired, &inventory, &opts, &on_progress)
            .instrument(tracing::info_span!("engine", revision = %revision));
        tokio::pin!(engine_run);
        // With the hand-off, recorded at most once per WRITE_AHEAD_DELAY: an apply that ends
        // sooner (most do: it does not follow its operations) records them in its final status
        // write, one API call less per reconcile; should the controller die in between, OSM's
        // history still shows the operation running and the next plan follows it. A worker that
        // follows its operations records them at once.
        let delay = if opts.hand_off {
            WRITE_AHEAD_DELAY
        } else {
            Duration::ZERO
        };
        let mut seen = Vec::new();
        let mut persist_at: Option<tokio::time::Instant> = None;
        let result = loop {
            let due = async {
                match persist_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                result = &mut engine_run => break result,
                Some(report) = started_rx.recv() => {
                    seen.push(report);
                    while let Ok(more) = started_rx.try_recv() {
                        seen.push(more);
                    }
                    persist_at.get_or_insert_with(|| tokio::time::Instant::now() + delay);
                }
                () = due => {
                    persist_at = None;
                    let batch = std::mem::take(&mut seen);
                    self.persist_operations(revision, &batch).await;
                }
            }
        };
        let outcome = match result {
            Err(engine::EngineError::AwaitingApproval(pending)) => {
                return Err(self.awaiting_approval(revision, *pending).await)
            }
            other => other.map_err(|e| engine_failure(e, revision))?,
        };
        self.ctx.metrics.observe_outcome(&outcome);
        self.hand_off(osm, &outcome);
        self.report_drift(&outcome.plan, true).await;
        self.plan_applied(revision, &outcome).await;
        self.ctx
            .journal
            .plan_applied(&self.key(), revision, &outcome);
        self.next.inventory = Some(inventory_to_status(
            &outcome.inventory,
            osm.client.base_url(),
            osm.client.project(),
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
