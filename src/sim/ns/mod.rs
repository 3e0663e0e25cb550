//! `/osm/nslcm/v1` (osm-nbi.md §7-8): NS create + instantiate, operations (action, terminate,
//! instantiate) with the NBI's schema checks and `_admin.nsState` gate, deletion (terminate +
//! autoremove, or at once), and the NS and VNF records shaped and sized like OSM's.

mod record;
mod validate;

use record::realistic_nsr;
use validate::{name_schema_error, unexpected_key, validate_ns_instantiate};

use crate::osm::schema::{check_object, NS_SCALE, NS_UPDATE};

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::db::{admin_block, new_id, now, Collection, Db, TokenRecord};
use super::http::{
    format_error, not_found, operation_format_error, py_json_dumps, py_repr, Reply, Request, Status,
};
use super::lcm;
use super::Shared;

fn nsr_not_found(id: &str, project: &str) -> Reply {
    not_found(&format!(
        "{{'_admin.projects_read.cont': ['{project}', 'ANY'], '_id': '{id}'}}"
    ))
}

/// The `additionalParamsForKdu` entry of one KDU of one member, if the request has one.
fn kdu_entry_for<'a>(
    body: &'a Map<String, Value>,
    member: &str,
    kdu: &str,
) -> Option<&'a Map<String, Value>> {
    body.get("additionalParamsForVnf")
        .and_then(|l| l.as_array())
        .and_then(|l| l.iter().find(|v| v["member-vnf-index"] == member))
        .and_then(|v| v.get("additionalParamsForKdu"))
        .and_then(|l| l.as_array())
        .and_then(|l| l.iter().find(|k| k["kdu_name"] == kdu))
        .and_then(|k| k.as_object())
}

/// `NsrTopic._format_additional_params` (NBI `osm_nbi/instance_topics.py`), called for every
/// KDU of every member: a KDU param whose value is a mapping or a list becomes the string
/// `"!!yaml " + safe_dump(value)`. For a KDU the NBI formats the request's own dict (no copy),
/// so the operation stored afterwards carries these strings too; LCM turns them back
/// (`parse_yaml_strings`, `osm_lcm/data_utils/dict_utils.py`).
fn yaml_strings_in_kdu_params(body: &mut Map<String, Value>, member: &str, kdu: &str) {
    let Some(params) = body
        .get_mut("additionalParamsForVnf")
        .and_then(|l| l.as_array_mut())
        .and_then(|l| l.iter_mut().find(|v| v["member-vnf-index"] == member))
        .and_then(|v| v.get_mut("additionalParamsForKdu"))
        .and_then(|l| l.as_array_mut())
        .and_then(|l| l.iter_mut().find(|k| k["kdu_name"] == kdu))
        .and_then(|k| k.get_mut("additionalParams"))
        .and_then(|p| p.as_object_mut())
    else {
        return;
    };
    for v in params.values_mut() {
        if v.is_object() || v.is_array() {
            let dumped = serde_saphyr::to_string(&*v).unwrap_or_default();
            *v = Value::String(format!("!!yaml {dumped}"));
        }
    }
}

pub fn create_ns(shared: &Arc<Shared>, db: &mut Db, token: &TokenRecord, req: &Request) -> Reply {
    let project = token.project_id.as_str();
    let body = match req.parse_body() {
        Ok(Value::Object(m)) => m,
        // The NBI reads an empty or `null` body as no parameters.
        Ok(Value::Null) => Map::new(),
        Ok(other) => {
            return format_error("", format!("{} is not of type 'object'", py_repr(&other)))
        }
        Err(r) => return r,
    };
    if let Err(r) = validate_ns_instantiate(&body) {
        return r;
    }
    let nsd_id = body["nsdId"].as_str().unwrap_or_default().to_owned();
    let vim_id = body["vimAccountId"].as_str().unwrap_or_default().to_owned();
    let (nsd_id, vim_id) = (nsd_id.as_str(), vim_id.as_str());
    let Some(nsd) = db.find_by_id(Collection::Nsds, project, nsd_id).cloned() else {
        return Reply::error(
            Status::NOT_FOUND,
            format!("database exception Not found entry with filter='{{'_admin.projects_read.cont': ['{project}', 'ANY'], '_id': '{nsd_id}'}}' while 'getting nsd id='{nsd_id}' from database'"),
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
    if let Err(r) = check_instantiate_references(db, project, &body, &nsd, &members) {
        return r;
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
    // `_get_ns_k8s_namespace`: the NS request's k8s-namespace, else the project id.
    let k8s_namespace = body
        .get("k8s-namespace")
        .and_then(|n| n.as_str())
        .unwrap_or(project)
        .to_owned();
    let mut body = body;
    for (member, vnfd) in &members {
        for kdu in vnfd
            .get("kdu")
            .and_then(|k| k.as_array())
            .into_iter()
            .flatten()
        {
            yaml_strings_in_kdu_params(&mut body, member, kdu["name"].as_str().unwrap_or_default());
        }
    }
    let body = body;
    let mut vnfr_ids = Vec::new();
    for (member, vnfd) in &members {
        let vnfr_id = new_id();
        vnfr_ids.push(vnfr_id.clone());
        // `_create_vnfr_descriptor_from_vnfd` (NBI instance_topics.py): the KDU's chart is the
        // request's kdu_model when given; its params are stored as a JSON string.
        let kdur: Vec<Value> = vnfd
            .get("kdu")
            .and_then(|k| k.as_array())
            .into_iter()
            .flatten()
            .map(|kdu| {
                let kname = kdu["name"].as_str().unwrap_or_default();
                let entry = kdu_entry_for(&body, member, kname);
                let params = entry
                    .and_then(|e| e.get("additionalParams"))
                    .filter(|p| p.as_object().is_some_and(|m| !m.is_empty()))
                    .map(|p| json!(py_json_dumps(p)))
                    // `return additional_params or None, ...`: no params, no string.
                    .unwrap_or(Value::Null);
                let model = entry.and_then(|e| e.get("kdu_model")).cloned();
                let mut r = json!({
                    "additionalParams": params,
                    "k8s-namespace": entry.and_then(|e| e.get("k8s-namespace")).cloned().unwrap_or(json!(k8s_namespace)),
                    "kdu-deployment-name": entry.and_then(|e| e.get("kdu-deployment-name")).cloned().unwrap_or(json!("")),
                    "kdu-name": kname, "ip-address": Value::Null,
                    "k8s-cluster": {"id": k8scluster.as_ref().map(|k| k["_id"].clone()).unwrap_or(Value::Null)},
                });
                for chart in ["helm-chart", "juju-bundle"] {
                    if let Some(c) = kdu.get(chart) {
                        r[chart] = model.clone().unwrap_or_else(|| c.clone());
                    }
                }
                r
            })
            .collect();
        let nets: Vec<Value> = vnfd
            .pointer("/k8s-cluster/nets")
            .and_then(|n| n.as_array())
            .into_iter()
            .flatten()
            .map(|net| {
                let id = net["id"].clone();
                let cp = vnfd["ext-cpd"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["k8s-cluster-net"] == id)
                    .map(|c| c["id"].clone())
                    .unwrap_or(Value::Null);
                let vim_net = k8scluster
                    .as_ref()
                    .and_then(|k| k["nets"].as_object())
                    .and_then(|n| n.values().next().cloned())
                    .unwrap_or(Value::Null);
                json!({"id": id, "external-connection-point-ref": cp, "vim_net": vim_net})
            })
            .collect();
        let cps: Vec<Value> = vnfd["ext-cpd"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| json!({"name": c["id"], "connection-point-id": Value::Null, "connection-point-vdu-id": Value::Null, "id": c["id"]}))
            .collect();
        let mut vnfr = json!({
            "id": vnfr_id, "_id": vnfr_id, "nsr-id-ref": nsr_id, "member-vnf-index-ref": member,
            "additionalParamsForVnf": Value::Null, "created-time": t,
            "vnfd-ref": vnfd["id"], "vnfd-id": vnfd["_id"], "vim-account-id": vim_id, "vca-id": Value::Null,
            "vdur": vdurs(vnfd, &body, member), "connection-point": cps, "ip-address": Value::Null,
            "kdur": kdur,
            "_admin": admin_block(project, json!({"nsState": "NOT_INSTANTIATED"})),
        });
        if let Some(rev) = vnfd.pointer("/_admin/revision") {
            vnfr["revision"] = rev.clone();
        }
        if vnfd.get("k8s-cluster").is_some() {
            vnfr["k8s-cluster"] = json!({"nets": nets});
        }
        db.vnfrs.push(vnfr);
    }
    db.nsrs.push(realistic_nsr(
        &nsr_id, &op_id, &ns_name, &body, &nsd, &members, &vnfr_ids, vim_id, project, t,
    ));
    // NsLcmOpTopic.new: the operation keeps the request, additionalParamsForVnf as a JSON string.
    let mut params = Value::Object(body.clone());
    if let Some(vnfs) = body.get("additionalParamsForVnf") {
        params["additionalParamsForVnf"] = json!(py_json_dumps(vnfs));
    }
    params["nsr_id"] = json!(nsr_id);
    params["lcmOperationType"] = json!("instantiate");
    params["nsInstanceId"] = json!(nsr_id);
    db.nslcmops
        .push(new_op(&op_id, &nsr_id, "instantiate", params, project, t));
    lcm::schedule(shared, db, &op_id, &nsr_id, "instantiate", &ns_name);
    // `{"id", "nslcmop_id", "nsName"}`, as `nbi.py` answers an NS create.
    Reply::json(
        Status::CREATED,
        json!({"id": nsr_id, "nslcmop_id": op_id, "nsName": ns_name}),
    )
    .with_location(format!("/osm/nslcm/v1/ns_instances_content/{nsr_id}"))
}

/// `_check_instantiate_ns_operation` (NBI `instance_topics.py`): each `vnf[]` names a member
/// of the NSD and, if it places the member on another VIM account, one of the project's; each
/// `vld[]` names a virtual link of the NSD.
fn check_instantiate_references(
    db: &Db,
    project: &str,
    body: &Map<String, Value>,
    nsd: &Value,
    members: &[(String, Value)],
) -> Result<(), Reply> {
    for vnf in body
        .get("vnf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let member = vnf["member-vnf-index"].as_str().unwrap_or_default();
        if !members.iter().any(|(m, _)| m == member) {
            return Err(Reply::error(
                Status::BAD_REQUEST,
                format!("Invalid parameter member_vnf_index='{member}' is not one of the nsd:constituent-vnfd"),
            ));
        }
        if let Some(vim) = vnf.get("vimAccountId").and_then(Value::as_str) {
            if db
                .find_by_id(Collection::VimAccounts, project, vim)
                .is_none()
            {
                return Err(Reply::error(
                    Status::BAD_REQUEST,
                    format!("Invalid vimAccountId='{vim}' not present for the project"),
                ));
            }
        }
    }
    for vld in body
        .get("vld")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = vld["name"].as_str().unwrap_or_default();
        let known = nsd["virtual-link-desc"]
            .as_array()
            .is_some_and(|l| l.iter().any(|v| v["id"] == name));
        if !known {
            return Err(Reply::error(
                Status::BAD_REQUEST,
                format!("Invalid parameter vld:name='{name}' is not present at nsd:vld"),
            ));
        }
    }
    Ok(())
}

/// The VDU records of a member (`_create_vnfr_descriptor_from_vnfd`, NBI `instance_topics.py`):
/// per VDU as many as the first instantiation level says (default 1), each with its
/// `count-index` and the member's VDU day-1 params.
fn vdurs(vnfd: &Value, body: &Map<String, Value>, member: &str) -> Vec<Value> {
    let levels = vnfd
        .pointer("/df/0/instantiation-level/0/vdu-level")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let vdu_params = |vdu_id: &str| {
        body.get("additionalParamsForVnf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|v| v["member-vnf-index"] == member)
            .flat_map(|v| {
                v["additionalParamsForVdu"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .find(|v| v["vdu_id"] == vdu_id)
            .and_then(|v| v.get("additionalParams").cloned())
            .unwrap_or(Value::Null)
    };
    let mut out = Vec::new();
    for vdu in vnfd["vdu"].as_array().into_iter().flatten() {
        let id = vdu["id"].as_str().unwrap_or_default();
        let count = levels
            .iter()
            .find(|l| l["vdu-id"] == id)
            .and_then(|l| l["number-of-instances"].as_u64())
            .unwrap_or(1);
        for index in 0..count {
            out.push(new_vdur(vdu, index, vdu_params(id)));
        }
    }
    out
}

/// One VDU record, as the NBI writes it and LCM adds it when scaling out.
pub(in crate::sim) fn new_vdur(vdu: &Value, count_index: u64, params: Value) -> Value {
    let id = new_id();
    json!({
        "vdu-id-ref": vdu["id"], "ip-address": Value::Null, "internal-connection-point": [],
        "interfaces": [], "additionalParams": params, "vdu-name": vdu["name"],
        "virtual-storages": [], "_id": id, "id": id, "count-index": count_index,
    })
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
        // The NBI reads an empty or `null` body as no parameters.
        Ok(Value::Null) => Map::new(),
        Ok(other) => {
            return operation_format_error(
                "",
                format!("{} is not of type 'object'", py_repr(&other)),
            )
        }
        Err(r) => return r,
    };
    if op == "action" {
        // `ns_action` (NBI validation.py), checked by `NsLcmOpTopic.new`.
        if let Some(msg) = unexpected_key(&body, &NS_ACTION_KEYS) {
            return operation_format_error("", msg);
        }
        for req in ["primitive", "primitive_params"] {
            if !body.contains_key(req) {
                return operation_format_error("", format!("'{req}' is a required property"));
            }
        }
        if let Some(msg) = name_schema_error(&body["primitive"]) {
            return operation_format_error("primitive", msg);
        }
        if let Some(v) = body.get("primitive_params").filter(|v| !v.is_object()) {
            return operation_format_error(
                "primitive_params",
                format!("{} is not of type 'object'", py_repr(v)),
            );
        }
    }
    let schema = match op {
        "scale" => Some(&NS_SCALE),
        "update" => Some(&NS_UPDATE),
        _ => None,
    };
    if let Some(v) = schema.and_then(|s| check_object(s, &Value::Object(body.clone()), py_repr)) {
        return operation_format_error(&v.nbi_path(), v.message);
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
        ("action" | "terminate" | "scale" | "update", false) => {
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
    let checked = match op {
        "scale" => check_scale(db, project, id, &body),
        "update" => check_update(db, project, &nsr, &body),
        _ => Ok(()),
    };
    if let Err(r) = checked {
        return r;
    }
    let op_id = new_id();
    // NsLcmOpTopic.new stores `primitive_params` (else `additionalParamsForVnf`) as JSON strings.
    let mut params = Value::Object(body.clone());
    if let Some(p) = body.get("primitive_params").filter(|p| p.is_object()) {
        params["primitive_params"] = json!(py_json_dumps(p));
    } else if let Some(v) = body.get("additionalParamsForVnf") {
        params["additionalParamsForVnf"] = json!(py_json_dumps(v));
    }
    params["lcmOperationType"] = json!(op);
    params["nsInstanceId"] = json!(id);
    db.nslcmops
        .push(new_op(&op_id, id, op, params, project, now()));
    let name = nsr["name"].as_str().unwrap_or_default().to_owned();
    lcm::schedule(shared, db, &op_id, id, op, &name);
    // `{"id", "nsName"}`, as `nbi.py` answers an NS operation.
    Reply::json(Status::ACCEPTED, json!({"id": op_id, "nsName": name}))
        .with_location(format!("/osm/nslcm/v1/ns_lcm_op_occs/{op_id}"))
}

/// `_check_scale_ns_operation` (NBI `instance_topics.py`): the member is one of the NS's, and the
/// aspect one of its VNFD's first deployment flavour.
fn check_scale(
    db: &Db,
    project: &str,
    nsr_id: &str,
    body: &Map<String, Value>,
) -> Result<(), Reply> {
    let step = &body["scaleVnfData"]["scaleByStepData"];
    let member = step["member-vnf-index"].as_str().unwrap_or_default();
    let aspect = step["scaling-group-descriptor"]
        .as_str()
        .unwrap_or_default();
    let Some(vnfr) = db
        .visible(Collection::Vnfrs, project)
        .find(|v| v["nsr-id-ref"] == nsr_id && v["member-vnf-index-ref"] == member)
    else {
        return Err(Reply::error(
            Status::BAD_REQUEST,
            format!("Invalid parameter member_vnf_index='{member}' is not one of the nsd:constituent-vnfd"),
        ));
    };
    let vnfd = db.find_by_id(
        Collection::Vnfds,
        project,
        vnfr["vnfd-id"].as_str().unwrap_or_default(),
    );
    let known = vnfd
        .and_then(|v| v.pointer("/df/0/scaling-aspect"))
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|a| a["id"] == aspect));
    if !known {
        return Err(Reply::error(
            Status::BAD_REQUEST,
            format!("Invalid scaleVnfData:scaleByStepData:scaling-group-descriptor '{aspect}' is not present at vnfd:scaling-aspect"),
        ));
    }
    Ok(())
}

/// `_check_update_ns_operation` for `CHANGE_VNFPKG` (NBI `instance_topics.py`): the VNF record
/// is one of the NS's, the VNFD is the one it runs, and a timeout gives LCM at least 300 s.
fn check_update(
    db: &Db,
    project: &str,
    nsr: &Value,
    body: &Map<String, Value>,
) -> Result<(), Reply> {
    if body["updateType"] != "CHANGE_VNFPKG" {
        return Ok(());
    }
    let unprocessable = |m: String| Err(Reply::error(Status::UNPROCESSABLE_ENTITY, m));
    let data = &body["changeVnfPackageData"];
    let vnfr_id = data["vnfInstanceId"].as_str().unwrap_or_default();
    let vnfd_id = data["vnfdId"].as_str().unwrap_or_default();
    let ns_id = nsr["_id"].as_str().unwrap_or_default();
    let belongs = nsr["constituent-vnfr-ref"]
        .as_array()
        .is_some_and(|l| l.iter().any(|v| v == vnfr_id));
    if !belongs {
        return unprocessable(format!(
            "Error in validating ns-update request: vnf {vnfr_id} does not belong to NS {ns_id}"
        ));
    }
    let runs = db
        .visible(Collection::Vnfrs, project)
        .find(|v| v["id"] == vnfr_id)
        .and_then(|v| v["vnfd-id"].as_str().map(str::to_owned));
    if let Some(runs) = runs.filter(|r| r != vnfd_id) {
        return unprocessable(format!("Error in validating ns-update request: vnfd-id {vnfd_id} does not match with the vnfd-id: {runs} of VNF instance: {vnfr_id}"));
    }
    if let Some(t) = body.get("timeout_ns_update").and_then(Value::as_i64) {
        if t < 300 {
            return unprocessable(format!("Error in validating ns-update request: {t} second is not enough to upgrade the VNF instance: {vnfr_id}"));
        }
    }
    Ok(())
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
