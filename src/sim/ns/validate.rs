//! What OSM's NBI refuses in an NS create (`ns_instantiate` in `osm_nbi/validation.py`, with
//! its jsonschema texts).

use super::*;

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

/// `additional_params_for_vnf` items' `additionalParamsForKdu` items (NBI `validation.py`).
const KDU_PARAMS_KEYS: [&str; 6] = [
    "kdu_name",
    "additionalParams",
    "kdu_model",
    "k8s-namespace",
    "config-units",
    "kdu-deployment-name",
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
    if let Some(vnfs) = body.get("additionalParamsForVnf") {
        let list = vnfs.as_array().ok_or_else(|| {
            format_error(
                "additionalParamsForVnf",
                format!("{} is not of type 'array'", py_repr(vnfs)),
            )
        })?;
        for (i, vnf) in list.iter().enumerate() {
            let path = format!("additionalParamsForVnf:{i}");
            let m = vnf.as_object().ok_or_else(|| {
                format_error(&path, format!("{} is not of type 'object'", py_repr(vnf)))
            })?;
            if !m.contains_key("member-vnf-index") {
                return Err(format_error(
                    &path,
                    "'member-vnf-index' is a required property",
                ));
            }
            if m.len() < 2 {
                return Err(format_error(
                    &path,
                    format!("{} does not have enough properties", py_repr(vnf)),
                ));
            }
            if let Some(p) = m.get("additionalParams").filter(|p| !p.is_object()) {
                return Err(format_error(
                    &format!("{path}:additionalParams"),
                    format!("{} is not of type 'object'", py_repr(p)),
                ));
            }
            for (j, kdu) in m
                .get("additionalParamsForKdu")
                .and_then(|k| k.as_array())
                .into_iter()
                .flatten()
                .enumerate()
            {
                let kpath = format!("{path}:additionalParamsForKdu:{j}");
                let km = kdu.as_object().ok_or_else(|| {
                    format_error(&kpath, format!("{} is not of type 'object'", py_repr(kdu)))
                })?;
                if let Some(msg) = unexpected_key(km, &KDU_PARAMS_KEYS) {
                    return Err(format_error(&kpath, msg));
                }
                if !km.contains_key("kdu_name") {
                    return Err(format_error(&kpath, "'kdu_name' is a required property"));
                }
                if km.len() < 2 {
                    return Err(format_error(
                        &kpath,
                        format!("{} does not have enough properties", py_repr(kdu)),
                    ));
                }
                if let Some(p) = km.get("additionalParams").filter(|p| !p.is_object()) {
                    return Err(format_error(
                        &format!("{kpath}:additionalParams"),
                        format!("{} is not of type 'object'", py_repr(p)),
                    ));
                }
                for key in ["kdu_name", "kdu_model"] {
                    if let Some(msg) = km.get(key).and_then(name_schema_error) {
                        return Err(format_error(&format!("{kpath}:{key}"), msg));
                    }
                }
            }
        }
    }
    Ok(())
}
