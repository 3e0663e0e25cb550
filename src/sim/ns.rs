//! `/osm/nslcm/v1` (osm-nbi.md §7-8): NS create + instantiate, operations (action, terminate,
//! instantiate) with the NBI's schema checks and `_admin.nsState` gate, deletion (terminate +
//! autoremove, or at once), and the NS and VNF records shaped and sized like OSM's.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::db::{admin_block, new_id, now, Collection, Db, TokenRecord};
use super::http::{format_error, not_found, Reply, Request, Status};
use super::lcm;
use super::Shared;

fn nsr_not_found(id: &str, project: &str) -> Reply {
    not_found(&format!(
        "{{'_id': '{id}', '_admin.projects_read.cont': ['{project}', 'ANY']}}"
    ))
}

const NS_INSTANTIATE_KEYS: [&str; 20] = [
    "nsName",
    "nsdId",
    "vimAccountId",
    "nsDescription",
    "additionalParamsForNs",
    "additionalParamsForVnf",
    "vnf",
    "vld",
    "wimAccountId",
    "ssh_keys",
    "timeout_ns_deploy",
    "k8s-namespace",
    "placement-engine",
    "placement-constraints",
    "lcmOperationType",
    "nsInstanceId",
    "netsliceInstanceId",
    "nsConfigTemplateId",
    "affinity-or-anti-affinity-group",
    "paas",
];

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

fn validate_ns_instantiate(body: &Map<String, Value>) -> Result<(), Reply> {
    for k in body.keys() {
        if !NS_INSTANTIATE_KEYS.contains(&k.as_str()) {
            return Err(format_error(
                "",
                format!("Additional properties are not allowed ('{k}' was unexpected)"),
            ));
        }
    }
    for req in ["nsName", "nsdId", "vimAccountId"] {
        if !body.contains_key(req) {
            return Err(format_error("", format!("'{req}' is a required property")));
        }
    }
    let name = body["nsName"]
        .as_str()
        .ok_or_else(|| format_error("nsName", "is not of type 'string'"))?;
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(|c| ",;()'\"".contains(c))
    {
        return Err(format_error(
            "nsName",
            format!("'{name}' does not match '^[^,;()\\.\\$'\"]+$'"),
        ));
    }
    for k in ["nsdId", "vimAccountId"] {
        let v = body[k].as_str().unwrap_or_default();
        if !is_uuid(v) {
            return Err(format_error(k, format!("'{v}' does not match '^[a-fA-F0-9]{{8}}(-[a-fA-F0-9]{{4}}){{3}}-[a-fA-F0-9]{{12}}$'")));
        }
    }
    match body.get("nsDescription") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if !s.contains('"') && !s.contains('\'') => {}
        Some(_) => return Err(format_error("nsDescription", "is not valid")),
    }
    if let Some(vnfs) = body.get("additionalParamsForVnf") {
        let list = vnfs
            .as_array()
            .ok_or_else(|| format_error("additionalParamsForVnf", "is not of type 'array'"))?;
        for (i, vnf) in list.iter().enumerate() {
            let path = format!("additionalParamsForVnf:{i}");
            let m = vnf
                .as_object()
                .ok_or_else(|| format_error(&path, "is not of type 'object'"))?;
            if !m.get("member-vnf-index").is_some_and(|v| v.is_string()) {
                return Err(format_error(
                    &path,
                    "'member-vnf-index' is a required property",
                ));
            }
            if m.len() < 2 {
                return Err(format_error(&path, "does not have enough properties"));
            }
            if let Some(p) = m.get("additionalParams") {
                if !p.is_object() {
                    return Err(format_error(
                        &format!("{path}:additionalParams"),
                        "is not of type 'object'",
                    ));
                }
            }
            for (j, kdu) in m
                .get("additionalParamsForKdu")
                .and_then(|k| k.as_array())
                .into_iter()
                .flatten()
                .enumerate()
            {
                let kpath = format!("{path}:additionalParamsForKdu:{j}");
                let km = kdu
                    .as_object()
                    .ok_or_else(|| format_error(&kpath, "is not of type 'object'"))?;
                if !km.get("kdu_name").is_some_and(|v| v.is_string()) {
                    return Err(format_error(&kpath, "'kdu_name' is a required property"));
                }
                if km.len() < 2 {
                    return Err(format_error(&kpath, "does not have enough properties"));
                }
                if km.get("additionalParams").is_some_and(|p| !p.is_object()) {
                    return Err(format_error(
                        &format!("{kpath}:additionalParams"),
                        "is not of type 'object'",
                    ));
                }
            }
        }
    }
    Ok(())
}

fn kdu_params_for(body: &Map<String, Value>, member: &str, kdu: &str) -> Value {
    body.get("additionalParamsForVnf")
        .and_then(|l| l.as_array())
        .and_then(|l| l.iter().find(|v| v["member-vnf-index"] == member))
        .and_then(|v| v.get("additionalParamsForKdu"))
        .and_then(|l| l.as_array())
        .and_then(|l| l.iter().find(|k| k["kdu_name"] == kdu))
        .and_then(|k| k.get("additionalParams"))
        .cloned()
        .unwrap_or(Value::Null)
}

pub fn create_ns(shared: &Arc<Shared>, db: &mut Db, token: &TokenRecord, req: &Request) -> Reply {
    let project = token.project_id.as_str();
    let body = match req.parse_body() {
        Ok(Value::Object(m)) => m,
        Ok(_) => return format_error("", "is not of type 'object'"),
        Err(r) => return r,
    };
    if let Err(r) = validate_ns_instantiate(&body) {
        return r;
    }
    let nsd_id = body["nsdId"].as_str().unwrap_or_default();
    let vim_id = body["vimAccountId"].as_str().unwrap_or_default();
    let Some(nsd) = db.find_by_id(Collection::Nsds, project, nsd_id).cloned() else {
        return Reply::error(
            Status::NOT_FOUND,
            format!("database exception Not found entry with filter='{{'_id': '{nsd_id}', '_admin.projects_read.cont': ['{project}', 'ANY']}}' while 'getting nsd id='{nsd_id}' from database'"),
        );
    };
    if nsd.pointer("/_admin/operationalState") == Some(&json!("DISABLED")) {
        return Reply::error(Status::CONFLICT, format!("nsd '{nsd_id}' is DISABLED"));
    }
    let profiles: Vec<Value> = nsd
        .pointer("/df/0/vnf-profile")
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default();
    let mut members = Vec::new();
    for profile in &profiles {
        let member = profile["id"].as_str().unwrap_or_default().to_owned();
        let vnfd_ref = profile["vnfd-id"].as_str().unwrap_or_default();
        let Some(vnfd) = db
            .visible(Collection::Vnfds, project)
            .find(|v| v["id"] == vnfd_ref)
            .cloned()
        else {
            return Reply::error(
                Status::CONFLICT,
                format!(
                    "Descriptor error at 'vnfd-id'='{vnfd_ref}' references a non existing vnfd"
                ),
            );
        };
        members.push((member, vnfd));
    }
    if db
        .find_by_id(Collection::VimAccounts, project, vim_id)
        .is_none()
    {
        return Reply::error(
            Status::BAD_REQUEST,
            format!("Invalid vimAccountId='{vim_id}' not present for the project"),
        );
    }
    let k8scluster = db
        .visible(Collection::K8sClusters, project)
        .find(|k| k["vim_account"] == vim_id)
        .cloned();
    for (member, vnfd) in &members {
        let has_kdu = vnfd
            .get("kdu")
            .and_then(|k| k.as_array())
            .is_some_and(|k| !k.is_empty());
        if has_kdu && shared.config.check_k8scluster && k8scluster.is_none() {
            return Reply::error(
                Status::BAD_REQUEST,
                format!("No k8scluster with requirements='{{}}' at vim_account={vim_id} found for member_vnf_index={member}"),
            );
        }
    }
    let ns_name = body["nsName"].as_str().unwrap_or_default().to_owned();
    let nsr_id = new_id();
    let op_id = new_id();
    let t = now();
    let mut vnfr_ids = Vec::new();
    for (member, vnfd) in &members {
        let vnfr_id = new_id();
        vnfr_ids.push(vnfr_id.clone());
        let kdur: Vec<Value> = vnfd
            .get("kdu")
            .and_then(|k| k.as_array())
            .into_iter()
            .flatten()
            .map(|kdu| {
                let kname = kdu["name"].as_str().unwrap_or_default();
                let params = kdu_params_for(&body, member, kname);
                json!({
                    "kdu-name": kname, "helm-chart": kdu.get("helm-chart").cloned().unwrap_or(Value::Null),
                    "additionalParams": if params.is_null() { Value::Null } else { json!(params.to_string()) },
                    "k8s-namespace": nsr_id, "k8s-cluster": {"id": k8scluster.as_ref().map(|k| k["_id"].clone()).unwrap_or(Value::Null)},
                    "status": "scheduled",
                })
            })
            .collect();
        db.vnfrs.push(json!({
            "_id": vnfr_id, "id": vnfr_id, "nsr-id-ref": nsr_id, "member-vnf-index-ref": member,
            "vnfd-ref": vnfd["id"], "vnfd-id": vnfd["_id"], "vim-account-id": vim_id,
            "additionalParamsForVnf": Value::Null, "kdur": kdur, "vdur": [], "connection-point": [],
            "created-time": t, "ip-address": Value::Null, "vca-id": Value::Null,
            "_admin": admin_block(project, json!({"nsState": "NOT_INSTANTIATED"})),
        }));
    }
    db.nsrs.push(realistic_nsr(
        &nsr_id, &op_id, &ns_name, &body, &nsd, &members, &vnfr_ids, vim_id, project, t,
    ));
    let mut params = Value::Object(body.clone());
    params["lcmOperationType"] = json!("instantiate");
    params["nsInstanceId"] = json!(nsr_id);
    params["nsr_id"] = json!(nsr_id);
    db.nslcmops
        .push(new_op(&op_id, &nsr_id, "instantiate", params, project, t));
    lcm::schedule(shared, db, &op_id, &nsr_id, "instantiate", &ns_name);
    // Exactly these two keys, as OSM answers.
    Reply::json(Status::CREATED, json!({"id": nsr_id, "nslcmop_id": op_id}))
        .with_location(format!("/osm/nslcm/v1/ns_instances_content/{nsr_id}"))
}

fn new_op(op_id: &str, nsr_id: &str, op_type: &str, params: Value, project: &str, t: f64) -> Value {
    json!({
        "_id": op_id, "id": op_id, "operationState": "PROCESSING", "queuePosition": Value::Null, "stage": Value::Null,
        "errorMessage": Value::Null, "detailedStatus": Value::Null, "statusEnteredTime": t, "nsInstanceId": nsr_id,
        "lcmOperationType": op_type, "startTime": t, "isAutomaticInvocation": false, "operationParams": params,
        "isCancelPending": false,
        "links": {"self": format!("/osm/nslcm/v1/ns_lcm_op_occs/{op_id}"), "nsInstance": format!("/osm/nslcm/v1/ns_instances/{nsr_id}")},
        "_admin": admin_block(project, json!({})),
    })
}

/// An NS record shaped and sized like the real one (~6.5 KB: it embeds the whole NSD).
#[allow(clippy::too_many_arguments)]
fn realistic_nsr(
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
    let mut instantiate_params = body.clone();
    instantiate_params.remove("additionalParamsForNs");
    instantiate_params.remove("additionalParamsForVnf");
    let k8s: Vec<Value> = members
        .iter()
        .flat_map(|(member, vnfd)| {
            vnfd.get("kdu").and_then(|k| k.as_array()).cloned().unwrap_or_default().into_iter().map(move |kdu| {
                json!({"kdu-instance": Value::Null, "k8scluster-uuid": Value::Null, "k8scluster-type": "helm-chart-v3",
                       "member-vnf-index": member, "kdu-name": kdu["name"], "kdu-model": kdu["helm-chart"],
                       "namespace": nsr_id, "status": Value::Null, "detailed-status": Value::Null})
            })
        })
        .collect();
    let vld: Vec<Value> = nsd
        .get("virtual-link-desc")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|vl| json!({"id": vl["id"], "name": vl["id"], "mgmt-network": vl.get("mgmt-network").cloned().unwrap_or(json!(false)),
                          "type": "ELAN", "vim_info": {format!("vim:{vim_id}"): {"vim_account_id": vim_id, "vim_network_name": Value::Null, "vim_details": Value::Null, "vim_id": Value::Null, "vim_status": Value::Null}}}))
        .collect();
    json!({
        "_id": nsr_id, "id": nsr_id, "name": name, "name-ref": name, "short-name": name,
        "description": body.get("nsDescription").cloned().unwrap_or(Value::Null),
        "admin-status": "ENABLED", "nsState": "NOT_INSTANTIATED", "currentOperation": "IDLE", "currentOperationID": Value::Null,
        "errorDescription": Value::Null, "errorDetail": Value::Null, "deploymentStatus": Value::Null, "configurationStatus": [],
        "vcaStatus": Value::Null, "operational-status": "init", "config-status": "init", "detailed-status": "scheduled",
        "orchestration-progress": {}, "create-time": t, "nsd-name-ref": nsd["name"], "operational-events": [],
        "nsd-ref": nsd["id"], "nsd-id": nsd["_id"], "vnfd-id": members.iter().map(|(_, v)| v["_id"].clone()).collect::<Vec<_>>(),
        "instantiate_params": instantiate_params, "additionalParamsForNs": body.get("additionalParamsForNs").cloned().unwrap_or(Value::Null),
        "ns-instance-config-ref": nsr_id, "nsd": nsd, "datacenter": vim_id, "resource-orchestrator": "osmopenmano",
        "constituent-vnfr-ref": vnfr_ids, "vld": vld, "flavor": [], "image": [], "affinity-or-anti-affinity-group": [],
        "shared-volumes": [], "ssh-authorized-key": Value::Null,
        "_admin": admin_block(project, json!({
            "nsState": "NOT_INSTANTIATED", "nslcmop": op_id, "operation-type": "instantiate", "current-operation": Value::Null,
            "deployed": {"RO": {"vnfd": [], "operational-status": "init", "detailed-status": ""}, "VCA": [], "K8s": k8s},
        })),
    })
}

const NS_ACTION_KEYS: [&str; 10] = [
    "member_vnf_index",
    "vnf_member_index",
    "kdu_name",
    "primitive",
    "primitive_params",
    "vdu_id",
    "vdu_count_index",
    "timeout_ns_action",
    "lcmOperationType",
    "nsInstanceId",
];
const KDU_BUILTIN_PRIMITIVES: [&str; 5] = ["upgrade", "rollback", "status", "inspect", "readme"];

pub fn ns_operation(
    shared: &Arc<Shared>,
    db: &mut Db,
    project: &str,
    id: &str,
    op: &str,
    req: &Request,
) -> Reply {
    let body = match req.parse_body() {
        Ok(Value::Object(m)) => m,
        Ok(_) => return format_error("", "is not of type 'object'"),
        Err(r) => return r,
    };
    if op == "action" {
        for k in body.keys() {
            if !NS_ACTION_KEYS.contains(&k.as_str()) {
                return format_error(
                    "",
                    format!("Additional properties are not allowed ('{k}' was unexpected)"),
                );
            }
        }
        if !body.get("primitive").is_some_and(|p| p.is_string()) {
            return format_error("", "'primitive' is a required property");
        }
        match body.get("primitive_params") {
            Some(Value::Object(_)) => {}
            None => return format_error("", "'primitive_params' is a required property"),
            Some(v) => {
                return format_error("primitive_params", format!("{v} is not of type 'object'"))
            }
        }
    }
    let Some(nsr) = db.find_by_id(Collection::Nsrs, project, id).cloned() else {
        return nsr_not_found(id, project);
    };
    let instantiated = nsr.pointer("/_admin/nsState") == Some(&json!("INSTANTIATED"));
    match (op, instantiated) {
        ("instantiate", true) if !req.force() => {
            return Reply::error(
                Status::CONFLICT,
                format!("ns_instance '{id}' cannot be '{op}' because it is already instantiated"),
            )
        }
        ("terminate", false) if body.get("autoremove") == Some(&json!(true)) => {
            return Reply::json(Status::ACCEPTED, json!({"id": Value::Null}))
        }
        ("action" | "terminate", false) => {
            return Reply::error(
                Status::CONFLICT,
                format!("ns_instance '{id}' cannot be '{op}' because it is not instantiated"),
            )
        }
        _ => {}
    }
    if op == "action" {
        let member = body
            .get("member_vnf_index")
            .or_else(|| body.get("vnf_member_index"))
            .and_then(|m| m.as_str());
        let primitive = body["primitive"].as_str().unwrap_or_default();
        let kdu_name = body.get("kdu_name").and_then(|k| k.as_str());
        if kdu_name.is_some() && KDU_BUILTIN_PRIMITIVES.contains(&primitive) && member.is_none() {
            return Reply::error(
                Status::BAD_REQUEST,
                "Missing action parameter 'member_vnf_index' for default KDU primitive",
            );
        }
        if let Some(member) = member {
            let Some(vnfr) = db
                .visible(Collection::Vnfrs, project)
                .find(|v| v["nsr-id-ref"] == id && v["member-vnf-index-ref"] == member)
            else {
                return Reply::error(Status::BAD_REQUEST, format!("Invalid parameter member_vnf_index='{member}' is not one of the nsd:constituent-vnfd"));
            };
            if let Some(kdu) = kdu_name {
                let known = vnfr["kdur"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|k| k["kdu-name"] == kdu));
                if !known {
                    return Reply::error(
                        Status::BAD_REQUEST,
                        format!("Invalid parameter kdu_name='{kdu}' not present at vnfd:kdu:name"),
                    );
                }
            } else if !KDU_BUILTIN_PRIMITIVES.contains(&primitive) {
                return Reply::error(Status::BAD_REQUEST, format!("Invalid parameter primitive='{primitive}' not present at vnfd:config-primitive"));
            }
        }
    }
    let op_id = new_id();
    let mut params = Value::Object(body);
    params["lcmOperationType"] = json!(op);
    params["nsInstanceId"] = json!(id);
    db.nslcmops
        .push(new_op(&op_id, id, op, params, project, now()));
    let name = nsr["name"].as_str().unwrap_or_default().to_owned();
    lcm::schedule(shared, db, &op_id, id, op, &name);
    Reply::json(Status::ACCEPTED, json!({"id": op_id}))
        .with_location(format!("/osm/nslcm/v1/ns_lcm_op_occs/{op_id}"))
}

pub fn delete_ns(
    shared: &Arc<Shared>,
    db: &mut Db,
    project: &str,
    id: &str,
    req: &Request,
    content_route: bool,
) -> Reply {
    let Some(nsr) = db.find_by_id(Collection::Nsrs, project, id).cloned() else {
        return nsr_not_found(id, project);
    };
    let instantiated = nsr.pointer("/_admin/nsState") == Some(&json!("INSTANTIATED"));
    if req.force() || !instantiated {
        lcm::remove_ns(db, id);
        return Reply::empty(Status::NO_CONTENT);
    }
    if !content_route {
        return Reply::error(
            Status::CONFLICT,
            format!("nsr '{id}' cannot be deleted because it is in 'INSTANTIATED' state. Launch 'terminate' operation first; or force deletion"),
        );
    }
    let autoremove = !req
        .query
        .iter()
        .any(|(k, v)| k == "autoremove" && v.eq_ignore_ascii_case("false"));
    let op_id = new_id();
    let params =
        json!({"autoremove": autoremove, "lcmOperationType": "terminate", "nsInstanceId": id});
    db.nslcmops
        .push(new_op(&op_id, id, "terminate", params, project, now()));
    let name = nsr["name"].as_str().unwrap_or_default().to_owned();
    lcm::schedule(shared, db, &op_id, id, "terminate", &name);
    Reply::json(Status::ACCEPTED, json!({"_id": op_id}))
}
