//! The simulator's in-memory "MongoDB": collections of JSON records in natural (insertion) order,
//! project scoping and the NBI's query-string filters (osm-nbi.md §1.5).

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{json, Value};

/// Now as OSM writes times (Python's `time.time()`: seconds since the epoch with a fraction).
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The `_admin` block of a record owned by `project`, with `extra` fields merged in.
pub fn admin_block(project: &str, extra: Value) -> Value {
    let t = now();
    let mut admin = json!({"created": t, "modified": t, "projects_read": [project], "projects_write": [project]});
    if let (Some(a), Value::Object(e)) = (admin.as_object_mut(), extra) {
        a.extend(e);
    }
    admin
}

#[derive(Debug, Clone)]
pub struct Project {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub name: String,
    pub password: String,
    /// Project ids, first one is the default.
    pub projects: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub user: String,
    pub user_id: String,
    pub project_id: String,
    pub project_name: String,
    pub issued_at: f64,
    pub expires: f64,
    /// The user's previous token time (`_admin.last_token_time` of the user), if any.
    pub last_login: Option<f64>,
}

#[derive(Default)]
pub struct Db {
    pub projects: Vec<Project>,
    pub users: Vec<User>,
    pub tokens: HashMap<String, TokenRecord>,
    pub last_login: HashMap<String, Instant>,
    /// Per user, when the last token was issued (OSM's `_admin.last_token_time`).
    pub last_token_time: HashMap<String, f64>,
    pub vim_accounts: Vec<Value>,
    pub k8sclusters: Vec<Value>,
    pub vnfds: Vec<Value>,
    pub nsds: Vec<Value>,
    pub nsrs: Vec<Value>,
    pub vnfrs: Vec<Value>,
    pub nslcmops: Vec<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    VimAccounts,
    K8sClusters,
    Vnfds,
    Nsds,
    Nsrs,
    Vnfrs,
    NsLcmOps,
}

impl Db {
    pub fn coll(&self, c: Collection) -> &Vec<Value> {
        match c {
            Collection::VimAccounts => &self.vim_accounts,
            Collection::K8sClusters => &self.k8sclusters,
            Collection::Vnfds => &self.vnfds,
            Collection::Nsds => &self.nsds,
            Collection::Nsrs => &self.nsrs,
            Collection::Vnfrs => &self.vnfrs,
            Collection::NsLcmOps => &self.nslcmops,
        }
    }

    pub fn coll_mut(&mut self, c: Collection) -> &mut Vec<Value> {
        match c {
            Collection::VimAccounts => &mut self.vim_accounts,
            Collection::K8sClusters => &mut self.k8sclusters,
            Collection::Vnfds => &mut self.vnfds,
            Collection::Nsds => &mut self.nsds,
            Collection::Nsrs => &mut self.nsrs,
            Collection::Vnfrs => &mut self.vnfrs,
            Collection::NsLcmOps => &mut self.nslcmops,
        }
    }

    /// Records of `c` readable by `project` (list semantics: the project must be in projects_read).
    pub fn visible<'a>(
        &'a self,
        c: Collection,
        project: &'a str,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.coll(c).iter().filter(move |r| readable_by(r, project))
    }

    pub fn find_by_id(&self, c: Collection, project: &str, id: &str) -> Option<&Value> {
        self.coll(c)
            .iter()
            .find(|r| r["_id"] == id && (readable_by(r, project) || is_public(r)))
    }

    pub fn find_by_id_mut(&mut self, c: Collection, project: &str, id: &str) -> Option<&mut Value> {
        self.coll_mut(c)
            .iter_mut()
            .find(|r| r["_id"] == id && (readable_by(r, project) || is_public(r)))
    }

    pub fn remove_where(&mut self, c: Collection, pred: impl Fn(&Value) -> bool) {
        self.coll_mut(c).retain(|r| !pred(r));
    }
}

pub fn readable_by(r: &Value, project: &str) -> bool {
    r.pointer("/_admin/projects_read")
        .and_then(|p| p.as_array())
        .is_some_and(|list| list.iter().any(|p| p == project))
}

fn is_public(r: &Value) -> bool {
    r.pointer("/_admin/projects_read")
        .and_then(|p| p.as_array())
        .is_some_and(|l| l.iter().any(|p| p == "ANY"))
}

/// Query words that are not filters.
pub const ADMIN_QUERY_WORDS: [&str; 4] = ["FORCE", "ADMIN", "PUBLIC", "SET_PROJECT"];

/// A parsed query-string filter: `attr[.op]=value[,value...]`.
#[derive(Debug, Clone)]
pub struct Filter {
    path: Vec<String>,
    op: String,
    values: Vec<String>,
}

pub fn parse_filters(query: &[(String, String)]) -> Vec<Filter> {
    const OPS: [&str; 9] = ["eq", "neq", "ne", "gt", "gte", "lt", "lte", "cont", "ncont"];
    query
        .iter()
        .filter(|(k, _)| !ADMIN_QUERY_WORDS.contains(&k.as_str()))
        .map(|(k, v)| {
            let mut path: Vec<String> = k.split('.').map(str::to_owned).collect();
            let op = match path.last() {
                Some(last) if path.len() > 1 && OPS.contains(&last.as_str()) => path.pop().unwrap(),
                _ => "eq".to_owned(),
            };
            // A comma not at position 0 makes a list ($in).
            let values = if v.find(',').is_some_and(|i| i > 0) {
                v.split(',').map(str::to_owned).collect()
            } else {
                vec![v.clone()]
            };
            Filter { path, op, values }
        })
        .collect()
}

fn lookup<'a>(v: &'a Value, path: &[String]) -> Vec<&'a Value> {
    let Some((first, rest)) = path.split_first() else {
        return vec![v];
    };
    if first == "ANYINDEX" {
        return v
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|item| lookup(item, rest))
            .collect();
    }
    match v {
        Value::Object(m) => m.get(first).map(|x| lookup(x, rest)).unwrap_or_default(),
        // Mongo semantics: a path through an array looks into its elements.
        Value::Array(items) => items.iter().flat_map(|item| lookup(item, path)).collect(),
        _ => vec![],
    }
}

fn scalar_eq(v: &Value, want: &str) -> bool {
    match v {
        // Query values are strings, so `?queuePosition=0` does not match the integer 0.
        Value::String(s) => s == want,
        Value::Bool(b) => (want == "true" && *b) || (want == "false" && !*b),
        Value::Array(items) => items.iter().any(|i| scalar_eq(i, want)),
        _ => false,
    }
}

impl Filter {
    pub fn matches(&self, record: &Value) -> bool {
        let found = lookup(record, &self.path);
        let any_eq = || {
            found
                .iter()
                .any(|v| self.values.iter().any(|w| scalar_eq(v, w)))
        };
        // osm_common's `_format_filter`: `cont` is `$eq`/`$in` and `ncont` is `$nin`, exactly
        // like `eq`/`neq` — "contains" means an array holding the value, never a substring.
        match self.op.as_str() {
            "eq" | "cont" => any_eq(),
            "neq" | "ne" | "ncont" => !any_eq(),
            op => {
                let Ok(want) = self.values[0].parse::<f64>() else {
                    return false;
                };
                found.iter().filter_map(|v| v.as_f64()).any(|x| match op {
                    "gt" => x > want,
                    "gte" => x >= want,
                    "lt" => x < want,
                    "lte" => x <= want,
                    _ => false,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(pairs: &[(&str, &str)]) -> Vec<Filter> {
        parse_filters(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn filters_follow_the_nbi_rules() {
        let r = json!({"name": "ldap", "queuePosition": 0, "_admin": {"nsState": "INSTANTIATED"}, "tags": ["a", "b"], "startTime": 10.5});
        assert!(q(&[("name", "ldap")])[0].matches(&r));
        assert!(q(&[("name", "x,ldap")])[0].matches(&r));
        assert!(
            !q(&[("queuePosition", "0")])[0].matches(&r),
            "strings never equal numbers"
        );
        assert!(q(&[("_admin.nsState", "INSTANTIATED")])[0].matches(&r));
        assert!(q(&[("tags", "b")])[0].matches(&r));
        assert!(q(&[("startTime.gt", "10")])[0].matches(&r));
        assert!(q(&[("name.neq", "other")])[0].matches(&r));
        assert!(!q(&[("unknown", "x")])[0].matches(&r));
        assert!(q(&[("FORCE", "true")]).is_empty());
    }

    /// osm_common `dbmongo._format_filter` (its docstring: `A.cont=B >> A: B`,
    /// `A.ncont=B >> A: {$nin: B}`), as OSM's NBI answered on the bed: `description.cont=Session`
    /// found nothing although a description began with it.
    #[test]
    fn cont_is_membership_not_a_substring() {
        let r = json!({"description": "Session cache", "tags": ["a", "b"]});
        assert!(!q(&[("description.cont", "Session")])[0].matches(&r));
        assert!(q(&[("description.cont", "Session cache")])[0].matches(&r));
        assert!(q(&[("tags.cont", "b")])[0].matches(&r));
        assert!(q(&[("description.ncont", "Session")])[0].matches(&r));
        assert!(!q(&[("tags.ncont", "x,a")])[0].matches(&r));
    }
}
