//! Following OSM operations (`ns_lcm_op_occs`) until they end or the run's deadline, and waiting
//! for OSM to remove a terminated NS: LCM marks a terminate COMPLETED first and the NBI deletes
//! the record only when it reads LCM's "terminated" message (seconds later, or never when that
//! message is lost), so "COMPLETED" does not mean "gone".

use std::time::{Duration, Instant};

pub use crate::model::OperationReport;
use crate::model::{rfc3339, LcmOperationType, OperationState, Timestamp};
use crate::osm::{NbiClient, NbiError, OpRecord};

/// What one look at OSM says about an operation: its state, OSM's error when it failed, and when
/// it ended.
#[derive(Debug, Clone, PartialEq)]
struct Observed {
    state: OperationState,
    error: Option<String>,
    end_time: Option<Timestamp>,
}

/// The one rule for how an operation progresses, given what OSM answered for it (`None`: 404).
/// A terminate whose operation disappeared took the NS (and its operations) with it — the NBI
/// removes both once the NS is gone — so it completed; any other operation that disappeared
/// before it was seen to end is a failure.
fn observe(op_type: &LcmOperationType, fetched: Option<&OpRecord>) -> Observed {
    match fetched {
        Some(rec) => Observed {
            state: rec.operation_state.clone(),
            error: (rec.is_terminal() && !rec.succeeded()).then(|| rec.failure_message()),
            end_time: rec
                .is_terminal()
                .then(|| rec.status_entered_time.unwrap_or_else(Timestamp::now)),
        },
        None if *op_type == LcmOperationType::Terminate => Observed {
            state: OperationState::Completed,
            error: None,
            end_time: Some(Timestamp::now()),
        },
        None => Observed {
            state: OperationState::Failed,
            error: Some("operation disappeared from OSM before it ended".into()),
            end_time: Some(Timestamp::now()),
        },
    }
}

/// What to make of an operation OSM no longer has that was not a terminate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vanished {
    /// It disappeared before it was seen to end: a failure (while following a run's operations).
    Failed,
    /// Keep what is known (a history read later: OSM may have removed the NS and its operations
    /// long after the operation ended).
    KeepKnown,
}

/// Asks OSM once for the state of `op` and applies the rule of [`observe`]. Returns whether the
/// state changed.
pub async fn refresh(
    client: &NbiClient,
    op: &mut OperationReport,
    vanished: Vanished,
) -> Result<bool, NbiError> {
    let fetched = client.get_ns_lcm_op_occ(&op.nslcmop_id).await?;
    if fetched.is_none()
        && op.op_type != LcmOperationType::Terminate
        && vanished == Vanished::KeepKnown
    {
        return Ok(false);
    }
    Ok(observe_record(op, fetched.as_ref()))
}

/// Applies what OSM answered for `op` (`None`: OSM no longer has it) by the rule of
/// [`observe`], as [`refresh`] does with its own read. Returns whether the state changed.
pub fn observe_record(op: &mut OperationReport, fetched: Option<&OpRecord>) -> bool {
    let before = op.state.clone();
    if let Some(rec) = fetched {
        // OSM's word wins (an operation found in progress was started as "pending").
        op.op_type = rec.lcm_operation_type.clone();
        if let Some(t) = rec.start_time {
            op.start_time = Some(t);
        }
    }
    let seen = observe(&op.op_type, fetched);
    op.state = seen.state;
    op.end_time = seen.end_time.or(op.end_time);
    if let Some(e) = seen.error {
        op.error = Some(e);
    }
    op.state != before
}

/// When OSM last failed to answer, and how.
struct Unreachable {
    since: Timestamp,
    error: String,
}

/// Polls every unfinished operation until all have ended or `deadline` passes. A terminate whose
/// operation disappeared took the NS (and its operations) with it: that is success.
pub async fn follow(
    client: &NbiClient,
    reports: &mut [OperationReport],
    deadline: Instant,
    poll: Duration,
    on_change: &(dyn Fn(&OperationReport) + Sync),
) {
    let started = Instant::now();
    let mut unreachable: Option<Unreachable> = None;
    loop {
        let mut pending = 0;
        for r in reports.iter_mut().filter(|r| !r.finished()) {
            match refresh(client, r, Vanished::Failed).await {
                Ok(changed) => {
                    unreachable = None;
                    if changed {
                        on_change(r);
                    }
                }
                // A failed poll is not a failed operation: try again until the deadline.
                Err(NbiError::Deadline { .. }) => {}
                Err(e) => {
                    tracing::warn!(op = %r.nslcmop_id, error = %e, "cannot read operation state");
                    if e.is_unavailable() && unreachable.is_none() {
                        unreachable = Some(Unreachable {
                            since: Timestamp::now(),
                            error: e.to_string(),
                        });
                    }
                }
            }
            if !r.finished() {
                pending += 1;
            }
        }
        if pending == 0 {
            return;
        }
        if Instant::now() >= deadline {
            let waited = started.elapsed().as_secs();
            for r in reports.iter_mut().filter(|r| !r.finished()) {
                match &unreachable {
                    Some(u) => {
                        r.error = Some(format!(
                            "unknown: the NBI has been unreachable since {} ({}); the operation was last seen {}",
                            rfc3339(u.since),
                            u.error,
                            r.state
                        ));
                        r.state = OperationState::Unknown;
                    }
                    None => {
                        r.error = Some(format!("still {} after {waited}s", r.state));
                        r.state = OperationState::Timeout;
                    }
                }
                on_change(r);
            }
            return;
        }
        tokio::time::sleep(poll.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// Waits until OSM no longer has the NS (`GET ns_instances_content/<id>` answers 404), polling
/// until `deadline`. `Ok(false)` when it is still there at the deadline.
pub async fn wait_gone(
    client: &NbiClient,
    ns_id: &str,
    deadline: Instant,
    poll: Duration,
) -> Result<bool, NbiError> {
    loop {
        match client.get_ns_instance(ns_id).await {
            Ok(None) => return Ok(true),
            Ok(Some(_)) => {}
            Err(NbiError::Deadline { .. }) => return Ok(false),
            Err(e) if e.is_unavailable() => {
                tracing::warn!(ns = %ns_id, error = %e, "cannot read NS state");
            }
            Err(e) => return Err(e),
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(poll.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vanished_terminate_completed_anything_else_failed() {
        assert_eq!(
            observe(&LcmOperationType::Terminate, None).state,
            OperationState::Completed
        );
        let o = observe(&LcmOperationType::Action, None);
        assert_eq!(o.state, OperationState::Failed);
        assert!(o.error.unwrap().contains("disappeared"));
    }
}
