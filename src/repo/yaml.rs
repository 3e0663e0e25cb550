//! YAML as the repository reader takes it: serde-saphyr (maintained, panic-free) into
//! `serde_json::Value`, with budgets that reject hostile input in linear time — deep nesting,
//! alias bombs, node floods — and the strictness users rely on (duplicate keys are errors).

use serde_json::Value;

use super::Limits;

fn options(limits: &Limits) -> serde_saphyr::Options {
    let mut opts = serde_saphyr::Options::default();
    // Line and column are in the message; a source snippet would make status conditions multi-line.
    opts.with_snippet = false;
    opts.duplicate_keys = serde_saphyr::options::DuplicateKeyPolicy::Error;
    // YAML 1.2: only true/false are booleans ("n", "y", "no", "on" stay strings, as in Helm values
    // and in the serde_yaml reader this replaced).
    opts.strict_booleans = true;
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = limits.max_yaml_depth;
    budget.flow_nesting_limit = limits.max_yaml_depth;
    budget.max_aliases = limits.max_yaml_aliases;
    budget.max_nodes = limits.max_yaml_nodes;
    budget.max_reader_input_bytes = usize::try_from(limits.max_yaml_bytes).ok();
    opts.budget = Some(budget);
    // Every alias expansion replays the anchored events: bound the total so that an alias bomb
    // fails after a bounded amount of work instead of after building a huge value.
    opts.alias_limits.max_total_replayed_events = limits.max_yaml_nodes;
    opts
}

/// Every non-empty document of a YAML stream.
pub(crate) fn documents(text: &str, limits: &Limits) -> Result<Vec<Value>, String> {
    serde_saphyr::from_str_multiple_with_options::<Value, Vec<Value>>(text, options(limits))
        .map_err(describe)
}

/// A single-document YAML file (configuration, descriptors); empty is `Null`.
pub(crate) fn document(text: &str, limits: &Limits) -> Result<Value, String> {
    let mut docs = documents(text, limits)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(format!(
            "expected one YAML document, found {n} (separated by '---')"
        )),
    }
}

fn describe(e: serde_saphyr::Error) -> String {
    let text = e.to_string().replace('\n', " ");
    // Budget breaches read as internal names ("Depth { depth: 65 }"): say what the limit is.
    if ["budget breached", "recursion limit", "alias replay limit"]
        .iter()
        .any(|m| text.contains(m))
    {
        return format!(
            "YAML exceeds the reader's limits (nesting depth, aliases or node count; see docs/repository-format.md): {text}"
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn values_keys_and_strictness() {
        let v = document("a: 1\nb: '1'\nc: [x, y, n, yes, on, true]\n", &limits()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": 1, "b": "1", "c": ["x", "y", "n", "yes", "on", true]})
        );
        let err = document("a: 1\na: 2\n", &limits()).unwrap_err();
        assert!(err.contains("duplicate mapping key"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let err = document("a: 1\n---\nb: 2\n", &limits()).unwrap_err();
        assert!(err.contains("found 2"), "{err}");
        assert_eq!(document("", &limits()).unwrap(), Value::Null);
    }

    #[test]
    fn anchors_and_merge_keys_work() {
        let v = document("a: &x {k: 1}\nb: *x\nc:\n  <<: *x\n  j: 2\n", &limits()).unwrap();
        assert_eq!(v["b"]["k"], 1);
        assert_eq!(v["c"]["j"], 2);
        assert_eq!(v["c"]["k"], 1);
    }

    #[test]
    fn hostile_yaml_is_rejected_quickly() {
        let deep_flow = "[".repeat(100_000);
        let deep_block = format!("{}x\n", "- ".repeat(100_000));
        let bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";
        for (name, text) in [
            ("flow", deep_flow.as_str()),
            ("block", deep_block.as_str()),
            ("bomb", bomb),
        ] {
            let err = documents(text, &limits()).unwrap_err();
            assert!(err.contains("exceeds the reader's limits"), "{name}: {err}");
        }
    }
}
