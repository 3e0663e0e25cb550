//! The small shared vocabulary of the domain, used by the engine, the journal, the controller's
//! status and the gRPC API alike: the state of an OSM operation with the one rule for how it
//! progresses, and time as Kubernetes and OSM Ops write it.

use std::fmt;

pub use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::osm::OpRecord;

/// The state of an NS LCM operation as OSM Ops knows it: OSM's own `operationState`, or what OSM
/// Ops could tell when it could not read one. Serialized as OSM writes it (`COMPLETED`), and
/// states this version does not know are kept as OSM wrote them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum OperationState {
    /// What the NBI writes when it creates an operation.
    #[default]
    Processing,
    Starting,
    RollingBack,
    Completed,
    PartiallyCompleted,
    Failed,
    FailedTemp,
    RolledBack,
    /// The run's time was up while OSM still showed it running.
    Timeout,
    /// OSM could not be asked (unreachable) when the run ended.
    Unknown,
    /// Not followed (`--wait=false` / `spec.wait: false`): OSM alone knows how it ends.
    NotFollowed,
    /// A state this version of OSM Ops does not know, as OSM wrote it.
    Other(String),
}

impl OperationState {
    pub fn as_str(&self) -> &str {
        match self {
            OperationState::Processing => "PROCESSING",
            OperationState::Starting => "STARTING",
            OperationState::RollingBack => "ROLLING_BACK",
            OperationState::Completed => "COMPLETED",
            OperationState::PartiallyCompleted => "PARTIALLY_COMPLETED",
            OperationState::Failed => "FAILED",
            OperationState::FailedTemp => "FAILED_TEMP",
            OperationState::RolledBack => "ROLLED_BACK",
            OperationState::Timeout => "TIMEOUT",
            OperationState::Unknown => "UNKNOWN",
            OperationState::NotFollowed => "NOT_FOLLOWED",
            OperationState::Other(s) => s,
        }
    }

    /// Still running in OSM (as far as OSM Ops knows): worth asking OSM again.
    pub fn running(&self) -> bool {
        matches!(
            self,
            OperationState::Processing
                | OperationState::Starting
                | OperationState::RollingBack
                | OperationState::Unknown
                | OperationState::NotFollowed
        )
    }

    /// OSM reports it ended (whatever the result).
    pub fn ended_in_osm(&self) -> bool {
        matches!(
            self,
            OperationState::Completed
                | OperationState::PartiallyCompleted
                | OperationState::Failed
                | OperationState::FailedTemp
                | OperationState::RolledBack
                | OperationState::Other(_)
        )
    }

    pub fn succeeded(&self) -> bool {
        matches!(
            self,
            OperationState::Completed | OperationState::PartiallyCompleted
        )
    }

    /// A failure of the run: OSM failed it, or the run's time was up first.
    pub fn failed(&self) -> bool {
        matches!(
            self,
            OperationState::Failed
                | OperationState::FailedTemp
                | OperationState::RolledBack
                | OperationState::Timeout
        )
    }

    /// Nothing more to wait for in this run: it ended, or it was deliberately not followed.
    pub fn settled(&self) -> bool {
        !matches!(
            self,
            OperationState::Processing
                | OperationState::Starting
                | OperationState::RollingBack
                | OperationState::Unknown
        )
    }
}

impl From<String> for OperationState {
    fn from(s: String) -> Self {
        match s.as_str() {
            "PROCESSING" => OperationState::Processing,
            "STARTING" => OperationState::Starting,
            "ROLLING_BACK" => OperationState::RollingBack,
            "COMPLETED" => OperationState::Completed,
            "PARTIALLY_COMPLETED" => OperationState::PartiallyCompleted,
            "FAILED" => OperationState::Failed,
            "FAILED_TEMP" => OperationState::FailedTemp,
            "ROLLED_BACK" => OperationState::RolledBack,
            "TIMEOUT" => OperationState::Timeout,
            "UNKNOWN" => OperationState::Unknown,
            "NOT_FOLLOWED" => OperationState::NotFollowed,
            _ => OperationState::Other(s),
        }
    }
}

impl From<&str> for OperationState {
    fn from(s: &str) -> Self {
        OperationState::from(s.to_owned())
    }
}

impl From<OperationState> for String {
    fn from(s: OperationState) -> String {
        s.as_str().to_owned()
    }
}

impl PartialEq<&str> for OperationState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for OperationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one look at OSM says about an operation: its state, OSM's error when it failed, and when
/// it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub state: OperationState,
    pub error: Option<String>,
    pub end_time: Option<Timestamp>,
}

/// The one rule for how an operation progresses, given what OSM answered for it (`None`: 404).
/// A terminate whose operation disappeared took the NS (and its operations) with it — the NBI
/// removes both once the NS is gone — so it completed; any other operation that disappeared
/// before it was seen to end is a failure.
pub fn observe(op_type: &str, fetched: Option<&OpRecord>) -> Observed {
    match fetched {
        Some(rec) => Observed {
            state: rec.operation_state.clone(),
            error: (rec.is_terminal() && !rec.succeeded()).then(|| rec.failure_message()),
            end_time: rec
                .is_terminal()
                .then(|| rec.status_entered_time.unwrap_or_else(Timestamp::now)),
        },
        None if op_type == "terminate" => Observed {
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

/// Now, as Kubernetes writes times (RFC 3339, second precision, UTC).
pub fn now_rfc3339() -> String {
    rfc3339(Timestamp::now())
}

/// A time as Kubernetes writes it (RFC 3339, second precision, UTC).
pub fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A time as OSM writes it (seconds since the epoch, with a fraction), read once at the edge:
/// `None` for OSM's "not set" (0, negative, or out of range).
pub fn from_osm_epoch(secs: f64) -> Option<Timestamp> {
    if !secs.is_finite() || secs <= 0.0 {
        return None;
    }
    // Whole seconds and the fraction apart: seconds × 1e9 would lose precision in an f64.
    let whole = secs.trunc();
    if whole >= i64::MAX as f64 {
        return None;
    }
    let nanos = (((secs - whole) * 1e9).round() as i32).min(999_999_999);
    Timestamp::new(whole as i64, nanos).ok()
}

/// A time as Kubernetes writes it, read back; `None` when empty or not RFC 3339.
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_unknown_ones_are_kept() {
        for s in [
            "PROCESSING",
            "COMPLETED",
            "FAILED_TEMP",
            "TIMEOUT",
            "NOT_FOLLOWED",
            "CANCELLED_BY_USER",
        ] {
            let st = OperationState::from(s);
            assert_eq!(st.as_str(), s);
            let json = serde_json::to_string(&st).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<OperationState>(&json).unwrap(), st);
        }
        assert!(OperationState::NotFollowed.settled() && OperationState::NotFollowed.running());
        assert!(!OperationState::Unknown.settled());
        assert!(OperationState::Timeout.failed() && !OperationState::Timeout.ended_in_osm());
    }

    #[test]
    fn a_vanished_terminate_completed_anything_else_failed() {
        assert_eq!(observe("terminate", None).state, OperationState::Completed);
        let o = observe("action", None);
        assert_eq!(o.state, OperationState::Failed);
        assert!(o.error.unwrap().contains("disappeared"));
    }

    #[test]
    fn osm_epochs_are_read_once_with_their_fraction_and_nonsense_is_unset() {
        let t = from_osm_epoch(1_700_000_000.25).unwrap();
        assert_eq!(t.as_millisecond(), 1_700_000_000_250);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300] {
            assert_eq!(from_osm_epoch(bad), None, "{bad}");
        }
        assert_eq!(
            parse_rfc3339(&rfc3339(t)).unwrap().as_second(),
            1_700_000_000
        );
        assert_eq!(parse_rfc3339(""), None);
    }
}
