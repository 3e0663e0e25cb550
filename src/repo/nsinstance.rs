//! `kind: NsInstance` documents: the original OSM Ops schema, validated strictly so that a typo
//! is an error naming file and field rather than a silently ignored key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::fs::{Entry, Kind, RepoFs, Visited};
use super::secrets::SecretBook;
use super::substitute::{seal_document, substitute, Substitutions};
use super::{yaml, Limits, Problem};

pub const NS_INSTANCE_KIND: &str = "NsInstance";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kdu {
    /// The member VNF index (vnf-profile id) the KDU belongs to.
    pub member: String,
    /// Where the document declares the KDU, for messages: `kdu` (with the top-level `vnfName`)
    /// or `kdus[2]`.
    #[serde(skip)]
    pub at: String,
    pub name: String,
    /// Helm values for the KDU; `None` when the document has no `params`.
    pub params: Option<Map<String, Value>>,
    /// The chart and version OSM deploys, e.g. `stable/openldap:1.2.7` (OSM's `kdu_model`): sent
    /// with the instantiate and with every upgrade, so that the chart version is Git's. `None`:
    /// the descriptor's `helm-chart`, which current OSM refuses to carry a version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl Kdu {
    /// The Helm values to send to OSM: an object, never null (the NBI rejects
    /// `primitive_params: null`).
    pub fn params_or_empty(&self) -> Map<String, Value> {
        self.params.clone().unwrap_or_default()
    }

    /// What OSM is asked to run the KDU with, as OSM records it in an upgrade's
    /// `primitive_params`: the Helm values, plus `kdu_model` when the document names a model.
    /// This is what is compared with OSM's operation history.
    pub fn requested_params(&self) -> Map<String, Value> {
        let mut p = self.params_or_empty();
        if let Some(m) = &self.model {
            p.insert(
                crate::model::KDU_MODEL_PARAM.to_owned(),
                Value::String(m.clone()),
            );
        }
        p
    }

    /// `member/kdu`, as plans name a KDU.
    pub fn label(&self) -> String {
        format!("{}/{}", self.member, self.name)
    }
}

/// A desired scale level of one scaling aspect of one member VNF: how many scale-out steps
/// (SOL006 `df[].scaling-aspect[]`) above the level OSM instantiates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scale {
    pub member: String,
    pub aspect: String,
    pub level: u32,
}

impl Scale {
    /// `member/aspect`, as plans name a scaling aspect.
    pub fn label(&self) -> String {
        format!("{}/{}", self.member, self.aspect)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NsInstance {
    pub name: String,
    pub description: Option<String>,
    pub nsd_name: String,
    pub vim_account_name: String,
    /// The KDUs whose Helm values and chart Git declares, of any member VNF (the original
    /// `vnfName` + `kdu` is one entry). KDUs not listed run as instantiated.
    pub kdus: Vec<Kdu>,
    /// Desired scale levels; aspects not listed are left as OSM has them.
    pub scale: Vec<Scale>,
    /// OSM's instantiation parameters (what `osm ns-create --config` takes; NBI `ns_instantiate`)
    /// besides name, NSD, VIM account and KDU params, with `vnf[].vimAccountName` in place of
    /// `vimAccountId`. OSM cannot change them on a running NS.
    pub config: Option<Map<String, Value>>,
    /// File the document came from, relative to the repository root.
    pub source: String,
}

impl NsInstance {
    /// Digest of everything that determines what OSM should run, recorded in the inventory.
    pub fn digest(&self) -> String {
        // A document of the original form (one KDU, nothing else) keeps the digest it always
        // had: inventories record it.
        let canonical = match (self.kdus.as_slice(), self.scale.is_empty(), &self.config) {
            ([kdu], true, None) => {
                let mut c = serde_json::json!({
                    "name": self.name,
                    "description": self.description,
                    "nsdName": self.nsd_name,
                    "vnfName": kdu.member,
                    "vimAccountName": self.vim_account_name,
                    "kdu": {"name": kdu.name, "params": kdu.params},
                });
                if let Some(m) = &kdu.model {
                    c["kdu"]["model"] = Value::String(m.clone());
                }
                c
            }
            _ => serde_json::json!({
                "name": self.name,
                "description": self.description,
                "nsdName": self.nsd_name,
                "vimAccountName": self.vim_account_name,
                "kdus": self.kdus,
                "scale": self.scale,
                "config": self.config,
            }),
        };
        // serde_json's Map is a BTreeMap here (no preserve_order feature), so keys are sorted.
        let bytes = serde_json::to_vec(&canonical).expect("JSON values always serialize");
        format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
    }

    /// The declared KDU `name` of member `member`.
    pub fn kdu(&self, member: &str, name: &str) -> Option<&Kdu> {
        self.kdus
            .iter()
            .find(|k| k.member == member && k.name == name)
    }

    /// The instantiation config without the KDU params (which Git can change on a running NS):
    /// what OSM can only take at instantiate.
    pub fn config_or_empty(&self) -> Map<String, Value> {
        self.config.clone().unwrap_or_default()
    }

    /// VIM account names the document refers to: the NS's, then each member's in `config.vnf`.
    pub fn vim_account_names(&self) -> Vec<&str> {
        let mut names = vec![self.vim_account_name.as_str()];
        for vnf in self
            .config
            .as_ref()
            .and_then(|c| c.get("vnf"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = vnf.get(VNF_VIM_ACCOUNT_NAME).and_then(Value::as_str) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        names
    }
}

/// The key of `config.vnf[]` that names a member's VIM account by name (OSM takes `vimAccountId`).
pub const VNF_VIM_ACCOUNT_NAME: &str = "vimAccountName";

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
    subs: &Substitutions,
    book: &mut SecretBook,
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
            Ok(text) => out.extend(parse_substituted(&rel, &text, limits, subs, book, problems)),
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
#[cfg(test)]
pub(crate) fn parse_documents(
    file: &str,
    text: &str,
    limits: &Limits,
    problems: &mut Vec<Problem>,
) -> Vec<NsInstance> {
    let mut book = SecretBook::default();
    parse_substituted(
        file,
        text,
        limits,
        &Substitutions::default(),
        &mut book,
        problems,
    )
}

/// Parses every YAML document of one file after substituting its variables (when the sync
/// defines any); secret values are sealed into `book`. Empty documents are skipped.
pub(crate) fn parse_substituted(
    file: &str,
    text: &str,
    limits: &Limits,
    subs: &Substitutions,
    book: &mut SecretBook,
    problems: &mut Vec<Problem>,
) -> Vec<NsInstance> {
    let substituted;
    let (text, tokens) = if subs.is_enabled() {
        match substitute(text, subs) {
            Ok(s) => {
                substituted = s.text;
                (substituted.as_str(), Some(s.tokens))
            }
            Err(errors) => {
                for e in errors {
                    let mut p = Problem::new(file, None, format!("substitution: {}", e.message));
                    p.undefined_variable = e.undefined;
                    problems.push(p);
                }
                return Vec::new();
            }
        }
    } else {
        (text, None)
    };
    let mut docs = match yaml::documents(text, limits) {
        Ok(d) => d,
        Err(e) => {
            problems.push(Problem::new(file, None, format!("invalid YAML: {e}")));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (index, value) in docs.iter_mut().enumerate() {
        if let Some(tokens) = &tokens {
            let misplaced = seal_document(value, tokens, book);
            if !misplaced.is_empty() {
                for (field, msg) in misplaced {
                    problems.push(Problem::new(
                        format!("{file} (document {})", index + 1),
                        Some(&field),
                        msg,
                    ));
                }
                continue;
            }
        }
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
    const KNOWN: [&str; 10] = [
        "kind",
        "name",
        "description",
        "nsdName",
        "vnfName",
        "vimAccountName",
        "kdu",
        "kdus",
        "scale",
        "config",
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
    let vnf_name = string_field("vnfName", map.contains_key("kdu"));
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
    let mut kdus = Vec::new();
    match (map.get("kdu").filter(|v| !v.is_null()), map.get("kdus")) {
        (Some(_), Some(_)) => problems.push(Problem::new(
            file,
            Some("kdus"),
            "declare KDUs either with vnfName and kdu (one KDU) or with kdus (a list), not both",
        )),
        (Some(kdu), None) => {
            if let Some(member) = &vnf_name {
                kdus.extend(parse_kdu(file, "kdu", member, kdu, &mut problems));
            }
        }
        (None, Some(list)) => kdus = parse_kdus(file, list, &mut problems),
        (None, None) => {
            if vnf_name.is_some() {
                problems.push(Problem::new(
                    file,
                    Some("kdu"),
                    "vnfName names the member of kdu: declare kdu too, or leave vnfName out",
                ));
            }
        }
    }
    let scale = map
        .get("scale")
        .map(|v| parse_scale(file, v, &mut problems))
        .unwrap_or_default();
    let config = match map.get("config") {
        None | Some(Value::Null) => None,
        Some(Value::Object(c)) => {
            super::instantiate::check_config(file, c, &mut problems);
            Some(c.clone())
        }
        Some(_) => {
            problems.push(Problem::new(
                file,
                Some("config"),
                "must be a mapping: OSM's instantiation parameters (osm ns-create --config)",
            ));
            None
        }
    };
    match (name, nsd_name, vim_account_name) {
        (Some(name), Some(nsd_name), Some(vim_account_name)) if problems.is_empty() => {
            Ok(NsInstance {
                name,
                description,
                nsd_name,
                vim_account_name,
                kdus,
                scale,
                config,
                source: file.to_owned(),
            })
        }
        _ => Err(problems),
    }
}

/// `kdus:`, a list of `{vnfName, name, model?, params?}`, each KDU at most once.
fn parse_kdus(file: &str, value: &Value, problems: &mut Vec<Problem>) -> Vec<Kdu> {
    let Some(list) = value.as_array() else {
        problems.push(Problem::new(
            file,
            Some("kdus"),
            "must be a list of KDUs, each with vnfName, name and optional params and model",
        ));
        return Vec::new();
    };
    let mut out: Vec<Kdu> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let at = format!("kdus[{i}]");
        let member = match item.get("vnfName") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            None | Some(Value::Null) => {
                problems.push(Problem::new(
                    file,
                    Some(&format!("{at}.vnfName")),
                    "missing required field",
                ));
                None
            }
            Some(_) => {
                problems.push(Problem::new(
                    file,
                    Some(&format!("{at}.vnfName")),
                    "must be a non-empty string: the member VNF index (vnf-profile id)",
                ));
                None
            }
        };
        let mut item = item.clone();
        if let Some(m) = item.as_object_mut() {
            m.remove("vnfName");
        }
        let Some(member) = member else { continue };
        if let Some(kdu) = parse_kdu(file, &at, &member, &item, problems) {
            if out
                .iter()
                .any(|k| k.member == kdu.member && k.name == kdu.name)
            {
                problems.push(Problem::new(
                    file,
                    Some(&at),
                    format!("KDU {} is declared twice", kdu.label()),
                ));
            } else {
                out.push(kdu);
            }
        }
    }
    out
}

/// `scale:`, a list of `{vnfName, aspect, level}`, each aspect of a member at most once.
fn parse_scale(file: &str, value: &Value, problems: &mut Vec<Problem>) -> Vec<Scale> {
    let Some(list) = value.as_array() else {
        problems.push(Problem::new(
            file,
            Some("scale"),
            "must be a list of {vnfName, aspect, level}",
        ));
        return Vec::new();
    };
    let mut out: Vec<Scale> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let at = format!("scale[{i}]");
        let Some(m) = item.as_object() else {
            problems.push(Problem::new(
                file,
                Some(&at),
                "must be a mapping with vnfName, aspect and level",
            ));
            continue;
        };
        for key in m.keys() {
            if !["vnfName", "aspect", "level"].contains(&key.as_str()) {
                problems.push(Problem::new(
                    file,
                    Some(&format!("{at}.{key}")),
                    "unknown field",
                ));
            }
        }
        let mut text = |key: &str| match m.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            None | Some(Value::Null) => {
                problems.push(Problem::new(
                    file,
                    Some(&format!("{at}.{key}")),
                    "missing required field",
                ));
                None
            }
            Some(_) => {
                problems.push(Problem::new(
                    file,
                    Some(&format!("{at}.{key}")),
                    "must be a non-empty string",
                ));
                None
            }
        };
        let (member, aspect) = (text("vnfName"), text("aspect"));
        let level = match m.get("level") {
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => Some(n),
                None => {
                    problems.push(Problem::new(
                        file,
                        Some(&format!("{at}.level")),
                        "must be a whole number of scale-out steps, 0 or more",
                    ));
                    None
                }
            },
            None => {
                problems.push(Problem::new(
                    file,
                    Some(&format!("{at}.level")),
                    "missing required field",
                ));
                None
            }
        };
        if let (Some(member), Some(aspect), Some(level)) = (member, aspect, level) {
            let s = Scale {
                member,
                aspect,
                level,
            };
            if out
                .iter()
                .any(|o| o.member == s.member && o.aspect == s.aspect)
            {
                problems.push(Problem::new(
                    file,
                    Some(&at),
                    format!("scaling aspect {} is declared twice", s.label()),
                ));
            } else {
                out.push(s);
            }
        }
    }
    out
}

/// One KDU (`kdu:` of the original form, or an entry of `kdus:`), of member `member`; `at` is
/// its field path for messages.
fn parse_kdu(
    file: &str,
    at: &str,
    member: &str,
    value: &Value,
    problems: &mut Vec<Problem>,
) -> Option<Kdu> {
    let field = |f: &str| format!("{at}.{f}");
    let Some(map) = value.as_object() else {
        problems.push(Problem::new(
            file,
            Some(at),
            "must be a mapping with 'name' and optional 'params' and 'model'",
        ));
        return None;
    };
    for key in map.keys() {
        if !["name", "params", "model"].contains(&key.as_str()) {
            problems.push(Problem::new(file, Some(&field(key)), "unknown field"));
        }
    }
    let name = match map.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        None | Some(Value::Null) => {
            problems.push(Problem::new(
                file,
                Some(&field("name")),
                "missing required field",
            ));
            None
        }
        Some(_) => {
            problems.push(Problem::new(
                file,
                Some(&field("name")),
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
                Some(&field("params")),
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
            Some(&field("params.kdu_model")),
            format!("is OSM's chart override, not a Helm value: write it as {at}.model"),
        ));
    }
    let model = match map.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match check_kdu_model(s) {
            Ok(()) => Some(s.clone()),
            Err(msg) => {
                problems.push(Problem::new(file, Some(&field("model")), msg));
                None
            }
        },
        Some(_) => {
            problems.push(Problem::new(
                file,
                Some(&field("model")),
                "must be a string: the chart and version, e.g. stable/openldap:1.2.7",
            ));
            None
        }
    };
    name.map(|name| Kdu {
        member: member.to_owned(),
        at: at.to_owned(),
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
        assert_eq!(out[0].kdus[0].params.as_ref().unwrap()["replicaCount"], 2);
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
        changed.kdus[0]
            .params
            .as_mut()
            .unwrap()
            .insert("replicaCount".into(), 3.into());
        assert_ne!(changed.digest(), out[0].digest());
    }

    #[test]
    fn missing_params_become_an_empty_object() {
        let (out, _) = parse("kind: NsInstance\nname: a\nnsdName: n\nvnfName: v\nvimAccountName: vim\nkdu:\n  name: k\n");
        assert_eq!(out[0].kdus[0].params_or_empty(), Map::new());
    }

    const MULTI: &str = "kind: NsInstance\nname: web\nnsdName: web-ns\nvimAccountName: vim1\nkdus:\n- vnfName: a\n  name: ldap\n  params: {replicaCount: 2}\n- vnfName: b\n  name: cache\n  model: bitnami/redis:17.11.3\nscale:\n- vnfName: a\n  aspect: web-aspect\n  level: 2\nconfig:\n  vld:\n  - name: mgmtnet\n    vim-network-name: mgmt\n  vnf:\n  - member-vnf-index: b\n    vimAccountName: edge\n";

    #[test]
    fn several_kdus_scale_levels_and_config_are_read() {
        let (out, problems) = parse(MULTI);
        assert!(problems.is_empty(), "{problems:?}");
        let ns = &out[0];
        let kdus: Vec<String> = ns.kdus.iter().map(Kdu::label).collect();
        assert_eq!(kdus, ["a/ldap", "b/cache"]);
        assert_eq!(ns.kdus[1].at, "kdus[1]");
        assert_eq!(
            ns.scale,
            [Scale {
                member: "a".into(),
                aspect: "web-aspect".into(),
                level: 2
            }]
        );
        assert_eq!(ns.vim_account_names(), ["vim1", "edge"]);
        assert!(ns.config.as_ref().unwrap().contains_key("vld"));
    }

    #[test]
    fn the_original_form_means_what_it_always_meant_and_keeps_its_digest() {
        let (legacy, _) = parse(VALID);
        let as_list = VALID.replace(
            "vnfName: openldap\nvimAccountName: vim1\nkdu:\n  name: ldap\n  params:\n    replicaCount: 2\n",
            "vimAccountName: vim1\nkdus:\n- vnfName: openldap\n  name: ldap\n  params:\n    replicaCount: 2\n",
        );
        let (listed, problems) = parse(&as_list);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(legacy[0].kdus[0].label(), listed[0].kdus[0].label());
        assert_eq!(legacy[0].digest(), listed[0].digest());
        // The digest an inventory of an earlier version recorded for this document: sha256 of
        // the compact, key-sorted JSON of 8a6ca5f's canonical form, computed outside Rust. A
        // change here would make every NS earlier versions applied look changed.
        assert_eq!(
            legacy[0].digest(),
            "sha256:b6e2693bed1127a094d519135ec2f593b1e1d1130e0a07e1fffd08efdad9ce17"
        );
    }

    #[test]
    fn bad_kdus_scale_and_config_entries_name_their_field() {
        let (out, problems) = parse(
            "kind: NsInstance\nname: web\nnsdName: n\nvimAccountName: v\nkdus:\n- name: k\n- vnfName: a\n  name: k\n- vnfName: a\n  name: k\nscale:\n- vnfName: a\n  aspect: x\n  level: -1\n- vnfName: a\n  aspct: x\n  level: 1\nconfig:\n  vld: []\n",
        );
        assert!(out.is_empty());
        let fields: Vec<&str> = problems.iter().filter_map(|p| p.field.as_deref()).collect();
        for f in [
            "kdus[0].vnfName",
            "kdus[2]",
            "scale[0].level",
            "scale[1].aspct",
            "scale[1].aspect",
            "config.vld",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        let (_, problems) = parse(&format!("{VALID}kdus: []\n"));
        assert_eq!(problems[0].field.as_deref(), Some("kdus"), "{problems:?}");
        let (_, problems) =
            parse("kind: NsInstance\nname: a\nnsdName: n\nvnfName: v\nvimAccountName: vim\n");
        assert_eq!(problems[0].field.as_deref(), Some("kdu"), "{problems:?}");
    }

    #[test]
    fn an_ns_without_kdus_is_a_vm_ns() {
        let (out, problems) = parse("kind: NsInstance\nname: a\nnsdName: n\nvimAccountName: vim\n");
        assert!(problems.is_empty(), "{problems:?}");
        assert!(out[0].kdus.is_empty());
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
                prop_assert_eq!(out[0].kdus[0].params.as_ref().unwrap()["replicaCount"].as_u64(), Some(u64::from(replicas)));
            }
        }
    }
}
