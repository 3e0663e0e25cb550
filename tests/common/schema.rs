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
                if !pattern_matches(p, s) {
                    errors.push(format!(
                        "{path}: Invalid value: {}: {path} in body should match '{p}'",
                        shown(v)
                    ));
                }
            }
            for rule in schema
                .get("x-kubernetes-validations")
                .and_then(|r| r.as_array())
                .into_iter()
                .flatten()
            {
                let text = rule["rule"].as_str().expect("a CEL rule");
                match cel_string_rule(text, s) {
                    Ok(true) => {}
                    Ok(false) => errors.push(format!(
                        "{path}: Invalid value: \"string\": {}",
                        rule["message"]
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| format!("failed rule: {text}"))
                    )),
                    Err(e) => errors.push(format!(
                        "{path}: Invalid value: \"string\": {text}: evaluation error: {e}"
                    )),
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

/// The part of CEL (Kubernetes `x-kubernetes-validations`) the OsmSync CRD uses on strings:
/// `duration(self) <op> duration('<literal>')` terms joined by `&&`. Any other rule is not
/// evaluated but refused loudly, so a new rule cannot pass unchecked here.
fn cel_string_rule(rule: &str, value: &str) -> Result<bool, String> {
    let mut all = true;
    for term in rule.split("&&") {
        let term = term.trim();
        let rest = term
            .strip_prefix("duration(self)")
            .unwrap_or_else(|| panic!("the emulator does not evaluate the CEL rule '{rule}'"))
            .trim_start();
        let (op, rest) = ["<=", ">=", "==", "!=", "<", ">"]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|r| (*op, r.trim())))
            .unwrap_or_else(|| panic!("the emulator does not evaluate the CEL rule '{rule}'"));
        let literal = rest
            .strip_prefix("duration('")
            .and_then(|r| r.strip_suffix("')"))
            .unwrap_or_else(|| panic!("the emulator does not evaluate the CEL rule '{rule}'"));
        let a = go_parse_duration(value)?;
        let b = go_parse_duration(literal).expect("the rule's literal is a duration");
        all &= match op {
            "<=" => a <= b,
            ">=" => a >= b,
            "==" => a == b,
            "!=" => a != b,
            "<" => a < b,
            _ => a > b,
        };
    }
    Ok(all)
}

/// Go's `time.ParseDuration` (what CEL's `duration()` uses), in nanoseconds: an optional sign,
/// then `[digits][.digits]unit` repeated in any order (units ns, us, µs, μs, ms, s, m, h), or
/// "0"; more than 2^63-1 nanoseconds is an error. Written from Go's documentation and source,
/// independently of the controller's parser, so the two can be checked against each other.
pub fn go_parse_duration(s: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration \"{s}\"");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        if !(rest.starts_with('.') || rest.as_bytes()[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_digits = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_digits = "";
        if let Some(f) = rest.strip_prefix('.') {
            let n = f.bytes().take_while(u8::is_ascii_digit).count();
            frac_digits = &f[..n];
            rest = &f[n..];
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("time: missing unit in duration \"{s}\"")),
            u => return Err(format!("time: unknown unit \"{u}\" in duration \"{s}\"")),
        };
        let mut whole: i128 = 0;
        for d in int_digits.bytes() {
            whole = whole * 10 + i128::from(d - b'0');
            if whole > i128::from(i64::MAX) {
                return Err(invalid());
            }
        }
        let mut v = whole * scale;
        let mut f_scale = scale;
        for d in frac_digits.bytes() {
            f_scale /= 10;
            if f_scale == 0 {
                break;
            }
            v += i128::from(d - b'0') * f_scale;
        }
        total += v;
        if total > i128::from(i64::MAX) {
            return Err(invalid());
        }
    }
    Ok(if neg { -total } else { total })
}

/// `pattern` as the API server applies it, each pattern compiled once per thread.
fn pattern_matches(pattern: &str, s: &str) -> bool {
    thread_local! {
        static COMPILED: std::cell::RefCell<std::collections::HashMap<String, regex::Regex>> =
            Default::default();
    }
    COMPILED.with(|c| {
        c.borrow_mut()
            .entry(pattern.to_owned())
            .or_insert_with(|| regex::Regex::new(pattern).expect("schema patterns compile"))
            .is_match(s)
    })
}
