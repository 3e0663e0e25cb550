//! The NS record as OSM's NBI writes it at create time (`NsrTopic._create_nsr` in
//! `osm_nbi/instance_topics.py`).

use super::*;

/// An NS record shaped and sized like the real one (~6.5 KB: it embeds the whole NSD).
#[allow(clippy::too_many_arguments)]
pub(super) fn realistic_nsr(
    nsr_id: &str,
    op_id: &str,
    name: &str,
    body: &Map<String, Value>,
    nsd: &Value,
    members: &[(String, Value)],
    vnfr_ids: &[String],
    vim_id: &str,
    project: &str,
    t: f64,
) -> Value {
    // `_format_ns_request`: the request without the additional params.
    let mut instantiate_params = body.clone();
    instantiate_params.remove("additionalParamsForNs");
    instantiate_params.remove("additionalParamsForVnf");
    // Each virtual link with the connection points the vnf-profiles attach to it.
    let profiles: Vec<Value> = nsd
        .pointer("/df/0/vnf-profile")
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default();
    let vld: Vec<Value> = nsd
        .get("virtual-link-desc")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut vl| {
            let refs: Vec<Value> = profiles
                .iter()
                .flat_map(|p| {
                    p["virtual-link-connectivity"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|c| c["virtual-link-profile-id"] == vl["id"])
                        .flat_map(move |c| {
                            c["constituent-cpd-id"].as_array().cloned().unwrap_or_default().into_iter().map(move |cpd| {
                                json!({"member-vnf-index-ref": cpd["constituent-base-element-id"],
                                       "vnfd-connection-point-ref": cpd["constituent-cpd-id"],
                                       "vnfd-id-ref": p["vnfd-id"]})
                            })
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            vl["vnfd-connection-point-ref"] = json!(refs);
            vl["name"] = vl["id"].clone();
            vl
        })
        .collect();
    let _ = op_id;
    // Each VNFD once, in vnf-profile order.
    let mut vnfd_ids: Vec<Value> = Vec::new();
    for (_, v) in members {
        if !vnfd_ids.contains(&v["_id"]) {
            vnfd_ids.push(v["_id"].clone());
        }
    }
    // The NSD as the database holds it: without the SOL005 fields the NBI adds when it shows one.
    let mut nsd = nsd.clone();
    if let Some(m) = nsd.as_object_mut() {
        for k in [
            "_links",
            "nsdOnboardingState",
            "nsdOperationalState",
            "nsdUsageState",
        ] {
            m.remove(k);
        }
    }
    // `_create_nsr_descriptor_from_nsd` (NBI instance_topics.py), then `format_on_new`.
    let mut nsr = json!({
        "name": name, "name-ref": name, "short-name": name,
        "admin-status": "ENABLED", "nsState": "NOT_INSTANTIATED", "currentOperation": "IDLE", "currentOperationID": Value::Null,
        "errorDescription": Value::Null, "errorDetail": Value::Null, "deploymentStatus": Value::Null,
        "configurationStatus": Value::Null, "vcaStatus": Value::Null, "nsd": nsd,
        "datacenter": vim_id, "resource-orchestrator": "osmopenmano",
        "description": body.get("nsDescription").cloned().unwrap_or(json!("")),
        "constituent-vnfr-ref": vnfr_ids, "operational-status": "init", "config-status": "init",
        "detailed-status": "scheduled", "orchestration-progress": {}, "create-time": t,
        "nsd-name-ref": nsd["name"], "operational-events": [], "nsd-ref": nsd["id"], "nsd-id": nsd["_id"],
        "vnfd-id": vnfd_ids,
        "instantiate_params": instantiate_params,
        "additionalParamsForNs": body.get("additionalParamsForNs").cloned().unwrap_or(Value::Null),
        "ns-instance-config-ref": nsr_id, "id": nsr_id, "_id": nsr_id,
        "ssh-authorized-key": body.get("ssh_keys").cloned().unwrap_or(Value::Null),
        "flavor": [], "image": [], "affinity-or-anti-affinity-group": [], "shared-volumes": [], "vnffgd": [],
        "vld": vld,
        "_admin": admin_block(project, json!({"nsState": "NOT_INSTANTIATED"})),
    });
    if let Some(rev) = nsd.pointer("/_admin/revision") {
        nsr["revision"] = rev.clone();
    }
    nsr
}
