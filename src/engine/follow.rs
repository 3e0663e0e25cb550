//! Following OSM operations (`ns_lcm_op_occs`) until they end or the timeout passes.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::osm::{NbiClient, OpRecord};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationReport {
    pub nslcmop_id: String,
    pub ns_name: String,
    pub ns_osm_id: String,
    /// instantiate | action | terminate
    pub op_type: String,
    /// OSM's operationState; `TIMEOUT` when we stopped waiting, `UNKNOWN` when it was not followed.
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

/// Polls every unfinished operation until all have ended or `timeout` passes. A terminate whose
/// operation disappeared took the NS (and its operations) with it: that is success.
pub async fn follow(
    client: &NbiClient,
    reports: &mut [OperationReport],
    timeout: Duration,
    poll: Duration,
    on_change: &(dyn Fn(&OperationReport) + Sync),
) {
    let deadline = Instant::now() + timeout;
    loop {
        let mut pending = 0;
        for r in reports.iter_mut().filter(|r| !r.finished()) {
            match client.get_ns_lcm_op_occ(&r.nslcmop_id).await {
                Ok(Some(rec)) => {
                    let before = r.state.clone();
                    r.update(&rec);
                    if r.state != before {
                        on_change(r);
                    }
                }
                Ok(None) if r.op_type == "terminate" => {
                    r.state = "COMPLETED".into();
                    r.end_time = Some(crate::osm::now_epoch());
                    on_change(r);
                }
                Ok(None) => {
                    r.state = "FAILED".into();
                    r.error = Some("operation disappeared from OSM before it ended".into());
                    on_change(r);
                }
                // A failed poll is not a failed operation: try again until the deadline.
                Err(e) => {
                    tracing::warn!(op = %r.nslcmop_id, error = %e, "cannot read operation state")
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
            for r in reports.iter_mut().filter(|r| !r.finished()) {
                r.state = "TIMEOUT".into();
                r.error = Some(format!(
                    "still {} after {}s",
                    "PROCESSING",
                    timeout.as_secs()
                ));
                on_change(r);
            }
            return;
        }
        tokio::time::sleep(poll.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}
