//! What a real API server does with a custom resource's structural schema on every write
//! (create, update, patch, status): prune fields the schema does not know (or refuse them when
//! the client asks for `fieldValidation=Strict`, as kubectl does), apply `default`s, and validate
//! types, `required`, `enum`, `pattern`, lengths and bounds. The emulator runs it for the OsmSync
//! CRD (crds/) and Flux's source CRDs (tests/fixtures/flux-crds/), so tests see what kubectl
//! users see. Error texts follow the API server's.

use serde_json::{Map, Value};

/// A write the schema refuses: HTTP status, reason and message as the API server gives them.
#[derive(Debug)]
pub struct Refused {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

/// The openAPIV3Schema of `version` in a CRD document (YAML).
pub fn crd_schema(crd_yaml: &str, version: &str) -> Value {
    let crd: Value = serde_saphyr::from_str(crd_yaml).expect("a CRD document");
    crd["spec"]["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .find(|v| v["name"] == version)
        .unwrap_or_else(|| panic!("CRD has no version {version}"))["schema"]["openAPIV3Schema"]
        .clone()
}

/// Prunes, defaults and validates `obj` (a whole object, metadata included) against `schema`.
/// `strict`: unknown fields are an error instead of being dropped.
pub fn admit(schema: &Value, obj: &mut Value, strict: bool, what: &str) -> Result<(), Refused> {
    let mut unknown = Vec::new();
    prune(schema, obj, "", &mut unknown, true);
    if strict && !unknown.is_empty() {
        let list: Vec<String> = unknown
            .iter()
            .map(|p| format!("unknown field \"{p}\""))
            .collect();
        return Err(Refused {
            code: 400,
            reason: "BadRequest",
            message: format!("strict decoding error: {}", list.join(", ")),
        });
    }
    default(schema, obj);
    let mut errors = Vec::new();
    validate(schema, obj, "", &mut errors, true);
    if errors.is_empty() {
        return Ok(());
    }
    Err(Refused {
        code: 422,
        reason: "Invalid",
        message: format!("{what} is invalid: {}", errors.join(", ")),
    })
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn preserves_unknown(schema: &Value) -> bool {
    schema["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true)
}

/// Drops fields the schema does not declare, recording their paths.
fn prune(schema: &Value, v: &mut Value, path: &str, unknown: &mut Vec<String>, root: bool) {
    match v {
        Value::Object(map) => {
            if preserves_unknown(schema) && schema.get("properties").is_none() {
                return;
            }
            let props = schema.get("properties").and_then(|p| p.as_object());
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                // The API server handles metadata, apiVersion and kind itself.
                if root && matches!(k.as_str(), "metadata" | "apiVersion" | "kind") {
                    continue;
                }
                let sub = props.and_then(|p| p.get(&k)).or(additional);
                match sub {
                    Some(s) => prune(
                        s,
                        map.get_mut(&k).expect("key"),
                        &child_path(path, &k),
                        unknown,
                        false,
                    ),
                    None if preserves_unknown(schema) => {}
                    None => {
                        unknown.push(child_path(path, &k));
                        map.remove(&k);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(s, item, &format!("{path}[{i}]"), unknown, false);
                }
            }
        }
        _ => {}
    }
}

/// Fills in `default`s of absent properties, depth first (defaults inside defaults apply too).
fn default(schema: &Value, v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
                for (k, s) in props {
                    if !map.contains_key(k) {
                        if let Some(d) = s.get("default") {
                            map.insert(k.clone(), d.clone());
                        }
                    }
                    if let Some(child) = map.get_mut(k) {
                        default(s, child);
                    }
                }
            }
            if let Some(s) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for child in map.values_mut() {
                    default(s, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for item in items {
                    default(s, item);
                }
            }
        }
        _ => {}
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn validate(schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>, root: bool) {
    let shown = |v: &Value| serde_json::to_string(v).unwrap_or_default();
    if v.is_null() {
        if schema["nullable"] != Value::Bool(true) && schema.get("type").is_some() {
            errors.push(format!(
                "{path}: Invalid value: \"null\": {path} in body must be of type {}: \"null\"",
                schema["type"].as_str().unwrap_or("?")
            ));
        }
        return;
    }
    if let Some(t) = schema.get("type").and_then(|t| t.as_str()) {
        let actual = type_name(v);
        let fits = actual == t || (t == "number" && actual == "integer");
        if !fits {
            errors.push(format!(
                "{path}: Invalid value: \"{actual}\": {path} in body must be of type {t}: \"{actual}\""
            ));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(|e| e.as_array()) {
        if !allowed.contains(v) {
            let list: Vec<String> = allowed.iter().map(&shown).collect();
            errors.push(format!(
                "{path}: Unsupported value: {}: supported values: {}",
                shown(v),
                list.join(", ")
            ));
        }
    }
    match v {
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(max) = schema.get("maxLength").and_then(|m| m.as_u64()) {
                if len > max {
                    errors.push(format!(
                        "{path}: Too long: may not be more than {max} bytes"
                    ));
                }
            }
            if let Some(min) = schema.get("minLength").and_then(|m| m.as_u64()) {
                if len < min {
                    errors.push(format!(
                        "{path}: Invalid value: {}: {path} in body should be at least {min} chars long",
                        shown(v)
                    ));
                }
            }
            if let Some(p) = schema.get("pattern").and_then(|p| p.as_str()) {
                let re = regex::Regex::new(p).expect("schema patterns compile");
                if !re.is_match(s) {
                    errors.push(format!(
                        "{path}: Invalid value: {}: {path} in body should match '{p}'",
                        shown(v)
                    ));
                }
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or_default();
            if let Some(min) = schema.get("minimum").and_then(|m| m.as_f64()) {
                if x < min {
                    errors.push(format!(
                        "{path}: Invalid value: {x}: {path} in body should be greater than or equal to {min}"
                    ));
                }
            }
            if let Some(max) = schema.get("maximum").and_then(|m| m.as_f64()) {
                if x > max {
                    errors.push(format!(
                        "{path}: Invalid value: {x}: {path} in body should be less than or equal to {max}"
                    ));
                }
            }
        }
        Value::Array(items) => {
            if let Some(max) = schema.get("maxItems").and_then(|m| m.as_u64()) {
                if items.len() as u64 > max {
                    errors.push(format!(
                        "{path}: Too many: {}: must have at most {max} items",
                        items.len()
                    ));
                }
            }
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(s, item, &format!("{path}[{i}]"), errors, false);
                }
            }
        }
        Value::Object(map) => validate_object(schema, map, path, errors, root),
        _ => {}
    }
}

fn validate_object(
    schema: &Value,
    map: &Map<String, Value>,
    path: &str,
    errors: &mut Vec<String>,
    root: bool,
) {
    for r in schema
        .get("required")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str())
    {
        if !map.contains_key(r) {
            errors.push(format!("{}: Required value", child_path(path, r)));
        }
    }
    let props = schema.get("properties").and_then(|p| p.as_object());
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    for (k, child) in map {
        if root && matches!(k.as_str(), "metadata" | "apiVersion" | "kind") {
            continue;
        }
        if let Some(s) = props.and_then(|p| p.get(k)).or(additional) {
            validate(s, child, &child_path(path, k), errors, false);
        }
    }
}
