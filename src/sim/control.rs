//! Rehearsing failures without Rust: fault and LCM-failure specs as text (the `osmops sim --fault`
//! and `--fail-next` flags), and a control endpoint beside the NBI (`/sim/v1/...`, outside `/osm`
//! so the NBI's own URL map is untouched) that takes the same specs at run time.
//!
//! - `METHOD PATH ACTION [xN]`: `*` for any method; requests whose path contains PATH; ACTION is
//!   `status=<code>`, `drop`, `drop-after` (process, then close without answering) or
//!   `latency=<duration>`; applies to the next N matching requests (default 1).
//! - `OPTYPE[:NSNAME] MESSAGE... [xN]`: the next N operations of that type (instantiate, action,
//!   terminate), optionally of one NS name, FAIL with MESSAGE.

use std::sync::Arc;

use axum::http::Method;
use serde_json::{json, Value};

use super::http::{Reply, Status};
use super::{FailRule, Fault, FaultAction, Shared};

/// Splits a trailing `xN` count off a spec.
fn count_of(words: &mut Vec<&str>) -> Result<usize, String> {
    match words.last() {
        Some(w)
            if w.len() > 1 && w.starts_with('x') && w[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            let n = w[1..]
                .parse::<usize>()
                .map_err(|_| format!("invalid count '{w}'"))?;
            words.pop();
            Ok(n)
        }
        _ => Ok(1),
    }
}

impl FaultAction {
    pub fn parse(s: &str) -> Result<FaultAction, String> {
        match s.split_once('=') {
            Some(("status", code)) => code
                .parse::<u16>()
                .ok()
                .filter(|c| (100..600).contains(c))
                .map(FaultAction::Status)
                .ok_or_else(|| format!("invalid status '{code}'")),
            Some(("latency", d)) => crate::duration::parse_duration(d).map(FaultAction::Latency),
            None if s == "drop" => Ok(FaultAction::Drop),
            None if s == "drop-after" => Ok(FaultAction::DropAfterProcessing),
            _ => Err(format!(
                "unknown fault action '{s}' (status=<code>, drop, drop-after, latency=<duration>)"
            )),
        }
    }
}

impl Fault {
    /// `METHOD PATH ACTION [xN]`, e.g. `POST /ns_instances_content status=500 x2`.
    pub fn parse(spec: &str) -> Result<Fault, String> {
        let mut words: Vec<&str> = spec.split_whitespace().collect();
        let remaining = count_of(&mut words)?;
        let [method, path, action] = words.as_slice() else {
            return Err(format!(
                "fault '{spec}': expected 'METHOD PATH ACTION [xN]', e.g. 'POST /ns_instances_content status=500 x2'"
            ));
        };
        let method = match *method {
            "*" => None,
            m => Some(
                Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                    .map_err(|_| format!("fault '{spec}': invalid method '{m}'"))?,
            ),
        };
        Ok(Fault {
            method,
            path_contains: (*path).to_owned(),
            action: FaultAction::parse(action).map_err(|e| format!("fault '{spec}': {e}"))?,
            remaining,
        })
    }
}

impl FailRule {
    /// `OPTYPE[:NSNAME] MESSAGE... [xN]`, e.g. `instantiate:ldap helm install failed x2`.
    pub fn parse(spec: &str) -> Result<FailRule, String> {
        let mut words: Vec<&str> = spec.split_whitespace().collect();
        let remaining = count_of(&mut words)?;
        let Some((target, message)) = words.split_first().filter(|(_, m)| !m.is_empty()) else {
            return Err(format!(
                "failure '{spec}': expected 'OPTYPE[:NSNAME] MESSAGE [xN]', e.g. 'instantiate:ldap helm install failed'"
            ));
        };
        let (op_type, ns_name) = match target.split_once(':') {
            Some((t, n)) => (t, Some(n.to_owned())),
            None => (*target, None),
        };
        if !["instantiate", "action", "terminate"].contains(&op_type) {
            return Err(format!(
                "failure '{spec}': operation type must be instantiate, action or terminate"
            ));
        }
        Ok(FailRule {
            op_type: op_type.to_owned(),
            ns_name,
            message: message.join(" "),
            remaining,
        })
    }
}

/// `/sim/v1/...`: `POST faults` and `POST failures` (body: `{"spec": "..."}` or the spec as plain
/// text), `DELETE faults`, `POST lost-terminated-messages` (`{"count": N}`), `GET log`.
pub fn handle(shared: &Arc<Shared>, method: &Method, segments: &[&str], body: &[u8]) -> Reply {
    let spec = || -> Result<String, Reply> {
        let text = String::from_utf8_lossy(body).trim().to_owned();
        match serde_json::from_str::<Value>(&text) {
            Ok(v) => v["spec"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Reply::error(Status::BAD_REQUEST, "expected {\"spec\": \"...\"}")),
            Err(_) => Ok(text),
        }
    };
    match (method, segments) {
        (&Method::POST, ["faults"]) => match spec().and_then(|s| {
            Fault::parse(&s).map_err(|e| Reply::error(Status::BAD_REQUEST, e))
        }) {
            Ok(f) => {
                shared.faults.lock().expect("sim faults lock").push(f);
                Reply::json(Status::CREATED, json!({"added": "fault"}))
            }
            Err(r) => r,
        },
        (&Method::DELETE, ["faults"]) => {
            shared.faults.lock().expect("sim faults lock").clear();
            Reply::empty(Status::NO_CONTENT)
        }
        (&Method::POST, ["failures"]) => match spec().and_then(|s| {
            FailRule::parse(&s).map_err(|e| Reply::error(Status::BAD_REQUEST, e))
        }) {
            Ok(rule) => {
                shared
                    .lcm
                    .lock()
                    .expect("sim lcm lock")
                    .fail_rules
                    .push(rule);
                Reply::json(Status::CREATED, json!({"added": "failure"}))
            }
            Err(r) => r,
        },
        (&Method::POST, ["lost-terminated-messages"]) => {
            let n = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v["count"].as_u64())
                .unwrap_or(1) as usize;
            shared
                .lcm
                .lock()
                .expect("sim lcm lock")
                .lost_terminated_messages = n;
            Reply::json(Status::OK, json!({"count": n}))
        }
        (&Method::GET, ["log"]) => {
            let log = shared.log.lock().expect("sim log lock").clone();
            Reply::json(Status::OK, serde_json::to_value(log).unwrap_or(Value::Null))
        }
        _ => Reply::error(
            Status::NOT_FOUND,
            "simulator control: POST faults|failures|lost-terminated-messages, DELETE faults, GET log",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn specs_read_as_documented() {
        let f = Fault::parse("POST /ns_instances_content status=500 x2").unwrap();
        assert_eq!(f.method, Some(Method::POST));
        assert_eq!(f.path_contains, "/ns_instances_content");
        assert_eq!(f.action, FaultAction::Status(500));
        assert_eq!(f.remaining, 2);
        let f = Fault::parse("* /ns_lcm_op_occs latency=2s").unwrap();
        assert_eq!(f.method, None);
        assert_eq!(f.action, FaultAction::Latency(Duration::from_secs(2)));
        assert_eq!(f.remaining, 1);
        assert_eq!(
            Fault::parse("get /x drop-after").unwrap().action,
            FaultAction::DropAfterProcessing
        );
        assert!(Fault::parse("POST /x explode").is_err());
        assert!(Fault::parse("POST status=500").is_err());
        let r = FailRule::parse("instantiate:ldap helm install failed x3").unwrap();
        assert_eq!(
            (
                r.op_type.as_str(),
                r.ns_name.as_deref(),
                r.message.as_str(),
                r.remaining
            ),
            ("instantiate", Some("ldap"), "helm install failed", 3)
        );
        assert!(FailRule::parse("scale oops").is_err());
        assert!(FailRule::parse("action").is_err());
    }
}
