//! One reconcile of one OsmSync, in Flux's phases: finalizer → suspend → dependsOn → artifact →
//! credentials → engine (validate, plan, apply, follow, prune) → status, event, metrics → requeue.
//! Failures the user can act on end up in the status (Ready=False with a reason), not as errors;
//! errors are left for Kubernetes API failures, which the error policy retries with backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{finalizer, Event as FinalizerEvent};
use kube::ResourceExt;
use serde_json::json;
use tracing::Instrument;

use super::events::{publish, EventType};
use super::metrics::ObjectLabels;
use super::secret::connection_from_secret;
use super::status::{
    self, history_entry, inventory_from_status, inventory_to_status, mark_failed, mark_progressing,
    mark_ready, push_history,
};
use super::Context;
use crate::api::{reason, OsmSync, OsmSyncStatus, FINALIZER, RECONCILE_REQUESTED_AT};
use crate::duration::{format_duration, parse_duration};
use crate::engine::{self, EngineError, EngineOptions, Outcome};
use crate::repo::{read_repository, DesiredState};

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
struct Intervals {
    interval: Duration,
    retry: Duration,
    timeout: Duration,
}

impl Intervals {
    fn from(sync: &OsmSync) -> Result<Intervals, String> {
        let parse =
            |field: &str, v: &str| parse_duration(v).map_err(|e| format!("spec.{field}: {e}"));
        let interval = parse("interval", &sync.spec.interval)?;
        if interval.is_zero() {
            return Err("spec.interval must be greater than zero".into());
        }
        let retry = sync
            .spec
            .retry_interval
            .as_deref()
            .map(|v| parse("retryInterval", v))
            .transpose()?
            .unwrap_or(interval);
        let timeout = sync
            .spec
            .timeout
            .as_deref()
            .map(|v| parse("timeout", v))
            .transpose()?
            .unwrap_or(interval);
        Ok(Intervals {
            interval,
            retry,
            timeout,
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
    let result = finalizer(&api, FINALIZER, sync, |event| async {
        match event {
            FinalizerEvent::Apply(s) => apply(&api, &s, &ctx).await,
            FinalizerEvent::Cleanup(s) => cleanup(&api, &s, &ctx).await,
        }
    })
    .instrument(span)
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(inner)
        | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner,
        other => ReconcileError::Finalizer(other.to_string()),
    });
    ctx.metrics
        .reconcile_duration
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    ctx.metrics
        .count_result(if result.is_ok() { "success" } else { "error" });
    result
}

/// Writes the status when it differs from what the server has (no-op writes would only produce
/// watch events and noise).
async fn write_status(
    api: &Api<OsmSync>,
    sync: &OsmSync,
    current: &mut OsmSyncStatus,
    next: &OsmSyncStatus,
) -> Result<(), ReconcileError> {
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

/// What every phase of one reconcile needs to report.
struct Run<'a> {
    api: &'a Api<OsmSync>,
    ctx: &'a Context,
    sync: &'a OsmSync,
    started: Instant,
}

impl Run<'_> {
    /// Ends a reconcile with Ready=False, an event and a requeue.
    #[allow(clippy::too_many_arguments)]
    async fn fail(
        &self,
        current: &mut OsmSyncStatus,
        mut next: OsmSyncStatus,
        reason: &str,
        message: String,
        stalled: bool,
        revision: Option<&str>,
        requeue: Option<Duration>,
    ) -> Result<Action, ReconcileError> {
        let (api, ctx, sync, started) = (self.api, self.ctx, self.sync, self.started);
        mark_failed(
            &mut next,
            sync.metadata.generation,
            reason,
            &message,
            stalled,
        );
        let changed = current
            .condition(crate::api::condition::READY)
            .map(|c| (&c.reason, &c.message))
            != Some((&reason.to_owned(), &message));
        write_status(api, sync, current, &next).await?;
        ctx.journal.reconcile_finished(
            sync,
            &next,
            revision.unwrap_or_default(),
            started.elapsed().as_secs_f64(),
        );
        if changed {
            publish(
                &ctx.client,
                sync,
                EventType::Warning,
                reason,
                &message,
                revision,
                &ctx.identity,
            )
            .await;
        }
        tracing::warn!(osmsync = %sync.name_any(), reason, %message, "reconciliation failed");
        Ok(requeue
            .map(Action::requeue)
            .unwrap_or_else(Action::await_change))
    }
}

async fn apply(
    api: &Api<OsmSync>,
    sync: &OsmSync,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let generation = sync.metadata.generation;
    let ns = sync.namespace().unwrap_or_default();
    let mut current = sync.status.clone().unwrap_or_default();
    let mut next = current.clone();
    ctx.journal.observe_sync(sync);
    let run = Run {
        api,
        ctx,
        sync,
        started,
    };
    let key = (ns.clone(), sync.name_any());
    if sync.spec.suspend {
        tracing::info!(osmsync = %sync.name_any(), "reconciliation is suspended for this object");
        return Ok(Action::await_change());
    }
    if let Some(at) = sync.annotations().get(RECONCILE_REQUESTED_AT) {
        next.last_handled_reconcile_at = Some(at.clone());
    }
    let iv = match Intervals::from(sync) {
        Ok(iv) => iv,
        Err(msg) => {
            return run
                .fail(
                    &mut current,
                    next,
                    reason::INVALID_SPEC,
                    msg,
                    true,
                    None,
                    None,
                )
                .await
        }
    };

    // Dependencies.
    let mut waiting = Vec::new();
    for dep in &sync.spec.depends_on {
        let dep_ns = dep.namespace.clone().unwrap_or_else(|| ns.clone());
        let dep_api: Api<OsmSync> = Api::namespaced(ctx.client.clone(), &dep_ns);
        let ready = dep_api
            .get_opt(&dep.name)
            .await?
            .is_some_and(|d| d.is_ready());
        if !ready {
            waiting.push(format!("{dep_ns}/{}", dep.name));
        }
    }
    if !waiting.is_empty() {
        let wait = ctx.opts.requeue_dependency;
        let msg = format!(
            "Dependencies do not meet ready condition ({}), retrying in {}",
            waiting.join(", "),
            format_duration(wait)
        );
        return run
            .fail(
                &mut current,
                next,
                reason::DEPENDENCY_NOT_READY,
                msg,
                false,
                None,
                Some(wait),
            )
            .await;
    }

    // Source artifact.
    let retry_dep = ctx.opts.requeue_dependency;
    let resolved = match super::artifact::resolve(ctx, sync, &ns)
        .instrument(tracing::info_span!("source.resolve"))
        .await?
    {
        Ok(r) => r,
        Err(unresolved) => {
            use super::artifact::Unresolved;
            // (reason, message, stalled, requeue)
            let (r, msg, stalled, requeue) = match unresolved {
                Unresolved::Blocked(msg) => (reason::ACCESS_DENIED, msg, true, None),
                Unresolved::Missing(msg) => (reason::ARTIFACT_FAILED, msg, false, Some(retry_dep)),
                Unresolved::NotReady { source_message, .. } => {
                    let why = source_message
                        .map(|m| format!(" (source: {m})"))
                        .unwrap_or_default();
                    let msg = format!(
                        "Source artifact not found, retrying in {}{why}",
                        format_duration(retry_dep)
                    );
                    (reason::ARTIFACT_FAILED, msg, false, Some(retry_dep))
                }
            };
            return run
                .fail(&mut current, next, r, msg, stalled, None, requeue)
                .await;
        }
    };
    let (artifact, digest) = (resolved.artifact, resolved.digest);
    let revision = artifact.revision.clone();
    next.last_attempted_revision = Some(revision.clone());
    ctx.journal.reconcile_started(&key, &revision);

    // Say what is happening when there is new work (new generation, new revision, or not Ready).
    let ready_now = current
        .condition(crate::api::condition::READY)
        .is_some_and(|c| c.status == "True");
    let new_work = current.observed_generation != generation
        || current.last_applied_revision.as_deref() != Some(revision.as_str())
        || !ready_now;
    if new_work {
        let msg = format!(
            "Fetching manifests for revision {revision} with a timeout of {}",
            format_duration(iv.timeout)
        );
        mark_progressing(&mut next, generation, reason::PROGRESSING, &msg);
        write_status(api, sync, &mut current, &next).await?;
    }

    let snapshot = match crate::source::fetch(
        &ctx.http,
        &artifact.url,
        &revision,
        &digest,
        &ctx.opts.fetch,
    )
    .instrument(tracing::info_span!("artifact.fetch", revision = %revision))
    .await
    {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("failed to fetch artifact for revision {revision}: {e}");
            return run
                .fail(
                    &mut current,
                    next,
                    reason::ARTIFACT_FAILED,
                    msg,
                    false,
                    Some(&revision),
                    Some(iv.retry),
                )
                .await;
        }
    };
    let read_opts = ctx.read_options(sync);
    let desired = match tracing::info_span!("repository.read")
        .in_scope(|| read_repository(snapshot.root(), &read_opts))
    {
        Ok(d) => d,
        Err(e) => {
            let msg = format!("validation failed for revision {revision}: {e}");
            return run
                .fail(
                    &mut current,
                    next,
                    reason::VALIDATION_FAILED,
                    msg,
                    false,
                    Some(&revision),
                    Some(iv.retry),
                )
                .await;
        }
    };
    drop(snapshot);

    let nbi = match session(ctx, sync, &ns)
        .instrument(tracing::info_span!("credentials"))
        .await?
    {
        Ok(c) => c,
        Err((r, msg)) => {
            return run
                .fail(
                    &mut current,
                    next,
                    r,
                    msg,
                    false,
                    Some(&revision),
                    Some(iv.retry),
                )
                .await
        }
    };
    let opts = EngineOptions {
        prune: sync.spec.prune,
        wait: sync.spec.wait,
        timeout: iv.timeout,
        concurrency: 4,
        poll_interval: ctx.opts.poll_interval,
    };
    let inventory = inventory_from_status(next.inventory.as_ref());
    let start = status::now_rfc3339();
    let journal = ctx.journal.clone();
    let on_progress = |_: &crate::plan::Plan, p: &engine::Progress| {
        if let engine::Progress::Operation { report } = p {
            journal.operation_seen(&key, &revision, report);
        }
    };
    let outcome = match engine::reconcile(&nbi, &desired, &inventory, &opts, &on_progress)
        .instrument(tracing::info_span!("engine", revision = %revision))
        .await
    {
        Ok(o) => o,
        Err(EngineError::Invalid(problems)) => {
            let msg = format!(
                "validation failed for revision {revision}: {}",
                problems.join("; ")
            );
            return run
                .fail(
                    &mut current,
                    next,
                    reason::VALIDATION_FAILED,
                    msg,
                    false,
                    Some(&revision),
                    Some(iv.retry),
                )
                .await;
        }
        Err(EngineError::Nbi(e)) => {
            let r = if e.is_unavailable() {
                reason::OSM_UNREACHABLE
            } else {
                reason::RECONCILIATION_FAILED
            };
            let msg = format!("revision {revision}: {e}");
            return run
                .fail(
                    &mut current,
                    next,
                    r,
                    msg,
                    false,
                    Some(&revision),
                    Some(iv.retry),
                )
                .await;
        }
    };
    ctx.metrics.observe_outcome(&outcome);
    ctx.journal.plan_applied(&key, &revision, &outcome);
    next.inventory = Some(inventory_to_status(&outcome.inventory));
    if outcome.plan.writes() > 0
        || outcome.failed()
        || current.last_applied_revision.as_deref() != Some(revision.as_str())
    {
        push_history(&mut next, history_entry(&revision, start, &outcome));
    }
    finish(
        api, ctx, sync, current, next, &revision, &outcome, &iv, started,
    )
    .await
}

/// The last phase of a reconcile that reached OSM: conditions, event, requeue.
#[allow(clippy::too_many_arguments)]
async fn finish(
    api: &Api<OsmSync>,
    ctx: &Context,
    sync: &OsmSync,
    mut current: OsmSyncStatus,
    mut next: OsmSyncStatus,
    revision: &str,
    outcome: &Outcome,
    iv: &Intervals,
    started: Instant,
) -> Result<Action, ReconcileError> {
    let generation = sync.metadata.generation;
    let run = Run {
        api,
        ctx,
        sync,
        started,
    };
    if outcome.failed() {
        let timeout = outcome.operations.iter().any(|o| o.state == "TIMEOUT");
        let op_failed = outcome.operations.iter().any(|o| o.failed());
        let r = if timeout {
            reason::OPERATION_TIMEOUT
        } else if op_failed {
            reason::OPERATION_FAILED
        } else {
            reason::RECONCILIATION_FAILED
        };
        let msg = format!("revision {revision}: {}", failure_lines(outcome));
        return run
            .fail(
                &mut current,
                next,
                r,
                msg,
                false,
                Some(revision),
                Some(iv.retry),
            )
            .await;
    }
    if outcome.incomplete() {
        let msg = format!("revision {revision}: {}", failure_lines(outcome));
        mark_progressing(&mut next, generation, reason::PROGRESSING_WITH_RETRY, &msg);
        next.observed_generation = generation;
        write_status(api, sync, &mut current, &next).await?;
        ctx.journal
            .reconcile_finished(sync, &next, revision, started.elapsed().as_secs_f64());
        return Ok(Action::requeue(ctx.opts.requeue_dependency.min(iv.retry)));
    }
    let was_ready = current
        .condition(crate::api::condition::READY)
        .is_some_and(|c| c.status == "True");
    let revision_changed = current.last_applied_revision.as_deref() != Some(revision);
    mark_ready(
        &mut next,
        generation,
        reason::RECONCILIATION_SUCCEEDED,
        &format!("Applied revision: {revision}"),
    );
    next.last_applied_revision = Some(revision.to_owned());
    write_status(api, sync, &mut current, &next).await?;
    ctx.journal
        .reconcile_finished(sync, &next, revision, started.elapsed().as_secs_f64());
    if outcome.plan.writes() > 0 || revision_changed || !was_ready {
        let msg = format!(
            "Reconciliation finished in {}, next run in {}\n{}",
            format_duration(Duration::from_millis(started.elapsed().as_millis() as u64)),
            format_duration(iv.interval),
            outcome.summary()
        );
        publish(
            &ctx.client,
            sync,
            EventType::Normal,
            reason::RECONCILIATION_SUCCEEDED,
            &msg,
            Some(revision),
            &ctx.identity,
        )
        .await;
    }
    Ok(Action::requeue(iv.interval))
}

/// The first few failed/blocked/skipped actions and failed operations, one line.
fn failure_lines(o: &Outcome) -> String {
    let mut lines: Vec<String> = o
        .plan
        .actions
        .iter()
        .zip(&o.results)
        .filter(|(_, r)| {
            !matches!(
                r.status,
                engine::ActionStatus::Succeeded | engine::ActionStatus::NoOp
            )
        })
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

/// The NBI session for this OsmSync's Secret, or a (reason, message) to report.
pub(super) async fn session(
    ctx: &Context,
    sync: &OsmSync,
    ns: &str,
) -> Result<Result<Arc<crate::osm::NbiClient>, (&'static str, String)>, ReconcileError> {
    let name = &sync.spec.osm.secret_ref.name;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let Some(secret) = secrets.get_opt(name).await? else {
        return Ok(Err((
            reason::SECRET_NOT_FOUND,
            format!("Secret '{ns}/{name}' not found"),
        )));
    };
    let conn = match connection_from_secret(&secret) {
        Ok(c) => c,
        Err(e) => {
            return Ok(Err((
                reason::INVALID_SECRET,
                format!("Secret '{ns}/{name}': {e}"),
            )))
        }
    };
    let version = secret.resource_version().unwrap_or_default();
    Ok(ctx
        .sessions
        .get(
            &format!("{ns}/{name}"),
            &version,
            conn,
            sync.spec.osm.insecure_skip_tls_verify,
        )
        .map_err(|e| (reason::INVALID_SECRET, format!("Secret '{ns}/{name}': {e}"))))
}

/// Deletion: prune what this OsmSync owns (if `prune` and not suspended), then let the finalizer go.
async fn cleanup(
    api: &Api<OsmSync>,
    sync: &OsmSync,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let ns = sync.namespace().unwrap_or_default();
    let inventory = inventory_from_status(sync.status.as_ref().and_then(|s| s.inventory.as_ref()));
    if !sync.spec.prune || sync.spec.suspend || inventory.is_empty() {
        tracing::info!(osmsync = %sync.name_any(), "deleted without pruning OSM objects");
        ctx.journal.forget_sync(&ns, &sync.name_any());
        return Ok(Action::await_change());
    }
    let mut current = sync.status.clone().unwrap_or_default();
    let mut next = current.clone();
    let what = format!(
        "{} NS instance(s) and {} package(s)",
        inventory.ns_instances.len(),
        inventory.packages.len()
    );
    mark_progressing(
        &mut next,
        sync.metadata.generation,
        reason::PROGRESSING,
        &format!("Deleting: pruning {what} from OSM"),
    );
    write_status(api, sync, &mut current, &next).await?;
    let nbi = match session(ctx, sync, &ns)
        .instrument(tracing::info_span!("credentials"))
        .await?
    {
        Ok(c) => c,
        Err((r, msg)) => {
            let msg = format!("{msg}; cannot prune {what}");
            return Err(prune_failed(api, ctx, sync, &mut current, next, r, msg).await);
        }
    };
    let timeout = Intervals::from(sync)
        .map(|iv| iv.timeout)
        .unwrap_or(Duration::from_secs(300));
    let opts = EngineOptions {
        prune: true,
        wait: true,
        timeout,
        concurrency: 4,
        poll_interval: ctx.opts.poll_interval,
    };
    let result = engine::reconcile(
        &nbi,
        &DesiredState::default(),
        &inventory,
        &opts,
        &|_, _| {},
    )
    .await;
    match result {
        Ok(o) if !o.failed() && !o.incomplete() && o.inventory.is_empty() => {
            ctx.metrics.observe_outcome(&o);
            publish(
                &ctx.client,
                sync,
                EventType::Normal,
                "Pruned",
                &format!("Pruned {what} from OSM: {}", o.summary()),
                None,
                &ctx.identity,
            )
            .await;
            ctx.journal.forget_sync(&ns, &sync.name_any());
            Ok(Action::await_change())
        }
        other => {
            let msg = match &other {
                Ok(o) => {
                    ctx.metrics.observe_outcome(o);
                    next.inventory = Some(inventory_to_status(&o.inventory));
                    format!("prune not finished: {}", failure_lines(o))
                }
                Err(e) => e.to_string(),
            };
            Err(prune_failed(
                api,
                ctx,
                sync,
                &mut current,
                next,
                reason::PRUNE_FAILED,
                msg,
            )
            .await)
        }
    }
}

/// Deletion cannot finish pruning: PruneFailed in the status (with the escape hatch), a Warning
/// event with `event_reason`, and an error so the finalizer stays and the deletion is retried.
async fn prune_failed(
    api: &Api<OsmSync>,
    ctx: &Context,
    sync: &OsmSync,
    current: &mut OsmSyncStatus,
    mut next: OsmSyncStatus,
    event_reason: &str,
    msg: String,
) -> ReconcileError {
    let msg = format!("{msg} (set spec.suspend=true to delete without pruning)");
    mark_failed(
        &mut next,
        sync.metadata.generation,
        reason::PRUNE_FAILED,
        &msg,
        false,
    );
    if let Err(e) = write_status(api, sync, current, &next).await {
        return e;
    }
    publish(
        &ctx.client,
        sync,
        EventType::Warning,
        event_reason,
        &msg,
        None,
        &ctx.identity,
    )
    .await;
    ReconcileError::PruneIncomplete(msg)
}
