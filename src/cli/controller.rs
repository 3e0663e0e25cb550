//! `osmops controller`: the Kubernetes controller reconciling OsmSync objects.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::sync::LimitArgs;
use super::{CliError, VERSION};
use crate::duration::parse_duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogEncoding {
    Console,
    Json,
}

#[derive(Args, Debug)]
pub struct ControllerArgs {
    /// OsmSyncs reconciled at once.
    #[arg(long, default_value_t = 4)]
    concurrent: u16,
    /// Requeue period while dependencies or sources are not ready.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    requeue_dependency: Duration,
    /// Refuse sourceRefs and dependsOn entries in other namespaces.
    #[arg(long)]
    no_cross_namespace_refs: bool,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
    /// Only reconcile while holding the leader Lease.
    #[arg(long)]
    leader_elect: bool,
    /// Namespace of the leader Lease (default: the pod's namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    leader_election_namespace: String,
    #[arg(long, default_value = "osmops-controller-leader")]
    leader_election_id: String,
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    leader_election_lease_duration: Duration,
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: std::net::SocketAddr,
    #[arg(long, default_value = "0.0.0.0:9440")]
    health_addr: std::net::SocketAddr,
    /// Largest source artifact accepted, in bytes.
    #[arg(long, default_value_t = 100 * 1024 * 1024)]
    max_artifact_size: u64,
    /// How often followed OSM operations are polled.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    operation_poll_interval: Duration,
    #[arg(long, default_value = "info")]
    pub log_level: String,
    #[arg(long, value_enum, default_value_t = LogEncoding::Console)]
    pub log_encoding: LogEncoding,
    /// Address of the gRPC API.
    #[arg(long, default_value = "0.0.0.0:9090")]
    grpc_addr: std::net::SocketAddr,
    /// TLS certificate and key (PEM) for the gRPC API.
    #[arg(long, requires = "grpc_tls_key")]
    grpc_tls_cert: Option<PathBuf>,
    #[arg(long, requires = "grpc_tls_cert")]
    grpc_tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (mutual TLS).
    #[arg(long, requires = "grpc_tls_cert")]
    grpc_client_ca: Option<PathBuf>,
    /// File holding the bearer token gRPC clients must send (e.g. a mounted Secret).
    #[arg(long)]
    grpc_token_file: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// How long running reconciles may take to finish after SIGTERM.
const GRACEFUL_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

pub async fn run_controller(args: ControllerArgs) -> Result<ExitCode, CliError> {
    use crate::controller::{self, Context, ControllerOptions, LeaderElection, Metrics};
    let client = kube::Client::try_default().await.map_err(|e| {
        CliError::Osm(format!(
            "cannot reach the Kubernetes API (kubeconfig or in-cluster): {e}"
        ))
    })?;
    let identity = std::env::var("POD_NAME")
        .unwrap_or_else(|_| format!("osmops-{}", uuid::Uuid::new_v4().simple()));
    let fetch = crate::source::FetchOptions {
        max_download_bytes: args.max_artifact_size,
        ..crate::source::FetchOptions::from_env()
    };
    let opts = ControllerOptions {
        concurrent: args.concurrent,
        requeue_dependency: args.requeue_dependency,
        no_cross_namespace_refs: args.no_cross_namespace_refs,
        namespace: args.watch_namespace.clone(),
        fetch,
        poll_interval: args.operation_poll_interval,
        limits: args.limits.limits(),
    };
    let metrics = std::sync::Arc::new(Metrics::default());
    let http = tokio::spawn(controller::serve_http(
        metrics.clone(),
        args.metrics_addr,
        args.health_addr,
    ));
    let ctx = std::sync::Arc::new(Context::new(
        client.clone(),
        opts,
        metrics,
        identity.clone(),
    ));
    let token = match &args.grpc_token_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| {
                    CliError::Input(format!(
                        "cannot read --grpc-token-file {}: {e}",
                        p.display()
                    ))
                })?
                .trim()
                .to_owned(),
        )
        .filter(|t| !t.is_empty()),
        None => None,
    };
    let tls = args
        .grpc_tls_cert
        .clone()
        .map(|cert| crate::grpc::TlsFiles {
            cert,
            key: args
                .grpc_tls_key
                .clone()
                .expect("clap requires the key with the cert"),
            client_ca: args.grpc_client_ca.clone(),
        });
    let (grpc_stop_tx, grpc_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let grpc = tokio::spawn(crate::grpc::serve_addr(
        ctx.clone(),
        args.grpc_addr,
        crate::grpc::GrpcOptions { tls, token },
        async move {
            let _ = grpc_stop_rx.await;
        },
    ));
    tracing::info!(version = VERSION, identity = %identity, namespace = ?args.watch_namespace, "starting the OsmSync controller");
    // One signal listener feeds the graceful stop and a deadline after which we exit anyway
    // (a reconcile stuck on an unreachable API must not keep the pod alive forever).
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (force_tx, force_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(());
        let _ = force_tx.send(());
    });
    let stop = async move {
        let _ = stop_rx.await;
    };
    let work = async move {
        if args.leader_elect {
            let le = LeaderElection::new(
                client,
                &args.leader_election_namespace,
                &args.leader_election_id,
                &identity,
                args.leader_election_lease_duration,
            );
            controller::run_with_leader_election(ctx, le, stop).await;
        } else {
            controller::run(ctx, stop).await;
        }
    };
    tokio::select! {
        _ = work => {}
        _ = async move {
            if force_rx.await.is_ok() {
                tokio::time::sleep(GRACEFUL_SHUTDOWN_TIMEOUT).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => tracing::warn!("graceful shutdown did not finish in time; exiting"),
    }
    http.abort();
    let _ = grpc_stop_tx.send(());
    if let Ok(Err(e)) = grpc.await {
        tracing::error!(error = %e, "gRPC server failed");
    }
    tracing::info!("controller stopped");
    Ok(ExitCode::SUCCESS)
}
