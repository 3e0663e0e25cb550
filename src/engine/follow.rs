//! Following OSM operations (`ns_lcm_op_occs`) until they end or the run's deadline, and waiting
//! for OSM to remove a terminated NS: LCM marks a terminate COMPLETED first and the NBI deletes
//! the record only when it reads LCM's "terminated" message (seconds later, or never when that
//! message is lost), so "COMPLETED" does not mean "gone".

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::model::{observe, rfc3339, OperationState, Timestamp};
use crate::osm::{NbiClient, NbiError, OpRecord};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationReport {
    pub nslcmop_id: String,
    pub ns_name: String,
    pub ns_osm_id: String,
    /// instantiate | action | terminate
    pub op_type: String,
    pub state: OperationState,
    pub error: Option<String>,
    pub start_time: Timestamp,
    pub end_time: Option<Timestamp>,
}

impl OperationReport {
    pub fn new(op_id: &str, ns_name: &str, ns_osm_id: &str, op_type: &str) -> Self {
        OperationReport {
            nslcmop_id: op_id.into(),
            ns_name: ns_name.into(),
            ns_osm_id: ns_osm_id.into(),
            op_type: op_type.into(),
            state: OperationState::Processing,
            error: None,
            start_time: Timestamp::now(),
            end_time: None,
        }
    }

    pub fn failed(&self) -> bool {
        self.state.failed()
    }

    pub fn succeeded(&self) -> bool {
        self.state.succeeded()
    }

    /// Nothing more to wait for in this run.
    pub fn finished(&self) -> bool {
        self.state.settled()
    }

    fn observe(&mut self, fetched: Option<&OpRecord>) {
        if let Some(t) = fetched.and_then(|r| r.start_time) {
            self.start_time = t;
        }
        let seen = observe(&self.op_type, fetched);
        self.state = seen.state;
        self.error = seen.error;
        self.end_time = seen.end_time;
    }
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
            match client.get_ns_lcm_op_occ(&r.nslcmop_id).await {
                Ok(fetched) => {
                    unreachable = None;
                    let before = r.state.clone();
                    r.observe(fetched.as_ref());
                    if r.state != before {
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
