//! Variable substitution in NsInstance files, with kustomize-controller's `postBuild` rules:
//! `${VAR}`, `${VAR:=default}` (also `:-`, `=` and `-`), `$$` for a literal `$` (so
//! `$${VAR}` stays `${VAR}`), and `$VAR` without braces left alone (scripts in params keep
//! their shell variables). An undefined variable without a default is an error in strict mode
//! (the callers' default: an empty password sent to OSM is worse than a refused file) and
//! empty otherwise. Substitution runs only when the sync defines some variable or source.
//!
//! A variable from a Secret never enters the YAML text: a token stands in its place while the
//! file is parsed, and the value it stands for is then [sealed](super::secrets) where the
//! document holds it. So a secret may contain any character (quotes, newlines: it cannot break
//! or change the YAML), it is always a string (a password `0123` stays `0123`), and it may only
//! be used in `params` and `config` values — never in names, keys or anything OSM Ops shows.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::secrets::{SealKey, SecretBook};

/// A variable's value, whether it is secret, and where it comes from, for messages:
/// `spec.substitute`, `Secret 'ns/name'`, `ConfigMap 'ns/name'`, a CLI file. `Debug` never shows
/// a secret value.
#[derive(Clone, PartialEq, Eq)]
pub struct Variable {
    pub value: String,
    pub secret: bool,
    pub origin: String,
}

impl std::fmt::Debug for Variable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = if self.secret {
            super::secrets::SHOWN
        } else {
            &self.value
        };
        f.debug_struct("Variable")
            .field("value", &value)
            .field("secret", &self.secret)
            .field("origin", &self.origin)
            .finish()
    }
}

/// The variables of one sync. `Debug` never shows values.
#[derive(Clone, Default)]
pub struct Substitutions {
    vars: BTreeMap<String, Variable>,
    /// Whether substitution runs at all: the sync defines variables or sources.
    enabled: bool,
    /// An undefined variable without a default is an error.
    pub strict: bool,
    key: SealKey,
    /// Where variables were looked for, for the message about an undefined one.
    sources: Vec<String>,
}

impl std::fmt::Debug for Substitutions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Substitutions")
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .field("enabled", &self.enabled)
            .field("strict", &self.strict)
            .finish()
    }
}

/// Whether `name` is a valid variable name (kustomize-controller's `^[_[:alpha:]][_[:alpha:][:digit:]]*$`).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

impl Substitutions {
    /// Substitution on, with the key secret values are sealed with.
    pub fn enabled(key: SealKey) -> Substitutions {
        Substitutions {
            enabled: true,
            key,
            ..Default::default()
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Defines `name` (a later definition replaces an earlier one, as a later `substituteFrom`
    /// entry overrides an earlier one). The error names the variable and where it came from.
    pub fn define(&mut self, name: &str, var: Variable) -> Result<(), String> {
        if !valid_name(name) {
            return Err(format!(
                "'{name}' (from {}) is not a valid variable name: it must match ^[_[:alpha:]][_[:alpha:][:digit:]]*$",
                var.origin
            ));
        }
        self.enabled = true;
        self.vars.insert(name.to_owned(), var);
        Ok(())
    }

    /// Records that variables were looked for in `source` (`Secret 'ops/x'`, a file).
    pub fn note_source(&mut self, source: impl Into<String>) {
        self.sources.push(source.into());
    }

    fn sources_text(&self) -> String {
        match self.sources.as_slice() {
            [] => "nothing".to_owned(),
            s => s.join(", "),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Variable> {
        self.vars.get(name)
    }

    /// A book for the secret values of the documents substituted with these variables.
    pub fn book(&self) -> SecretBook {
        SecretBook::new(self.key.clone())
    }
}

/// A file's text with variables substituted; secret values are tokens, see [`Tokens`].
pub struct Substituted {
    pub text: String,
    pub tokens: Tokens,
}

/// The tokens standing for secret values in a substituted text.
#[derive(Default)]
pub struct Tokens {
    /// A prefix no file contains (checked), then the token's index and `x`.
    prefix: String,
    /// Each token's value and the variable it came from.
    values: Vec<(String, String)>,
}

impl Tokens {
    fn token(&mut self, var: &str, value: &str) -> String {
        let t = format!("{}{}x", self.prefix, self.values.len());
        self.values.push((value.to_owned(), var.to_owned()));
        t
    }

    fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The first token in `s`: where it starts, its length and the value and variable it
    /// stands for.
    fn next_token<'t>(&'t self, s: &str) -> Option<(usize, usize, &'t (String, String))> {
        let mut from = 0;
        while let Some(at) = s[from..].find(&self.prefix).map(|i| from + i) {
            let after = &s[at + self.prefix.len()..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let found = after[..digits]
                .parse::<usize>()
                .ok()
                .and_then(|i| self.values.get(i));
            match found {
                Some(entry) if after[digits..].starts_with('x') => {
                    return Some((at, self.prefix.len() + digits + 1, entry));
                }
                _ => from = at + self.prefix.len(),
            }
        }
        None
    }

    /// The variables of the tokens in `s`.
    fn vars_in(&self, s: &str) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let mut rest = s;
        while let Some((at, len, (_, var))) = self.next_token(rest) {
            if !out.contains(&var.as_str()) {
                out.push(var);
            }
            rest = &rest[at + len..];
        }
        out
    }

    /// `s` with every token replaced by its value.
    fn resolve(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some((at, len, (value, _))) = self.next_token(rest) {
            out.push_str(&rest[..at]);
            out.push_str(value);
            rest = &rest[at + len..];
        }
        out.push_str(rest);
        out
    }
}

/// Why a `${...}` could not be substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubstitutionError {
    pub message: String,
    /// The variable is defined nowhere (strict mode): defining it fixes it.
    pub undefined: bool,
}

impl SubstitutionError {
    fn invalid(message: String) -> Self {
        SubstitutionError {
            message,
            undefined: false,
        }
    }
}

/// Substitutes the variables in `text`. Errors say which expression is wrong and why.
pub fn substitute(text: &str, subs: &Substitutions) -> Result<Substituted, Vec<SubstitutionError>> {
    let mut tokens = Tokens {
        prefix: token_prefix(text),
        values: Vec::new(),
    };
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let Some(body_start) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some(end) = body_start.find('}') else {
            errors.push(SubstitutionError::invalid(format!(
                "'${{{}' is not closed with '}}'",
                body_start.chars().take(40).collect::<String>()
            )));
            out.push_str(&rest[at..]);
            rest = "";
            break;
        };
        let expr = &body_start[..end];
        rest = &body_start[end + 1..];
        match expand(expr, subs, &mut tokens) {
            Ok(v) => out.push_str(&v),
            Err(e) => errors.push(e),
        }
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(Substituted { text: out, tokens })
    } else {
        Err(errors)
    }
}

/// One `${...}`.
fn expand(
    expr: &str,
    subs: &Substitutions,
    tokens: &mut Tokens,
) -> Result<String, SubstitutionError> {
    let name_len = expr
        .char_indices()
        .find(|&(_, c)| !(c == '_' || c.is_ascii_alphanumeric()))
        .map_or(expr.len(), |(i, _)| i);
    let (name, op) = expr.split_at(name_len);
    if !valid_name(name) {
        return Err(SubstitutionError::invalid(format!(
            "'${{{expr}}}': '{name}' is not a valid variable name"
        )));
    }
    // `:=`/`:-` use the default when the variable is undefined or empty, `=`/`-` when undefined.
    let (default, when_empty) = match op {
        "" => (None, false),
        _ if op.starts_with(":=") || op.starts_with(":-") => (Some(&op[2..]), true),
        _ if op.starts_with('=') || op.starts_with('-') => (Some(&op[1..]), false),
        _ => {
            return Err(SubstitutionError::invalid(format!(
            "'${{{expr}}}': only ${{VAR}}, ${{VAR:=default}} and ${{VAR:-default}} are supported"
        )))
        }
    };
    match (subs.get(name), default) {
        (Some(v), Some(d)) if when_empty && v.value.is_empty() => Ok(d.to_owned()),
        (Some(v), _) if v.secret => Ok(tokens.token(name, &v.value)),
        (Some(v), _) => Ok(v.value.clone()),
        (None, Some(d)) => Ok(d.to_owned()),
        (None, None) if subs.strict => Err(SubstitutionError {
            message: format!(
                "variable '{name}' is not defined (looked in {}); define it, give a default with ${{{name}:=default}}, or turn strict substitution off",
                subs.sources_text()
            ),
            undefined: true,
        }),
        (None, None) => Ok(String::new()),
    }
}

/// A prefix for secret tokens that `text` does not contain: plain letters, valid anywhere in
/// YAML, quoted or not.
fn token_prefix(text: &str) -> String {
    (0u32..)
        .map(|n| format!("osmopssecrettoken{n}q"))
        .find(|p| !text.contains(p.as_str()))
        .expect("some prefix is free")
}

/// Where a secret may be used in a document: values under a KDU's `params` or under `config`.
fn secret_allowed(path: &[String]) -> bool {
    match path {
        [top, ..] if top == "config" => path.len() > 1,
        [kdu, p, _, ..] if kdu == "kdu" && p == "params" => true,
        [kdus, _, p, _, ..] if kdus == "kdus" && p == "params" => true,
        _ => false,
    }
}

fn field(path: &[String]) -> String {
    let mut out = String::new();
    for p in path {
        if p.parse::<usize>().is_ok() {
            out.push_str(&format!("[{p}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(p);
        }
    }
    out
}

/// Replaces the tokens in one parsed document by the seals of the values they stand for,
/// recording them in `book`; tokens where a secret may not go are problems (field, message).
pub fn seal_document(
    doc: &mut Value,
    tokens: &Tokens,
    book: &mut SecretBook,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if !tokens.is_empty() {
        walk(doc, &mut Vec::new(), tokens, book, &mut problems);
    }
    problems
}

fn walk(
    v: &mut Value,
    path: &mut Vec<String>,
    tokens: &Tokens,
    book: &mut SecretBook,
    problems: &mut Vec<(String, String)>,
) {
    match v {
        Value::String(s) => {
            let vars = tokens.vars_in(s);
            if vars.is_empty() {
                return;
            }
            if secret_allowed(path) {
                *s = book.seal(tokens.resolve(s));
            } else {
                problems.push((
                    field(path),
                    format!(
                        "{} from a Secret may only be used in params or config values (OSM Ops shows everything else)",
                        describe_vars(&vars)
                    ),
                ));
                *s = String::new();
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                walk(item, path, tokens, book, problems);
                path.pop();
            }
        }
        Value::Object(m) => {
            let bad_keys: Vec<(String, String)> = m
                .keys()
                .filter_map(|k| {
                    let vars = tokens.vars_in(k);
                    (!vars.is_empty()).then(|| (k.clone(), describe_vars(&vars)))
                })
                .collect();
            for (k, vars) in bad_keys {
                problems.push((
                    field(path),
                    format!("{vars} from a Secret is used in a key; secrets may only be values"),
                ));
                m.remove(&k);
            }
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                path.push(k.clone());
                if let Some(item) = m.get_mut(&k) {
                    walk(item, path, tokens, book, problems);
                }
                path.pop();
            }
        }
        _ => {}
    }
}

fn describe_vars(vars: &[&str]) -> String {
    let names: Vec<String> = vars.iter().map(|v| format!("${{{v}}}")).collect();
    format!("variable {}", names.join(", "))
}

/// A map of variables as `KEY: value` (a plain YAML/JSON map, or a Kubernetes Secret or
/// ConfigMap manifest, whose `data`/`stringData` keys are the variables, as with
/// `substituteFrom`). Returns the variables and whether they are secret.
pub fn variables_from_manifest(text: &str) -> Result<(Map<String, Value>, bool), String> {
    let v: Value =
        serde_saphyr::from_str(text).map_err(|e| format!("not a YAML or JSON map: {e}"))?;
    let Value::Object(mut m) = v else {
        return Err("not a YAML or JSON map of variables".into());
    };
    let kind = m.get("kind").and_then(Value::as_str).map(str::to_owned);
    match kind.as_deref() {
        Some("Secret") => {
            let mut out = Map::new();
            if let Some(Value::Object(data)) = m.remove("data") {
                for (k, v) in data {
                    let s = v
                        .as_str()
                        .ok_or_else(|| format!("data.{k} is not a base64 string"))?;
                    let bytes = base64_decode(s).ok_or_else(|| {
                        format!("data.{k} is not valid base64 (a Secret's data is base64)")
                    })?;
                    let text = String::from_utf8(bytes)
                        .map_err(|_| format!("data.{k} is not UTF-8 text"))?;
                    out.insert(k, Value::String(text));
                }
            }
            if let Some(Value::Object(data)) = m.remove("stringData") {
                out.extend(data);
            }
            Ok((out, true))
        }
        Some("ConfigMap") => match m.remove("data") {
            Some(Value::Object(data)) => Ok((data, false)),
            _ => Ok((Map::new(), false)),
        },
        Some(other) => Err(format!(
            "kind '{other}' holds no variables: use a Secret, a ConfigMap or a plain map"
        )),
        None => Ok((m, false)),
    }
}

/// Standard base64 with padding, as Kubernetes writes `data` (whitespace ignored).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let clean: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(clean).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn subs(vars: &[(&str, &str, bool)]) -> Substitutions {
        let mut s = Substitutions::enabled(SealKey::from_password("k"));
        for (k, v, secret) in vars {
            s.define(
                k,
                Variable {
                    value: v.to_string(),
                    secret: *secret,
                    origin: "test".into(),
                },
            )
            .unwrap();
        }
        s
    }

    fn text(t: &str, s: &Substitutions) -> String {
        substitute(t, s).map(|s| s.text).unwrap()
    }

    #[test]
    fn kustomize_controllers_rules() {
        let s = subs(&[("REPLICAS", "3", false), ("EMPTY", "", false)]);
        assert_eq!(text("n: ${REPLICAS}", &s), "n: 3");
        assert_eq!(text("n: ${MISSING}", &s), "n: ");
        assert_eq!(text("n: ${MISSING:=2}", &s), "n: 2");
        assert_eq!(text("n: ${MISSING:-2}", &s), "n: 2");
        assert_eq!(text("n: ${REPLICAS:=2}", &s), "n: 3");
        assert_eq!(text("n: ${EMPTY:=2}", &s), "n: 2");
        assert_eq!(text("n: ${EMPTY=2}", &s), "n: ");
        assert_eq!(text("n: $${REPLICAS}", &s), "n: ${REPLICAS}");
        assert_eq!(text("cmd: echo $HOME $$", &s), "cmd: echo $HOME $");
        assert_eq!(text("a: ${REPLICAS}${REPLICAS}", &s), "a: 33");
    }

    #[test]
    fn bad_expressions_and_strict_mode_are_errors() {
        let s = subs(&[("A", "1", false)]);
        let e = substitute("x: ${A:1:2}\ny: ${9A}\nz: ${A", &s)
            .err()
            .unwrap();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].message.contains("only ${VAR}"), "{e:?}");
        assert!(e[1].message.contains("not a valid variable name"), "{e:?}");
        assert!(e[2].message.contains("not closed"), "{e:?}");
        assert!(e.iter().all(|e| !e.undefined));
        let mut strict = subs(&[]);
        strict.strict = true;
        strict.note_source("Secret 'ops/s'");
        let e = substitute("x: ${NOPE}", &strict).err().unwrap();
        assert!(
            e[0].message
                .contains("'NOPE' is not defined (looked in Secret 'ops/s')"),
            "{e:?}"
        );
        assert!(e[0].undefined);
        assert_eq!(text("x: ${NOPE:=d}", &strict), "x: d");
    }

    #[test]
    fn variable_names_are_checked() {
        let mut s = subs(&[]);
        assert!(s
            .define(
                "bad-name",
                Variable {
                    value: String::new(),
                    secret: false,
                    origin: "ConfigMap/c".into()
                }
            )
            .unwrap_err()
            .contains("ConfigMap/c"));
        assert!(valid_name("_a1") && valid_name("A") && !valid_name("1a") && !valid_name(""));
    }

    #[test]
    fn secrets_become_seals_in_params_and_problems_elsewhere() {
        let s = subs(&[("PASS", "p\"a: Zq9\n", true), ("USER", "admin", false)]);
        let sub = substitute(
            "name: web-${PASS}\nkdu:\n  name: ldap\n  params:\n    user: ${USER}\n    password: \"${PASS}\"\n    dsn: u:${PASS}@db\n    ${PASS}: 1\n",
            &s,
        )
        .unwrap();
        assert!(!sub.text.contains("Zq9"), "{}", sub.text);
        let mut doc: Value = serde_saphyr::from_str(&sub.text).unwrap();
        let mut book = s.book();
        let mut problems = seal_document(&mut doc, &sub.tokens, &mut book);
        problems.sort();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[1].0, "name");
        assert!(problems[1].1.contains("${PASS}"), "{problems:?}");
        assert_eq!(problems[0].0, "kdu.params");
        assert!(problems[0].1.contains("key"), "{problems:?}");
        let params = &doc["kdu"]["params"];
        assert_eq!(params["user"], "admin");
        assert_eq!(params["password"], json!(book.seal_of("p\"a: Zq9\n")));
        assert_eq!(params["dsn"], json!(book.seal_of("u:p\"a: Zq9\n@db")));
        assert_eq!(
            book.reveal(params).unwrap()["password"],
            json!("p\"a: Zq9\n")
        );
        assert!(!doc.to_string().contains("Zq9"), "{doc}");
    }

    #[test]
    fn a_secret_is_a_string_even_when_it_looks_like_a_number() {
        let s = subs(&[("PIN", "0123", true)]);
        let sub = substitute("config:\n  pin: ${PIN}\n", &s).unwrap();
        let mut doc: Value = serde_saphyr::from_str(&sub.text).unwrap();
        let mut book = s.book();
        assert!(seal_document(&mut doc, &sub.tokens, &mut book).is_empty());
        assert_eq!(book.reveal(&doc).unwrap()["config"]["pin"], json!("0123"));
    }

    #[test]
    fn manifests_give_variables() {
        let (vars, secret) = variables_from_manifest(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  PASS: aHVudGVyMg==\nstringData:\n  USER: admin\n",
        )
        .unwrap();
        assert!(secret);
        assert_eq!(vars["PASS"], "hunter2");
        assert_eq!(vars["USER"], "admin");
        let (vars, secret) =
            variables_from_manifest("kind: ConfigMap\ndata:\n  REPLICAS: \"3\"\n").unwrap();
        assert!(!secret && vars["REPLICAS"] == "3");
        let (vars, secret) = variables_from_manifest("A: x\n").unwrap();
        assert!(!secret && vars["A"] == "x");
        assert!(variables_from_manifest("kind: Secret\ndata:\n  P: '***'\n")
            .unwrap_err()
            .contains("base64"));
        assert!(variables_from_manifest("kind: Deployment\n")
            .unwrap_err()
            .contains("Deployment"));
    }

    #[test]
    fn debug_output_never_shows_a_secret_value() {
        let v = Variable {
            value: "hunter2".into(),
            secret: true,
            origin: "Secret 'ops/s'".into(),
        };
        assert!(!format!("{v:?}").contains("hunter2"));
        let s = subs(&[("P", "hunter2", true)]);
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn base64_is_decoded_strictly() {
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
        assert_eq!(base64_decode("aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("aGk").is_none());
        assert!(base64_decode("a=Gk").is_none());
    }
}
