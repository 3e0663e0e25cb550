//! What OSM's NBI refuses in an NS create (`ns_instantiate` in `osm_nbi/validation.py`, with
//! its jsonschema texts).

use super::*;
use crate::osm::schema::{check, check_object, Schema, NS_INSTANTIATE};

/// NBI `name_schema`: a string of 1 to 255 characters without `,;()'"`.
pub(super) fn name_schema_error(v: &Value) -> Option<String> {
    check(&Schema::Name, v, py_repr).map(|v| v.message)
}

pub(super) fn unexpected_key(m: &Map<String, Value>, allowed: &[&str]) -> Option<String> {
    m.keys()
        .find(|k| !allowed.contains(&k.as_str()))
        .map(|k| format!("Additional properties are not allowed ('{k}' was unexpected)"))
}

/// `ns_instantiate` as the NBI's jsonschema validation applies it, with its messages (the
/// offending value in Python's notation): OSM's schema as `osm::schema` writes it down, shared
/// with the repository reader.
pub(super) fn validate_ns_instantiate(body: &Map<String, Value>) -> Result<(), Reply> {
    match check_object(&NS_INSTANTIATE, &Value::Object(body.clone()), py_repr) {
        Some(v) => Err(format_error(&v.nbi_path(), v.message)),
        None => Ok(()),
    }
}
