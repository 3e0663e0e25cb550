//! `/osm/admin/v1`: tokens (osm-nbi.md §2), and the read-only admin collections — VIM accounts,
//! K8s clusters, projects, users and roles — with what the `osm` CLI reads of them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::{json, Value};

use super::db::{now, Db, TokenRecord};
use super::http::{method_not_allowed, not_found, Reply, Request, Status, REALM};
use super::Shared;

/// The one role every seeded user has in every project.
pub const PROJECT_ADMIN_ROLE: &str = "3d2a1c4e-0000-4000-8000-000000000001";

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

/// `/admin/v1/tokens[/<id>]`: the only routes that need no token.
pub async fn tokens(shared: &Arc<Shared>, req: &Request, rest: &[&str]) -> Reply {
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
        (&Method::DELETE, []) => match bearer(req) {
            Some(tok) => revoke(shared, &tok),
            None => Reply::error(Status::UNAUTHORIZED, REALM),
        },
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

/// A token as the internal auth backend records it (`authconn_internal.py` `authenticate`); the
/// login answer adds where the request came from (`auth.py`), which `GET tokens/<id>` lacks.
fn token_json(id: &str, r: &TokenRecord) -> Value {
    json!({
        "issued_at": r.issued_at, "expires": r.expires, "_id": id, "id": id,
        "project_id": r.project_id, "project_name": r.project_name,
        "username": r.user, "user_id": r.user_id,
        "admin": r.project_name == "admin",
        "roles": [{"name": "project_admin", "id": PROJECT_ADMIN_ROLE}],
        "login_count": 0, "last_login": r.last_login,
        "admin_show": r.project_name == "admin", "user_show": false,
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
            Some(_) => {
                return Reply::error(
                    Status::UNAUTHORIZED,
                    format!("project {p} not allowed for this user"),
                )
            }
            // OSM looks the project up first: an unknown one is the database's 404.
            None => {
                let key = if is_uuid(&p) { "_id" } else { "name" };
                return not_found(&format!("{{'{key}': '{p}'}}"));
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
        rand::rng()
            .sample_iter(&rand::distr::Alphanumeric)
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
        last_login: db.last_token_time.get(&user.name).copied(),
    };
    let mut body = token_json(&id, &rec);
    body["remote_port"] = json!(remote_port(req));
    body["remote_host"] = json!("127.0.0.1");
    db.last_token_time.insert(user.name.clone(), issued);
    db.tokens.insert(id.clone(), rec);
    db.last_login.insert(user.name.clone(), Instant::now());
    let mut r = Reply::json(Status::OK, body).with_location(format!("/osm/admin/v1/tokens/{id}"));
    // A leftover of the failed pre-authorization attempt, sent by OSM on a successful login too.
    r.headers
        .push(("WWW-Authenticate", format!("Bearer realm=\"{REALM}\"")));
    r
}

/// The client's port, as CherryPy tells the NBI (`remote.port`); 0 when unknown.
fn remote_port(req: &Request) -> u16 {
    req.peer.map_or(0, |a| a.port())
}

fn bearer(req: &Request) -> Option<String> {
    bearer_of(&req.headers)
}

fn bearer_of(headers: &axum::http::HeaderMap) -> Option<String> {
    let h = headers.get("authorization")?.to_str().ok()?;
    let (scheme, _) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    h.split_whitespace().last().map(str::to_owned)
}

pub fn authenticate(shared: &Arc<Shared>, req: &Request) -> Result<TokenRecord, Reply> {
    authenticate_headers(shared, &req.headers)
}

/// The token a request's headers carry, checked as the NBI's `authorize()` does.
pub fn authenticate_headers(
    shared: &Arc<Shared>,
    headers: &axum::http::HeaderMap,
) -> Result<TokenRecord, Reply> {
    let Some(tok) = bearer_of(headers) else {
        return Err(Reply::error(Status::UNAUTHORIZED, REALM));
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

/// `GET /admin/v1/projects[/<id>]`: the projects the caller's user belongs to (`osm project-list`
/// and `osm ns-list --long` read them).
pub fn projects(db: &Db, token: &TokenRecord, id: Option<&str>) -> Reply {
    let Some(user) = db.users.iter().find(|u| u.name == token.user) else {
        return Reply::json(Status::OK, json!([]));
    };
    let records: Vec<Value> = db
        .projects
        .iter()
        .filter(|p| user.projects.contains(&p.id))
        .map(|p| {
            json!({"_id": p.id, "name": p.name, "quotas": {},
                   "_admin": {"created": 0.0, "modified": 0.0, "default": p.name == "admin"}})
        })
        .collect();
    one_or_all(records, id, |r, id| r["_id"] == id || r["name"] == id)
}

/// `GET /admin/v1/users[/<id>]`: users with their project-role mappings, never passwords.
pub fn users(db: &Db, id: Option<&str>) -> Reply {
    let records: Vec<Value> = db
        .users
        .iter()
        .map(|u| {
            let mappings: Vec<Value> = u
                .projects
                .iter()
                .filter_map(|pid| db.projects.iter().find(|p| &p.id == pid))
                .map(|p| {
                    json!({"project": p.id, "project_name": p.name,
                           "role": PROJECT_ADMIN_ROLE, "role_name": "project_admin"})
                })
                .collect();
            json!({"_id": u.id, "username": u.name, "project_role_mappings": mappings,
                   "projects": u.projects, "_admin": {"created": 0.0, "modified": 0.0}})
        })
        .collect();
    one_or_all(records, id, |r, id| r["_id"] == id || r["username"] == id)
}

/// `GET /admin/v1/roles[/<id>]`.
pub fn roles(id: Option<&str>) -> Reply {
    let records = vec![json!({
        "_id": PROJECT_ADMIN_ROLE, "name": "project_admin",
        "permissions": {"default": true, "admin": false},
        "_admin": {"created": 0.0, "modified": 0.0},
    })];
    one_or_all(records, id, |r, id| r["_id"] == id || r["name"] == id)
}

fn one_or_all(records: Vec<Value>, id: Option<&str>, is: fn(&Value, &str) -> bool) -> Reply {
    match id {
        None => Reply::json(Status::OK, Value::Array(records)),
        Some(id) => match records.into_iter().find(|r| is(r, id)) {
            Some(r) => Reply::json(Status::OK, r),
            None => not_found(&format!("{{'_id': '{id}'}}")),
        },
    }
}
