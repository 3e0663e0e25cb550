//! The small shared vocabulary of the domain, used by the planner, the engine, the journal, the
//! controller's status and the gRPC API alike: OSM's words (operation states and types, NS
//! states) read once at the edge, and time as Kubernetes and OSM Ops write it.

use std::fmt;

pub use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A word of OSM's vocabulary read once at the edge: the variants OSM Ops acts on, and any other
/// word kept as OSM wrote it (`Other`), so records of a newer OSM still read and print as OSM
/// wrote them. Serialized as OSM writes it.
macro_rules! osm_word {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A word this version of OSM Ops does not know, as OSM wrote it.
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(s) => s,
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($text => $name::$variant,)+
                    _ => $name::Other(s),
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name::from(s.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(w: $name) -> String {
                w.as_str().to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

osm_word! {
    /// The state of an NS LCM operation as OSM Ops knows it: OSM's own `operationState`, or what
    /// OSM Ops could tell when it could not read one.
    #[derive(Default)]
    pub enum OperationState {
        /// What the NBI writes when it creates an operation.
        #[default]
        Processing = "PROCESSING",
        Starting = "STARTING",
        RollingBack = "ROLLING_BACK",
        Completed = "COMPLETED",
        PartiallyCompleted = "PARTIALLY_COMPLETED",
        Failed = "FAILED",
        FailedTemp = "FAILED_TEMP",
        RolledBack = "ROLLED_BACK",
        /// The run's time was up while OSM still showed it running.
        Timeout = "TIMEOUT",
        /// OSM could not be asked (unreachable) when the run ended.
        Unknown = "UNKNOWN",
        /// Not followed (`--wait=false` / `spec.wait: false`): OSM alone knows how it ends.
        NotFollowed = "NOT_FOLLOWED",
    }
}

osm_word! {
    /// An NS LCM operation's `lcmOperationType`: the item of `POST /nslcm/v1/ns_instances/<id>/<item>`
    /// the NBI stores (`nbi.py`), plus the terminate its NS delete starts.
    pub enum LcmOperationType {
        Instantiate = "instantiate",
        Terminate = "terminate",
        /// A primitive, e.g. a KDU `upgrade`.
        Action = "action",
        Scale = "scale",
        Update = "update",
        Heal = "heal",
        Migrate = "migrate",
        VerticalScale = "verticalscale",
        Cancel = "cancel",
    }
}

osm_word! {
    /// An NS record's `_admin.nsState`: what the NBI gates operations on (an upgrade of an NS
    /// that is not `INSTANTIATED` is refused with 409).
    pub enum AdminNsState {
        NotInstantiated = "NOT_INSTANTIATED",
        Instantiated = "INSTANTIATED",
    }
}

osm_word! {
    /// An NS record's `nsState` as LCM writes it (`osm_lcm/ns.py`); the NBI creates records
    /// `NOT_INSTANTIATED`.
    pub enum NsState {
        NotInstantiated = "NOT_INSTANTIATED",
        Building = "BUILDING",
        Ready = "READY",
        Degraded = "DEGRADED",
        Broken = "BROKEN",
        Terminating = "TERMINATING",
    }
}

impl OperationState {
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

impl PartialEq<&str> for OperationState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What to do with one kind of drift (`spec.driftPolicy`, `--drift-policy`): one type for the
/// OsmSync spec, the CLI and the planner.
// Variants carry no doc comments: schemars would turn them into a `oneOf` in the CRD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriftAction {
    // Plan the actions that bring OSM back to Git.
    Correct,
    // Leave OSM as it is; report the drift.
    Warn,
}

impl DriftAction {
    pub fn label(self) -> &'static str {
        match self {
            DriftAction::Correct => "correct",
            DriftAction::Warn => "warn",
        }
    }
}

impl std::str::FromStr for DriftAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "correct" => Ok(DriftAction::Correct),
            "warn" => Ok(DriftAction::Warn),
            other => Err(format!("unknown drift policy '{other}' (correct or warn)")),
        }
    }
}

/// What a failed rollout batch does to the rest of the rollout (`spec.rollout.failurePolicy`,
/// `--rollout-failure-policy`): one type for the OsmSync spec, the CLI and the planner.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    // Stop: later batches are not started (Ready=False, `RolloutPaused`) until a new revision or
    // the resume annotation.
    #[default]
    Pause,
    // Go on with the next batch; the failure is reported at the end.
    Continue,
}

impl FailurePolicy {
    pub fn label(self) -> &'static str {
        match self {
            FailurePolicy::Pause => "pause",
            FailurePolicy::Continue => "continue",
        }
    }
}

impl std::str::FromStr for FailurePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pause" => Ok(FailurePolicy::Pause),
            "continue" => Ok(FailurePolicy::Continue),
            other => Err(format!(
                "unknown failure policy '{other}' (pause or continue)"
            )),
        }
    }
}

/// The key of an upgrade's `primitive_params` that OSM's LCM takes as the chart to upgrade to
/// (`_ns_execute_primitive` in LCM `osm_lcm/ns.py` pops it; without it the KDU is upgraded to the
/// descriptor's chart with its version dropped, i.e. the newest).
pub const KDU_MODEL_PARAM: &str = "kdu_model";

/// OSM's limit for an NS description (`description_schema` in NBI `osm_nbi/validation.py`).
pub const OSM_MAX_DESCRIPTION_CHARS: usize = 255;
/// The longest description a user may give an NS: OSM's limit less OSM Ops' ownership mark and
/// a space (`plan/owner.rs` checks the arithmetic at compile time).
pub const MAX_USER_DESCRIPTION_CHARS: usize = 150;

/// One OSM LCM operation (`ns_lcm_op_occs`) OSM Ops started or follows: the one in-process
/// shape of an operation, for the engine, the journal and the controller alike. It is converted
/// only at the edges: the OsmSync status (`api::OperationEntry`) and the gRPC API (`proto`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationReport {
    pub nslcmop_id: String,
    pub ns_name: String,
    pub ns_osm_id: String,
    pub op_type: LcmOperationType,
    pub state: OperationState,
    pub error: Option<String>,
    /// `None` when unknown (an operation read back from a status that did not record it).
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    /// The source revision whose apply started it (empty: not known, e.g. the CLI's).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub revision: String,
    /// The part of the NS it is about: a KDU (`member/kdu`), a scaling aspect
    /// (`member/aspect`) or a member VNF (`member`); empty: the NS as a whole.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
}

impl OperationReport {
    /// An operation OSM just accepted.
    pub fn new(op_id: &str, ns_name: &str, ns_osm_id: &str, op_type: LcmOperationType) -> Self {
        OperationReport {
            nslcmop_id: op_id.into(),
            ns_name: ns_name.into(),
            ns_osm_id: ns_osm_id.into(),
            op_type,
            state: OperationState::Processing,
            error: None,
            start_time: Some(Timestamp::now()),
            end_time: None,
            revision: String::new(),
            target: String::new(),
        }
    }

    /// What it works on, for people: `ldap`, or `ldap [openldap/ldap]` for one part of NS
    /// `ldap` (as [`crate::plan::Action::subject`] says it of actions).
    pub fn subject(&self) -> String {
        match self.target.as_str() {
            "" => self.ns_name.clone(),
            t => format!("{} [{t}]", self.ns_name),
        }
    }

    /// The same, about `target` (see [`OperationReport::target`]).
    pub fn about(mut self, target: Option<String>) -> Self {
        self.target = target.unwrap_or_default();
        self
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

    /// Worth asking OSM again.
    pub fn is_running(&self) -> bool {
        self.state.running()
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

/// A time as OSM writes it (float epoch seconds): what [`from_osm_epoch`] reads back.
pub fn to_osm_epoch(t: Timestamp) -> f64 {
    t.as_second() as f64 + f64::from(t.subsec_nanosecond()) / 1e9
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
