//! The NBI's routes and rules (osm-nbi.md §1-8, §11), on the in-memory [`Db`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use super::db::{parse_filters, Collection, Db, TokenRecord};
use super::lcm;
use super::pkg::{self, Kind};
use super::Shared;

pub type Status = axum::http::StatusCode;

/// What a route answers; rendered as JSON or YAML according to `Accept`.
pub struct Reply {
    pub status: Status,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: Status, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: vec![],
        }
    }

    pub fn empty(status: Status) -> Reply {
        Reply {
            status,
            body: None,
            headers: vec![],
        }
    }

    /// The NBI's error body `{code, status, detail}`.
    pub fn error(status: Status, detail: impl Into<String>) -> Reply {
        let code = status
            .canonical_reason()
            .unwrap_or("UNKNOWN")
            .to_uppercase()
            .replace(' ', "_");
        let detail = detail.into();
        let mut r = Reply::json(
            status,
            json!({"code": code, "status": status.as_u16(), "detail": detail}),
        );
        if status == Status::UNAUTHORIZED {
            r.headers
                .push(("WWW-Authenticate", format!("Bearer realm=\"{detail}\"")));
        }
        r
    }

    fn with_location(mut self, path: String) -> Reply {
        self.headers.push(("Location", path));
        self
    }
}

pub struct Request {
    pub method: Method,
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn content_type(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .to_ascii_lowercase()
    }

    fn force(&self) -> bool {
        self.query
            .iter()
            .any(|(k, v)| k == "FORCE" && !v.eq_ignore_ascii_case("false"))
    }

    /// JSON for `application/json`, YAML (a JSON superset) otherwise; empty body = `{}`.
    fn parse_body(&self) -> Result<Value, Reply> {
        if self.body.is_empty() {
            return Ok(json!({}));
        }
        if self.content_type().contains("application/json") {
            serde_json::from_slice(&self.body)
                .map_err(|e| Reply::error(Status::BAD_REQUEST, format!("Invalid json format {e}")))
        } else {
            let y: serde_yaml::Value = serde_yaml::from_slice(&self.body).map_err(|e| {
                Reply::error(Status::BAD_REQUEST, format!("Invalid yaml format {e}"))
            })?;
            serde_json::to_value(y)
                .map_err(|e| Reply::error(Status::BAD_REQUEST, format!("Invalid yaml format {e}")))
        }
    }

    /// Query parameters that are filters (everything but the admin words).
    fn filters(&self) -> Vec<(String, String)> {
        self.query.clone()
    }
}

pub fn now() -> f64 {
    crate::osm::now_epoch()
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn unexpected(seg: &str) -> Reply {
    Reply::error(
        Status::METHOD_NOT_ALLOWED,
        format!("Unexpected URL item {seg}"),
    )
}

fn method_not_allowed(m: &Method) -> Reply {
    Reply::error(
        Status::METHOD_NOT_ALLOWED,
        format!("Method {m} not supported for this URL"),
    )
}

/// Routes one request (path segments after `/osm`).
pub async fn dispatch(shared: &Arc<Shared>, req: Request) -> Reply {
    let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    if segs == ["version"] && req.method == Method::GET {
        return Reply::json(
            Status::OK,
            json!({"version": "16.0.0+sim", "date": "2024-06-01"}),
        );
    }
    if segs.len() < 3 {
        return unexpected(segs.last().copied().unwrap_or("/"));
    }
    let (main, version, topic, rest) = (segs[0], segs[1], segs[2], &segs[3..]);
    if version != "v1" {
        return unexpected(version);
    }
    if (main, topic) == ("admin", "tokens") {
        return tokens(shared, &req, rest).await;
    }
    let token = match authenticate(shared, &req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let mut db = shared.db.lock().expect("sim db lock");
    let p = token.project_id.as_str();
    let m = &req.method;
    match (main, topic, rest, m.clone()) {
        ("admin", "vim_accounts" | "vims", [], Method::GET) => {
            list(&db, Collection::VimAccounts, p, &req)
        }
        ("admin", "vim_accounts" | "vims", [id], Method::GET) => {
            show(&db, Collection::VimAccounts, p, id)
        }
        ("admin", "k8sclusters", [], Method::GET) => list(&db, Collection::K8sClusters, p, &req),
        ("admin", "k8sclusters", [id], Method::GET) => show(&db, Collection::K8sClusters, p, id),

        ("vnfpkgm", "vnf_packages_content" | "vnf_packages", [], Method::GET) => {
            list(&db, Collection::Vnfds, p, &req)
        }
        ("vnfpkgm", "vnf_packages_content", [], Method::POST) => {
            upload(&mut db, Kind::Vnfd, p, &req, None)
        }
        ("vnfpkgm", "vnf_packages_content" | "vnf_packages", [id], Method::GET) => {
            show(&db, Collection::Vnfds, p, id)
        }
        ("vnfpkgm", "vnf_packages_content", [id], Method::PUT) => {
            edit_descriptor(&mut db, Kind::Vnfd, p, id, &req)
        }
        ("vnfpkgm", "vnf_packages_content" | "vnf_packages", [id], Method::DELETE) => {
            delete_package(&mut db, Kind::Vnfd, p, id, req.force())
        }
        ("vnfpkgm", "vnf_packages", [id, "package_content"], Method::PUT) => {
            upload(&mut db, Kind::Vnfd, p, &req, Some(id))
        }

        ("nsd", "ns_descriptors_content" | "ns_descriptors", [], Method::GET) => {
            list(&db, Collection::Nsds, p, &req)
        }
        ("nsd", "ns_descriptors_content", [], Method::POST) => {
            upload(&mut db, Kind::Nsd, p, &req, None)
        }
        ("nsd", "ns_descriptors_content" | "ns_descriptors", [id], Method::GET) => {
            show(&db, Collection::Nsds, p, id)
        }
        ("nsd", "ns_descriptors_content", [id], Method::PUT) => {
            edit_descriptor(&mut db, Kind::Nsd, p, id, &req)
        }
        ("nsd", "ns_descriptors_content" | "ns_descriptors", [id], Method::DELETE) => {
            delete_package(&mut db, Kind::Nsd, p, id, req.force())
        }
        ("nsd", "ns_descriptors", [id, "nsd_content"], Method::PUT) => {
            upload(&mut db, Kind::Nsd, p, &req, Some(id))
        }

        ("nslcm", "ns_instances_content" | "ns_instances", [], Method::GET) => {
            list(&db, Collection::Nsrs, p, &req)
        }
        ("nslcm", "ns_instances_content", [], Method::POST) => {
            create_ns(shared, &mut db, &token, &req)
        }
        ("nslcm", "ns_instances_content" | "ns_instances", [id], Method::GET) => {
            show(&db, Collection::Nsrs, p, id)
        }
        ("nslcm", "ns_instances_content", [id], Method::DELETE) => {
            delete_ns(shared, &mut db, p, id, &req, true)
        }
        ("nslcm", "ns_instances", [id], Method::DELETE) => {
            delete_ns(shared, &mut db, p, id, &req, false)
        }
        (
            "nslcm",
            "ns_instances",
            [id, op @ ("action" | "terminate" | "instantiate")],
            Method::POST,
        ) => ns_operation(shared, &mut db, p, id, op, &req),
        ("nslcm", "ns_lcm_op_occs", [], Method::GET) => list(&db, Collection::NsLcmOps, p, &req),
        ("nslcm", "ns_lcm_op_occs", [id], Method::GET) => show(&db, Collection::NsLcmOps, p, id),
        ("nslcm", "vnf_instances" | "vnfrs", [], Method::GET) => {
            list(&db, Collection::Vnfrs, p, &req)
        }
        ("nslcm", "vnf_instances" | "vnfrs", [id], Method::GET) => {
            show(&db, Collection::Vnfrs, p, id)
        }
        _ => {
            let known = matches!(
                (main, topic),
                ("admin", "vim_accounts" | "vims" | "k8sclusters")
                    | ("vnfpkgm", "vnf_packages_content" | "vnf_packages")
                    | ("nsd", "ns_descriptors_content" | "ns_descriptors")
                    | (
                        "nslcm",
                        "ns_instances_content"
                            | "ns_instances"
                            | "ns_lcm_op_occs"
                            | "vnf_instances"
                            | "vnfrs"
                    )
            );
            if known && rest.len() <= 2 {
                method_not_allowed(m)
            } else {
                unexpected(rest.last().copied().unwrap_or(topic))
            }
        }
    }
}

fn list(db: &Db, c: Collection, project: &str, req: &Request) -> Reply {
    let filters = parse_filters(&req.filters());
    let items: Vec<Value> = db
        .visible(c, project)
        .filter(|r| filters.iter().all(|f| f.matches(r)))
        .cloned()
        .collect();
    Reply::json(Status::OK, Value::Array(items))
}

fn show(db: &Db, c: Collection, project: &str, id: &str) -> Reply {
    match db.find_by_id(c, project, id) {
        Some(r) => Reply::json(Status::OK, r.clone()),
        None => not_found(c, id),
    }
}

fn not_found(c: Collection, id: &str) -> Reply {
    Reply::error(
        Status::NOT_FOUND,
        format!(
            "database exception Not found any {} with filter='{{'_id': '{id}'}}'",
            c.singular()
        ),
    )
}

// ---------------------------------------------------------------- tokens

async fn tokens(shared: &Arc<Shared>, req: &Request, rest: &[&str]) -> Reply {
    match (&req.method, rest) {
        (&Method::POST, []) => login(shared, req).await,
        (&Method::GET, []) => match authenticate(shared, req) {
            Ok(t) => {
                let db = shared.db.lock().expect("sim db lock");
                let now = now();
                let list: Vec<Value> = db
                    .tokens
                    .iter()
                    .filter(|(_, r)| r.user == t.user && r.expires > now)
                    .map(|(id, r)| token_json(id, r))
                    .collect();
                Reply::json(Status::OK, Value::Array(list))
            }
            Err(r) => r,
        },
        (&Method::GET, [id]) => match authenticate(shared, req) {
            Ok(t) => {
                let db = shared.db.lock().expect("sim db lock");
                match db.tokens.get(*id) {
                    Some(r) if r.user == t.user => Reply::json(Status::OK, token_json(id, r)),
                    Some(_) => Reply::error(Status::UNAUTHORIZED, "needed admin privileges"),
                    None => Reply::error(Status::NOT_FOUND, "token not found"),
                }
            }
            Err(r) => r,
        },
        (&Method::DELETE, []) => {
            let Some(tok) = bearer(req) else {
                return Reply::error(
                    Status::UNAUTHORIZED,
                    "Needed a token or Authorization http header",
                );
            };
            revoke(shared, &tok)
        }
        (&Method::DELETE, [id]) => revoke(shared, id),
        _ => method_not_allowed(&req.method),
    }
}

fn revoke(shared: &Arc<Shared>, id: &str) -> Reply {
    let mut db = shared.db.lock().expect("sim db lock");
    match db.tokens.remove(id) {
        Some(_) => Reply::json(Status::OK, Value::String(format!("token '{id}' deleted"))),
        None => Reply::error(Status::NOT_FOUND, "token not found"),
    }
}

fn token_json(id: &str, r: &TokenRecord) -> Value {
    json!({
        "_id": id, "id": id, "issued_at": r.issued_at, "expires": r.expires,
        "project_id": r.project_id, "project_name": r.project_name,
        "username": r.user, "user_id": r.user_id,
        "admin": r.project_name == "admin",
        "roles": [{"name": "project_admin", "id": "3d2a1c4e-0000-4000-8000-000000000001"}],
        "remote_port": 0, "remote_host": "127.0.0.1",
    })
}

async fn login(shared: &Arc<Shared>, req: &Request) -> Reply {
    let body = match req.parse_body() {
        Ok(Value::Object(m)) => m,
        Ok(_) => {
            return Reply::error(
                Status::BAD_REQUEST,
                "Expected application/yaml or application/json Content-Type",
            )
        }
        Err(r) => return r,
    };
    let field = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let (Some(username), Some(password)) = (field("username"), field("password")) else {
        return Reply::error(
            Status::UNAUTHORIZED,
            "Provide credentials: username/password or Authorization Bearer token",
        );
    };
    // Look the user up and decide on the throttle without holding the lock across the sleep.
    let throttle = {
        let db = shared.db.lock().expect("sim db lock");
        let Some(user) = db
            .users
            .iter()
            .find(|u| u.name == username && u.password == password)
        else {
            return Reply::error(Status::UNAUTHORIZED, "Invalid username/password");
        };
        shared.config.token_throttle
            && db
                .last_login
                .get(&user.name)
                .is_some_and(|t| t.elapsed() < Duration::from_secs(2))
    };
    if throttle {
        // The internal auth backend sleeps 1 s when the same user got a token less than 2 s ago.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let mut db = shared.db.lock().expect("sim db lock");
    let Some(user) = db.users.iter().find(|u| u.name == username).cloned() else {
        return Reply::error(Status::UNAUTHORIZED, "Invalid username/password");
    };
    let project = match field("project_id") {
        Some(p) => match db.projects.iter().find(|pr| pr.name == p || pr.id == p) {
            Some(pr) if user.projects.contains(&pr.id) => pr.clone(),
            _ => {
                return Reply::error(
                    Status::UNAUTHORIZED,
                    format!("project {p} not allowed for this user"),
                )
            }
        },
        None => match user
            .projects
            .first()
            .and_then(|id| db.projects.iter().find(|p| &p.id == id))
        {
            Some(p) => p.clone(),
            None => {
                return Reply::error(
                    Status::UNAUTHORIZED,
                    "can't find a default project for this user",
                )
            }
        },
    };
    let id: String = {
        use rand::Rng;
        rand::thread_rng()
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(32)
            .map(char::from)
            .collect()
    };
    let issued = now();
    let rec = TokenRecord {
        user: user.name.clone(),
        user_id: user.id.clone(),
        project_id: project.id.clone(),
        project_name: project.name.clone(),
        issued_at: issued,
        expires: issued + shared.config.token_ttl.as_secs_f64(),
    };
    let body = token_json(&id, &rec);
    db.tokens.insert(id.clone(), rec);
    db.last_login.insert(user.name.clone(), Instant::now());
    let mut r = Reply::json(Status::OK, body).with_location(format!("/osm/admin/v1/tokens/{id}"));
    r.headers.push((
        "WWW-Authenticate",
        "Bearer realm=\"Needed a token or Authorization http header\"".into(),
    ));
    r
}

fn bearer(req: &Request) -> Option<String> {
    let h = req.header("authorization")?;
    let (scheme, _) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    h.split_whitespace().last().map(str::to_owned)
}

fn authenticate(shared: &Arc<Shared>, req: &Request) -> Result<TokenRecord, Reply> {
    let Some(tok) = bearer(req) else {
        return Err(Reply::error(
            Status::UNAUTHORIZED,
            "Needed a token or Authorization http header",
        ));
    };
    let db = shared.db.lock().expect("sim db lock");
    match db.tokens.get(&tok) {
        None => Err(Reply::error(
            Status::UNAUTHORIZED,
            "Invalid Token or Authorization HTTP header",
        )),
        Some(t) if t.expires < now() => Err(Reply::error(
            Status::UNAUTHORIZED,
            "Expired Token or Authorization HTTP header",
        )),
        Some(t) => Ok(t.clone()),
    }
}

// ---------------------------------------------------------------- packages

fn coll_of(kind: Kind) -> Collection {
    match kind {
        Kind::Vnfd => Collection::Vnfds,
        Kind::Nsd => Collection::Nsds,
    }
}

fn admin_block(project: &str, extra: Value) -> Value {
    let t = now();
    let mut admin = json!({"created": t, "modified": t, "projects_read": [project], "projects_write": [project]});
    if let (Some(a), Value::Object(e)) = (admin.as_object_mut(), extra) {
        a.extend(e);
    }
    admin
}

/// POST `*_content` (create) or PUT `.../package_content|nsd_content` (full replace).
fn upload(db: &mut Db, kind: Kind, project: &str, req: &Request, replace: Option<&str>) -> Reply {
    let coll = coll_of(kind);
    if let Some(id) = replace {
        if db.find_by_id(coll, project, id).is_none() {
            return not_found(coll, id);
        }
    }
    if let Some(md5) = req.header("content-file-md5") {
        let actual = hex::encode(Md5::digest(&req.body));
        // Exact string comparison with the lowercase hex digest, as the NBI does.
        if md5 != actual {
            return Reply::error(Status::CONFLICT, "Error, MD5 mismatch");
        }
    }
    let up = match pkg::open_upload(kind, &req.content_type(), &req.body) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let desc_id = up.descriptor["id"].as_str().unwrap_or_default().to_owned();
    let clash = db.visible(coll, project).any(|r| {
        r["id"] == desc_id.as_str() && Some(r["_id"].as_str().unwrap_or_default()) != replace
    });
    if clash && !req.force() {
        return Reply::error(
            Status::CONFLICT,
            format!(
                "{} with id '{desc_id}' already exists for this project",
                kind.name()
            ),
        );
    }
    if kind == Kind::Nsd {
        if let Err(r) = check_nsd_references(db, project, &up.descriptor) {
            return r;
        }
    }
    let filename = req
        .header("content-filename")
        .unwrap_or("package.tar.gz")
        .to_owned();
    let osm_id = replace.map(str::to_owned).unwrap_or_else(new_id);
    let revision = replace
        .and_then(|id| db.find_by_id(coll, project, id))
        .and_then(|r| r.pointer("/_admin/revision").and_then(|v| v.as_u64()))
        .unwrap_or(0)
        + 1;
    let mut record = up.descriptor.clone();
    let (base, self_link, content_link) = match kind {
        Kind::Vnfd => ("/vnfpkgm/v1/vnf_packages", "vnfd", "packageContent"),
        Kind::Nsd => ("/nsd/v1/ns_descriptors", "nsd_content", "nsd_content"),
    };
    let obj = record.as_object_mut().expect("descriptors are objects");
    obj.insert("_id".into(), json!(osm_id));
    obj.insert(
        "_admin".into(),
        admin_block(
            project,
            json!({
                "userDefinedData": {}, "onboardingState": "ONBOARDED", "operationalState": "ENABLED",
                "usageState": "NOT_IN_USE", "revision": revision, "type": kind.name(),
                "storage": {"fs": "mongo", "path": "/app/storage/", "folder": osm_id,
                    "pkg-dir": up.pkg_dir, "descriptor": up.descriptor_file, "zipfile": filename},
            }),
        ),
    );
    match kind {
        Kind::Vnfd => {
            obj.insert("onboardingState".into(), json!("ONBOARDED"));
            obj.insert("operationalState".into(), json!("ENABLED"));
            obj.insert("usageState".into(), json!("NOT_IN_USE"));
        }
        Kind::Nsd => {
            obj.insert("nsdOnboardingState".into(), json!("ONBOARDED"));
            obj.insert("nsdOperationalState".into(), json!("ENABLED"));
            obj.insert("nsdUsageState".into(), json!("NOT_IN_USE"));
        }
    }
    obj.insert(
        "_links".into(),
        json!({"self": {"href": format!("{base}/{osm_id}")}, self_link: {"href": format!("{base}/{osm_id}/{self_link}")},
               content_link: {"href": format!("{base}/{osm_id}/{}", if kind == Kind::Vnfd {"package_content"} else {"nsd_content"})}}),
    );
    match replace {
        Some(id) => {
            let slot = db.find_by_id_mut(coll, project, id).expect("checked above");
            *slot = record;
            Reply::empty(Status::NO_CONTENT)
        }
        None => {
            db.coll_mut(coll).push(record);
            let path = match kind {
                Kind::Vnfd => format!("/osm/vnfpkgm/v1/vnf_packages_content/{osm_id}"),
                Kind::Nsd => format!("/osm/nsd/v1/ns_descriptors_content/{osm_id}"),
            };
            Reply::json(Status::CREATED, json!({"id": osm_id})).with_location(path)
        }
    }
}

fn check_nsd_references(db: &Db, project: &str, nsd: &Value) -> Result<(), Reply> {
    for r in nsd
        .get("vnfd-id")
        .and_then(|l| l.as_array())
        .into_iter()
        .flatten()
    {
        let r = r.as_str().unwrap_or_default();
        if !db.visible(Collection::Vnfds, project).any(|v| v["id"] == r) {
            return Err(Reply::error(
                Status::CONFLICT,
                format!("Descriptor error at 'vnfd-id'='{r}' references a non existing vnfd"),
            ));
        }
    }
    Ok(())
}

/// PUT `*_content/<_id>` with a YAML/JSON descriptor: RFC 7396 merge-patch of the DB record only.
fn edit_descriptor(db: &mut Db, kind: Kind, project: &str, id: &str, req: &Request) -> Reply {
    let coll = coll_of(kind);
    if db.find_by_id(coll, project, id).is_none() {
        return not_found(coll, id);
    }
    let ct = req.content_type();
    if ct.contains("gzip") || ct.contains("zip") || ct.contains("binary") {
        return Reply::error(
            Status::BAD_REQUEST,
            "'RequestBody' object has no attribute 'get'",
        );
    }
    let patch = match req.parse_body() {
        Ok(Value::Object(m)) if m.is_empty() => {
            return Reply::error(Status::BAD_REQUEST, "Nothing to update")
        }
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return Reply::error(
                Status::BAD_REQUEST,
                "'RequestBody' object has no attribute 'get'",
            )
        }
        Err(r) => return r,
    };
    let patch = match pkg::strip_envelope(kind, patch.clone()) {
        Ok(p) => p,
        // Without an id the patch still applies to the stored record.
        Err(_) => patch,
    };
    if let Some(new_id) = patch.get("id").and_then(|v| v.as_str()) {
        if db
            .visible(coll, project)
            .any(|r| r["id"] == new_id && r["_id"] != id)
        {
            return Reply::error(
                Status::CONFLICT,
                format!(
                    "{} with id '{new_id}' already exists for this project",
                    kind.name()
                ),
            );
        }
    }
    let record = db.find_by_id_mut(coll, project, id).expect("checked above");
    merge_patch(record, &patch);
    Reply::empty(Status::NO_CONTENT)
}

fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn delete_package(db: &mut Db, kind: Kind, project: &str, id: &str, force: bool) -> Reply {
    let coll = coll_of(kind);
    let Some(record) = db.find_by_id(coll, project, id).cloned() else {
        return not_found(coll, id);
    };
    if !force {
        match kind {
            Kind::Vnfd => {
                if db
                    .visible(Collection::Vnfrs, project)
                    .any(|r| r["vnfd-id"] == id)
                {
                    return Reply::error(
                        Status::CONFLICT,
                        "There is at least one VNF instance using this descriptor",
                    );
                }
                let desc_id = &record["id"];
                if db
                    .visible(Collection::Nsds, project)
                    .any(|n| n["vnfd-id"].as_array().is_some_and(|l| l.contains(desc_id)))
                {
                    return Reply::error(
                        Status::CONFLICT,
                        "There is at least one NS package referencing this descriptor",
                    );
                }
            }
            Kind::Nsd => {
                if db
                    .visible(Collection::Nsrs, project)
                    .any(|r| r["nsd-id"] == id)
                {
                    return Reply::error(
                        Status::CONFLICT,
                        "There is at least one NS instance using this descriptor",
                    );
                }
            }
        }
    }
    db.remove_where(coll, |r| r["_id"] == id);
    Reply::empty(Status::NO_CONTENT)
}

// ---------------------------------------------------------------- NS instances

const NS_INSTANTIATE_KEYS: [&str; 20] = [
    "nsName",
    "nsdId",
    "vimAccountId",
    "nsDescription",
    "additionalParamsForNs",
    "additionalParamsForVnf",
    "vnf",
    "vld",
    "wimAccountId",
    "ssh_keys",
    "timeout_ns_deploy",
    "k8s-namespace",
    "placement-engine",
    "placement-constraints",
    "lcmOperationType",
    "nsInstanceId",
    "netsliceInstanceId",
    "nsConfigTemplateId",
    "affinity-or-anti-affinity-group",
    "paas",
];

fn format_error(path: &str, msg: impl std::fmt::Display) -> Reply {
    Reply::error(
        Status::UNPROCESSABLE_ENTITY,
        format!("Format error at '{path}' '{msg}'"),
    )
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

fn validate_ns_instantiate(body: &Map<String, Value>) -> Result<(), Reply> {
    for k in body.keys() {
        if !NS_INSTANTIATE_KEYS.contains(&k.as_str()) {
            return Err(format_error(
                "",
                format!("Additional properties are not allowed ('{k}' was unexpected)"),
            ));
        }
    }
    for req in ["nsName", "nsdId", "vimAccountId"] {
        if !body.contains_key(req) {
            return Err(format_error("", format!("'{req}' is a required property")));
        }
    }
    let name = body["nsName"]
        .as_str()
        .ok_or_else(|| format_error("nsName", "is not of type 'string'"))?;
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(|c| ",;()'\"".contains(c))
    {
        return Err(format_error(
            "nsName",
            format!("'{name}' does not match '^[^,;()\\.\\$'\"]+$'"),
        ));
    }
    for k in ["nsdId", "vimAccountId"] {
        let v = body[k].as_str().unwrap_or_default();
        if !is_uuid(v) {
            return Err(format_error(k, format!("'{v}' does not match '^[a-fA-F0-9]{{8}}(-[a-fA-F0-9]{{4}}){{3}}-[a-fA-F0-9]{{12}}$'")));
        }
    }
    match body.get("nsDescription") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if !s.contains('"') => {}
        Some(_) => return Err(format_error("nsDescription", "is not valid")),
    }
    if let Some(vnfs) = body.get("additionalParamsForVnf") {
        let list = vnfs
            .as_array()
            .ok_or_else(|| format_error("additionalParamsForVnf", "is not of type 'array'"))?;
        for (i, vnf) in list.iter().enumerate() {
            let path = format!("additionalParamsForVnf:{i}");
            let m = vnf
                .as_object()
                .ok_or_else(|| format_error(&path, "is not of type 'object'"))?;
            if !m.get("member-vnf-index").is_some_and(|v| v.is_string()) {
                return Err(format_error(
                    &path,
                    "'member-vnf-index' is a required property",
                ));
            }
            if m.len() < 2 {
                return Err(format_error(&path, "does not have enough properties"));
            }
            if let Some(p) = m.get("additionalParams") {
                if !p.is_object() {
                    return Err(format_error(
                        &format!("{path}:additionalParams"),
                        "is not of type 'object'",
                    ));
                }
            }
            for (j, kdu) in m
                .get("additionalParamsForKdu")
                .and_then(|k| k.as_array())
                .into_iter()
                .flatten()
                .enumerate()
            {
                let kpath = format!("{path}:additionalParamsForKdu:{j}");
                let km = kdu
                    .as_object()
                    .ok_or_else(|| format_error(&kpath, "is not of type 'object'"))?;
                if !km.get("kdu_name").is_some_and(|v| v.is_string()) {
                    return Err(format_error(&kpath, "'kdu_name' is a required property"));
                }
                if km.len() < 2 {
                    return Err(format_error(&kpath, "does not have enough properties"));
                }
                if km.get("additionalParams").is_some_and(|p| !p.is_object()) {
                    return Err(format_error(
                        &format!("{kpath}:additionalParams"),
                        "is not of type 'object'",
                    ));
                }
            }
        }
    }
    Ok(())
}

fn kdu_params_for(body: &Map<String, Value>, member: &str, kdu: &str) -> Value {
    body.get("additionalParamsForVnf")
        .and_then(|l| l.as_array())
        .and_then(|l| l.iter().find(|v| v["member-vnf-index"] == member))
        .and_then(|v| v.get("additionalParamsForKdu"))
        .and_then(|l| l.as_array())
        .and_then(|l| l.iter().find(|k| k["kdu_name"] == kdu))
        .and_then(|k| k.get("additionalParams"))
        .cloned()
        .unwrap_or(Value::Null)
}

fn create_ns(shared: &Arc<Shared>, db: &mut Db, token: &TokenRecord, req: &Request) -> Reply {
    let project = token.project_id.as_str();
    let body = match req.parse_body() {
        Ok(Value::Object(m)) => m,
        Ok(_) => return format_error("", "is not of type 'object'"),
        Err(r) => return r,
    };
    if let Err(r) = validate_ns_instantiate(&body) {
        return r;
    }
    let nsd_id = body["nsdId"].as_str().unwrap_or_default();
    let vim_id = body["vimAccountId"].as_str().unwrap_or_default();
    let Some(nsd) = db.find_by_id(Collection::Nsds, project, nsd_id).cloned() else {
        return Reply::error(
            Status::NOT_FOUND,
            format!("Not found any nsd with filter='{{'_id': '{nsd_id}'}}' while 'getting nsd id='{nsd_id}' from database'"),
        );
    };
    if nsd.pointer("/_admin/operationalState") == Some(&json!("DISABLED")) {
        return Reply::error(Status::CONFLICT, format!("nsd '{nsd_id}' is DISABLED"));
    }
    let profiles: Vec<Value> = nsd
        .pointer("/df/0/vnf-profile")
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default();
    let mut members = Vec::new();
    for profile in &profiles {
        let member = profile["id"].as_str().unwrap_or_default().to_owned();
        let vnfd_ref = profile["vnfd-id"].as_str().unwrap_or_default();
        let Some(vnfd) = db
            .visible(Collection::Vnfds, project)
            .find(|v| v["id"] == vnfd_ref)
            .cloned()
        else {
            return Reply::error(
                Status::CONFLICT,
                format!(
                    "Descriptor error at 'vnfd-id'='{vnfd_ref}' references a non existing vnfd"
                ),
            );
        };
        members.push((member, vnfd));
    }
    if db
        .find_by_id(Collection::VimAccounts, project, vim_id)
        .is_none()
    {
        return Reply::error(
            Status::BAD_REQUEST,
            format!("Invalid vimAccountId='{vim_id}' not present for the project"),
        );
    }
    let k8scluster = db
        .visible(Collection::K8sClusters, project)
        .find(|k| k["vim_account"] == vim_id)
        .cloned();
    for (member, vnfd) in &members {
        let has_kdu = vnfd
            .get("kdu")
            .and_then(|k| k.as_array())
            .is_some_and(|k| !k.is_empty());
        if has_kdu && shared.config.check_k8scluster && k8scluster.is_none() {
            return Reply::error(
                Status::BAD_REQUEST,
                format!("No k8scluster with requirements='{{}}' at vim_account={vim_id} found for member_vnf_index={member}"),
            );
        }
    }
    let ns_name = body["nsName"].as_str().unwrap_or_default().to_owned();
    let nsr_id = new_id();
    let op_id = new_id();
    let t = now();
    let mut vnfr_ids = Vec::new();
    for (member, vnfd) in &members {
        let vnfr_id = new_id();
        vnfr_ids.push(vnfr_id.clone());
        let kdur: Vec<Value> = vnfd
            .get("kdu")
            .and_then(|k| k.as_array())
            .into_iter()
            .flatten()
            .map(|kdu| {
                let kname = kdu["name"].as_str().unwrap_or_default();
                let params = kdu_params_for(&body, member, kname);
                json!({
                    "kdu-name": kname, "helm-chart": kdu.get("helm-chart").cloned().unwrap_or(Value::Null),
                    "additionalParams": if params.is_null() { Value::Null } else { json!(params.to_string()) },
                    "k8s-namespace": nsr_id, "k8s-cluster": {"id": k8scluster.as_ref().map(|k| k["_id"].clone()).unwrap_or(Value::Null)},
                    "status": "scheduled",
                })
            })
            .collect();
        db.vnfrs.push(json!({
            "_id": vnfr_id, "id": vnfr_id, "nsr-id-ref": nsr_id, "member-vnf-index-ref": member,
            "vnfd-ref": vnfd["id"], "vnfd-id": vnfd["_id"], "vim-account-id": vim_id,
            "additionalParamsForVnf": Value::Null, "kdur": kdur, "vdur": [], "connection-point": [],
            "created-time": t, "_admin": admin_block(project, json!({"nsState": "NOT_INSTANTIATED"})),
        }));
    }
    db.nsrs.push(realistic_nsr(
        &nsr_id, &op_id, &ns_name, &body, &nsd, &members, &vnfr_ids, vim_id, project, t,
    ));
    let mut params = Value::Object(body.clone());
    params["lcmOperationType"] = json!("instantiate");
    params["nsInstanceId"] = json!(nsr_id);
    params["nsr_id"] = json!(nsr_id);
    db.nslcmops
        .push(new_op(&op_id, &nsr_id, "instantiate", params, project, t));
    lcm::schedule(shared, db, &op_id, &nsr_id, "instantiate", &ns_name);
    Reply::json(
        Status::CREATED,
        json!({"id": nsr_id, "nslcmop_id": op_id, "nsName": ns_name}),
    )
    .with_location(format!("/osm/nslcm/v1/ns_instances_content/{nsr_id}"))
}

fn new_op(op_id: &str, nsr_id: &str, op_type: &str, params: Value, project: &str, t: f64) -> Value {
    json!({
        "_id": op_id, "id": op_id, "operationState": "PROCESSING", "queuePosition": Value::Null, "stage": Value::Null,
        "errorMessage": Value::Null, "detailedStatus": Value::Null, "statusEnteredTime": t, "nsInstanceId": nsr_id,
        "lcmOperationType": op_type, "startTime": t, "isAutomaticInvocation": false, "operationParams": params,
        "isCancelPending": false,
        "links": {"self": format!("/osm/nslcm/v1/ns_lcm_op_occs/{op_id}"), "nsInstance": format!("/osm/nslcm/v1/ns_instances/{nsr_id}")},
        "_admin": admin_block(project, json!({})),
    })
}

/// An NS record shaped and sized like the real one (~6.5 KB: it embeds the whole NSD).
#[allow(clippy::too_many_arguments)]
fn realistic_nsr(
    nsr_id: &str,
    op_id: &str,
    name: &str,
    body: &Map<String, Value>,
    nsd: &Value,
    members: &[(String, Value)],
    vnfr_ids: &[String],
    vim_id: &str,
    project: &str,
    t: f64,
) -> Value {
    let mut instantiate_params = body.clone();
    instantiate_params.remove("additionalParamsForNs");
    instantiate_params.remove("additionalParamsForVnf");
    let k8s: Vec<Value> = members
        .iter()
        .flat_map(|(member, vnfd)| {
            vnfd.get("kdu").and_then(|k| k.as_array()).cloned().unwrap_or_default().into_iter().map(move |kdu| {
                json!({"kdu-instance": Value::Null, "k8scluster-uuid": Value::Null, "k8scluster-type": "helm-chart-v3",
                       "member-vnf-index": member, "kdu-name": kdu["name"], "kdu-model": kdu["helm-chart"],
                       "namespace": nsr_id, "status": Value::Null, "detailed-status": Value::Null})
            })
        })
        .collect();
    let vld: Vec<Value> = nsd
        .get("virtual-link-desc")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|vl| json!({"id": vl["id"], "name": vl["id"], "mgmt-network": vl.get("mgmt-network").cloned().unwrap_or(json!(false)),
                          "type": "ELAN", "vim_info": {format!("vim:{vim_id}"): {"vim_account_id": vim_id, "vim_network_name": Value::Null, "vim_details": Value::Null, "vim_id": Value::Null, "vim_status": Value::Null}}}))
        .collect();
    json!({
        "_id": nsr_id, "id": nsr_id, "name": name, "name-ref": name, "short-name": name,
        "description": body.get("nsDescription").cloned().unwrap_or(Value::Null),
        "admin-status": "ENABLED", "nsState": "NOT_INSTANTIATED", "currentOperation": "IDLE", "currentOperationID": Value::Null,
        "errorDescription": Value::Null, "errorDetail": Value::Null, "deploymentStatus": Value::Null, "configurationStatus": [],
        "vcaStatus": Value::Null, "operational-status": "init", "config-status": "init", "detailed-status": "scheduled",
        "orchestration-progress": {}, "create-time": t, "nsd-name-ref": nsd["name"], "operational-events": [],
        "nsd-ref": nsd["id"], "nsd-id": nsd["_id"], "vnfd-id": members.iter().map(|(_, v)| v["_id"].clone()).collect::<Vec<_>>(),
        "instantiate_params": instantiate_params, "additionalParamsForNs": body.get("additionalParamsForNs").cloned().unwrap_or(Value::Null),
        "ns-instance-config-ref": nsr_id, "nsd": nsd, "datacenter": vim_id, "resource-orchestrator": "osmopenmano",
        "constituent-vnfr-ref": vnfr_ids, "vld": vld, "flavor": [], "image": [], "affinity-or-anti-affinity-group": [],
        "shared-volumes": [], "ssh-authorized-key": Value::Null,
        "_admin": admin_block(project, json!({
            "nsState": "NOT_INSTANTIATED", "nslcmop": op_id, "operation-type": "instantiate", "current-operation": Value::Null,
            "deployed": {"RO": {"vnfd": [], "operational-status": "init", "detailed-status": ""}, "VCA": [], "K8s": k8s},
        })),
    })
}

const NS_ACTION_KEYS: [&str; 10] = [
    "member_vnf_index",
    "vnf_member_index",
    "kdu_name",
    "primitive",
    "primitive_params",
    "vdu_id",
    "vdu_count_index",
    "timeout_ns_action",
    "lcmOperationType",
    "nsInstanceId",
];
const KDU_BUILTIN_PRIMITIVES: [&str; 5] = ["upgrade", "rollback", "status", "inspect", "readme"];

fn ns_operation(
    shared: &Arc<Shared>,
    db: &mut Db,
    project: &str,
    id: &str,
    op: &str,
    req: &Request,
) -> Reply {
    let body = match req.parse_body() {
        Ok(Value::Object(m)) => m,
        Ok(_) => return format_error("", "is not of type 'object'"),
        Err(r) => return r,
    };
    if op == "action" {
        for k in body.keys() {
            if !NS_ACTION_KEYS.contains(&k.as_str()) {
                return format_error(
                    "",
                    format!("Additional properties are not allowed ('{k}' was unexpected)"),
                );
            }
        }
        if !body.get("primitive").is_some_and(|p| p.is_string()) {
            return format_error("", "'primitive' is a required property");
        }
        match body.get("primitive_params") {
            Some(Value::Object(_)) => {}
            None => return format_error("", "'primitive_params' is a required property"),
            Some(v) => {
                return format_error("primitive_params", format!("{v} is not of type 'object'"))
            }
        }
    }
    let Some(nsr) = db.find_by_id(Collection::Nsrs, project, id).cloned() else {
        return not_found(Collection::Nsrs, id);
    };
    let instantiated = nsr.pointer("/_admin/nsState") == Some(&json!("INSTANTIATED"));
    match (op, instantiated) {
        ("instantiate", true) if !req.force() => {
            return Reply::error(
                Status::CONFLICT,
                format!("ns_instance '{id}' cannot be '{op}' because it is already instantiated"),
            )
        }
        ("terminate", false) if body.get("autoremove") == Some(&json!(true)) => {
            return Reply::json(Status::ACCEPTED, json!({"id": Value::Null}))
        }
        ("action" | "terminate", false) => {
            return Reply::error(
                Status::CONFLICT,
                format!("ns_instance '{id}' cannot be '{op}' because it is not instantiated"),
            )
        }
        _ => {}
    }
    if op == "action" {
        let member = body
            .get("member_vnf_index")
            .or_else(|| body.get("vnf_member_index"))
            .and_then(|m| m.as_str());
        let primitive = body["primitive"].as_str().unwrap_or_default();
        let kdu_name = body.get("kdu_name").and_then(|k| k.as_str());
        if kdu_name.is_some() && KDU_BUILTIN_PRIMITIVES.contains(&primitive) && member.is_none() {
            return Reply::error(
                Status::BAD_REQUEST,
                "Missing action parameter 'member_vnf_index' for default KDU primitive",
            );
        }
        if let Some(member) = member {
            let Some(vnfr) = db
                .visible(Collection::Vnfrs, project)
                .find(|v| v["nsr-id-ref"] == id && v["member-vnf-index-ref"] == member)
            else {
                return Reply::error(Status::BAD_REQUEST, format!("Invalid parameter member_vnf_index='{member}' is not one of the nsd:constituent-vnfd"));
            };
            if let Some(kdu) = kdu_name {
                let known = vnfr["kdur"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|k| k["kdu-name"] == kdu));
                if !known {
                    return Reply::error(
                        Status::BAD_REQUEST,
                        format!("Invalid parameter kdu_name='{kdu}' not present at vnfd:kdu:name"),
                    );
                }
            } else if !KDU_BUILTIN_PRIMITIVES.contains(&primitive) {
                return Reply::error(Status::BAD_REQUEST, format!("Invalid parameter primitive='{primitive}' not present at vnfd:config-primitive"));
            }
        }
    }
    let op_id = new_id();
    let mut params = Value::Object(body);
    params["lcmOperationType"] = json!(op);
    params["nsInstanceId"] = json!(id);
    db.nslcmops
        .push(new_op(&op_id, id, op, params, project, now()));
    let name = nsr["name"].as_str().unwrap_or_default().to_owned();
    lcm::schedule(shared, db, &op_id, id, op, &name);
    Reply::json(Status::ACCEPTED, json!({"id": op_id, "nsName": name}))
        .with_location(format!("/osm/nslcm/v1/ns_lcm_op_occs/{op_id}"))
}

fn delete_ns(
    shared: &Arc<Shared>,
    db: &mut Db,
    project: &str,
    id: &str,
    req: &Request,
    content_route: bool,
) -> Reply {
    let Some(nsr) = db.find_by_id(Collection::Nsrs, project, id).cloned() else {
        return not_found(Collection::Nsrs, id);
    };
    let instantiated = nsr.pointer("/_admin/nsState") == Some(&json!("INSTANTIATED"));
    if req.force() || !instantiated {
        lcm::remove_ns(db, id);
        return Reply::empty(Status::NO_CONTENT);
    }
    if !content_route {
        return Reply::error(
            Status::CONFLICT,
            format!("nsr '{id}' cannot be deleted because it is in 'INSTANTIATED' state. Terminate it before deleting"),
        );
    }
    let autoremove = !req
        .query
        .iter()
        .any(|(k, v)| k == "autoremove" && v.eq_ignore_ascii_case("false"));
    let op_id = new_id();
    let params =
        json!({"autoremove": autoremove, "lcmOperationType": "terminate", "nsInstanceId": id});
    db.nslcmops
        .push(new_op(&op_id, id, "terminate", params, project, now()));
    let name = nsr["name"].as_str().unwrap_or_default().to_owned();
    lcm::schedule(shared, db, &op_id, id, "terminate", &name);
    Reply::json(Status::ACCEPTED, json!({"_id": op_id, "nsName": name}))
}
