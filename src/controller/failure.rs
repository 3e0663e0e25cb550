//! Why a reconcile stopped before Ready, as the status, the event and the requeue say it. Every
//! phase returns `Result<T, Stop>`: a [`Failure`] the user can act on (it ends up in the Ready
//! condition), or a Kubernetes API error, which the error policy retries with backoff.

use std::time::Duration;

use crate::api::reason;
use crate::engine::EngineError;

/// When to reconcile again after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// After `spec.retryInterval` (Flux's default for failures).
    Retry,
    /// After `--requeue-dependency` (sources and dependencies that are not ready yet).
    Dependency,
    /// Only when the object changes (a spec change is needed).
    OnChange,
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: &'static str,
    /// The Ready condition's message: one short sentence (it is `kubectl get`'s STATUS column).
    pub message: String,
    /// What the event and the log add to it: the details and what to do.
    pub detail: Option<String>,
    /// Only a change can help (Flux's Stalled condition).
    pub stalled: bool,
    pub requeue: Requeue,
}

/// Whether a failure with this Ready reason needs a person (Flux's `Stalled=True`: kstatus
/// "Failed") or may pass by itself on a later reconcile (`Reconciling=True`,
/// `ProgressingWithRetry`: kstatus "InProgress"). docs/osmsync.md has the table.
pub fn stalls(reason: &str) -> bool {
    matches!(
        reason,
        reason::INVALID_SPEC
            | reason::VALIDATION_FAILED
            | reason::PRUNE_GUARD
            | reason::AWAITING_APPROVAL
            | reason::ROLLOUT_PAUSED
            | reason::ACCESS_DENIED
            | reason::INVALID_SECRET
    )
}

impl Failure {
    /// A failure; stalled when its reason needs a person ([`stalls`]).
    pub fn new(reason: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            reason,
            message: message.into(),
            detail: None,
            stalled: stalls(reason),
            requeue: Requeue::Retry,
        }
    }

    /// Details for the event and the log, beside the short Ready message.
    pub fn detail(mut self, detail: impl Into<String>) -> Failure {
        self.detail = Some(detail.into());
        self
    }

    /// The message with its details, on one line (events and logs).
    pub fn full_message(&self) -> String {
        one_line(&match &self.detail {
            Some(d) => format!("{}: {d}", self.message),
            None => self.message.clone(),
        })
    }

    pub fn stalled(mut self) -> Failure {
        self.stalled = true;
        self
    }

    pub fn requeue(mut self, r: Requeue) -> Failure {
        self.requeue = r;
        self
    }

    /// The requeue period this failure asks for.
    pub fn after(&self, retry: Duration, dependency: Duration) -> Option<Duration> {
        match self.requeue {
            Requeue::Retry => Some(retry),
            Requeue::Dependency => Some(dependency),
            Requeue::OnChange => None,
        }
    }
}

/// How a phase stops a reconcile.
#[derive(Debug)]
pub enum Stop {
    Failure(Failure),
    Api(kube::Error),
    /// OSM operations are still running (followed by the follower): Ready=Unknown until they
    /// end, which brings the OsmSync back; `requeue` is the latest time to look again.
    InProgress {
        message: String,
        requeue: Duration,
    },
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Stop {
        Stop::Failure(f)
    }
}

impl From<kube::Error> for Stop {
    fn from(e: kube::Error) -> Stop {
        Stop::Api(e)
    }
}

/// An engine error for revision `revision`: the repository does not fit OSM, the prune guard
/// refused, or OSM could not be read.
pub fn engine_failure(e: EngineError, revision: &str) -> Failure {
    match e {
        EngineError::Invalid(problems) => Failure::new(
            reason::VALIDATION_FAILED,
            format!(
                "validation failed for revision {revision}: {}",
                problems.join("; ")
            ),
        ),
        EngineError::AwaitingApproval(pending) => Failure::new(
            reason::AWAITING_APPROVAL,
            format!("revision {revision}: {pending}"),
        ),
        EngineError::PruneGuard(msg) => {
            Failure::new(reason::PRUNE_GUARD, format!("revision {revision}: {msg}"))
        }
        // The controller approves by digest, never with a saved plan file; if it ever did, a
        // refused one is an approval that does not fit.
        EngineError::SavedPlanRefused(refused) => Failure::new(
            reason::AWAITING_APPROVAL,
            format!("revision {revision}: {}", refused.why),
        ),
        EngineError::Nbi(e) => {
            let r = if e.is_unavailable() {
                reason::OSM_UNREACHABLE
            } else {
                reason::RECONCILIATION_FAILED
            };
            Failure::new(r, format!("revision {revision}: {e}"))
        }
    }
}

/// Event and condition messages are one line (Kubernetes shows them in tables): line breaks
/// become "; ".
pub fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
