//! Following OSM operations (`ns_lcm_op_occs`) until they end or the run's deadline, and waiting
//! for OSM to remove a terminated NS: LCM marks a terminate COMPLETED first and the NBI deletes
//! the record only when it reads LCM's "terminated" message (seconds later, or never when that
//! message is lost), so "COMPLETED" does not mean "gone".

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::osm::{NbiClient, NbiError, OpRecord};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationReport {
    pub nslcmop_id: String,
    pub ns_name: String,
    pub ns_osm_id: String,
    /// instantiate | action | terminate
    pub op_type: String,
    /// OSM's operationState; `TIMEOUT` when the run's time was up first, `UNKNOWN` when it was
    /// not followed or OSM could not be asked.
    pub state: String,
    pub error: Option<String>,
    pub start_time: f64,
    pub end_time: Option<f64>,
}

impl OperationReport {
    pub fn new(op_id: &str, ns_name: &str, ns_osm_id: &str, op_type: &str) -> Self {
        OperationReport {
            nslcmop_id: op_id.into(),
            ns_name: ns_name.into(),
            ns_osm_id: ns_osm_id.into(),
            op_type: op_type.into(),
            state: "PROCESSING".into(),
            error: None,
            start_time: crate::osm::now_epoch(),
            end_time: None,
        }
    }

    pub fn failed(&self) -> bool {
        matches!(
            self.state.as_str(),
            "FAILED" | "FAILED_TEMP" | "ROLLED_BACK" | "TIMEOUT"
        )
    }

    pub fn succeeded(&self) -> bool {
        matches!(self.state.as_str(), "COMPLETED" | "PARTIALLY_COMPLETED")
    }

    pub fn finished(&self) -> bool {
        !matches!(
            self.state.as_str(),
            "PROCESSING" | "STARTING" | "ROLLING_BACK" | "UNKNOWN"
        )
    }

    fn update(&mut self, rec: &OpRecord) {
        self.state = rec.operation_state.clone();
        if rec.start_time > 0.0 {
            self.start_time = rec.start_time;
        }
        if rec.is_terminal() {
            self.end_time = Some(rec.status_entered_time);
            if !rec.succeeded() {
                self.error = Some(rec.failure_message());
            }
        }
    }
}

/// When OSM last failed to answer, and how.
struct Unreachable {
    since: f64,
    error: String,
}

fn rfc3339(epoch: f64) -> String {
    k8s_openapi::jiff::Timestamp::from_second(epoch as i64)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| format!("{epoch:.0}"))
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
                Ok(Some(rec)) => {
                    unreachable = None;
                    let before = r.state.clone();
                    r.update(&rec);
                    if r.state != before {
                        on_change(r);
                    }
                }
                Ok(None) if r.op_type == "terminate" => {
                    unreachable = None;
                    r.state = "COMPLETED".into();
                    r.end_time = Some(crate::osm::now_epoch());
                    on_change(r);
                }
                Ok(None) => {
                    unreachable = None;
                    r.state = "FAILED".into();
                    r.error = Some("operation disappeared from OSM before it ended".into());
                    on_change(r);
                }
                // A failed poll is not a failed operation: try again until the deadline.
                Err(NbiError::Deadline { .. }) => {}
                Err(e) => {
                    tracing::warn!(op = %r.nslcmop_id, error = %e, "cannot read operation state");
                    if e.is_unavailable() && unreachable.is_none() {
                        unreachable = Some(Unreachable {
                            since: crate::osm::now_epoch(),
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
                        r.state = "UNKNOWN".into();
                    }
                    None => {
                        r.error = Some(format!("still {} after {waited}s", r.state));
                        r.state = "TIMEOUT".into();
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
