//! `kind: NsInstance` documents: the original OSM Ops schema, validated strictly so that a typo
//! is an error naming file and field rather than a silently ignored key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::fs::{Entry, Kind, RepoFs, Visited};
use super::{yaml, Limits, Problem};

pub const NS_INSTANCE_KIND: &str = "NsInstance";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kdu {
    pub name: String,
    /// Helm values for the KDU; `None` when the document has no `params`.
    pub params: Option<Map<String, Value>>,
    /// The chart and version OSM deploys, e.g. `stable/openldap:1.2.7` (OSM's `kdu_model`): sent
    /// with the instantiate and with every upgrade, so that the chart version is Git's. `None`:
    /// the descriptor's `helm-chart`, which current OSM refuses to carry a version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NsInstance {
    pub name: String,
    pub description: Option<String>,
    pub nsd_name: String,
    /// The member VNF index (vnf-profile id) the KDU belongs to.
    pub vnf_name: String,
    pub vim_account_name: String,
    pub kdu: Kdu,
    /// File the document came from, relative to the repository root.
    pub source: String,
}

impl NsInstance {
    /// Digest of everything that determines what OSM should run, recorded in the inventory.
    pub fn digest(&self) -> String {
        let canonical = serde_json::json!({
            "name": self.name,
            "description": self.description,
            "nsdName": self.nsd_name,
            "vnfName": self.vnf_name,
            "vimAccountName": self.vim_account_name,
            "kdu": {"name": self.kdu.name, "params": self.kdu.params},
        });
        // Documents without a model keep the digest they always had (inventories record it).
        let mut canonical = canonical;
        if let Some(m) = &self.kdu.model {
            canonical["kdu"]["model"] = Value::String(m.clone());
        }
        // serde_json's Map is a BTreeMap here (no preserve_order feature), so keys are sorted.
        let bytes = serde_json::to_vec(&canonical).expect("JSON values always serialize");
        format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
    }

    /// The Helm values to send to OSM: an object, never null (the NBI rejects
    /// `primitive_params: null`).
    pub fn params_or_empty(&self) -> Map<String, Value> {
        self.kdu.params.clone().unwrap_or_default()
    }

    /// What OSM is asked to run the KDU with, as OSM records it in an upgrade's
    /// `primitive_params`: the Helm values, plus `kdu_model` when the document names a model.
    /// This is what is compared with OSM's operation history.
    pub fn requested_params(&self) -> Map<String, Value> {
        let mut p = self.params_or_empty();
        if let Some(m) = &self.kdu.model {
            p.insert(
                crate::model::KDU_MODEL_PARAM.to_owned(),
                Value::String(m.clone()),
            );
        }
        p
    }
}

/// Characters the NBI's `ns_instantiate` schema refuses in `nsName` (osm-nbi.md §7.2).
const FORBIDDEN_NAME_CHARS: [char; 6] = [',', ';', '(', ')', '\'', '"'];

pub(crate) fn check_ns_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 255 {
        return Err("must be 1 to 255 characters long".into());
    }
    if let Some(c) = name.chars().find(|c| FORBIDDEN_NAME_CHARS.contains(c)) {
        return Err(format!(
            "contains '{c}', which OSM does not accept in NS names"
        ));
    }
    Ok(())
}

/// Scans `target` recursively for files ending with one of `extensions` and parses every document.
pub(crate) fn read_ns_instances(
    fs: &RepoFs,
    target: &Entry,
    extensions: &[String],
    limits: &Limits,
    problems: &mut Vec<Problem>,
) -> Vec<NsInstance> {
    let mut files = Vec::new();
    Scan {
        fs,
        extensions,
        visited: Visited::default(),
        budget: limits.max_scanned_entries,
        files: &mut files,
        problems,
    }
    .folder(target);
    let mut out: Vec<NsInstance> = Vec::new();
    for file in files {
        let rel = fs.rel(&file.path);
        match fs.read_text(&file, limits.max_yaml_bytes) {
            Ok(text) => out.extend(parse_documents(&rel, &text, limits, problems)),
            Err(p) => problems.push(p),
        }
    }
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for ns in &out {
        by_name.entry(&ns.name).or_default().push(&ns.source);
    }
    for (name, sources) in by_name.iter().filter(|(_, s)| s.len() > 1) {
        for src in sources {
            problems.push(Problem::new(
                *src,
                Some("name"),
                format!(
                    "NS instance name '{name}' is declared {} times (in {}); names must be unique",
                    sources.len(),
                    sources.join(", ")
                ),
            ));
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// One recursive scan for NsInstance files, with a bound on how much of the tree it walks.
struct Scan<'a> {
    fs: &'a RepoFs,
    extensions: &'a [String],
    visited: Visited,
    budget: usize,
    files: &'a mut Vec<Entry>,
    problems: &'a mut Vec<Problem>,
}

impl Scan<'_> {
    fn folder(&mut self, dir: &Entry) {
        if !self.visited.first_visit(dir) {
            self.problems.push(Problem::new(
                self.fs.rel(&dir.path),
                None,
                "reaches, through a symbolic link, a folder that is already read (a link loop, or a second path to one folder)",
            ));
            return;
        }
        let entries = match self.fs.list(dir) {
            Ok(e) => e,
            Err(p) => {
                self.problems.push(p);
                return;
            }
        };
        for (name, entry) in entries {
            // Packages are read separately; VCS metadata is never desired state.
            if name == super::PACKAGES_DIR || name == ".git" {
                continue;
            }
            if self.budget == 0 {
                self.problems.push(Problem::new(
                    self.fs.rel(&dir.path),
                    None,
                    "the repository has more files and folders than the reader scans (see --max-scanned-entries)",
                ));
                return;
            }
            self.budget -= 1;
            let entry = match entry {
                Ok(e) => e,
                Err(p) => {
                    self.problems.push(p);
                    continue;
                }
            };
            let wanted = self
                .extensions
                .iter()
                .any(|ext| name.ends_with(ext.as_str()));
            match entry.kind {
                Kind::Dir => self.folder(&entry),
                Kind::File if wanted => self.files.push(entry),
                Kind::Other if wanted => self.problems.push(Problem::new(
                    self.fs.rel(&entry.path),
                    None,
                    "is not a regular file",
                )),
                _ => {}
            }
        }
    }
}

/// Parses every YAML document of one file; empty documents are skipped.
pub(crate) fn parse_documents(
    file: &str,
    text: &str,
    limits: &Limits,
    problems: &mut Vec<Problem>,
) -> Vec<NsInstance> {
    let docs = match yaml::documents(text, limits) {
        Ok(d) => d,
        Err(e) => {
            problems.push(Problem::new(file, None, format!("invalid YAML: {e}")));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (index, value) in docs.iter().enumerate() {
        match parse_document(file, value) {
            Ok(ns) => out.push(ns),
            Err(mut errs) => {
                for p in &mut errs {
                    p.file = format!("{file} (document {})", index + 1);
                }
                problems.extend(errs);
            }
        }
    }
    out
}

fn parse_document(file: &str, value: &Value) -> Result<NsInstance, Vec<Problem>> {
    let mut problems = Vec::new();
    let Some(map) = value.as_object() else {
        return Err(vec![Problem::new(
            file,
            None,
            "a document must be a mapping",
        )]);
    };
    let kind = map.get("kind").and_then(|k| k.as_str());
    match kind {
        Some(NS_INSTANCE_KIND) => {}
        Some(other) => {
            return Err(vec![Problem::new(
                file,
                Some("kind"),
                format!("unknown kind '{other}' (supported: {NS_INSTANCE_KIND})"),
            )])
        }
        None => {
            return Err(vec![Problem::new(
                file,
                Some("kind"),
                "missing required field",
            )])
        }
    }
    const KNOWN: [&str; 7] = [
        "kind",
        "name",
        "description",
        "nsdName",
        "vnfName",
        "vimAccountName",
        "kdu",
    ];
    for key in map.keys() {
        if !KNOWN.contains(&key.as_str()) {
            problems.push(Problem::new(file, Some(key), "unknown field"));
        }
    }
    let mut string_field = |name: &str, required: bool| -> Option<String> {
        match map.get(name) {
            None | Some(Value::Null) => {
                if required {
                    problems.push(Problem::new(file, Some(name), "missing required field"));
                }
                None
            }
            Some(Value::String(s)) if required && s.trim().is_empty() => {
                problems.push(Problem::new(file, Some(name), "must not be empty"));
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                problems.push(Problem::new(file, Some(name), "must be a string"));
                None
            }
        }
    };
    let name = string_field("name", true);
    let description = string_field("description", false);
    let nsd_name = string_field("nsdName", true);
    let vnf_name = string_field("vnfName", true);
    let vim_account_name = string_field("vimAccountName", true);
    if let Some(n) = &name {
        if let Err(msg) = check_ns_name(n) {
            problems.push(Problem::new(file, Some("name"), msg));
        }
    }
    if let Some(d) = &description {
        if let Some(q) = d.chars().find(|c| *c == '"' || *c == '\'') {
            problems.push(Problem::new(
                file,
                Some("description"),
                format!("must not contain {q} (OSM refuses quotes in NS descriptions)"),
            ));
        }
        let max = crate::model::MAX_USER_DESCRIPTION_CHARS;
        if d.trim().chars().count() > max {
            problems.push(Problem::new(
                file,
                Some("description"),
                format!(
                    "must be at most {max} characters: OSM keeps {} and OSM Ops appends its ownership mark",
                    crate::model::OSM_MAX_DESCRIPTION_CHARS
                ),
            ));
        }
    }
    let kdu = parse_kdu(file, map.get("kdu"), &mut problems);
    match (name, nsd_name, vnf_name, vim_account_name, kdu) {
        (Some(name), Some(nsd_name), Some(vnf_name), Some(vim_account_name), Some(kdu))
            if problems.is_empty() =>
        {
            Ok(NsInstance {
                name,
                description,
                nsd_name,
                vnf_name,
                vim_account_name,
                kdu,
                source: file.to_owned(),
            })
        }
        _ => Err(problems),
    }
}

fn parse_kdu(file: &str, value: Option<&Value>, problems: &mut Vec<Problem>) -> Option<Kdu> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        problems.push(Problem::new(file, Some("kdu"), "missing required field"));
        return None;
    };
    let Some(map) = value.as_object() else {
        problems.push(Problem::new(
            file,
            Some("kdu"),
            "must be a mapping with 'name' and optional 'params' and 'model'",
        ));
        return None;
    };
    for key in map.keys() {
        if !["name", "params", "model"].contains(&key.as_str()) {
            problems.push(Problem::new(
                file,
                Some(&format!("kdu.{key}")),
                "unknown field",
            ));
        }
    }
    let name = match map.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        None | Some(Value::Null) => {
            problems.push(Problem::new(
                file,
                Some("kdu.name"),
                "missing required field",
            ));
            None
        }
        Some(_) => {
            problems.push(Problem::new(
                file,
                Some("kdu.name"),
                "must be a non-empty string",
            ));
            None
        }
    };
    let params = match map.get("params") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => {
            problems.push(Problem::new(
                file,
                Some("kdu.params"),
                "must be a mapping of Helm values",
            ));
            None
        }
    };
    if params
        .as_ref()
        .is_some_and(|p| p.contains_key(crate::model::KDU_MODEL_PARAM))
    {
        problems.push(Problem::new(
            file,
            Some("kdu.params.kdu_model"),
            "is OSM's chart override, not a Helm value: write it as kdu.model",
        ));
    }
    let model = match map.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match check_kdu_model(s) {
            Ok(()) => Some(s.clone()),
            Err(msg) => {
                problems.push(Problem::new(file, Some("kdu.model"), msg));
                None
            }
        },
        Some(_) => {
            problems.push(Problem::new(
                file,
                Some("kdu.model"),
                "must be a string: the chart and version, e.g. stable/openldap:1.2.7",
            ));
            None
        }
    };
    name.map(|name| Kdu {
        name,
        params,
        model,
    })
}

/// OSM's `name_schema` for `kdu_model` (NBI `osm_nbi/validation.py`): 1 to 255 characters,
/// none of `,;()'"`.
fn check_kdu_model(model: &str) -> Result<(), String> {
    if model.trim().is_empty() || model.chars().count() > 255 {
        return Err("must be 1 to 255 characters long".into());
    }
    match model.chars().find(|c| FORBIDDEN_NAME_CHARS.contains(c)) {
        Some(c) => Err(format!(
            "contains '{c}', which OSM does not accept in kdu_model"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "kind: NsInstance\nname: ldap\nnsdName: openldap_ns\nvnfName: openldap\nvimAccountName: vim1\nkdu:\n  name: ldap\n  params:\n    replicaCount: 2\n";

    fn parse(text: &str) -> (Vec<NsInstance>, Vec<Problem>) {
        let mut problems = Vec::new();
        let out = parse_documents("f.ops.yaml", text, &Limits::default(), &mut problems);
        (out, problems)
    }

    #[test]
    fn several_documents_per_file() {
        let text = format!(
            "{VALID}---\n{}",
            VALID.replace("name: ldap\nnsd", "name: ldap2\nnsd")
        );
        let (out, problems) = parse(&text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].name, "ldap2");
        assert_eq!(out[0].kdu.params.as_ref().unwrap()["replicaCount"], 2);
    }

    #[test]
    fn unknown_keys_and_missing_fields_are_named_together() {
        let (out, problems) = parse(
            "kind: NsInstance\nname: x\nnsdname: typo\nvnfName: v\nkdu:\n  name: k\n  parms: {}\n",
        );
        assert!(out.is_empty());
        let fields: Vec<_> = problems.iter().filter_map(|p| p.field.clone()).collect();
        for expected in ["nsdname", "nsdName", "vimAccountName", "kdu.parms"] {
            assert!(
                fields.iter().any(|f| f == expected),
                "missing {expected} in {fields:?}"
            );
        }
        assert!(problems.iter().all(|p| p.file == "f.ops.yaml (document 1)"));
    }

    #[test]
    fn names_the_nbi_would_reject_are_errors() {
        let (_, problems) = parse(&VALID.replace("name: ldap\nnsd", "name: \"ld(ap)\"\nnsd"));
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("'('"), "{problems:?}");
    }

    #[test]
    fn descriptions_leave_room_for_the_ownership_mark() {
        let with = |d: &str| {
            VALID.replace(
                "name: ldap\nnsd",
                &format!("name: ldap\ndescription: {d}\nnsd"),
            )
        };
        let (out, problems) = parse(&with(&"d".repeat(150)));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(out.len(), 1);
        let (_, problems) = parse(&with(&"d".repeat(151)));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].field.as_deref(), Some("description"));
        assert!(problems[0].message.contains("at most 150"), "{problems:?}");
    }

    #[test]
    fn unknown_kind_is_an_error() {
        let (_, problems) = parse("kind: invalid\nname: t1\n");
        assert_eq!(problems[0].field.as_deref(), Some("kind"));
        assert!(problems[0].message.contains("unknown kind 'invalid'"));
    }

    #[test]
    fn invalid_yaml_is_reported() {
        let (_, problems) = parse("kind: [unclosed\n");
        assert!(problems[0].message.starts_with("invalid YAML"));
    }

    #[test]
    fn digest_changes_with_params_only() {
        let (out, _) = parse(VALID);
        let mut changed = out[0].clone();
        assert_eq!(changed.digest(), out[0].digest());
        changed
            .kdu
            .params
            .as_mut()
            .unwrap()
            .insert("replicaCount".into(), 3.into());
        assert_ne!(changed.digest(), out[0].digest());
    }

    #[test]
    fn missing_params_become_an_empty_object() {
        let (out, _) = parse("kind: NsInstance\nname: a\nnsdName: n\nvnfName: v\nvimAccountName: vim\nkdu:\n  name: k\n");
        assert_eq!(out[0].params_or_empty(), Map::new());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_text_gives_documents_or_problems_never_a_panic(text in "\\PC{0,400}") {
                let mut problems = Vec::new();
                let _ = parse_documents("f.osmops.yaml", &text, &Limits::default(), &mut problems);
            }

            #[test]
            fn yaml_shaped_noise_never_panics(
                text in "((kind|name|nsdName|vnfName|vimAccountName|kdu|params|- |  |: |\\[|\\]|\\{|\\}|&a|\\*a|<<|---|'|\"|#|\n|[a-z0-9]{1,3}){0,80})"
            ) {
                let mut problems = Vec::new();
                let _ = parse_documents("f.osmops.yaml", &text, &Limits::default(), &mut problems);
            }

            #[test]
            fn valid_documents_read_back_as_written(
                name in "[a-z][a-z0-9-]{0,20}",
                replicas in 0u32..100,
                described in any::<bool>(),
            ) {
                let desc = if described { "description: a test NS\n" } else { "" };
                let text = format!(
                    "kind: NsInstance\nname: {name}\n{desc}nsdName: n\nvnfName: v\nvimAccountName: vim\nkdu:\n  name: k\n  params:\n    replicaCount: {replicas}\n"
                );
                let mut problems = Vec::new();
                let out = parse_documents("f.osmops.yaml", &text, &Limits::default(), &mut problems);
                prop_assert!(problems.is_empty(), "{:?}", problems);
                prop_assert_eq!(out.len(), 1);
                prop_assert_eq!(&out[0].name, &name);
                prop_assert_eq!(out[0].description.is_some(), described);
                prop_assert_eq!(out[0].kdu.params.as_ref().unwrap()["replicaCount"].as_u64(), Some(u64::from(replicas)));
            }
        }
    }
}
