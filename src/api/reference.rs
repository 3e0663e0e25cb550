//! The field reference of docs/osmsync.md, generated from the CRD's schema (`osmops crd
//! --reference`) so the documentation cannot name a field, type or default the API server would
//! not accept. A unit test fails when the committed docs differ.

use serde_json::Value;

/// Where the generated block starts and ends in docs/osmsync.md.
pub const BEGIN: &str =
    "<!-- BEGIN reference generated from the CRD by `osmops crd --reference`; do not edit -->";
pub const END: &str = "<!-- END reference -->";

/// The Spec and Status tables, between [`BEGIN`] and [`END`].
pub fn reference_markdown() -> String {
    let crd = serde_json::to_value(super::crd()).expect("the CRD serializes");
    let root = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"];
    let mut out = format!("{BEGIN}\n");
    for (title, part) in [("Spec", "spec"), ("Status", "status")] {
        out.push_str(&format!(
            "\n### {title}\n\n| field | type | default | description |\n|---|---|---|---|\n"
        ));
        let mut rows = Vec::new();
        walk(&root[part], "", &mut rows);
        for r in rows {
            out.push_str(&r);
            out.push('\n');
        }
    }
    out.push('\n');
    out.push_str(END);
    out.push('\n');
    out
}

fn type_of(s: &Value) -> String {
    if let Some(values) = s["enum"].as_array() {
        return values
            .iter()
            .filter_map(|v| v.as_str())
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(" \\| ");
    }
    match s["type"].as_str() {
        Some("string") if s["pattern"].as_str() == Some(super::DURATION_PATTERN) => {
            "duration (`5m`, `1h30m`; more than 0, at most `8760h`)".into()
        }
        Some("array") => format!("[]{}", type_of(&s["items"])),
        Some("object") if s.get("additionalProperties").is_some_and(|a| a.is_object()) => {
            format!("map[string]{}", type_of(&s["additionalProperties"]))
        }
        Some(t) => t.into(),
        None => "any".into(),
    }
}

fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn bounds(s: &Value) -> String {
    let mut b = Vec::new();
    if let Some(min) = s["minLength"].as_u64() {
        b.push(format!("length ≥ {min}"));
    }
    if let Some(max) = s["maxLength"].as_u64() {
        b.push(format!("length ≤ {max}"));
    }
    if let Some(min) = s["minimum"].as_f64() {
        b.push(format!("≥ {min}"));
    }
    if let Some(max) = s["maximum"].as_f64() {
        b.push(format!("≤ {max}"));
    }
    if b.is_empty() {
        String::new()
    } else {
        format!(" ({})", b.join(", "))
    }
}

/// One row per field, depth first in the schema's (alphabetical) order; objects and arrays of
/// objects are followed by their fields.
fn walk(schema: &Value, prefix: &str, rows: &mut Vec<String>) {
    let Some(props) = schema["properties"].as_object() else {
        return;
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    for (name, s) in props {
        let path = format!("{prefix}{name}");
        let default = match (&s.get("default"), required.contains(&name.as_str())) {
            (Some(d), _) => format!("`{}`", serde_json::to_string(d).unwrap_or_default()),
            (None, true) => "**required**".into(),
            (None, false) => "—".into(),
        };
        rows.push(format!(
            "| `{path}` | {}{} | {default} | {} |",
            type_of(s),
            bounds(s),
            cell(s["description"].as_str().unwrap_or(""))
        ));
        if s["properties"].is_object() {
            walk(s, &format!("{path}."), rows);
        } else if s["type"] == "array" && s["items"]["properties"].is_object() {
            walk(&s["items"], &format!("{path}[]."), rows);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_in_the_docs_is_the_one_the_crd_generates() {
        let docs = include_str!("../../docs/osmsync.md");
        let (Some(start), Some(end)) = (docs.find(BEGIN), docs.find(END)) else {
            panic!("docs/osmsync.md has no generated reference block");
        };
        let committed = &docs[start..end + END.len() + 1];
        assert!(
            committed == reference_markdown(),
            "docs/osmsync.md's reference is stale: replace the block with `cargo run -- crd --reference`"
        );
    }

    #[test]
    fn every_field_the_crd_accepts_is_documented_with_its_exact_name() {
        let md = reference_markdown();
        for field in [
            "`osm.insecureSkipTlsVerify`",
            "`sourceRef.kind`",
            "`dependsOn[].name`",
            "`remediation.upgrade.strategy`",
            "`history[].totalReconciliations`",
            "`operations[].nslcmopId`",
            "`adopt`",
            "`inventory.nsInstances[].adopted`",
            "`inventory.packages[].tagged`",
        ] {
            assert!(md.contains(field), "{field} missing:\n{md}");
        }
        assert!(!md.contains("insecureSkipTLSVerify"));
        assert!(
            md.contains("| `interval` | duration (`5m`, `1h30m`; more than 0, at most `8760h`) (length ≤ 64) | **required** |"),
            "{md}"
        );
    }
}
