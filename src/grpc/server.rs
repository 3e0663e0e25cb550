//! The OsmOps service, health and reflection, optional TLS / mutual TLS and bearer-token auth.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

use super::convert;
use super::pb;
use super::pb::osm_ops_server::{OsmOps, OsmOpsServer};
use crate::controller::{nbi_for_sync, preview_plan, AccessError, Context};
use crate::engine::{self, Vanished};
use crate::journal::{PlanRecord, SyncOperation};
use crate::model::Timestamp;

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, clients must present a certificate signed by this CA (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    /// Reads the certificate, key and client CA and checks they make a TLS configuration, so a
    /// missing or broken file stops the controller at start, naming the file.
    pub fn check(&self) -> Result<(), ServeError> {
        let mut cfg = ServerTlsConfig::new()
            .identity(Identity::from_pem(read(&self.cert)?, read(&self.key)?));
        if let Some(ca) = &self.client_ca {
            cfg = cfg.client_ca_root(Certificate::from_pem(read(ca)?));
        }
        Server::builder().tls_config(cfg)?;
        Ok(())
    }
}

#[derive(Debug, Clone, Default)]
pub struct GrpcOptions {
    pub tls: Option<TlsFiles>,
    /// When set, every OsmOps call needs `authorization: Bearer <token>`.
    pub token: Option<String>,
}

pub struct OsmOpsService {
    ctx: Arc<Context>,
    /// Callers are authenticated (bearer token or mutual TLS): required for ApprovePlan.
    authenticated: bool,
}

impl OsmOpsService {
    pub fn new(ctx: Arc<Context>) -> Self {
        OsmOpsService {
            ctx,
            authenticated: false,
        }
    }

    pub fn authenticated(mut self, yes: bool) -> Self {
        self.authenticated = yes;
        self
    }
}

/// How the caller of a request is known: the client certificate of mutual TLS (by its SHA-256
/// fingerprint), else the bearer token the interceptor checked.
fn caller_identity<T>(req: &Request<T>) -> String {
    use sha2::{Digest, Sha256};
    match req.peer_certs().as_deref().and_then(|c| c.first()) {
        Some(cert) => {
            let hex = hex::encode(Sha256::digest(cert.as_ref()));
            format!("mTLS client certificate sha256:{}", &hex[..16])
        }
        None => "bearer token".to_owned(),
    }
}

fn access_status(e: AccessError) -> Status {
    match e {
        AccessError::NotFound(m) => Status::not_found(m),
        AccessError::FailedPrecondition(m) => Status::failed_precondition(m),
        AccessError::Unavailable(m) => Status::unavailable(m),
        AccessError::Internal(m) => Status::internal(m),
    }
}

fn required_ref(r: Option<pb::SyncRef>) -> Result<(String, String), Status> {
    match r {
        Some(r) if !r.namespace.is_empty() && !r.name.is_empty() => Ok((r.namespace, r.name)),
        _ => Err(Status::invalid_argument(
            "ref.namespace and ref.name are required",
        )),
    }
}

fn parse_time(field: &str, v: &str) -> Result<Option<Timestamp>, Status> {
    if v.is_empty() {
        return Ok(None);
    }
    v.parse::<Timestamp>()
        .map(Some)
        .map_err(|e| Status::invalid_argument(format!("{field}: not an RFC 3339 time: {e}")))
}

fn page_token(offset: usize) -> String {
    format!("p{offset:x}")
}

fn parse_page_token(t: &str) -> Result<usize, Status> {
    if t.is_empty() {
        return Ok(0);
    }
    t.strip_prefix('p')
        .and_then(|h| usize::from_str_radix(h, 16).ok())
        .ok_or_else(|| Status::invalid_argument("invalid page_token"))
}

impl OsmOpsService {
    /// Refreshes running operations from OSM, one NBI session per OsmSync; `strict` turns an
    /// unreachable OSM into an error instead of keeping the last known state.
    async fn refresh(&self, ops: &mut [SyncOperation], strict: bool) -> Result<(), Status> {
        let mut sessions = HashMap::new();
        for op in ops.iter_mut().filter(|o| o.is_running()) {
            let key = (op.namespace.clone(), op.sync.clone());
            if !sessions.contains_key(&key) {
                let s = nbi_for_sync(&self.ctx, &key.0, &key.1).await;
                sessions.insert(key.clone(), s);
            }
            let nbi = match sessions.get(&key).expect("inserted above") {
                Ok(n) => n.clone(),
                Err(e) if strict => {
                    return Err(Status::unavailable(format!(
                        "cannot refresh operation {} from OSM: {e}",
                        op.nslcmop_id
                    )))
                }
                Err(_) => continue,
            };
            match engine::refresh(&nbi.client, &mut op.op, Vanished::KeepKnown).await {
                // The journal emits an event only when something changed.
                Ok(_) => self.ctx.journal.update_operation(op.clone()),
                Err(e) if strict && e.is_unavailable() => {
                    return Err(Status::unavailable(format!("OSM: {e}")))
                }
                Err(e) => {
                    tracing::debug!(op = %op.nslcmop_id, error = %e, "cannot refresh operation")
                }
            }
        }
        Ok(())
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl OsmOps for OsmOpsService {
    async fn list_syncs(
        &self,
        req: Request<pb::ListSyncsRequest>,
    ) -> Result<Response<pb::ListSyncsResponse>, Status> {
        let ns = req.into_inner().namespace;
        let syncs = self
            .ctx
            .journal
            .syncs(Some(ns.as_str()).filter(|n| !n.is_empty()));
        Ok(Response::new(pb::ListSyncsResponse {
            syncs: syncs.iter().map(convert::sync).collect(),
        }))
    }

    async fn get_sync(
        &self,
        req: Request<pb::GetSyncRequest>,
    ) -> Result<Response<pb::Sync>, Status> {
        let (ns, name) = required_ref(req.into_inner().r#ref)?;
        self.ctx
            .journal
            .sync(&ns, &name)
            .map(|s| Response::new(convert::sync(&s)))
            .ok_or_else(|| {
                Status::not_found(format!(
                    "OsmSync '{ns}/{name}' is not known to the controller"
                ))
            })
    }

    async fn get_plan(
        &self,
        req: Request<pb::GetPlanRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        let (ns, name) = required_ref(req.into_inner().r#ref)?;
        self.ctx
            .journal
            .plan(&ns, &name)
            .map(|p| Response::new(convert::plan(&p)))
            .ok_or_else(|| {
                Status::not_found(format!("no plan computed yet for OsmSync '{ns}/{name}'"))
            })
    }

    async fn preview_plan(
        &self,
        req: Request<pb::PreviewPlanRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        let r = req.into_inner();
        let (ns, name) = required_ref(r.r#ref)?;
        let (revision, plan) = preview_plan(&self.ctx, &ns, &name, Some(r.revision.as_str()))
            .await
            .map_err(access_status)?;
        let record = PlanRecord::from_plan(&(ns, name), &revision, &plan, None);
        Ok(Response::new(convert::plan(&record)))
    }

    async fn approve_plan(
        &self,
        req: Request<pb::ApprovePlanRequest>,
    ) -> Result<Response<pb::ApprovePlanResponse>, Status> {
        if !self.authenticated {
            return Err(Status::permission_denied(
                "ApprovePlan needs an authenticated gRPC server (--grpc-token-file or --grpc-client-ca): anyone who can reach this one could approve",
            ));
        }
        let identity = caller_identity(&req);
        let r = req.into_inner();
        let (ns, name) = required_ref(r.r#ref)?;
        if !r.digest.starts_with("sha256:") {
            return Err(Status::invalid_argument(
                "digest must be the plan's full digest, sha256:<hex>",
            ));
        }
        let approver = match r.approver.trim() {
            "" => "someone".to_owned(),
            a => a.to_owned(),
        };
        let approved_by = format!("{approver} via gRPC ({identity})");
        let message = approve(&self.ctx, &ns, &name, &r.digest, &approved_by)
            .await
            .map_err(access_status)?;
        tracing::info!(osmsync.namespace = %ns, osmsync.name = %name, digest = %r.digest, %approved_by, "plan approved");
        Ok(Response::new(pb::ApprovePlanResponse {
            approved_by,
            message,
        }))
    }

    async fn list_operations(
        &self,
        req: Request<pb::ListOperationsRequest>,
    ) -> Result<Response<pb::ListOperationsResponse>, Status> {
        let r = req.into_inner();
        let size = match r.page_size {
            0 => 100,
            n if (1..=1000).contains(&n) => n as usize,
            n => {
                return Err(Status::invalid_argument(format!(
                    "page_size must be between 1 and 1000, got {n}"
                )))
            }
        };
        let offset = parse_page_token(&r.page_token)?;
        let after = parse_time("start_after", &r.start_after)?;
        let before = parse_time("start_before", &r.start_before)?;
        let all = self.ctx.journal.operations(|o| {
            (r.namespace.is_empty() || o.namespace == r.namespace)
                && (r.sync_name.is_empty() || o.sync == r.sync_name)
                && (r.ns_name.is_empty() || o.ns_name == r.ns_name)
                && (r.state.is_empty() || o.state.as_str().eq_ignore_ascii_case(&r.state))
                && after.is_none_or(|t| o.start_time.is_some_and(|s| s >= t))
                && before.is_none_or(|t| o.start_time.is_some_and(|s| s < t))
        });
        if offset > all.len() {
            return Err(Status::invalid_argument(
                "page_token is past the end of the list",
            ));
        }
        let mut page: Vec<SyncOperation> = all[offset..].iter().take(size).cloned().collect();
        self.refresh(&mut page, false).await?;
        let next = offset + page.len();
        Ok(Response::new(pb::ListOperationsResponse {
            operations: page.iter().map(convert::operation).collect(),
            next_page_token: if next < all.len() {
                page_token(next)
            } else {
                String::new()
            },
        }))
    }

    async fn get_operation(
        &self,
        req: Request<pb::GetOperationRequest>,
    ) -> Result<Response<pb::Operation>, Status> {
        let id = req.into_inner().nslcmop_id;
        if id.is_empty() {
            return Err(Status::invalid_argument("nslcmop_id is required"));
        }
        let op = self.ctx.journal.operation(&id).ok_or_else(|| {
            Status::not_found(format!(
                "no OSM operation '{id}' started by an OsmSync is known"
            ))
        })?;
        let mut one = [op];
        self.refresh(&mut one, true).await?;
        Ok(Response::new(convert::operation(&one[0])))
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        req: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let r = req.into_inner();
        let (backlog, mut rx) = self.ctx.journal.subscribe(r.after_sequence);
        let ns = r.namespace;
        let (tx, out) = futures::channel::mpsc::unbounded::<Result<pb::Event, Status>>();
        tokio::spawn(async move {
            let mut last = r.after_sequence.unwrap_or(0);
            let keep = |e: &crate::journal::JournalEvent| ns.is_empty() || e.namespace == ns;
            for e in backlog.iter().filter(|e| keep(e)) {
                last = e.sequence;
                if tx.unbounded_send(Ok(convert::event(e))).is_err() {
                    return;
                }
            }
            loop {
                match rx.recv().await {
                    Ok(e) if e.sequence > last => {
                        last = e.sequence;
                        if keep(&e) && tx.unbounded_send(Ok(convert::event(&e))).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let _ = tx.unbounded_send(Err(Status::resource_exhausted(format!(
                            "the watcher fell behind; resume with after_sequence={last}"
                        ))));
                        return;
                    }
                    Err(_) => return,
                }
            }
        });
        Ok(Response::new(Box::pin(out.map(|e| e))))
    }
}

/// Records an approval on the OsmSync (the annotations the controller reads), after checking
/// that its pending plan is the one approved.
async fn approve(
    ctx: &Context,
    ns: &str,
    name: &str,
    digest: &str,
    approved_by: &str,
) -> Result<String, AccessError> {
    use kube::api::{Api, Patch, PatchParams};
    let api: Api<crate::api::OsmSync> = Api::namespaced(ctx.client.clone(), ns);
    let sync = api
        .get_opt(name)
        .await
        .map_err(|e| AccessError::Internal(format!("Kubernetes API: {e}")))?
        .ok_or_else(|| AccessError::NotFound(format!("OsmSync '{ns}/{name}' not found")))?;
    if !sync.spec.manual_approval() {
        return Err(AccessError::FailedPrecondition(format!(
            "OsmSync '{ns}/{name}' has spec.approval auto: its plans need no approval"
        )));
    }
    let pending = sync.status.as_ref().and_then(|s| s.pending_plan.as_ref());
    match pending {
        None => Err(AccessError::FailedPrecondition(format!(
            "no plan of OsmSync '{ns}/{name}' awaits approval"
        ))),
        Some(p) if p.digest != digest => Err(AccessError::FailedPrecondition(format!(
            "plan {digest} is not the plan awaiting approval: OsmSync '{ns}/{name}' waits on {} ({}, revision {}); review that one",
            p.digest, p.summary, p.revision
        ))),
        Some(p) => {
            let patch = serde_json::json!({"metadata": {"annotations": {
                crate::api::APPROVE: digest,
                crate::api::APPROVED_BY: approved_by,
            }}});
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| AccessError::Internal(format!("cannot record the approval: {e}")))?;
            Ok(format!(
                "plan {digest} ({}) of OsmSync '{ns}/{name}' approved; the controller applies it now, unless OSM or the revision changed so that the plan differs (then a new plan awaits approval)",
                p.summary
            ))
        }
    }
}

/// Checks each OsmOps call: this replica must be the one reconciling (a standby's journal is
/// empty, so its answers would be wrong, not merely stale), and the bearer token must match.
#[derive(Clone)]
struct CallCheck {
    token: Option<Arc<str>>,
    leading: Arc<std::sync::atomic::AtomicBool>,
}

impl tonic::service::Interceptor for CallCheck {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        if !self.leading.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Status::unavailable(
                "this osmops replica is a standby (not the leader) and has no journal; retry, the leader answers",
            ));
        }
        let Some(expected) = &self.token else {
            return Ok(req);
        };
        let given = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match given {
            // Length first, then a constant-time comparison of the bytes.
            Some(t)
                if t.len() == expected.len()
                    && t.bytes()
                        .zip(expected.bytes())
                        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                        == 0 =>
            {
                Ok(req)
            }
            Some(_) => Err(Status::unauthenticated("invalid bearer token")),
            None => Err(Status::unauthenticated(
                "missing 'authorization: Bearer <token>' metadata",
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

fn read(path: &PathBuf) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path).map_err(|source| ServeError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    ctx: Arc<Context>,
    listener: tokio::net::TcpListener,
    opts: GrpcOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let router = prepare(ctx, opts).await?;
    serve_prepared(router, listener, shutdown).await
}

/// The gRPC server, ready to serve: TLS files read and checked, services registered. Everything
/// that can be wrong with the configuration fails here, before anything listens.
pub async fn prepare(
    ctx: Arc<Context>,
    opts: GrpcOptions,
) -> Result<tonic::transport::server::Router, ServeError> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<OsmOpsServer<OsmOpsService>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let check = CallCheck {
        token: opts.token.map(Arc::from),
        leading: ctx.leading.clone(),
    };
    let authenticated =
        check.token.is_some() || opts.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
    let api =
        OsmOpsServer::with_interceptor(OsmOpsService::new(ctx).authenticated(authenticated), check);
    let mut builder = Server::builder();
    if let Some(tls) = &opts.tls {
        let mut cfg =
            ServerTlsConfig::new().identity(Identity::from_pem(read(&tls.cert)?, read(&tls.key)?));
        if let Some(ca) = &tls.client_ca {
            cfg = cfg.client_ca_root(Certificate::from_pem(read(ca)?));
        }
        builder = builder.tls_config(cfg)?;
    }
    Ok(builder
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(api))
}

/// Serves a prepared server on `listener` until `shutdown` resolves.
pub async fn serve_prepared(
    router: tonic::transport::server::Router,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    router
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await?;
    Ok(())
}

/// Binds `addr` and serves (for the controller command).
pub async fn serve_addr(
    ctx: Arc<Context>,
    addr: SocketAddr,
    opts: GrpcOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })?;
    serve(ctx, listener, opts, shutdown).await
}
