//! What current OSM's NBI accepts in a descriptor beyond its envelope, checked before anything is
//! sent so that a repository OSM would refuse fails validation (exit 2, `ValidationFailed`)
//! instead of with a 422 in the middle of an apply:
//!
//! - the top-level fields of a SOL006 VNFD / NSD and of a VNFD's `kdu` entries, as OSM's
//!   pyangbind validation knows them (it refuses any other key: "JSON object contained a key that
//!   did not exist"). The lists are those of the bindings OSM builds from ETSI SOL006 v2.6.1 and
//!   its own augments (OSM IM, `osm_im.etsi_nfv_vnfd` / `etsi_nfv_nsd`), read from the bindings
//!   generated for OSM's own NBI; only these levels are checked here, OSM checks the whole tree;
//! - a KDU's `helm-chart` (`validate_helm_chart` in NBI `osm_nbi/descriptor_topics.py`).

use serde_json::{Map, Value};

/// `vnfd` container elements of OSM's SOL006 bindings (`osm_im.etsi_nfv_vnfd`).
const VNFD_FIELDS: &[&str] = &[
    "auto-scale",
    "configurable-properties",
    "default-localization-language",
    "description",
    "df",
    "element-group",
    "ext-cpd",
    "id",
    "indicator",
    "int-virtual-link-desc",
    "k8s-cluster",
    "kdu",
    "lifecycle-management-script",
    "localization-language",
    "mgmt-cp",
    "modifiable-attributes",
    "product-info-description",
    "product-info-name",
    "product-name",
    "provider",
    "security-group-rule",
    "software-version",
    "sw-image-desc",
    "vdu",
    "version",
    "vip",
    "virtual-compute-desc",
    "virtual-storage-desc",
    "vnfm-info",
];

/// `nsd/nsd` list entry elements of OSM's SOL006 bindings (`osm_im.etsi_nfv_nsd`).
const NSD_FIELDS: &[&str] = &[
    "algorithm",
    "autoscale-rule",
    "certificate",
    "description",
    "designer",
    "df",
    "id",
    "invariant-id",
    "lifecycle-management-script",
    "name",
    "nested-nsd-id",
    "ns-configuration",
    "pnfd-id",
    "sapd",
    "signature",
    "version",
    "virtual-link-desc",
    "vnfd-id",
    "vnffgd",
];

/// `vnfd/kdu` list entry elements (OSM's augment of SOL006).
const KDU_FIELDS: &[&str] = &[
    "description",
    "helm-chart",
    "helm-version",
    "juju-bundle",
    "name",
    "service",
];

/// Fields of the old OSM information model (OSM 8 and earlier) that users carry over most: named
/// as such in the error.
const OLD_IM_FIELDS: &[&str] = &[
    "connection-point",
    "constituent-vnfd",
    "logo",
    "mgmt-interface",
    "short-name",
    "vendor",
    "vld",
    "vnf-configuration",
];

fn unknown_field(kind: &str, map: &Map<String, Value>, known: &[&str]) -> Result<(), String> {
    // The first unknown key by name (OSM reports the first in document order; the reader keeps
    // no order, and either names a key OSM refuses).
    let Some(key) = map.keys().find(|k| {
        let k = k.strip_prefix("etsi-nfv-vnfd:").unwrap_or(k);
        let k = k.strip_prefix("etsi-nfv-nsd:").unwrap_or(k);
        !known.contains(&k)
    }) else {
        return Ok(());
    };
    let old = if OLD_IM_FIELDS.contains(&key.as_str()) {
        " (a field of the old OSM information model, OSM 8 and earlier; OSM 9 and later take SOL006 descriptors only)"
    } else {
        ""
    };
    Err(format!(
        "field '{key}' is not part of a SOL006 {kind}{old}: OSM's descriptor validation refuses it (\"JSON object contained a key that did not exist ({key})\")"
    ))
}

/// Checks a VNFD (envelope removed) as current OSM's NBI would.
pub(crate) fn check_vnfd(desc: &Map<String, Value>) -> Result<(), String> {
    unknown_field("VNFD", desc, VNFD_FIELDS)?;
    for kdu in desc
        .get("kdu")
        .and_then(|k| k.as_array())
        .into_iter()
        .flatten()
    {
        let Some(kdu) = kdu.as_object() else { continue };
        let name = kdu.get("name").and_then(|n| n.as_str()).unwrap_or("?");
        unknown_field("KDU", kdu, KDU_FIELDS).map_err(|e| format!("kdu '{name}': {e}"))?;
        if let Some(chart) = kdu.get("helm-chart") {
            let chart = chart
                .as_str()
                .ok_or_else(|| format!("kdu '{name}': helm-chart must be a string"))?;
            if !osm_accepts_helm_chart(chart) {
                return Err(helm_chart_refused(name, chart));
            }
        }
    }
    Ok(())
}

/// Checks an NSD (the one `nsd` list entry) as current OSM's NBI would.
pub(crate) fn check_nsd(desc: &Map<String, Value>) -> Result<(), String> {
    unknown_field("NSD", desc, NSD_FIELDS)
}

fn helm_chart_refused(kdu: &str, chart: &str) -> String {
    let hint = match chart.rsplit_once(':') {
        Some((base, _version)) if osm_accepts_helm_chart(base) => format!(
            "write `helm-chart: {base}` in the descriptor and the version in each NsInstance that uses the KDU: `kdu.model: {chart}` (OSM's kdu_model, which every OSM release since 8 takes and splits at ':' into chart and version)"
        ),
        _ => "use `[repo/]name` in lowercase letters, digits and '-', or a chart URL".to_owned(),
    };
    format!(
        "kdu '{kdu}': helm-chart '{chart}' is not valid in current OSM, which refuses it with 422 (`valid_helm_chart_re` in NBI osm_nbi/descriptor_topics.py: `[repo/]name` of lowercase letters, digits and '-', no ':version', no '.'; OSM Release 10 still accepted a ':version' suffix): {hint}"
    )
}

/// OSM's `valid_helm_chart_re`, `^[a-z0-9]([-a-z0-9]*[a-z0-9]/)?([a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
/// (matched from the start, as Python's `re.match`), or a URL with a scheme and a host.
pub(crate) fn osm_accepts_helm_chart(chart: &str) -> bool {
    if is_url(chart) {
        return true;
    }
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let word = |c: char| alnum(c) || c == '-';
    // `[a-z0-9]([-a-z0-9]*[a-z0-9])?` repeated: empty, or [-a-z0-9]+ starting and ending alnum.
    let segments = |s: &str| {
        s.is_empty() || (s.chars().all(word) && s.starts_with(alnum) && s.ends_with(alnum))
    };
    let mut chars = chart.chars();
    if !chars.next().is_some_and(alnum) {
        return false;
    }
    let rest = chars.as_str();
    match rest.split_once('/') {
        // `[-a-z0-9]*[a-z0-9]/`: at least one character before the slash, ending alnum.
        Some((repo_tail, name)) => {
            !repo_tail.is_empty()
                && repo_tail.chars().all(word)
                && repo_tail.ends_with(alnum)
                && segments(name)
        }
        None => segments(rest),
    }
}

/// Python's `urlparse(url)` having both a scheme and a network location.
fn is_url(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    scheme_ok && !host.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn helm_charts_as_current_osm_takes_them() {
        for ok in [
            "stable/openldap",
            "bitnami/redis",
            "openldap",
            "a",
            "ab/",
            "my-repo/my-chart",
            "https://charts.example.com/openldap-1.2.7.tgz",
            "oci://registry.example/charts/x",
        ] {
            assert!(osm_accepts_helm_chart(ok), "{ok}");
        }
        for bad in [
            "stable/openldap:1.2.7",
            "bitnami/redis:17.11.3",
            "Stable/openldap",
            "stable/open_ldap",
            "stable/openldap-",
            "-x",
            "a/b",
            "x/",
            "a/b/c",
            "chart.tgz",
            "",
        ] {
            assert!(!osm_accepts_helm_chart(bad), "{bad}");
        }
    }

    #[test]
    fn the_matcher_is_osms_regex() {
        use proptest::strategy::{Strategy, ValueTree};
        let re =
            regex::Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9]/)?([a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
                .unwrap();
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = "[-a-c0-1/:.A_]{0,8}";
        for _ in 0..20_000 {
            let s = strategy.new_tree(&mut runner).unwrap().current();
            // OSM: `valid_helm_chart_re.match(v) or is_url(v)`.
            assert_eq!(
                osm_accepts_helm_chart(&s),
                re.is_match(&s) || is_url(&s),
                "{s:?}"
            );
        }
    }

    #[test]
    fn the_refusal_names_osms_rule_and_the_fix() {
        let vnfd =
            json!({"id": "x", "kdu": [{"name": "ldap", "helm-chart": "stable/openldap:1.2.7"}]});
        let err = check_vnfd(vnfd.as_object().unwrap()).unwrap_err();
        assert!(err.contains("valid_helm_chart_re"), "{err}");
        assert!(err.contains("helm-chart: stable/openldap"), "{err}");
        assert!(err.contains("kdu.model: stable/openldap:1.2.7"), "{err}");
    }

    #[test]
    fn old_model_and_unknown_fields_are_named() {
        let old = json!({"id": "x", "mgmt-interface": {"cp": "mgmt"}, "connection-point": []});
        let err = check_vnfd(old.as_object().unwrap()).unwrap_err();
        assert!(
            err.contains("'connection-point'") && err.contains("old OSM information model"),
            "{err}"
        );
        let typo = json!({"id": "x", "product_name": "y"});
        let err = check_vnfd(typo.as_object().unwrap()).unwrap_err();
        assert!(err.contains("'product_name'"), "{err}");
        let kdu =
            json!({"id": "x", "kdu": [{"name": "k", "helm-chart": "a1", "chart-version": "1"}]});
        assert!(check_vnfd(kdu.as_object().unwrap())
            .unwrap_err()
            .contains("kdu 'k': field 'chart-version'"));
        let nsd = json!({"id": "n", "constituent-vnfd": []});
        assert!(check_nsd(nsd.as_object().unwrap())
            .unwrap_err()
            .contains("old OSM information model"));
        let good = json!({"id": "x", "product-name": "x", "provider": "p", "version": "1", "df": [], "kdu": [{"name": "k", "helm-chart": "stable/k"}]});
        assert!(check_vnfd(good.as_object().unwrap()).is_ok());
    }
}
