//! A fake LCM: moves operations from PROCESSING to COMPLETED or FAILED after a delay and updates
//! the NS record the way LCM does (osm-nbi.md §8). Mode "none" reproduces an NBI without LCM.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::db::now;
use super::db::{Collection, Db};
use super::Shared;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LcmMode {
    /// Operations complete (or fail, per the failure rules) after the configured delay.
    Auto,
    /// No LCM: operations stay PROCESSING forever and NS instances stay NOT_INSTANTIATED.
    None,
}

/// Makes the next `remaining` operations of a type (optionally of one NS name) fail with `message`.
#[derive(Debug, Clone)]
pub struct FailRule {
    pub op_type: String,
    pub ns_name: Option<String>,
    pub message: String,
    pub remaining: usize,
}

#[derive(Debug, Clone)]
pub struct LcmState {
    pub mode: LcmMode,
    /// How long an operation runs once LCM has picked it up.
    pub delay: Duration,
    /// How long LCM takes to pick a queued operation up.
    pub pickup_delay: Duration,
    /// When LCM is done with the operations queued so far, per NS.
    pub busy_until: HashMap<String, Instant>,
    /// Delay between a terminate's COMPLETED and the NBI removing the NS (autoremove).
    pub autoremove_delay: Duration,
    pub fail_rules: Vec<FailRule>,
    /// How many of the next "terminated" bus messages are lost (the NS is then never removed).
    pub lost_terminated_messages: usize,
}

/// Called by the NBI when it has queued an operation (with the DB lock held). Like OSM's LCM, the
/// fake LCM picks an operation up a moment later (until then the NS looks untouched: an NS just
/// created is NOT_INSTANTIATED and IDLE), runs the operations of one NS one after the other, and
/// flips `_admin.nsState` to INSTANTIATED as soon as it starts an instantiate (before deploying).
pub fn schedule(
    shared: &Arc<Shared>,
    _db: &mut Db,
    op_id: &str,
    nsr_id: &str,
    op_type: &str,
    ns_name: &str,
) {
    let (mode, start, delay, failure) = {
        let mut lcm = shared.lcm.lock().expect("sim lcm lock");
        let failure = lcm
            .fail_rules
            .iter_mut()
            .find(|r| {
                r.remaining > 0
                    && r.op_type == op_type
                    && r.ns_name.as_deref().is_none_or(|n| n == ns_name)
            })
            .map(|r| {
                r.remaining -= 1;
                r.message.clone()
            });
        // Operations of one NS run one after the other, in the order they were queued.
        let now = Instant::now();
        let earliest = now + lcm.pickup_delay;
        let start = match lcm.busy_until.get(nsr_id) {
            Some(busy) if *busy > earliest => *busy,
            _ => earliest,
        };
        let delay = lcm.delay;
        lcm.busy_until.insert(nsr_id.to_owned(), start + delay);
        (lcm.mode, start, delay, failure)
    };
    if mode == LcmMode::None {
        return;
    }
    let shared = shared.clone();
    let op_id = op_id.to_owned();
    let nsr_id = nsr_id.to_owned();
    let op_type = op_type.to_owned();
    tokio::spawn(async move {
        tokio::time::sleep_until(start.into()).await;
        {
            let mut db = shared.db.lock().expect("sim db lock");
            pick_up(&mut db, &op_id, &nsr_id, &op_type);
        }
        tokio::time::sleep(delay).await;
        let autoremove = {
            let mut db = shared.db.lock().expect("sim db lock");
            finish(&mut db, &op_id, failure)
        };
        if !autoremove {
            return;
        }
        // LCM publishes "terminated"; the NBI's bus listener removes the NS when it reads it.
        let (wait, lost) = {
            let mut lcm = shared.lcm.lock().expect("sim lcm lock");
            let lost = lcm.lost_terminated_messages > 0;
            if lost {
                lcm.lost_terminated_messages -= 1;
            }
            (lcm.autoremove_delay, lost)
        };
        if lost {
            return;
        }
        tokio::time::sleep(wait).await;
        let mut db = shared.db.lock().expect("sim db lock");
        remove_ns(&mut db, &nsr_id);
    });
}

/// LCM starts an operation: the NS record shows what is going on.
fn pick_up(db: &mut Db, op_id: &str, nsr_id: &str, op_type: &str) {
    if let Some(op) = db.nslcmops.iter_mut().find(|o| o["_id"] == op_id) {
        op["queuePosition"] = json!(0);
        op["stage"] = json!("Stage 1/3: preparation of the environment.");
    }
    let Some(nsr) = db.nsrs.iter_mut().find(|r| r["_id"] == nsr_id) else {
        return;
    };
    match op_type {
        "instantiate" => {
            nsr["nsState"] = json!("BUILDING");
            nsr["currentOperation"] = json!("INSTANTIATING");
            nsr["detailed-status"] = json!("creating");
            // LCM-8 marks the NS instantiated before deploying: from here the NBI accepts
            // (and LCM queues) actions.
            nsr["_admin"]["nsState"] = json!("INSTANTIATED");
        }
        "terminate" => {
            nsr["nsState"] = json!("TERMINATING");
            nsr["currentOperation"] = json!("TERMINATING");
        }
        _ => nsr["currentOperation"] = json!("RUNNING ACTION"),
    }
    nsr["currentOperationID"] = json!(op_id);
}

/// Completes (or fails) one operation and applies its effect on the NS record. Returns true for a
/// completed terminate with autoremove: the NBI removes the NS once it hears of it.
pub fn finish(db: &mut Db, op_id: &str, failure: Option<String>) -> bool {
    let t = now();
    let Some(op) = db.nslcmops.iter_mut().find(|o| o["_id"] == op_id) else {
        return false;
    };
    if op["operationState"] != "PROCESSING" {
        return false;
    }
    let op_type = op["lcmOperationType"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let nsr_id = op["nsInstanceId"].as_str().unwrap_or_default().to_owned();
    let autoremove = op.pointer("/operationParams/autoremove") == Some(&json!(true));
    op["statusEnteredTime"] = json!(t);
    op["queuePosition"] = json!(0);
    match &failure {
        None => {
            op["operationState"] = json!("COMPLETED");
            op["detailed-status"] = json!("Done");
            op["stage"] = json!("");
        }
        Some(msg) => {
            op["operationState"] = json!("FAILED");
            op["errorMessage"] = json!(msg);
            op["detailed-status"] = json!(msg);
            op["stage"] = json!(format!("Stage 2/3: deployment of KDUs. {msg}"));
        }
    }
    let ok = failure.is_none();
    let Some(nsr) = db.nsrs.iter_mut().find(|r| r["_id"] == nsr_id.as_str()) else {
        return false;
    };
    nsr["currentOperation"] = json!("IDLE");
    nsr["currentOperationID"] = Value::Null;
    match (op_type.as_str(), ok) {
        ("instantiate", true) => {
            nsr["nsState"] = json!("READY");
            nsr["_admin"]["nsState"] = json!("INSTANTIATED");
            nsr["detailed-status"] = json!("Done");
            nsr["operational-status"] = json!("running");
            nsr["config-status"] = json!("configured");
        }
        ("instantiate", false) => {
            // LCM-8 flips _admin.nsState to INSTANTIATED before deploying, so a failed
            // instantiate leaves an INSTANTIATED but BROKEN NS.
            nsr["nsState"] = json!("BROKEN");
            nsr["_admin"]["nsState"] = json!("INSTANTIATED");
            nsr["operational-status"] = json!("failed");
            nsr["errorDescription"] = json!(format!(
                "Operation: INSTANTIATING.{op_id}, Stage 2/3: deployment of KDUs."
            ));
            nsr["errorDetail"] = json!(failure);
            nsr["detailed-status"] = json!(failure);
        }
        ("terminate", true) => {
            nsr["nsState"] = json!("NOT_INSTANTIATED");
            nsr["_admin"]["nsState"] = json!("NOT_INSTANTIATED");
        }
        ("terminate", false) => nsr["nsState"] = json!("BROKEN"),
        _ => {}
    }
    if ok && op_type == "instantiate" {
        for vnfr in db
            .vnfrs
            .iter_mut()
            .filter(|v| v["nsr-id-ref"] == nsr_id.as_str())
        {
            vnfr["_admin"]["nsState"] = json!("INSTANTIATED");
            for kdur in vnfr["kdur"].as_array_mut().into_iter().flatten() {
                kdur["status"] = json!("READY");
            }
        }
    }
    op_type == "terminate" && ok && autoremove
}

pub fn remove_ns(db: &mut Db, nsr_id: &str) {
    db.remove_where(Collection::Nsrs, |r| r["_id"] == nsr_id);
    db.remove_where(Collection::Vnfrs, |r| r["nsr-id-ref"] == nsr_id);
    db.remove_where(Collection::NsLcmOps, |r| r["nsInstanceId"] == nsr_id);
}
