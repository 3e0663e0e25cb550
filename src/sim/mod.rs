//! The OSM NBI simulator: an in-memory NBI (axum) that follows osm-nbi.md, with a fake LCM, fault
//! injection, a request/byte log and seeding. It deliberately shares no parsing or tarball code
//! with `repo/` or `osm/`: it exists to catch their bugs.

mod admin;
mod control;
mod db;
mod http;
mod lcm;
mod ns;
mod packages;
mod pkg;
mod routes;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, Method, Response, Uri};
use axum::Router;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tower::ServiceExt;

pub use lcm::{FailRule, LcmMode};
pub use pkg::MAX_UNCOMPRESSED_PACKAGE;

use db::{Db, Project, User};
use http::{Reply, Status};

/// Who and what exists in a fresh simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub projects: Vec<String>,
    #[serde(default)]
    pub users: Vec<SeedUser>,
    #[serde(default)]
    pub vim_accounts: Vec<SeedVim>,
    #[serde(default)]
    pub k8s_clusters: Vec<SeedK8sCluster>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedUser {
    pub name: String,
    pub password: String,
    /// Project names; the first is the user's default project.
    pub projects: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedVim {
    pub name: String,
    /// Project name; defaults to the first project.
    #[serde(default)]
    pub project: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedK8sCluster {
    pub name: String,
    /// Name of the VIM account the cluster is attached to.
    pub vim_account: String,
}

impl Default for Seed {
    /// Ready for the examples: user admin/admin in project admin, VIM `mylocation1` with a K8s cluster.
    fn default() -> Self {
        Seed {
            projects: vec!["admin".into()],
            users: vec![SeedUser {
                name: "admin".into(),
                password: "admin".into(),
                projects: vec!["admin".into()],
            }],
            vim_accounts: vec![SeedVim {
                name: "mylocation1".into(),
                project: None,
            }],
            k8s_clusters: vec![SeedK8sCluster {
                name: "k8s-mylocation1".into(),
                vim_account: "mylocation1".into(),
            }],
        }
    }
}

impl Seed {
    pub fn from_yaml(text: &str) -> Result<Seed, String> {
        serde_saphyr::from_str(text).map_err(|e| format!("invalid simulator seed: {e}"))
    }
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub token_ttl: Duration,
    /// The internal auth backend's 1 s sleep when a user logs in again within 2 s.
    pub token_throttle: bool,
    /// Refuse KNF instantiation without a K8s cluster on the VIM (400), as the NBI does.
    pub check_k8scluster: bool,
    pub lcm_mode: LcmMode,
    /// How long LCM takes to pick a queued operation up (until then a new NS is NOT_INSTANTIATED
    /// and IDLE, and the NBI refuses actions on it with 409).
    pub lcm_pickup_delay: Duration,
    /// How long an operation runs once LCM has picked it up.
    pub lcm_delay: Duration,
    /// How long after LCM reports a terminate (with autoremove) COMPLETED the NBI removes the NS
    /// and its operations: the NBI does it when it reads LCM's "terminated" message from the bus
    /// (measured against OSM: 2.7 s COMPLETED, 6.4 s NS gone).
    pub autoremove_delay: Duration,
    /// Bytes of package content decompressed at most per upload (a gzip bomb is refused
    /// there; OSM itself has no such bound).
    pub max_uncompressed_package: u64,
    pub seed: Seed,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            token_ttl: Duration::from_secs(3600),
            token_throttle: true,
            check_k8scluster: true,
            lcm_mode: LcmMode::Auto,
            lcm_pickup_delay: Duration::from_millis(300),
            lcm_delay: Duration::from_secs(2),
            autoremove_delay: Duration::from_millis(3700),
            max_uncompressed_package: pkg::MAX_UNCOMPRESSED_PACKAGE,
            seed: Seed::default(),
        }
    }
}

/// What a fault does to the requests it matches.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer this status with an NBI error body, without processing the request.
    Status(u16),
    /// Close the connection without processing the request or answering.
    Drop,
    /// Process the request, then close the connection without answering (outcome unknown).
    DropAfterProcessing,
    /// Wait before processing.
    Latency(Duration),
}

#[derive(Debug, Clone)]
pub struct Fault {
    pub method: Option<Method>,
    /// Matches when the request path contains this text (e.g. `/nslcm/v1/ns_instances_content`).
    pub path_contains: String,
    pub action: FaultAction,
    /// How many matching requests the fault applies to.
    pub remaining: usize,
}

/// One request as the simulator saw it.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub connection: u64,
}

impl LogEntry {
    pub fn is_write(&self) -> bool {
        self.method != "GET" && !self.path.ends_with("/admin/v1/tokens")
    }
}

pub struct Shared {
    db: Mutex<Db>,
    config: SimConfig,
    lcm: Mutex<lcm::LcmState>,
    log: Mutex<Vec<LogEntry>>,
    faults: Mutex<Vec<Fault>>,
    connections: AtomicU64,
}

/// Marks a response whose connection must be dropped instead of answered.
#[derive(Clone, Copy)]
struct DropConnection;

#[derive(Debug)]
struct DroppedByFault;

impl std::fmt::Display for DroppedByFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DroppedByFault {}

#[derive(Clone, Copy)]
struct ConnectionId(u64);

/// The client's address, which the NBI reports in a login answer (`remote_host`/`remote_port`).
#[derive(Clone, Copy)]
struct PeerAddr(SocketAddr);

/// A running simulator; stops when dropped.
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// CherryPy's default `server.max_request_body_size`, which the NBI keeps.
pub const MAX_REQUEST_BODY: usize = 100 * 1024 * 1024;

/// The simulator's own control endpoint (`/sim/v1/...`) takes small JSON bodies only.
const CONTROL_BODY_LIMIT: usize = 1024 * 1024;

/// CherryPy's answer to a body over `server.max_request_body_size`.
fn too_large() -> Reply {
    Reply::error(
        Status::PAYLOAD_TOO_LARGE,
        "The entity sent with the request exceeds the maximum allowed bytes.",
    )
}

impl Simulator {
    /// Starts on an ephemeral port of 127.0.0.1.
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        Self::start_on("127.0.0.1:0".parse().expect("valid address"), config).await
    }

    pub async fn start_on(addr: SocketAddr, config: SimConfig) -> std::io::Result<Simulator> {
        let db = seed_db(&config.seed).map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            db: Mutex::new(db),
            lcm: Mutex::new(lcm::LcmState {
                mode: config.lcm_mode,
                delay: config.lcm_delay,
                pickup_delay: config.lcm_pickup_delay,
                busy_until: Default::default(),
                autoremove_delay: config.autoremove_delay,
                fail_rules: vec![],
                lost_terminated_messages: 0,
            }),
            config,
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            connections: AtomicU64::new(0),
        });
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        // Bodies are read by `handle` itself, with the limit `routes::body_limit` gives (up to
        // CherryPy's 100 MB, as the NBI; nothing before the request is authenticated).
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let conn_shared = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let conn = conn_shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
                let app = app.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |mut req: hyper::Request<hyper::body::Incoming>| {
                            let app = app.clone();
                            req.extensions_mut().insert(ConnectionId(conn));
                            req.extensions_mut().insert(PeerAddr(peer));
                            async move {
                                let resp = match app.oneshot(req.map(Body::new)).await {
                                    Ok(r) => r,
                                    Err(never) => match never {},
                                };
                                if resp.extensions().get::<DropConnection>().is_some() {
                                    return Err(DroppedByFault);
                                }
                                Ok(resp)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Simulator { addr, shared, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL including `/osm`, as clients use it.
    pub fn url(&self) -> String {
        format!("http://{}/osm", self.addr)
    }

    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.log.lock().expect("sim log lock").clone()
    }

    pub fn clear_log(&self) {
        self.shared.log.lock().expect("sim log lock").clear();
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    pub fn inject(&self, fault: Fault) {
        self.shared
            .faults
            .lock()
            .expect("sim faults lock")
            .push(fault);
    }

    /// Makes every issued token expired (as if an hour had passed).
    pub fn expire_tokens(&self) {
        let mut db = self.shared.db.lock().expect("sim db lock");
        for t in db.tokens.values_mut() {
            t.expires = db::now() - 1.0;
        }
    }

    /// Deletes every token (as `DELETE /tokens/<id>` or an NBI restart with a fresh DB would).
    pub fn revoke_tokens(&self) {
        self.shared.db.lock().expect("sim db lock").tokens.clear();
    }

    pub fn set_lcm(&self, mode: LcmMode, delay: Duration) {
        let mut lcm = self.shared.lcm.lock().expect("sim lcm lock");
        lcm.mode = mode;
        lcm.delay = delay;
    }

    pub fn fail_next(&self, op_type: &str, ns_name: Option<&str>, count: usize, message: &str) {
        self.shared
            .lcm
            .lock()
            .expect("sim lcm lock")
            .fail_rules
            .push(FailRule {
                op_type: op_type.into(),
                ns_name: ns_name.map(str::to_owned),
                message: message.into(),
                remaining: count,
            });
    }

    /// Loses LCM's "terminated" message for the next `count` autoremove terminates: their
    /// operations complete, but the NBI never removes the NS (it stays NOT_INSTANTIATED), as in
    /// OSM when the bus message is lost.
    pub fn lose_terminated_messages(&self, count: usize) {
        self.shared
            .lcm
            .lock()
            .expect("sim lcm lock")
            .lost_terminated_messages = count;
    }

    /// Completes every PROCESSING operation now (for "no LCM" tests that later want progress).
    pub fn complete_pending_ops(&self) {
        let mut db = self.shared.db.lock().expect("sim db lock");
        complete_pending(&mut db);
    }

    pub fn ns_instances(&self) -> Vec<Value> {
        self.shared.db.lock().expect("sim db lock").nsrs.clone()
    }

    pub fn vnf_instances(&self) -> Vec<Value> {
        self.shared.db.lock().expect("sim db lock").vnfrs.clone()
    }

    pub fn operations(&self) -> Vec<Value> {
        self.shared.db.lock().expect("sim db lock").nslcmops.clone()
    }

    pub fn vnf_packages(&self) -> Vec<Value> {
        self.shared.db.lock().expect("sim db lock").vnfds.clone()
    }

    pub fn ns_packages(&self) -> Vec<Value> {
        self.shared.db.lock().expect("sim db lock").nsds.clone()
    }

    /// `_id` of a VIM account by name.
    pub fn vim_id(&self, name: &str) -> Option<String> {
        let db = self.shared.db.lock().expect("sim db lock");
        db.vim_accounts
            .iter()
            .find(|v| v["name"] == name)
            .and_then(|v| v["_id"].as_str())
            .map(str::to_owned)
    }

    /// Completes every PROCESSING operation and, in the same instant, sets the `nsState` (and
    /// `errorDetail`) of the NS named `ns_name`: an NS that turned unhealthy as its operation
    /// ended. (LCM clears `errorDetail` when it ends an operation, so setting the state before
    /// completing would not survive.)
    pub fn complete_pending_ops_leaving(
        &self,
        ns_name: &str,
        ns_state: &str,
        error_detail: Option<&str>,
    ) {
        let mut db = self.shared.db.lock().expect("sim db lock");
        complete_pending(&mut db);
        set_state(&mut db, ns_name, ns_state, error_detail);
    }

    /// Sets an NS instance's `nsState` (and `errorDetail`) directly, as LCM does when it finds
    /// the NS unhealthy (for "the operation completed but the NS is not healthy" scenarios).
    pub fn set_ns_state(&self, ns_name: &str, ns_state: &str, error_detail: Option<&str>) {
        let mut db = self.shared.db.lock().expect("sim db lock");
        set_state(&mut db, ns_name, ns_state, error_detail);
    }

    /// Adds an NS record directly, bypassing the NBI (for "someone else created it" scenarios).
    pub fn insert_ns_record(&self, record: Value) {
        self.shared
            .db
            .lock()
            .expect("sim db lock")
            .nsrs
            .push(record);
    }
}

/// Completes every PROCESSING operation (LCM picking up those it had not yet).
fn complete_pending(db: &mut Db) {
    let ids: Vec<String> = db
        .nslcmops
        .iter()
        .filter(|o| o["operationState"] == "PROCESSING")
        .filter_map(|o| o["_id"].as_str().map(str::to_owned))
        .collect();
    for id in ids {
        let (nsr, op_type) = db
            .nslcmops
            .iter()
            .find(|o| o["_id"] == id.as_str())
            .map(|o| {
                (
                    o["nsInstanceId"].as_str().map(str::to_owned),
                    o["lcmOperationType"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .unwrap_or_default();
        // An operation LCM never picked up is picked up now, then finished.
        let picked = db
            .nslcmops
            .iter()
            .any(|o| o["_id"] == id.as_str() && o["queuePosition"] == 0);
        if !picked {
            if let Some(nsr) = &nsr {
                lcm::pick_up(db, &id, nsr, &op_type);
            }
        }
        if lcm::finish(db, &id, None) {
            if let Some(nsr) = nsr {
                lcm::remove_ns(db, &nsr);
            }
        }
    }
}

fn set_state(db: &mut Db, ns_name: &str, ns_state: &str, error_detail: Option<&str>) {
    for nsr in db.nsrs.iter_mut().filter(|r| r["name"] == ns_name) {
        nsr["nsState"] = serde_json::json!(ns_state);
        if let Some(detail) = error_detail {
            nsr["errorDetail"] = serde_json::json!(detail);
        }
    }
}

fn seed_db(seed: &Seed) -> Result<Db, String> {
    let mut db = Db::default();
    for name in &seed.projects {
        db.projects.push(Project {
            id: db::new_id(),
            name: name.clone(),
        });
    }
    let project_id = |db: &Db, name: &str| {
        db.projects
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.id.clone())
    };
    for u in &seed.users {
        let projects = u
            .projects
            .iter()
            .map(|p| {
                project_id(&db, p)
                    .ok_or_else(|| format!("user '{}' names unknown project '{p}'", u.name))
            })
            .collect::<Result<Vec<_>, _>>()?;
        db.users.push(User {
            id: db::new_id(),
            name: u.name.clone(),
            password: u.password.clone(),
            projects,
        });
    }
    let t = db::now();
    // What the NBI and LCM leave on a registered VIM or K8s cluster (`_admin.operations` with the
    // completed create, measured on OSM's NBI).
    let admin = |pid: &str| {
        json!({"created": t, "modified": t, "projects_read": [pid], "projects_write": [pid], "operationalState": "ENABLED",
        "operations": [{"lcmOperationType": "create", "operationState": "COMPLETED", "startTime": t, "statusEnteredTime": t,
                        "detailed-status": "Done", "operationParams": Value::Null}],
        "current_operation": Value::Null, "detailed-status": "Done"})
    };
    let usage = || json!({"total": Value::Null, "used": Value::Null});
    for v in &seed.vim_accounts {
        let pname = v
            .project
            .clone()
            .or_else(|| seed.projects.first().cloned())
            .ok_or("a VIM account needs a project")?;
        let pid = project_id(&db, &pname)
            .ok_or_else(|| format!("VIM '{}' names unknown project '{pname}'", v.name))?;
        if db
            .vim_accounts
            .iter()
            .any(|x| x["name"] == v.name.as_str() && db::readable_by(x, &pid))
        {
            return Err(format!("name '{}' already exists for vim_accounts", v.name));
        }
        // No `description` unless one was given at registration.
        db.vim_accounts.push(json!({
            "_id": db::new_id(), "name": v.name, "vim_type": "openstack",
            "vim_url": "http://openstack.example:5000/v3", "vim_user": "osm", "vim_password": "<encrypted>",
            "vim_tenant_name": "osm", "config": {}, "schema_version": "1.11", "key": "registered",
            "resources": {
                "compute": {"ram": usage(), "vcpus": usage(), "instances": usage()},
                "storage": {"volumes": usage(), "snapshots": usage(), "storage": usage()},
                "network": {"networks": usage(), "subnets": usage(), "floating_ips": usage()},
            },
            "_admin": admin(&pid),
        }));
    }
    for k in &seed.k8s_clusters {
        let vim = db
            .vim_accounts
            .iter()
            .find(|v| v["name"] == k.vim_account.as_str())
            .cloned()
            .ok_or_else(|| {
                format!(
                    "k8s cluster '{}' names unknown VIM '{}'",
                    k.name, k.vim_account
                )
            })?;
        let pid = vim["_admin"]["projects_read"][0]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let id = db::new_id();
        let mut a = admin(&pid);
        a["helm_chart_repos"] = json!([]);
        a["juju_bundle_repos"] = json!([]);
        a["helm-chart-v3"] = json!({"id": id, "created": true, "operationalState": "ENABLED", "error_msg": Value::Null});
        // `credentials` is the kubeconfig, an object (its secrets encrypted by the NBI).
        db.k8sclusters.push(json!({
            "_id": id, "name": k.name, "vim_account": vim["_id"], "k8s_version": "1.29",
            "nets": {"mgmtnet": "mgmt"}, "credentials": {"apiVersion": "v1", "kind": "Config"},
            "schema_version": "1.11", "key": "registered",
            "_admin": a,
        }));
    }
    Ok(db)
}

fn take_fault(shared: &Shared, method: &Method, path: &str) -> Option<FaultAction> {
    let mut faults = shared.faults.lock().expect("sim faults lock");
    let f = faults.iter_mut().find(|f| {
        f.remaining > 0
            && f.method.as_ref().is_none_or(|m| m == method)
            && path.contains(f.path_contains.as_str())
    })?;
    f.remaining -= 1;
    Some(f.action.clone())
}

fn header_bytes(headers: &HeaderMap) -> u64 {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().len() + v.len() + 4) as u64)
        .sum()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    Extension(ConnectionId(conn)): Extension<ConnectionId>,
    Extension(PeerAddr(peer)): Extension<PeerAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response<Body> {
    let path = uri.path().to_owned();
    // The control endpoint beside the NBI: not an NBI request, so never logged or faulted.
    if let Some(rest) = path.strip_prefix("/sim/v1/") {
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let reply = match axum::body::to_bytes(body, CONTROL_BODY_LIMIT).await {
            Ok(body) => control::handle(&shared, &method, &segments, &body),
            Err(_) => too_large(),
        };
        return http::render(reply, "application/json");
    }
    let segments: Vec<String> = path
        .strip_prefix("/osm/")
        .unwrap_or_default()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    // Nothing of a body is read before the request is known to be worth it (see body_limit).
    let limit = routes::body_limit(&shared, &method, &segments, &headers);
    let declared = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let body = match limit {
        0 => Ok(bytes::Bytes::new()),
        _ if declared > limit as u64 => Err(too_large()),
        _ => axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| too_large()),
    };
    let query_str = uri.query().unwrap_or("").to_owned();
    let request_bytes = (method.as_str().len() + uri.to_string().len() + 11) as u64
        + header_bytes(&headers)
        + body
            .as_ref()
            .map_or(declared, |b| (b.len() as u64).max(declared));
    let fault = take_fault(&shared, &method, &path);
    if let Some(FaultAction::Latency(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    let accept = headers
        .get("accept")
        .and_then(|a| a.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let reply = match (&fault, body) {
        (_, Err(refused)) => refused,
        (Some(FaultAction::Drop), _) => {
            record(
                &shared,
                &method,
                &path,
                &query_str,
                0,
                request_bytes,
                0,
                conn,
            );
            let mut r = Response::new(Body::empty());
            r.extensions_mut().insert(DropConnection);
            return r;
        }
        (Some(FaultAction::Status(code)), _) => Reply::error(
            Status::from_u16(*code).unwrap_or(Status::INTERNAL_SERVER_ERROR),
            format!("injected fault: {code}"),
        ),
        (_, Ok(body)) => match path.strip_prefix("/osm/") {
            Some(_) => {
                let query = form_urlencoded::parse(query_str.as_bytes())
                    .into_owned()
                    .collect();
                routes::dispatch(
                    &shared,
                    http::Request {
                        method: method.clone(),
                        segments,
                        query,
                        headers,
                        body,
                        peer: Some(peer),
                    },
                )
                .await
            }
            None => Reply::error(
                Status::METHOD_NOT_ALLOWED,
                format!("Unexpected URL item {path}"),
            ),
        },
    };
    let mut response = http::render(reply, &accept);
    let body_len = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let response_bytes = 17 + header_bytes(response.headers()) + body_len;
    record(
        &shared,
        &method,
        &path,
        &query_str,
        response.status().as_u16(),
        request_bytes,
        response_bytes,
        conn,
    );
    if fault == Some(FaultAction::DropAfterProcessing) {
        response.extensions_mut().insert(DropConnection);
    }
    response
}

#[allow(clippy::too_many_arguments)]
fn record(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    status: u16,
    req: u64,
    resp: u64,
    conn: u64,
) {
    shared.log.lock().expect("sim log lock").push(LogEntry {
        method: method.to_string(),
        path: path.to_owned(),
        query: query.to_owned(),
        status,
        request_bytes: req,
        response_bytes: resp,
        connection: conn,
    });
}
