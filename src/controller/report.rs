//! The one way out of a reconcile: status (conditions, history snapshot), event, journal, metrics
//! and the requeue, for a failure, for blocked work and for success.

use std::time::Duration;

use kube::runtime::controller::Action;
use kube::ResourceExt;

use super::events::EventType;
use super::failure::{Failure, Stop};
use super::run::{write_status, Applied, ReconcileError, Run};
use super::status::{mark_failed, mark_ready, upsert_history};
use crate::api::{condition, reason};
use crate::duration::format_duration;
use crate::engine::{ActionStatus, Outcome};
use crate::plan::Operation;

impl Run<'_> {
    /// A suspended OsmSync: at most the observed generation changes. A reconcile request made
    /// while suspended is not handled: nothing ran for it.
    pub(super) async fn conclude_suspended(&mut self) -> Result<(), kube::Error> {
        write_status(self.api, self.sync, &mut self.current, &self.next).await
    }

    /// Writes the status (when it changed) and records the end of the reconcile in the journal.
    /// `result` is the Ready reason the reconcile ends with, recorded in the history.
    pub(super) async fn conclude(&mut self, result: &str) -> Result<(), kube::Error> {
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
    pub(super) async fn report(
        self,
        result: Result<Applied, Stop>,
    ) -> Result<Action, ReconcileError> {
        match result {
            Err(Stop::Api(e)) => Err(e.into()),
            Err(Stop::Failure(f)) => self.fail(f).await,
            Err(Stop::InProgress { message, requeue }) => self.in_progress(&message, requeue).await,
            Ok(applied) => self.applied(applied).await,
        }
    }

    /// Ready=False with the failure's reason, a Warning event when the message is new, a requeue.
    pub(super) async fn fail(mut self, f: Failure) -> Result<Action, ReconcileError> {
        let generation = self.generation();
        let short = ready_message(&f.message);
        mark_failed(&mut self.next, generation, f.reason, &short, f.stalled);
        let changed = self
            .current
            .condition(condition::READY)
            .map(|c| (c.reason.as_str(), c.message.as_str()))
            != Some((f.reason, short.as_str()));
        self.conclude(f.reason).await?;
        // Waiting for a dependency or an approval is normal operation (Flux emits the first as a
        // Normal event).
        let severity =
            if f.reason == reason::DEPENDENCY_NOT_READY || f.reason == reason::AWAITING_APPROVAL {
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
                    &f.full_message(),
                    self.revision.as_deref(),
                    false,
                )
                .await;
        }
        tracing::warn!(osmsync = %self.sync.name_any(), reason = f.reason, message = %f.full_message(), "reconciliation failed");
        Ok(f.after(self.retry, self.ctx.opts.requeue_dependency)
            .map(Action::requeue)
            .unwrap_or_else(Action::await_change))
    }

    /// OSM operations are running, followed by the follower: Ready=Unknown and Reconciling=True
    /// with reason Progressing (kstatus: InProgress; `kubectl wait --for=condition=Ready` keeps
    /// waiting). An operation's end brings the OsmSync back; `requeue` is the latest look.
    pub(super) async fn in_progress(
        mut self,
        message: &str,
        requeue: Duration,
    ) -> Result<Action, ReconcileError> {
        let generation = self.generation();
        let revision = self.revision.clone().unwrap_or_default();
        let msg = ready_message(&format!("revision {revision}: {message}"));
        super::status::mark_progressing(&mut self.next, generation, reason::PROGRESSING, &msg);
        self.conclude(reason::PROGRESSING).await?;
        Ok(Action::requeue(requeue))
    }

    /// The end of a reconcile that reached OSM.
    pub(super) async fn applied(mut self, applied: Applied) -> Result<Action, ReconcileError> {
        let Applied {
            outcome,
            intervals: iv,
        } = applied;
        let revision = self.revision.clone().unwrap_or_default();
        // Operations an earlier reconcile handed off that failed: the failure is OSM's answer to
        // what that reconcile asked, reported now unless this plan acts on it (remediation).
        let resumed_failed: Vec<String> = self
            .resumed
            .iter()
            .filter(|o| o.failed())
            .map(operation_line)
            .collect();
        if !resumed_failed.is_empty() && outcome.plan.writes() == 0 && !outcome.failed() {
            let msg = format!("revision {revision}: {}", resumed_failed.join("; "));
            return self.fail(Failure::new(reason::OPERATION_FAILED, msg)).await;
        }
        if let Some(why) = &outcome.rollout_paused {
            let f = self.rollout_paused(&revision, why, &failure_lines(&outcome));
            return self.fail(f).await;
        }
        if outcome.failed() {
            let timeout = outcome
                .operations
                .iter()
                .any(|o| o.state == crate::model::OperationState::Timeout);
            // A rollback is the end of a failed upgrade: an operation failure too.
            let op_failed = outcome.operations.iter().any(|o| o.failed())
                || !outcome.not_converged().is_empty()
                || outcome
                    .plan
                    .actions
                    .iter()
                    .any(|a| matches!(a.operation, crate::plan::Operation::Broken { .. }));
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
        let running = outcome.operations.iter().filter(|o| !o.finished()).count();
        let blocked = outcome
            .results
            .iter()
            .any(|r| matches!(r.status, ActionStatus::Blocked | ActionStatus::Skipped));
        if running > 0 && !blocked {
            // Handed off to the follower: in progress until OSM ends them.
            if outcome.plan.writes() > 0 {
                let msg = format!(
                    "Applied revision {revision} in {}: {}; {running} OSM operation(s) in progress",
                    format_duration(Duration::from_millis(
                        self.started.elapsed().as_millis() as u64
                    )),
                    outcome.summary()
                );
                self.ctx
                    .events
                    .publish(
                        self.sync,
                        EventType::Normal,
                        reason::PROGRESSING,
                        &msg,
                        Some(&revision),
                        false,
                    )
                    .await;
            }
            let message = format!("{running} OSM operation(s) in progress");
            return self
                .in_progress(&message, iv.timeout.min(iv.interval))
                .await;
        }
        if outcome.incomplete() {
            // Blocked or deferred work is not success: Ready=False, retried soon.
            let msg = ready_message(&format!("revision {revision}: {}", failure_lines(&outcome)));
            let generation = self.generation();
            // Ready=False, Reconciling=True (ProgressingWithRetry): kstatus InProgress.
            mark_failed(
                &mut self.next,
                generation,
                reason::PROGRESSING_WITH_RETRY,
                &msg,
                false,
            );
            self.conclude(reason::PROGRESSING_WITH_RETRY).await?;
            return Ok(Action::requeue(
                self.ctx.opts.requeue_dependency.min(iv.retry),
            ));
        }
        // As Flux, a success is told when something changed: a write, a new revision, or a
        // recovery. A spec edit that changes nothing in OSM (Ready went Unknown while it was
        // looked at) is no news.
        let was_ready = self.was_ready;
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
            let mut summary = outcome.summary();
            if !self.resumed.is_empty() {
                summary.push_str(&format!(
                    "; {} OSM operation(s) started earlier completed",
                    self.resumed.len()
                ));
            }
            let msg = format!(
                "Reconciliation finished in {}, next run in {}: {summary}",
                format_duration(Duration::from_millis(
                    self.started.elapsed().as_millis() as u64
                )),
                format_duration(iv.interval),
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

/// True when every failure of the outcome is a broken NS that no remediation will repair.
fn only_broken(o: &Outcome) -> bool {
    let mut any = false;
    for (a, r) in o.plan.actions.iter().zip(&o.results) {
        if r.status == ActionStatus::Failed {
            if !matches!(a.operation, Operation::Broken { .. }) {
                return false;
            }
            any = true;
        }
    }
    any && !o.operations.iter().any(|op| op.failed())
}

/// A Ready message is one line (`kubectl get osmsyncs` shows it as the STATUS column). Failures
/// whose details run long (a paused rollout, a plan awaiting approval) keep them out of it, in
/// the event and the status fields (`Failure::detail`).
pub(super) fn ready_message(message: &str) -> String {
    super::failure::one_line(message)
}

/// One failed operation, as failure messages name it.
fn operation_line(op: &crate::engine::OperationReport) -> String {
    format!(
        "operation {} ({} of {}) {}: {}",
        op.nslcmop_id,
        op.op_type,
        op.subject(),
        op.state,
        op.error.clone().unwrap_or_default()
    )
}

/// The first few failed/blocked/skipped actions and failed operations, one line.
pub(super) fn failure_lines(o: &Outcome) -> String {
    let mut lines: Vec<String> = o.not_converged();
    lines.extend(
        o.plan
            .actions
            .iter()
            .zip(&o.results)
            .filter(|(_, r)| !matches!(r.status, ActionStatus::Succeeded | ActionStatus::NoOp))
            .map(|(a, r)| {
                format!(
                    "{} {} {}: {}",
                    a.operation.label(),
                    a.kind.label(),
                    a.subject(),
                    r.message
                )
            }),
    );
    let op_lines: Vec<String> = o
        .operations
        .iter()
        .filter(|op| op.failed() && !lines.iter().any(|l| l.contains(&op.nslcmop_id)))
        .map(operation_line)
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
