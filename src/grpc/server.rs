//! The OsmOps service: syncs, plans, previews, approvals and the operation history, from the
//! journal (running operations refreshed from OSM through the engine).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::convert;
use super::pb;
use super::pb::osm_ops_server::OsmOps;
use crate::controller::{nbi_for_sync, preview_plan, AccessError, Context};
use crate::engine::{self, Vanished};
use crate::journal::{PlanRecord, SyncOperation};
use crate::model::Timestamp;

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
