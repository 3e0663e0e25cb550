//! `osmops get ...` and `osmops events`: a client of the gRPC API with `flux get`-like tables.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use crate::grpc::pb;
use crate::grpc::pb::osm_ops_client::OsmOpsClient;

#[derive(Args, Debug, Clone)]
pub struct GrpcArgs {
    /// Address of the controller's gRPC API.
    #[arg(
        long = "grpc",
        env = "OSMOPS_GRPC",
        default_value = "http://127.0.0.1:9090",
        global = true
    )]
    pub addr: String,
    /// CA certificate (PEM) to verify the server with (for https:// addresses).
    #[arg(long, env = "OSMOPS_GRPC_CA", global = true)]
    pub grpc_ca: Option<PathBuf>,
    /// File holding the bearer token, when the server requires one.
    #[arg(long, env = "OSMOPS_GRPC_TOKEN_FILE", global = true)]
    pub grpc_token_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = ["text", "json"], global = true)]
    pub output: String,
}

#[derive(Subcommand, Debug)]
pub enum GetWhat {
    /// OsmSyncs: revision, suspended, ready, message.
    Syncs {
        #[arg(short, long)]
        namespace: Option<String>,
    },
    /// The last plan of an OsmSync (or `--preview` to compute one now, without writes).
    Plan {
        name: String,
        #[arg(short, long, default_value = "default")]
        namespace: String,
        #[arg(long)]
        preview: bool,
    },
    /// OSM operations started by OsmSyncs, newest first.
    Operations {
        #[arg(short, long)]
        namespace: Option<String>,
        #[arg(long)]
        sync: Option<String>,
        #[arg(long)]
        ns_name: Option<String>,
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i32,
    },
}

type Client = OsmOpsClient<tonic::service::interceptor::InterceptedService<Channel, AddToken>>;

#[derive(Clone)]
pub struct AddToken(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for AddToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(t) = &self.0 {
            req.metadata_mut().insert("authorization", t.clone());
        }
        Ok(req)
    }
}

/// The address as a URI: `host:port` alone means plain HTTP/2, or TLS when a CA is given.
pub fn grpc_uri(addr: &str, tls: bool) -> String {
    if addr.contains("://") {
        addr.to_owned()
    } else if tls {
        format!("https://{addr}")
    } else {
        format!("http://{addr}")
    }
}

async fn connect(a: &GrpcArgs) -> Result<Client, String> {
    let uri = grpc_uri(&a.addr, a.grpc_ca.is_some());
    let mut endpoint = Channel::from_shared(uri)
        .map_err(|e| format!("invalid --grpc address '{}': {e}", a.addr))?;
    if let Some(ca) = &a.grpc_ca {
        let pem = std::fs::read(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
        endpoint = endpoint
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
            .map_err(|e| e.to_string())?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", a.addr))?;
    let token =
        match &a.grpc_token_file {
            Some(p) => {
                let t = std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                Some(format!("Bearer {}", t.trim()).parse().map_err(|_| {
                    "the token contains characters not allowed in metadata".to_string()
                })?)
            }
            None => None,
        };
    Ok(OsmOpsClient::with_interceptor(channel, AddToken(token)))
}

fn status_msg(s: tonic::Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let n = cells.len();
        cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == n {
                    c
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("\t")
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

fn ref_of(r: &Option<pb::SyncRef>) -> (String, String) {
    r.as_ref()
        .map(|r| (r.namespace.clone(), r.name.clone()))
        .unwrap_or_default()
}

fn sync_json(s: &pb::Sync) -> Value {
    let (ns, name) = ref_of(&s.r#ref);
    json!({"namespace": ns, "name": name, "ready": s.ready, "reason": s.reason, "message": s.message,
           "lastAppliedRevision": s.last_applied_revision, "lastAttemptedRevision": s.last_attempted_revision,
           "suspended": s.suspended, "lastReconcileTime": s.last_reconcile_time, "source": s.source,
           "pendingPlanDigest": s.pending_plan_digest, "drift": s.drift, "rolloutPaused": s.rollout_paused})
}

fn op_json(o: &pb::Operation) -> Value {
    let (ns, name) = ref_of(&o.r#ref);
    json!({"nslcmopId": o.nslcmop_id, "namespace": ns, "sync": name, "nsName": o.ns_name, "nsInstanceId": o.ns_instance_id,
           "type": o.r#type, "state": o.state, "startTime": o.start_time, "endTime": o.end_time, "error": o.error, "revision": o.revision})
}

/// A plan for people: what it is, its actions, drift, rollout order and digest.
fn plan_text(p: &pb::Plan) -> String {
    let rows = p
        .actions
        .iter()
        .map(|x| {
            vec![
                x.operation.clone(),
                x.kind.clone(),
                x.name.clone(),
                x.reason.clone(),
                x.outcome.clone(),
            ]
        })
        .collect();
    let what = if p.awaiting_approval {
        "Plan AWAITING APPROVAL"
    } else if p.applied {
        "Applied plan"
    } else {
        "Previewed plan"
    };
    let mut out = format!(
        "{what} for revision {} computed at {}\n",
        p.revision, p.computed_at
    );
    out.push_str(&table(
        &["ACTION", "KIND", "NAME", "REASON", "OUTCOME"],
        rows,
    ));
    for problem in &p.problems {
        out.push_str(&format!("problem: {problem}\n"));
    }
    for d in &p.drift {
        out.push_str(&format!(
            "drift: {} {}: {} [{}]\n",
            d.kind,
            d.name,
            d.what,
            crate::plan::drift_handling(d.corrected)
        ));
    }
    for (n, b) in p.batches.iter().enumerate() {
        out.push_str(&format!(
            "rollout {}: {}\n",
            crate::plan::batch_label(n, b.canary),
            b.names.join(", ")
        ));
    }
    if !p.rollout_paused.is_empty() {
        out.push_str(&format!("rollout PAUSED: {}\n", p.rollout_paused));
    }
    if !p.digest.is_empty() {
        out.push_str(&format!("digest: {}\n", p.digest));
    }
    out
}

fn plan_json(p: &pb::Plan) -> Value {
    let (ns, name) = ref_of(&p.r#ref);
    json!({"namespace": ns, "name": name, "revision": p.revision, "computedAt": p.computed_at, "applied": p.applied, "problems": p.problems,
           "digest": p.digest, "awaitingApproval": p.awaiting_approval, "rolloutPaused": p.rollout_paused,
           "drift": p.drift.iter().map(|d| json!({"kind": d.kind, "name": d.name, "what": d.what, "corrected": d.corrected})).collect::<Vec<_>>(),
           "batches": p.batches.iter().map(|b| json!({"canary": b.canary, "names": b.names})).collect::<Vec<_>>(),
           "actions": p.actions.iter().map(|a| json!({"kind": a.kind, "name": a.name, "operation": a.operation, "reason": a.reason,
               "target": a.target, "outcome": a.outcome, "outcomeMessage": a.outcome_message, "osmId": a.osm_id, "nslcmopId": a.nslcmop_id})).collect::<Vec<_>>()})
}

pub async fn get(a: &GrpcArgs, what: &GetWhat) -> Result<String, String> {
    let mut c = connect(a).await?;
    let json_out = a.output == "json";
    match what {
        GetWhat::Syncs { namespace } => {
            let r = c
                .list_syncs(pb::ListSyncsRequest {
                    namespace: namespace.clone().unwrap_or_default(),
                })
                .await
                .map_err(status_msg)?
                .into_inner();
            if json_out {
                return Ok(serde_json::to_string_pretty(
                    &r.syncs.iter().map(sync_json).collect::<Vec<_>>(),
                )
                .expect("JSON"));
            }
            let rows = r
                .syncs
                .iter()
                .map(|s| {
                    let (ns, name) = ref_of(&s.r#ref);
                    vec![
                        ns,
                        name,
                        s.last_applied_revision.clone(),
                        if s.suspended { "True" } else { "False" }.into(),
                        s.ready.clone(),
                        s.message.clone(),
                    ]
                })
                .collect();
            Ok(table(
                &[
                    "NAMESPACE",
                    "NAME",
                    "REVISION",
                    "SUSPENDED",
                    "READY",
                    "MESSAGE",
                ],
                rows,
            ))
        }
        GetWhat::Plan {
            name,
            namespace,
            preview,
        } => {
            let r#ref = Some(pb::SyncRef {
                namespace: namespace.clone(),
                name: name.clone(),
            });
            let p = if *preview {
                c.preview_plan(pb::PreviewPlanRequest {
                    r#ref,
                    revision: String::new(),
                })
                .await
            } else {
                c.get_plan(pb::GetPlanRequest { r#ref }).await
            }
            .map_err(status_msg)?
            .into_inner();
            if json_out {
                return Ok(serde_json::to_string_pretty(&plan_json(&p)).expect("JSON"));
            }
            Ok(plan_text(&p))
        }
        GetWhat::Operations {
            namespace,
            sync,
            ns_name,
            state,
            limit,
        } => {
            let req = pb::ListOperationsRequest {
                namespace: namespace.clone().unwrap_or_default(),
                sync_name: sync.clone().unwrap_or_default(),
                ns_name: ns_name.clone().unwrap_or_default(),
                state: state.clone().unwrap_or_default(),
                page_size: *limit,
                ..Default::default()
            };
            let r = c
                .list_operations(req)
                .await
                .map_err(status_msg)?
                .into_inner();
            if json_out {
                return Ok(serde_json::to_string_pretty(
                    &r.operations.iter().map(op_json).collect::<Vec<_>>(),
                )
                .expect("JSON"));
            }
            let rows = r
                .operations
                .iter()
                .map(|o| {
                    let (ns, name) = ref_of(&o.r#ref);
                    vec![
                        o.nslcmop_id.clone(),
                        ns,
                        name,
                        o.ns_name.clone(),
                        o.r#type.clone(),
                        o.state.clone(),
                        o.start_time.clone(),
                        o.revision.clone(),
                        o.error.clone(),
                    ]
                })
                .collect();
            Ok(table(
                &[
                    "NSLCMOP",
                    "NAMESPACE",
                    "SYNC",
                    "NS",
                    "TYPE",
                    "STATE",
                    "STARTED",
                    "REVISION",
                    "ERROR",
                ],
                rows,
            ))
        }
    }
}

/// Approves the plan an OsmSync waits on: the given digest, or the pending one (whose plan is
/// printed first, so the approver sees what is approved).
pub async fn approve(
    a: &GrpcArgs,
    namespace: &str,
    name: &str,
    digest: Option<String>,
    approver: Option<String>,
) -> Result<String, String> {
    let mut c = connect(a).await?;
    let r#ref = Some(pb::SyncRef {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    });
    let mut out = String::new();
    let digest = match digest {
        Some(d) => d,
        None => {
            let p = c
                .get_plan(pb::GetPlanRequest {
                    r#ref: r#ref.clone(),
                })
                .await
                .map_err(status_msg)?
                .into_inner();
            if !p.awaiting_approval {
                return Err(format!(
                    "no plan of OsmSync {namespace}/{name} awaits approval (its last plan, for revision {}, was {})",
                    p.revision,
                    if p.applied { "applied" } else { "a preview" }
                ));
            }
            out.push_str(&plan_text(&p));
            p.digest
        }
    };
    let r = c
        .approve_plan(pb::ApprovePlanRequest {
            r#ref,
            digest,
            approver: approver.unwrap_or_default(),
        })
        .await
        .map_err(status_msg)?
        .into_inner();
    out.push_str(&format!(
        "{}\nrecorded approver: {}",
        r.message, r.approved_by
    ));
    Ok(out)
}

/// Follows WatchEvents and prints one line (or one JSON object) per event until the stream ends.
pub async fn events(
    a: &GrpcArgs,
    after: Option<u64>,
    namespace: Option<String>,
) -> Result<(), String> {
    let mut c = connect(a).await?;
    let mut stream = c
        .watch_events(pb::WatchEventsRequest {
            after_sequence: after,
            namespace: namespace.unwrap_or_default(),
        })
        .await
        .map_err(status_msg)?
        .into_inner();
    while let Some(ev) = stream.message().await.map_err(status_msg)? {
        let (ns, name) = ref_of(&ev.r#ref);
        let (kind, detail) = match &ev.kind {
            Some(pb::event::Kind::ReconcileStarted(s)) => {
                ("ReconcileStarted", json!({"revision": s.revision}))
            }
            Some(pb::event::Kind::ReconcileFinished(f)) => (
                "ReconcileFinished",
                json!({"revision": f.revision, "ready": f.ready, "reason": f.reason, "message": f.message, "durationSeconds": f.duration_seconds}),
            ),
            Some(pb::event::Kind::PlanComputed(p)) => ("PlanComputed", plan_json(p)),
            Some(pb::event::Kind::OperationChanged(o)) => ("OperationChanged", op_json(o)),
            None => ("Unknown", Value::Null),
        };
        let line = if a.output == "json" {
            json!({"sequence": ev.sequence, "time": ev.time, "namespace": ns, "name": name, "kind": kind, "detail": detail}).to_string()
        } else {
            let summary = match &ev.kind {
                Some(pb::event::Kind::ReconcileStarted(s)) => format!("revision {}", s.revision),
                Some(pb::event::Kind::ReconcileFinished(f)) => {
                    format!("Ready={} {}: {}", f.ready, f.reason, f.message)
                }
                Some(pb::event::Kind::PlanComputed(p)) => {
                    format!("{} action(s) for revision {}", p.actions.len(), p.revision)
                }
                Some(pb::event::Kind::OperationChanged(o)) => format!(
                    "{} {} of {}: {}",
                    o.nslcmop_id, o.r#type, o.ns_name, o.state
                ),
                None => String::new(),
            };
            format!(
                "{:>6}  {}  {ns}/{name}  {kind}  {summary}",
                ev.sequence, ev.time
            )
        };
        // A closed pipe (`osmops events | head`) ends the stream quietly instead of panicking.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            return Ok(());
        }
    }
    Ok(())
}
