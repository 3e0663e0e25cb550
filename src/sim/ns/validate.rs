//! What OSM's NBI refuses in an NS create (`ns_instantiate` in `osm_nbi/validation.py`, with
//! its jsonschema texts).

use super::*;
use crate::osm::schema::{check_object, NS_INSTANTIATE};

/// `ns_instantiate`'s properties (NBI `osm_nbi/validation.py`); `additionalProperties: False`.
const NS_INSTANTIATE_KEYS: [&str; 21] = [
    "lcmOperationType",
    "nsInstanceId",
    "netsliceInstanceId",
    "nsName",
    "nsDescription",
    "nsdId",
    "vimAccountId",
    "nsConfigTemplateId",
    "wimAccountId",
    "placement-engine",
    "placement-constraints",
    "additionalParamsForNs",
    "additionalParamsForVnf",
    "config-units",
    "k8s-namespace",
    "ssh_keys",
    "timeout_ns_deploy",
    "nsr_id",
    "vduImage",
    "vnf",
    "vld",
];

pub(super) fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

/// NBI `name_schema`: a string of 1 to 255 characters without `,;()'"`.
pub(super) fn name_schema_error(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s.is_empty() => Some(format!("{} is too short", py_repr(v))),
        Value::String(s) if s.chars().count() > 255 => Some(format!("{} is too long", py_repr(v))),
        Value::String(s) if s.chars().any(|c| ",;()'\"".contains(c)) => {
            Some(format!("{} does not match '^[^,;()\\'\"]+$'", py_repr(v)))
        }
        Value::String(_) => None,
        other => Some(format!("{} is not of type 'string'", py_repr(other))),
    }
}

pub(super) fn unexpected_key(m: &Map<String, Value>, allowed: &[&str]) -> Option<String> {
    m.keys()
        .find(|k| !allowed.contains(&k.as_str()))
        .map(|k| format!("Additional properties are not allowed ('{k}' was unexpected)"))
}

/// `ns_instantiate` as the NBI's jsonschema validation applies it, with its messages (the
/// offending value in Python's notation).
pub(super) fn validate_ns_instantiate(body: &Map<String, Value>) -> Result<(), Reply> {
    if let Some(msg) = unexpected_key(body, &NS_INSTANTIATE_KEYS) {
        return Err(format_error("", msg));
    }
    for req in ["nsName", "nsdId", "vimAccountId"] {
        if !body.contains_key(req) {
            return Err(format_error("", format!("'{req}' is a required property")));
        }
    }
    if let Some(msg) = name_schema_error(&body["nsName"]) {
        return Err(format_error("nsName", msg));
    }
    for k in ["nsdId", "vimAccountId"] {
        match &body[k] {
            Value::String(v) if is_uuid(v) => {}
            Value::String(v) => {
                return Err(format_error(k, format!("'{v}' does not match '^[a-fA-F0-9]{{8}}(-[a-fA-F0-9]{{4}}){{3}}-[a-fA-F0-9]{{12}}$'")))
            }
            other => {
                return Err(format_error(
                    k,
                    format!("{} is not of type 'string'", py_repr(other)),
                ))
            }
        }
    }
    // `{"oneOf": [description_schema, null_schema]}`; description_schema's type is
    // ["string", "null"] too, so null matches both and is refused (a quirk of OSM's schema).
    match body.get("nsDescription") {
        None => {}
        Some(Value::String(s))
            if !s.is_empty()
                && s.chars().count() <= 255
                && !s.contains('"')
                && !s.contains('\'') => {}
        Some(Value::Null) => {
            return Err(format_error(
                "nsDescription",
                "None is valid under each of {'type': 'null'}, {'type': ['string', 'null'], 'maxLength': 255, 'pattern': '^[^\\'\"]+$'}",
            ))
        }
        Some(v) => {
            return Err(format_error(
                "nsDescription",
                format!("{} is not valid under any of the given schemas", py_repr(v)),
            ))
        }
    }
    // The rest of `ns_instantiate` (vld, vnf, additionalParamsForVnf, ...), as OSM's schema
    // says it (`osm::schema`, shared with the repository reader).
    if let Some(v) = check_object(&NS_INSTANTIATE, &Value::Object(body.clone()), py_repr) {
        return Err(format_error(&v.nbi_path(), v.message));
    }
    Ok(())
}
