//! The NBI's URL map (osm-nbi.md §11.1) as a table: `/osm/<main>/v1/<topic>[/<id>[/<item>]]`, each
//! route with the methods it answers. Anything else is 405, as the NBI answers (not 404): an
//! unknown URL item, or a method a known URL does not support.

use std::sync::Arc;

use axum::http::Method;
use serde_json::{json, Value};

use super::db::{parse_filters, Collection, Db, TokenRecord};
use super::http::{method_not_allowed, not_found, unexpected, Reply, Request, Status};
use super::pkg::Kind;
use super::{admin, ns, packages, Shared};

/// Everything a route handler may use.
struct Ctx<'a> {
    shared: &'a Arc<Shared>,
    db: &'a mut Db,
    token: &'a TokenRecord,
    req: &'a Request,
    /// The `{id}` of the URL, when the route has one.
    id: &'a str,
}

impl Ctx<'_> {
    fn project(&self) -> &str {
        &self.token.project_id
    }
}

type Handler = fn(&mut Ctx) -> Reply;

struct Route {
    /// Path after `/osm/`, with `{id}` for an id segment.
    pattern: &'static str,
    method: Method,
    handler: Handler,
}

macro_rules! route {
    ($method:ident $pattern:literal => $handler:expr) => {
        Route {
            pattern: $pattern,
            method: Method::$method,
            handler: $handler,
        }
    };
}

fn routes() -> &'static [Route] {
    static ROUTES: std::sync::OnceLock<Vec<Route>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| {
        vec![
            // admin
            route!(GET "admin/v1/vim_accounts" => |c| list(c, Collection::VimAccounts)),
            route!(GET "admin/v1/vims" => |c| list(c, Collection::VimAccounts)),
            route!(GET "admin/v1/vim_accounts/{id}" => |c| show(c, Collection::VimAccounts)),
            route!(GET "admin/v1/vims/{id}" => |c| show(c, Collection::VimAccounts)),
            route!(GET "admin/v1/k8sclusters" => |c| list(c, Collection::K8sClusters)),
            route!(GET "admin/v1/k8sclusters/{id}" => |c| show(c, Collection::K8sClusters)),
            route!(GET "admin/v1/projects" => |c| admin::projects(c.db, c.token, None)),
            route!(GET "admin/v1/projects/{id}" => |c| admin::projects(c.db, c.token, Some(c.id))),
            route!(GET "admin/v1/users" => |c| admin::users(c.db, None)),
            route!(GET "admin/v1/users/{id}" => |c| admin::users(c.db, Some(c.id))),
            route!(GET "admin/v1/roles" => |_| admin::roles(None)),
            route!(GET "admin/v1/roles/{id}" => |c| admin::roles(Some(c.id))),
            // VNF packages
            route!(GET "vnfpkgm/v1/vnf_packages_content" => |c| list(c, Collection::Vnfds)),
            route!(GET "vnfpkgm/v1/vnf_packages" => |c| list(c, Collection::Vnfds)),
            route!(POST "vnfpkgm/v1/vnf_packages_content" => |c| {
                let p = c.project().to_owned();
                packages::upload(c.db, Kind::Vnfd, &p, c.req, None, c.shared.config.max_uncompressed_package)
            }),
            route!(GET "vnfpkgm/v1/vnf_packages_content/{id}" => |c| show(c, Collection::Vnfds)),
            route!(GET "vnfpkgm/v1/vnf_packages/{id}" => |c| show(c, Collection::Vnfds)),
            route!(PUT "vnfpkgm/v1/vnf_packages_content/{id}" => |c| {
                let p = c.project().to_owned();
                packages::edit_descriptor(c.db, Kind::Vnfd, &p, c.id, c.req)
            }),
            route!(DELETE "vnfpkgm/v1/vnf_packages_content/{id}" => |c| delete_package(c, Kind::Vnfd)),
            route!(DELETE "vnfpkgm/v1/vnf_packages/{id}" => |c| delete_package(c, Kind::Vnfd)),
            route!(PUT "vnfpkgm/v1/vnf_packages/{id}/package_content" => |c| {
                let p = c.project().to_owned();
                packages::upload(c.db, Kind::Vnfd, &p, c.req, Some(c.id), c.shared.config.max_uncompressed_package)
            }),
            // NS packages
            route!(GET "nsd/v1/ns_descriptors_content" => |c| list(c, Collection::Nsds)),
            route!(GET "nsd/v1/ns_descriptors" => |c| list(c, Collection::Nsds)),
            route!(POST "nsd/v1/ns_descriptors_content" => |c| {
                let p = c.project().to_owned();
                packages::upload(c.db, Kind::Nsd, &p, c.req, None, c.shared.config.max_uncompressed_package)
            }),
            route!(GET "nsd/v1/ns_descriptors_content/{id}" => |c| show(c, Collection::Nsds)),
            route!(GET "nsd/v1/ns_descriptors/{id}" => |c| show(c, Collection::Nsds)),
            route!(PUT "nsd/v1/ns_descriptors_content/{id}" => |c| {
                let p = c.project().to_owned();
                packages::edit_descriptor(c.db, Kind::Nsd, &p, c.id, c.req)
            }),
            route!(DELETE "nsd/v1/ns_descriptors_content/{id}" => |c| delete_package(c, Kind::Nsd)),
            route!(DELETE "nsd/v1/ns_descriptors/{id}" => |c| delete_package(c, Kind::Nsd)),
            route!(PUT "nsd/v1/ns_descriptors/{id}/nsd_content" => |c| {
                let p = c.project().to_owned();
                packages::upload(c.db, Kind::Nsd, &p, c.req, Some(c.id), c.shared.config.max_uncompressed_package)
            }),
            // NS instances, operations, VNF instances
            route!(GET "nslcm/v1/ns_instances_content" => |c| list(c, Collection::Nsrs)),
            route!(GET "nslcm/v1/ns_instances" => |c| list(c, Collection::Nsrs)),
            route!(POST "nslcm/v1/ns_instances_content" => |c| ns::create_ns(c.shared, c.db, c.token, c.req)),
            route!(GET "nslcm/v1/ns_instances_content/{id}" => |c| show(c, Collection::Nsrs)),
            route!(GET "nslcm/v1/ns_instances/{id}" => |c| show(c, Collection::Nsrs)),
            route!(DELETE "nslcm/v1/ns_instances_content/{id}" => |c| {
                let p = c.project().to_owned();
                ns::delete_ns(c.shared, c.db, &p, c.id, c.req, true)
            }),
            route!(DELETE "nslcm/v1/ns_instances/{id}" => |c| {
                let p = c.project().to_owned();
                ns::delete_ns(c.shared, c.db, &p, c.id, c.req, false)
            }),
            route!(POST "nslcm/v1/ns_instances/{id}/action" => |c| ns_operation(c, "action")),
            route!(POST "nslcm/v1/ns_instances/{id}/scale" => |c| ns_operation(c, "scale")),
            route!(POST "nslcm/v1/ns_instances/{id}/update" => |c| ns_operation(c, "update")),
            route!(POST "nslcm/v1/ns_instances/{id}/terminate" => |c| ns_operation(c, "terminate")),
            route!(POST "nslcm/v1/ns_instances/{id}/instantiate" => |c| ns_operation(c, "instantiate")),
            route!(GET "nslcm/v1/ns_lcm_op_occs" => |c| list(c, Collection::NsLcmOps)),
            route!(GET "nslcm/v1/ns_lcm_op_occs/{id}" => |c| show(c, Collection::NsLcmOps)),
            route!(GET "nslcm/v1/vnf_instances" => |c| list(c, Collection::Vnfrs)),
            route!(GET "nslcm/v1/vnfrs" => |c| list(c, Collection::Vnfrs)),
            route!(GET "nslcm/v1/vnf_instances/{id}" => |c| show(c, Collection::Vnfrs)),
            route!(GET "nslcm/v1/vnfrs/{id}" => |c| show(c, Collection::Vnfrs)),
        ]
    })
}

fn ns_operation(c: &mut Ctx, op: &str) -> Reply {
    let p = c.project().to_owned();
    ns::ns_operation(c.shared, c.db, &p, c.id, op, c.req)
}

fn delete_package(c: &mut Ctx, kind: Kind) -> Reply {
    let p = c.project().to_owned();
    packages::delete_package(c.db, kind, &p, c.id, c.req.force())
}

fn list(c: &mut Ctx, coll: Collection) -> Reply {
    // CherryPy binds a query parameter `_id` to the handler's `_id` argument (`default()` in NBI
    // `osm_nbi/nbi.py`), so `GET <topic>?_id=X` is the show of X (one object, or 404), whatever
    // other filters say.
    if let Some((_, id)) = c.req.query.iter().find(|(k, _)| k == "_id") {
        let id = id.clone();
        let mut show_ctx = Ctx {
            shared: c.shared,
            db: c.db,
            token: c.token,
            req: c.req,
            id: &id,
        };
        return show(&mut show_ctx, coll);
    }
    let filters = parse_filters(&c.req.query);
    let items: Vec<Value> =
        c.db.visible(coll, c.project())
            .filter(|r| filters.iter().all(|f| f.matches(r)))
            .cloned()
            .collect();
    Reply::json(Status::OK, Value::Array(items))
}

fn show(c: &mut Ctx, coll: Collection) -> Reply {
    match c.db.find_by_id(coll, c.project(), c.id) {
        Some(r) => Reply::json(Status::OK, r.clone()),
        // `_get_project_filter(session)`, then `_id`: the NBI's key order.
        None => not_found(&format!(
            "{{'_admin.projects_read.cont': ['{}', 'ANY'], '_id': '{}'}}",
            c.project(),
            c.id
        )),
    }
}

/// Whether `segs` match `pattern`, and the `{id}` segment if it has one.
fn matches<'a>(pattern: &str, segs: &[&'a str]) -> Option<&'a str> {
    let parts: Vec<&str> = pattern.split('/').collect();
    if parts.len() != segs.len() {
        return None;
    }
    let mut id = "";
    for (p, s) in parts.iter().zip(segs) {
        if *p == "{id}" {
            id = s;
        } else if p != s {
            return None;
        }
    }
    Some(id)
}

/// The most a login body may hold: a user name, a password and a project. CherryPy would read up
/// to 100 MB before the NBI looks at it; the simulator does not let anyone without a token make
/// it hold that much.
pub const LOGIN_BODY_LIMIT: usize = 64 * 1024;

/// How much of a request's body the simulator reads, decided from its method, URL and headers
/// before any of the body is read. OSM's NBI checks the URL and authorizes the token before it
/// reads a body (`default()` in NBI `osm_nbi/nbi.py`: `_check_valid_url_method`, then
/// `authenticator.authorize`, then `_format_in`), so a request refused for either is answered
/// without its body (0 here), a login gets [`LOGIN_BODY_LIMIT`], anything else up to CherryPy's
/// 100 MB.
pub fn body_limit(
    shared: &Arc<Shared>,
    method: &Method,
    segments: &[String],
    headers: &axum::http::HeaderMap,
) -> usize {
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    if segs.len() >= 3 && segs[0] == "admin" && segs[1] == "v1" && segs[2] == "tokens" {
        return if segs.len() == 3 && method == Method::POST {
            LOGIN_BODY_LIMIT
        } else {
            0
        };
    }
    let routed = routes()
        .iter()
        .any(|r| r.method == method && matches(r.pattern, &segs).is_some());
    if !routed || admin::authenticate_headers(shared, headers).is_err() {
        return 0;
    }
    super::MAX_REQUEST_BODY
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
    // The first checks of `default()` in NBI `osm_nbi/nbi.py`, with its texts.
    if segs.len() < 3 {
        return Reply::error(
            Status::METHOD_NOT_ALLOWED,
            "URL must contain at least 'main_topic/version/topic'",
        );
    }
    const MAIN_TOPICS: [&str; 13] = [
        "admin",
        "vnfpkgm",
        "nsd",
        "nslcm",
        "pdu",
        "nst",
        "nsilcm",
        "nspm",
        "vnflcm",
        "k8scluster",
        "ksu",
        "appinstance",
        "oka",
    ];
    if !MAIN_TOPICS.contains(&segs[0]) {
        return Reply::error(
            Status::METHOD_NOT_ALLOWED,
            format!("URL main_topic '{}' not supported", segs[0]),
        );
    }
    if segs[1] != "v1" {
        return Reply::error(
            Status::METHOD_NOT_ALLOWED,
            format!("URL version '{}' not supported", segs[1]),
        );
    }
    if segs[0] == "admin" && segs[2] == "tokens" {
        return admin::tokens(shared, &req, &segs[3..]).await;
    }
    let candidates: Vec<(&Route, &str)> = routes()
        .iter()
        .filter_map(|r| matches(r.pattern, &segs).map(|id| (r, id)))
        .collect();
    let Some(&(route, id)) = candidates.iter().find(|(r, _)| r.method == req.method) else {
        // A known URL with another method, or a URL the NBI does not have: both are 405.
        return if candidates.is_empty() {
            unexpected(segs.last().copied().unwrap_or("/"))
        } else {
            method_not_allowed(&req.method)
        };
    };
    let token = match admin::authenticate(shared, &req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let mut db = shared.db.lock().expect("sim db lock");
    let mut ctx = Ctx {
        shared,
        db: &mut db,
        token: &token,
        req: &req,
        id,
    };
    (route.handler)(&mut ctx)
}
