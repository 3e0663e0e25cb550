//! An NsInstance's `config`: OSM's instantiation parameters (NBI `ns_instantiate`, what
//! `osm ns-create --config` takes), checked against OSM's own schema (`osm::schema`) before
//! anything is sent, with the fields OSM Ops sets itself kept out and VIM accounts named by name.

use serde_json::{Map, Value};

use super::nsinstance::VNF_VIM_ACCOUNT_NAME;
use super::Problem;
use crate::osm::schema::{check_object, NS_INSTANTIATE};

/// `ns_instantiate` fields the document sets elsewhere, and where.
const SET_ELSEWHERE: [(&str, &str); 9] = [
    ("nsName", "the document's name"),
    ("nsdId", "nsdName"),
    ("vimAccountId", "vimAccountName"),
    ("nsDescription", "description"),
    ("lcmOperationType", "OSM Ops"),
    ("nsInstanceId", "OSM"),
    ("nsr_id", "OSM"),
    (
        "netsliceInstanceId",
        "OSM (network slices are not managed by OSM Ops)",
    ),
    (
        "nsConfigTemplateId",
        "config itself (OSM Ops sends the parameters, not a template)",
    ),
];

/// A UUID standing in for ids OSM Ops fills in when it sends the request.
const PLACEHOLDER_ID: &str = "00000000-0000-4000-8000-000000000000";

/// Checks `config` and records what is wrong, each problem naming its field as
/// `config.vld[0].ip-profile.subnet-address`.
pub(crate) fn check_config(file: &str, config: &Map<String, Value>, problems: &mut Vec<Problem>) {
    let before = problems.len();
    for (key, owner) in SET_ELSEWHERE {
        if config.contains_key(key) {
            problems.push(Problem::new(
                file,
                Some(&format!("config.{key}")),
                format!("is set from {owner}, not in config"),
            ));
        }
    }
    for (i, vnf) in list(config, "vnf").iter().enumerate() {
        if vnf.get("vimAccountId").is_some() {
            problems.push(Problem::new(
                file,
                Some(&format!("config.vnf[{i}].vimAccountId")),
                format!("name the member's VIM account with {VNF_VIM_ACCOUNT_NAME}: OSM Ops resolves it to its id"),
            ));
        }
        if let Some(v) = vnf.get(VNF_VIM_ACCOUNT_NAME) {
            if v.as_str().is_none_or(|s| s.trim().is_empty()) {
                problems.push(Problem::new(
                    file,
                    Some(&format!("config.vnf[{i}].{VNF_VIM_ACCOUNT_NAME}")),
                    "must be a non-empty string: a VIM account name",
                ));
            }
        }
    }
    for (i, vnf) in list(config, "additionalParamsForVnf").iter().enumerate() {
        if vnf.get("additionalParamsForKdu").is_some() {
            problems.push(Problem::new(
                file,
                Some(&format!("config.additionalParamsForVnf[{i}].additionalParamsForKdu")),
                "declare KDU params and models in kdus: there OSM Ops can upgrade them on a running NS",
            ));
        }
    }
    if problems.len() > before {
        return;
    }
    let request = request_with_placeholders(config);
    if let Some(v) = check_object(&NS_INSTANTIATE, &Value::Object(request), repr) {
        problems.push(Problem::new(
            file,
            Some(&field_path(&v.path)),
            format!("OSM's ns_instantiate schema refuses it: {}", v.message),
        ));
    }
}

/// The request OSM would get for `config`, with placeholders for what OSM Ops fills in.
fn request_with_placeholders(config: &Map<String, Value>) -> Map<String, Value> {
    let mut request = config.clone();
    for key in ["nsName", "nsdId", "vimAccountId"] {
        let v = if key == "nsName" { "x" } else { PLACEHOLDER_ID };
        request.insert(key.into(), Value::String(v.into()));
    }
    if let Some(Value::Array(vnfs)) = request.get_mut("vnf") {
        for vnf in vnfs.iter_mut().filter_map(Value::as_object_mut) {
            if vnf.remove(VNF_VIM_ACCOUNT_NAME).is_some() {
                vnf.insert("vimAccountId".into(), PLACEHOLDER_ID.into());
            }
        }
    }
    request
}

fn list<'a>(config: &'a Map<String, Value>, key: &str) -> Vec<&'a Map<String, Value>> {
    config
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .collect()
}

/// `["vld", "0", "name"]` → `config.vld[0].name`.
fn field_path(path: &[String]) -> String {
    let mut out = String::from("config");
    for p in path {
        if p.parse::<usize>().is_ok() {
            out.push_str(&format!("[{p}]"));
        } else {
            out.push('.');
            out.push_str(p);
        }
    }
    out
}

/// Values as YAML users wrote them: strings quoted, the rest as JSON.
fn repr(v: &Value) -> String {
    match v {
        Value::Object(_) => "the mapping".into(),
        Value::Array(_) => "the list".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(config: Value) -> Vec<Problem> {
        let mut out = Vec::new();
        check_config("f.yaml", config.as_object().unwrap(), &mut out);
        out
    }

    #[test]
    fn a_vm_nss_config_passes() {
        let p = problems(json!({
            "vld": [{"name": "mgmtnet", "vim-network-name": "mgmt"}],
            "vnf": [{"member-vnf-index": "vnf1", "vimAccountName": "edge-vim",
                     "vdu": [{"id": "web", "interface": [{"name": "eth0", "floating-ip-required": true}]}]}],
            "additionalParamsForVnf": [{"member-vnf-index": "vnf1",
                "additionalParamsForVdu": [{"vdu_id": "web", "additionalParams": {"motd": "hi"}}]}],
            "timeout_ns_deploy": 1800,
        }));
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn osms_schema_refusals_name_the_field() {
        let p =
            problems(json!({"vld": [{"name": "mgmtnet", "ip-profile": {"ip-version": "ipv5"}}]}));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(
            p[0].field.as_deref(),
            Some("config.vld[0].ip-profile.ip-version")
        );
        assert!(p[0].message.contains("\"ipv5\" is not one of"), "{p:?}");
        let p = problems(json!({"ssh_keys": "ssh-rsa AAA"}));
        assert_eq!(p[0].field.as_deref(), Some("config.ssh_keys"));
        let p = problems(
            json!({"vnf": [{"member-vnf-index": "vnf1", "vdu": [{"id": "w", "flavor": "x"}]}]}),
        );
        assert_eq!(p[0].field.as_deref(), Some("config.vnf[0].vdu[0]"));
        assert!(p[0].message.contains("'flavor' was unexpected"), "{p:?}");
    }

    #[test]
    fn what_the_document_sets_elsewhere_is_refused_with_the_place_to_set_it() {
        let p = problems(json!({"vimAccountId": "x", "nsName": "y",
            "vnf": [{"member-vnf-index": "vnf1", "vimAccountId": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}],
            "additionalParamsForVnf": [{"member-vnf-index": "vnf1", "additionalParamsForKdu": [{"kdu_name": "k", "additionalParams": {}}]}]}));
        let fields: Vec<_> = p.iter().filter_map(|p| p.field.as_deref()).collect();
        assert_eq!(
            fields,
            [
                "config.nsName",
                "config.vimAccountId",
                "config.vnf[0].vimAccountId",
                "config.additionalParamsForVnf[0].additionalParamsForKdu"
            ]
        );
        assert!(p[1].message.contains("vimAccountName"), "{p:?}");
    }
}
