//! What stands between a plan and OSM, and what OSM did behind Git's back: the approval gate
//! (`spec.approval: manual`), the paused rollout (`spec.rollout.failurePolicy: pause`) and drift
//! reporting (`spec.driftPolicy`), as status, conditions, events, journal and metrics.

use kube::ResourceExt;

use super::events::EventType;
use super::failure::{Failure, Requeue};
use super::metrics::ObjectLabels;
use super::run::Run;
use super::status::{remove_condition, set_condition};
use crate::api::{
    condition, reason, ApprovedPlanStatus, DriftEntry, PendingPlanStatus, RolloutStatus, APPROVE,
    APPROVED_BY, RESUME_ROLLOUT,
};
use crate::engine::{Approval, Outcome, PendingPlan};
use crate::plan::Plan;

impl Run<'_> {
    fn labels(&self) -> ObjectLabels {
        ObjectLabels::of(self.sync)
    }

    /// The approval this reconcile may use. An approval is used once: the digest of the last
    /// approved plan applied does not approve a later plan that happens to be identical.
    pub(super) fn approval(&self) -> Approval {
        if !self.sync.spec.manual_approval() {
            return Approval::Auto;
        }
        let used = self
            .current
            .last_approved_plan
            .as_ref()
            .map(|a| a.digest.as_str());
        let approved = self
            .sync
            .annotations()
            .get(APPROVE)
            .map(|d| d.trim().to_owned())
            .filter(|d| Some(d.as_str()) != used);
        Approval::Manual { approved }
    }

    fn approver(&self) -> String {
        self.sync
            .annotations()
            .get(APPROVED_BY)
            .filter(|s| !s.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| format!("annotation {APPROVE}"))
    }

    /// A plan that writes waits for approval: it is stored (status, journal) and Ready=False.
    pub(super) async fn awaiting_approval(
        &mut self,
        revision: &str,
        pending: PendingPlan,
    ) -> Failure {
        let plan = &pending.plan;
        let computed_at = match &self.current.pending_plan {
            Some(p) if p.digest == plan.digest => p.computed_at.clone(),
            _ => crate::model::now_rfc3339(),
        };
        self.next.pending_plan = Some(PendingPlanStatus {
            digest: plan.digest.clone(),
            revision: revision.to_owned(),
            summary: crate::plan::summary(plan),
            computed_at,
        });
        self.ctx.journal.plan_pending(&self.key(), revision, plan);
        self.report_drift(plan, false).await;
        self.ctx
            .metrics
            .awaiting_approval
            .get_or_create(&self.labels())
            .set(1);
        self.metadata
            .insert("pendingPlan".into(), plan.digest.clone());
        let (ns, name) = self.key();
        // An approval that names no plan this OsmSync showed is a mistyped digest, not one that
        // a change of OSM or the revision made void.
        let previous = self
            .current
            .pending_plan
            .as_ref()
            .map(|p| p.digest.as_str());
        let (note, why_not) = match &pending.void_approval {
            Some(given) if Some(given.as_str()) == previous => (
                format!(
                    " (the approval of {} is void: the plan changed)",
                    crate::plan::short_digest(given)
                ),
                format!(
                    "the approval of plan {given} is void: OSM or the revision changed, so the plan now differs; "
                ),
            ),
            Some(given) => (
                " (the approved digest is not this plan's)".to_owned(),
                format!(
                    "the annotation {APPROVE}={given} is not the digest of the pending plan ({}); ",
                    plan.digest
                ),
            ),
            None => (String::new(), String::new()),
        };
        Failure::new(
            reason::AWAITING_APPROVAL,
            format!(
                "Plan {} ({}) awaits approval{note}",
                crate::plan::short_digest(&plan.digest),
                crate::plan::summary(plan)
            ),
        )
        .detail(format!(
            "{why_not}revision {revision}: review it with `osmops get plan {name} -n {ns}`, approve it with `osmops approve {name} -n {ns}` or `kubectl -n {ns} annotate osmsync {name} {APPROVE}={} --overwrite`",
            plan.digest
        ))
        .requeue(Requeue::Retry)
    }

    /// After a plan was applied: no plan is pending; an approved one is recorded with who
    /// approved it, in the status, the history and an event.
    pub(super) async fn plan_applied(&mut self, revision: &str, outcome: &Outcome) {
        self.next.pending_plan = None;
        self.ctx
            .metrics
            .awaiting_approval
            .get_or_create(&self.labels())
            .set(0);
        if !self.sync.spec.manual_approval() || outcome.plan.writes() == 0 {
            return;
        }
        let by = self.approver();
        self.next.last_approved_plan = Some(ApprovedPlanStatus {
            digest: outcome.plan.digest.clone(),
            revision: revision.to_owned(),
            approved_by: by.clone(),
            applied_at: crate::model::now_rfc3339(),
        });
        self.metadata
            .insert("approvedPlan".into(), outcome.plan.digest.clone());
        self.metadata.insert("approvedBy".into(), by.clone());
        let msg = format!(
            "plan {} ({}) approved by {by} was applied",
            outcome.plan.digest,
            crate::plan::summary(&outcome.plan)
        );
        tracing::info!(osmsync = %self.sync.name_any(), %msg, "approved plan applied");
        self.ctx
            .events
            .publish(
                self.sync,
                EventType::Normal,
                "PlanApproved",
                &msg,
                Some(revision),
                false,
            )
            .await;
    }

    /// Drift the policy only reports becomes the `Drifted` condition (removed once there is
    /// none), `status.drift`, a Warning event when it changes and the drifted-objects gauge;
    /// drift that was corrected (`applied`) becomes a Normal event and the corrections counter.
    pub(super) async fn report_drift(&mut self, plan: &Plan, applied: bool) {
        let reported: Vec<&crate::plan::Drift> =
            plan.drift.iter().filter(|d| !d.corrected).collect();
        self.next.drift = reported
            .iter()
            .map(|d| DriftEntry {
                kind: d.kind.label().into(),
                name: d.name.clone(),
                what: d.what.clone(),
            })
            .collect();
        let labels = self.labels();
        self.ctx
            .metrics
            .drifted_objects
            .get_or_create(&labels)
            .set(reported.len() as i64);
        let generation = self.generation();
        if reported.is_empty() {
            remove_condition(&mut self.next.conditions, condition::DRIFTED);
        } else {
            let lines: Vec<String> = reported.iter().map(|d| d.line()).collect();
            let msg = format!(
                "{} object(s) in OSM differ from Git and the drift policy only reports them: {}",
                reported.len(),
                lines.join("; ")
            );
            let before = self
                .current
                .condition(condition::DRIFTED)
                .map(|c| c.message.clone());
            set_condition(
                &mut self.next.conditions,
                condition::DRIFTED,
                "True",
                reason::DRIFT_DETECTED,
                &msg,
                generation,
            );
            if before.as_deref() != Some(msg.as_str()) {
                tracing::warn!(osmsync = %self.sync.name_any(), %msg, "drift detected");
                self.ctx
                    .events
                    .publish(
                        self.sync,
                        EventType::Warning,
                        reason::DRIFT_DETECTED,
                        &msg,
                        self.revision.as_deref(),
                        false,
                    )
                    .await;
            }
        }
        let corrected: Vec<String> = plan
            .drift
            .iter()
            .filter(|d| d.corrected)
            .map(|d| d.line())
            .collect();
        if applied && !corrected.is_empty() {
            self.ctx
                .metrics
                .drift_corrections
                .get_or_create(&labels)
                .inc_by(corrected.len() as u64);
            let msg = format!(
                "corrected {} object(s) OSM changed outside Git: {}",
                corrected.len(),
                corrected.join("; ")
            );
            self.ctx
                .events
                .publish(
                    self.sync,
                    EventType::Normal,
                    "DriftCorrected",
                    &msg,
                    self.revision.as_deref(),
                    false,
                )
                .await;
        }
    }

    /// A rollout paused by a failed batch stays paused for its revision until the annotation
    /// `osmops.io/resume-rollout` gets a new value; a new revision starts a new rollout.
    pub(super) async fn rollout_gate(&mut self, revision: &str) -> Result<(), Failure> {
        let Some(r) = self.current.rollout.clone().filter(|r| r.paused) else {
            return Ok(());
        };
        let token = self.sync.annotations().get(RESUME_ROLLOUT).cloned();
        let resumed = token.is_some() && token != r.last_handled_resume;
        if r.revision == revision && !resumed {
            return Err(self.paused_failure(revision, &r.message));
        }
        let why = if resumed {
            format!("{RESUME_ROLLOUT}={}", token.clone().unwrap_or_default())
        } else {
            format!("new revision {revision}")
        };
        self.next.rollout = Some(RolloutStatus {
            paused: false,
            revision: revision.to_owned(),
            message: String::new(),
            last_handled_resume: token.or(r.last_handled_resume),
        });
        self.ctx
            .metrics
            .rollout_paused
            .get_or_create(&self.labels())
            .set(0);
        self.ctx
            .events
            .publish(
                self.sync,
                EventType::Normal,
                "RolloutResumed",
                &format!("rollout resumed by {why} (it was paused: {})", r.message),
                Some(revision),
                false,
            )
            .await;
        Ok(())
    }

    /// Ready=False `RolloutPaused` for `revision`, saying how to resume.
    fn paused_failure(&self, revision: &str, why: &str) -> Failure {
        let (ns, name) = self.key();
        // One short message whatever the reconcile (the pause, then each reconcile of the paused
        // revision): the condition does not change, so its event is published once.
        Failure::new(
            reason::ROLLOUT_PAUSED,
            format!("Rollout paused after a failed batch of revision {revision}"),
        )
        .detail(format!(
            "{why}; resume with a new revision or `kubectl -n {ns} annotate osmsync {name} {RESUME_ROLLOUT}=\"$(date +%s)\" --overwrite`"
        ))
        .requeue(Requeue::OnChange)
    }

    /// A failed batch under `failurePolicy: pause`: the rollout is recorded as paused; returns
    /// the failure to report (`details`: what failed).
    pub(super) fn rollout_paused(&mut self, revision: &str, why: &str, details: &str) -> Failure {
        let last_handled_resume = self
            .next
            .rollout
            .as_ref()
            .or(self.current.rollout.as_ref())
            .and_then(|r| r.last_handled_resume.clone());
        self.next.rollout = Some(RolloutStatus {
            paused: true,
            revision: revision.to_owned(),
            message: why.to_owned(),
            last_handled_resume,
        });
        self.ctx
            .metrics
            .rollout_paused
            .get_or_create(&self.labels())
            .set(1);
        self.paused_failure(revision, &format!("{why}: {details}"))
    }
}
