//! The OSM NBI simulator: an in-memory NBI (axum) that follows osm-nbi.md, with a fake LCM, fault
//! injection, a request/byte log and seeding. It deliberately shares no parsing or tarball code
//! with `repo/` or `osm/`: it exists to catch their bugs.

mod admin;
mod config;
mod control;
mod db;
mod http;
mod lcm;
mod ns;
mod packages;
mod pkg;
mod routes;
mod serve;

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

use config::seed_db;
pub use config::{Seed, SeedK8sCluster, SeedUser, SeedVim, SimConfig};
pub use lcm::{FailRule, LcmMode};
pub use pkg::MAX_UNCOMPRESSED_PACKAGE;
use serve::handle;

use db::{Db, Project, User};
use http::{Reply, Status};

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

    /// Removes every injected fault (OSM is reachable again).
    pub fn clear_faults(&self) {
        self.shared.faults.lock().expect("sim faults lock").clear();
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

    /// Removes an NS record with its VNF records and operations, as a `DELETE` of an NS that is
    /// not instantiated does (for "a concurrent run removed it" scenarios).
    pub fn remove_ns_record(&self, osm_id: &str) {
        lcm::remove_ns(&mut self.shared.db.lock().expect("sim db lock"), osm_id);
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
