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

/// LCM's `_write_ns_status` (LCM `osm_lcm/ns.py`): the NS record says which operation runs.
fn ns_status(nsr: &mut Value, ns_state: Option<&str>, current: &str, op_id: Option<&str>) {
    let op = op_id.map_or(Value::Null, |o| json!(o));
    nsr["_admin"]["nslcmop"] = op.clone();
    nsr["_admin"]["current-operation"] = op.clone();
    nsr["_admin"]["operation-type"] = if current == "IDLE" {
        Value::Null
    } else {
        json!(current)
    };
    nsr["currentOperation"] = json!(current);
    nsr["currentOperationID"] = op;
    nsr["errorDescription"] = Value::Null;
    nsr["errorDetail"] = Value::Null;
    if let Some(s) = ns_state {
        nsr["nsState"] = json!(s);
    }
    nsr["_admin"]["modified"] = json!(now());
}

/// n2vc's `generate_kdu_instance_name`: the chart's name, non-alphanumerics as '-', at most 35
/// characters, a leading letter, then '-' and ten digits.
fn kdu_instance_name(model: &str) -> String {
    let chart = if model.starts_with('/') || model.contains("://") {
        model.rsplit('/').next().unwrap_or(model)
    } else {
        model
    };
    let mut name: String = chart
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .take(35)
        .collect();
    if !name.starts_with(|c: char| c.is_alphabetic()) {
        name.insert(0, 'a');
    }
    let n = u64::from(rand::random::<u32>()) % 99_999_999 + 1;
    format!("{name}-{n:010}").to_lowercase()
}

/// LCM starts an operation: the NS record shows what is going on. For an instantiate, LCM marks
/// the NS instantiated right after reading the database (before deploying), then records the KDUs
/// it deploys in `_admin.deployed.K8s` (`instantiate` and `_deploy_kdus` in LCM `osm_lcm/ns.py`).
pub fn pick_up(db: &mut Db, op_id: &str, nsr_id: &str, op_type: &str) {
    if let Some(op) = db.nslcmops.iter_mut().find(|o| o["_id"] == op_id) {
        op["queuePosition"] = json!(0);
        let stage = match op_type {
            "instantiate" => "Stage 1/5: preparation of the environment.",
            _ => "Stage 1/3: Preparing task.",
        };
        op["stage"] = json!(stage);
        op["detailed-status"] = json!(format!("{stage}  "));
    }
    let deployed: Vec<Value> = if op_type == "instantiate" {
        let mut list = Vec::new();
        for vnfr in db.vnfrs.iter_mut().filter(|v| v["nsr-id-ref"] == nsr_id) {
            vnfr["_admin"]["nsState"] = json!("INSTANTIATED");
            for kdur in vnfr["kdur"].as_array().into_iter().flatten() {
                let (kind, model) = match kdur.get("helm-chart") {
                    Some(c) => ("helm-chart-v3", c.as_str().unwrap_or_default()),
                    None => (
                        "juju-bundle",
                        kdur["juju-bundle"].as_str().unwrap_or_default(),
                    ),
                };
                let deployment = kdur["kdu-deployment-name"].as_str().unwrap_or_default();
                list.push(json!({
                    "kdu-instance": if deployment.is_empty() { kdu_instance_name(model) } else { deployment.to_owned() },
                    "k8scluster-uuid": kdur["k8s-cluster"]["id"],
                    "k8scluster-type": kind,
                    "member-vnf-index": vnfr["member-vnf-index-ref"],
                    "kdu-name": kdur["kdu-name"],
                    "kdu-model": model,
                    "namespace": kdur["k8s-namespace"],
                    "kdu-deployment-name": deployment,
                }));
            }
        }
        list
    } else {
        Vec::new()
    };
    let Some(nsr) = db.nsrs.iter_mut().find(|r| r["_id"] == nsr_id) else {
        return;
    };
    match op_type {
        "instantiate" => {
            ns_status(nsr, Some("BUILDING"), "INSTANTIATING", Some(op_id));
            nsr["detailed-status"] = json!("creating");
            nsr["operational-status"] = json!("init");
            // From here the NBI accepts (and LCM queues) actions.
            nsr["_admin"]["nsState"] = json!("INSTANTIATED");
            nsr["_admin"]["deployed"] = json!({"VCA": [], "K8s": deployed});
            nsr["configurationStatus"] = json!([]);
        }
        "terminate" => {
            ns_status(nsr, Some("TERMINATING"), "TERMINATING", Some(op_id));
            nsr["operational-status"] = json!("terminating");
            nsr["config-status"] = json!("terminating");
            nsr["detailed-status"] = json!("Terminating");
        }
        "action" => ns_status(nsr, None, "RUNNING ACTION", Some(op_id)),
        "scale" => {
            ns_status(nsr, None, "SCALING", Some(op_id));
            nsr["operational-status"] = json!("scaling");
        }
        "update" => {
            ns_status(nsr, None, "UPDATING", Some(op_id));
            nsr["operational-status"] = json!("updating");
        }
        other => ns_status(nsr, None, &other.to_uppercase(), Some(op_id)),
    }
}

/// Completes (or fails) one operation and applies its effect on the NS record, as LCM's
/// `_write_op_status` / `_write_ns_status` leave them. Returns true for a completed terminate with
/// autoremove: the NBI removes the NS once it hears of it.
pub fn finish(db: &mut Db, op_id: &str, failure: Option<String>) -> bool {
    let scale = db
        .nslcmops
        .iter()
        .find(|o| {
            o["_id"] == op_id
                && o["lcmOperationType"] == "scale"
                && o["operationState"] == "PROCESSING"
        })
        .cloned();
    let failure = match (failure, scale) {
        (None, Some(op)) => scale_vnf(db, &op).err(),
        (failure, _) => failure,
    };
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
    let primitive = op
        .pointer("/operationParams/primitive")
        .and_then(|p| p.as_str())
        .unwrap_or_default()
        .to_owned();
    let ok = failure.is_none();
    op["statusEnteredTime"] = json!(t);
    op["queuePosition"] = json!(0);
    op["stage"] = json!("");
    op["operationState"] = json!(if ok { "COMPLETED" } else { "FAILED" });
    op["_admin"]["modified"] = json!(t);
    let stage = match op_type.as_str() {
        "instantiate" => "Stage 2/5: deployment of KDUs, VMs and execution environments.",
        "terminate" => "Stage 3/3 Post termination",
        _ => "",
    };
    match (&failure, op_type.as_str()) {
        (None, "action") => {
            // An action's error message is the (empty) output of the primitive.
            op["errorMessage"] = json!("");
            op["detailed-status"] = json!("Done");
        }
        (None, _) => op["detailed-status"] = json!("Done"),
        (Some(msg), "action") => {
            let detail = format!("FAILED Executing kdu {primitive}: {msg}");
            op["errorMessage"] = json!(detail);
            op["detailed-status"] = json!(detail);
        }
        (Some(msg), _) if stage.is_empty() => {
            op["errorMessage"] = json!(msg);
            op["detailed-status"] = json!(msg);
        }
        (Some(msg), _) => {
            op["errorMessage"] = json!(format!("{stage} Detail: {msg}"));
            op["detailed-status"] = json!(msg);
        }
    }
    let Some(nsr) = db.nsrs.iter_mut().find(|r| r["_id"] == nsr_id.as_str()) else {
        return false;
    };
    let ns_state = nsr["nsState"].as_str().map(str::to_owned);
    match (op_type.as_str(), &failure) {
        ("instantiate", None) => {
            ns_status(nsr, Some("READY"), "IDLE", None);
            nsr["detailed-status"] = json!("Done");
            nsr["operational-status"] = json!("running");
            nsr["config-status"] = json!("configured");
        }
        ("instantiate", Some(msg)) => {
            // `_admin.nsState` stays INSTANTIATED: a failed instantiate leaves an instantiated
            // but BROKEN NS.
            let err = format!("Operation: INSTANTIATING.{op_id}, {stage}");
            ns_status(nsr, Some("BROKEN"), "IDLE", None);
            nsr["errorDescription"] = json!(err);
            nsr["errorDetail"] = json!(msg);
            nsr["operational-status"] = json!("failed");
            nsr["detailed-status"] = json!(format!("{err} Detail: {msg}"));
        }
        ("terminate", None) => {
            ns_status(nsr, Some("NOT_INSTANTIATED"), "IDLE", None);
            nsr["_admin"]["nsState"] = json!("NOT_INSTANTIATED");
            nsr["operational-status"] = json!("terminated");
            nsr["detailed-status"] = json!("Done");
        }
        ("terminate", Some(msg)) => {
            let err = format!("Operation: TERMINATING.{op_id}, {stage}.");
            ns_status(nsr, Some("BROKEN"), "IDLE", None);
            nsr["errorDescription"] = json!(err);
            nsr["errorDetail"] = json!(msg);
            nsr["operational-status"] = json!("failed");
            nsr["detailed-status"] = json!(format!("{err} Detail: {msg}"));
        }
        ("scale" | "update", _) => {
            ns_status(nsr, ns_state.as_deref(), "IDLE", None);
            nsr["operational-status"] = json!("running");
        }
        _ => ns_status(nsr, ns_state.as_deref(), "IDLE", None),
    }
    let kdu_status = match (op_type.as_str(), ok) {
        ("instantiate", true) => Some("READY"),
        ("instantiate", false) => Some("ERROR"),
        _ => None,
    };
    for vnfr in db
        .vnfrs
        .iter_mut()
        .filter(|v| v["nsr-id-ref"] == nsr_id.as_str())
    {
        if let Some(st) = kdu_status {
            for kdur in vnfr["kdur"].as_array_mut().into_iter().flatten() {
                kdur["status"] = json!(st);
            }
        }
        if op_type == "terminate" && ok {
            vnfr["_admin"]["nsState"] = json!("NOT_INSTANTIATED");
        }
    }
    if op_type == "update" && ok {
        change_vnf_package(db, &nsr_id, op_id);
    }
    op_type == "terminate" && ok && autoremove
}

/// What LCM's `scale` does to the records (`scale` in LCM `osm_lcm/ns.py`), minus the VIM: one
/// step of the aspect's `aspect-delta-details` adds (or removes) `number-of-instances` VDU
/// records per `vdu-delta`, bounded by the VDU profile's instance counts, and
/// `_admin.scaling-group[]` (name, vnf_index) counts the instances in `nb-scale-op`. A step past
/// a bound fails with LCM's words and changes nothing.
fn scale_vnf(db: &mut Db, op: &Value) -> Result<(), String> {
    let nsr_id = op["nsInstanceId"].as_str().unwrap_or_default().to_owned();
    let data = &op["operationParams"]["scaleVnfData"];
    let out = data["scaleVnfType"] == "SCALE_OUT";
    let member = data["scaleByStepData"]["member-vnf-index"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let aspect = data["scaleByStepData"]["scaling-group-descriptor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let vnfd_id = db
        .vnfrs
        .iter()
        .find(|v| {
            v["nsr-id-ref"] == nsr_id.as_str() && v["member-vnf-index-ref"] == member.as_str()
        })
        .and_then(|v| v["vnfd-id"].as_str())
        .ok_or_else(|| format!("no VNF record of member '{member}'"))?
        .to_owned();
    let vnfd = db
        .vnfds
        .iter()
        .find(|v| v["_id"] == vnfd_id.as_str())
        .cloned()
        .ok_or_else(|| {
            format!("vnfd id={vnfd_id} has been deleted!. Operation cannot be performed")
        })?;
    let descriptor = vnfd
        .pointer("/df/0/scaling-aspect")
        .and_then(Value::as_array)
        .and_then(|l| l.iter().find(|a| a["id"] == aspect.as_str()))
        .cloned()
        .ok_or_else(|| format!("input parameter 'scaleByStepData':'scaling-group-descriptor':'{aspect}' is not present at vnfd:scaling-group-descriptor"))?;
    let Some(deltas) = descriptor
        .pointer("/aspect-delta-details/deltas")
        .and_then(Value::as_array)
    else {
        return Err(format!(
            "Aspect delta details not fount in scaling descriptor {aspect}"
        ));
    };
    let profile = |vdu: &str| {
        vnfd.pointer("/df/0/vdu-profile")
            .and_then(Value::as_array)
            .and_then(|l| l.iter().find(|p| p["id"] == vdu))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let default_instances = |vdu: &str| {
        vnfd.pointer("/df/0/instantiation-level/0/vdu-level")
            .and_then(Value::as_array)
            .and_then(|l| l.iter().find(|l| l["vdu-id"] == vdu))
            .and_then(|l| l["number-of-instances"].as_i64())
            .unwrap_or(1)
    };
    let nsr = db
        .nsrs
        .iter()
        .find(|r| r["_id"] == nsr_id.as_str())
        .ok_or("NS record gone")?;
    let groups: Vec<Value> = nsr
        .pointer("/_admin/scaling-group")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let index = groups
        .iter()
        .position(|g| g["name"] == aspect.as_str() && g["vnf_index"] == member.as_str());
    let mut nb_scale_op = index
        .and_then(|i| groups[i]["nb-scale-op"].as_i64())
        .unwrap_or(0);
    // Checked for every VDU first: a refused step leaves the records as they were.
    let mut changes: Vec<(Value, i64)> = Vec::new();
    for delta in deltas {
        for vdu_delta in delta["vdu-delta"].as_array().into_iter().flatten() {
            let vdu = vdu_delta["id"].as_str().unwrap_or_default();
            let n = vdu_delta["number-of-instances"].as_i64().unwrap_or(1);
            let p = profile(vdu);
            if out {
                nb_scale_op += n;
                let max = p["max-number-of-instances"].as_i64().unwrap_or(10);
                if nb_scale_op + default_instances(vdu) > max {
                    return Err(format!("reached the limit of {nb_scale_op} (max-instance-count) scaling-out operations for the scaling-group-descriptor '{aspect}'"));
                }
            } else {
                nb_scale_op -= n;
                let min = p["min-number-of-instances"].as_i64().unwrap_or(0);
                if nb_scale_op + default_instances(vdu) < min {
                    return Err(format!("reached the limit of {nb_scale_op} (min-instance-count) scaling-in operations for the scaling-group-descriptor '{aspect}'"));
                }
            }
            let vdud = vnfd["vdu"]
                .as_array()
                .and_then(|l| l.iter().find(|v| v["id"] == vdu))
                .cloned()
                .unwrap_or_else(|| json!({"id": vdu, "name": vdu}));
            changes.push((vdud, if out { n } else { -n }));
        }
    }
    let vnfr = db
        .vnfrs
        .iter_mut()
        .find(|v| {
            v["nsr-id-ref"] == nsr_id.as_str() && v["member-vnf-index-ref"] == member.as_str()
        })
        .ok_or("VNF record gone")?;
    for (vdud, n) in changes {
        let list = vnfr["vdur"].as_array_mut().ok_or("vdur is not a list")?;
        let of = |l: &Vec<Value>| l.iter().filter(|r| r["vdu-id-ref"] == vdud["id"]).count();
        if n > 0 {
            for _ in 0..n {
                let next = of(list) as u64;
                list.push(super::ns::new_vdur(&vdud, next, Value::Null));
            }
        } else {
            for _ in 0..(-n) {
                if let Some(last) = list.iter().rposition(|r| r["vdu-id-ref"] == vdud["id"]) {
                    list.remove(last);
                }
            }
        }
    }
    let entry =
        json!({"name": aspect, "vnf_index": member, "nb-scale-op": nb_scale_op, "time": now()});
    let nsr = db
        .nsrs
        .iter_mut()
        .find(|r| r["_id"] == nsr_id.as_str())
        .ok_or("NS record gone")?;
    let mut groups = groups;
    match index {
        Some(i) => groups[i] = entry,
        None => groups.push(entry),
    }
    nsr["_admin"]["scaling-group"] = Value::Array(groups);
    Ok(())
}

/// What LCM's `update` leaves after a `CHANGE_VNFPKG` (LCM `osm_lcm/ns.py`): the VNF record runs
/// the VNFD's newest revision (`revision`).
fn change_vnf_package(db: &mut Db, nsr_id: &str, op_id: &str) {
    let Some(op) = db.nslcmops.iter().find(|o| o["_id"] == op_id).cloned() else {
        return;
    };
    if op.pointer("/operationParams/updateType") != Some(&json!("CHANGE_VNFPKG")) {
        return;
    }
    let vnfr_id = op
        .pointer("/operationParams/changeVnfPackageData/vnfInstanceId")
        .cloned()
        .unwrap_or(Value::Null);
    let Some(vnfr) = db
        .vnfrs
        .iter()
        .find(|v| v["_id"] == vnfr_id && v["nsr-id-ref"] == nsr_id)
    else {
        return;
    };
    let vnfd_id = vnfr["vnfd-id"].clone();
    let Some(vnfd) = db.vnfds.iter().find(|v| v["_id"] == vnfd_id).cloned() else {
        return;
    };
    let revision = vnfd
        .pointer("/_admin/revision")
        .cloned()
        .unwrap_or(json!(1));
    if let Some(vnfr) = db.vnfrs.iter_mut().find(|v| v["_id"] == vnfr_id) {
        vnfr["revision"] = revision;
    }
}

pub fn remove_ns(db: &mut Db, nsr_id: &str) {
    db.remove_where(Collection::Nsrs, |r| r["_id"] == nsr_id);
    db.remove_where(Collection::Vnfrs, |r| r["nsr-id-ref"] == nsr_id);
    db.remove_where(Collection::NsLcmOps, |r| r["nsInstanceId"] == nsr_id);
}
