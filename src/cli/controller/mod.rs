//! `osmops controller`: the Kubernetes controller reconciling OsmSync objects.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod args;

pub use args::{ControllerArgs, LogEncoding};

use super::{CliError, VERSION};

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

/// The namespace the controller runs in, as Flux finds it.
fn own_namespace() -> Option<String> {
    ["RUNTIME_NAMESPACE", "POD_NAMESPACE"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
}

/// One start-up call to the Kubernetes API waits at most this long for an answer.
const STARTUP_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A Kubernetes client (kubeconfig or in-cluster) with Flux's client-side rate limit, checked
/// by one list of OsmSyncs. An API server that refuses the request for good (missing CRD,
/// missing RBAC) stops the controller at once; one that is unreachable or does not answer is
/// retried until `--startup-timeout`, saying what it waits for, and then stops it. Every message
/// names the server.
async fn kube_client(
    args: &ControllerArgs,
    namespace: Option<&str>,
) -> Result<kube::Client, CliError> {
    use crate::api::OsmSync;
    use crate::controller::throttle::Throttle;
    let mut config = kube::Config::infer().await.map_err(|e| {
        CliError::Osm(format!(
            "cannot find the Kubernetes API (no usable kubeconfig, not in a cluster): {e}"
        ))
    })?;
    config.connect_timeout = Some(STARTUP_CALL_TIMEOUT);
    let server = config.cluster_url.to_string();
    let client = kube::client::ClientBuilder::try_from(config)
        .map_err(|e| {
            CliError::Osm(format!(
                "cannot set up a client for the Kubernetes API at {server}: {e}"
            ))
        })?
        .with_layer(&Throttle::new(
            f64::from(args.kube_api_qps),
            args.kube_api_burst,
        ))
        .build();
    let syncs: kube::Api<OsmSync> = match namespace {
        Some(ns) => kube::Api::namespaced(client.clone(), ns),
        None => kube::Api::all(client.clone()),
    };
    let mut lp = kube::api::ListParams::default().limit(1);
    if let Some(sel) = &args.watch_label_selector {
        lp = lp.labels(sel);
    }
    let started = std::time::Instant::now();
    tracing::info!(server = %server, timeout = ?args.startup_timeout, "waiting for the Kubernetes API: listing OsmSyncs");
    loop {
        let left = args.startup_timeout.saturating_sub(started.elapsed());
        let why = match tokio::time::timeout(
            STARTUP_CALL_TIMEOUT.min(left),
            syncs.list_metadata(&lp),
        )
        .await
        {
            Ok(Ok(_)) => {
                tracing::info!(server = %server, "the Kubernetes API answered");
                return Ok(client);
            }
            // Refused for good: waiting changes nothing.
            Ok(Err(kube::Error::Api(e))) if matches!(e.code, 401 | 403 | 404) => {
                return Err(CliError::Osm(format!(
                    "cannot list OsmSyncs from the Kubernetes API at {server}: {e} (is the CRD installed and the controller's RBAC in place?)"
                )))
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!(
                "no answer within {}s",
                STARTUP_CALL_TIMEOUT.min(left).as_secs_f32()
            ),
        };
        if started.elapsed() + Duration::from_secs(1) >= args.startup_timeout {
            return Err(CliError::Osm(format!(
                "cannot list OsmSyncs from the Kubernetes API at {server} within --startup-timeout {}: {why} (is the API server reachable?)",
                crate::duration::format_duration(args.startup_timeout)
            )));
        }
        tracing::warn!(server = %server, error = %why, "the Kubernetes API is not answering yet; retrying");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn read_token(path: &Option<PathBuf>) -> Result<Option<String>, CliError> {
    let Some(p) = path else {
        return Ok(None);
    };
    let token = std::fs::read_to_string(p).map_err(|e| {
        CliError::Input(format!(
            "cannot read --grpc-token-file {}: {e}",
            p.display()
        ))
    })?;
    Ok(Some(token.trim().to_owned()).filter(|t| !t.is_empty()))
}

pub async fn run_controller(args: ControllerArgs) -> Result<ExitCode, CliError> {
    use crate::controller::{
        self, Context, ControllerOptions, HttpListeners, LeaderElection, LeaderRunEnd, Metrics,
    };
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    // Everything that can be wrong with the configuration is checked before anything starts.
    let namespace = match (&args.watch_namespace, args.watch_all_namespaces) {
        (Some(ns), _) => Some(ns.clone()),
        (None, true) => None,
        (None, false) => Some(own_namespace().ok_or_else(|| {
            CliError::Input(
                "--watch-all-namespaces=false needs the controller's namespace in RUNTIME_NAMESPACE or POD_NAMESPACE".into(),
            )
        })?),
    };
    let identity = std::env::var("POD_NAME")
        .unwrap_or_else(|_| format!("osmops-{}", uuid::Uuid::new_v4().simple()));
    let token = read_token(&args.grpc_token_file)?;
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
    if args.enable_leader_election {
        crate::controller::leader::check_timing(
            args.leader_election_lease_duration,
            args.leader_election_renew_deadline,
            args.leader_election_retry_period,
        )
        .map_err(CliError::Input)?;
    }
    if let Some(tls) = &tls {
        tls.check().map_err(|e| {
            CliError::Input(format!(
                "gRPC TLS (--grpc-tls-cert/--grpc-tls-key/--grpc-client-ca): {e}"
            ))
        })?;
    }
    let listeners = HttpListeners::bind(args.metrics_addr.0, args.health_addr)
        .await
        .map_err(CliError::Osm)?;
    let grpc_listener = tokio::net::TcpListener::bind(args.grpc_addr)
        .await
        .map_err(|e| {
            CliError::Osm(format!(
                "cannot listen on {} (--grpc-addr): {e}",
                args.grpc_addr
            ))
        })?;
    // The probes answer from here on: /healthz 200, /readyz 503 until the controller runs.
    let metrics = Arc::new(Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));
    let mut http = tokio::spawn(controller::serve_http(
        metrics.clone(),
        listeners,
        ready.clone(),
    ));
    let client = kube_client(&args, namespace.as_deref()).await?;
    let election = if args.enable_leader_election {
        Some(
            LeaderElection::new(
                client.clone(),
                &args.leader_election_namespace,
                &args.leader_election_id,
                &identity,
                args.leader_election_lease_duration,
            )
            .with_timing(
                args.leader_election_renew_deadline,
                args.leader_election_retry_period,
            )
            .map_err(CliError::Input)?,
        )
    } else {
        None
    };
    let fetch = crate::source::FetchOptions {
        max_download_bytes: args.max_artifact_size,
        ..crate::source::FetchOptions::from_env()
    };
    let opts = ControllerOptions {
        concurrent: args.concurrent,
        requeue_dependency: args.requeue_dependency,
        no_cross_namespace_refs: args.no_cross_namespace_refs,
        namespace: namespace.clone(),
        fetch,
        poll_interval: args.operation_poll_interval,
        limits: args.limits.limits(),
        events_addr: args.events_addr.clone(),
        label_selector: args.watch_label_selector.clone(),
        interval_jitter_percent: args.interval_jitter_percentage,
        osm_list_max_age: args.osm_list_max_age,
        hand_off_operations: args.hand_off_operations,
        watch_configs_label_selector: Some(args.watch_configs_label_selector.clone())
            .filter(|s| !s.is_empty()),
    };
    let ctx = Arc::new(Context::new(
        client,
        opts,
        metrics.clone(),
        identity.clone(),
    ));
    let grpc_server = crate::grpc::prepare(ctx.clone(), crate::grpc::GrpcOptions { tls, token })
        .await
        .map_err(|e| CliError::Input(format!("gRPC API: {e}")))?;

    let (grpc_stop_tx, grpc_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut grpc = tokio::spawn(crate::grpc::serve_prepared(
        grpc_server,
        grpc_listener,
        async move {
            let _ = grpc_stop_rx.await;
        },
    ));
    tracing::info!(version = VERSION, identity = %identity, namespace = ?namespace, leader_election = args.enable_leader_election, "starting the OsmSync controller");
    ready.store(true, Ordering::SeqCst);
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
        match election {
            Some(le) => controller::run_with_leader_election(ctx, le, stop).await,
            None => {
                controller::run(ctx, stop).await;
                LeaderRunEnd::Shutdown
            }
        }
    };
    let mut failure: Option<String> = None;
    tokio::select! {
        end = work => {
            if end == LeaderRunEnd::LeadershipLost {
                failure = Some("leader election lost".into());
            }
        }
        _ = async move {
            if force_rx.await.is_ok() {
                tokio::time::sleep(GRACEFUL_SHUTDOWN_TIMEOUT).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => tracing::warn!("graceful shutdown did not finish in time; exiting"),
        // A server that stops on its own is fatal: probes or the API would silently be gone.
        r = &mut http => failure = Some(format!("metrics/health server stopped: {}", join_message(r.map(|r| r.map_err(|e| e.to_string()))))),
        r = &mut grpc => failure = Some(format!("gRPC server stopped: {}", join_message(r.map(|r| r.map_err(|e| e.to_string()))))),
    }
    http.abort();
    let _ = grpc_stop_tx.send(());
    if !grpc.is_finished() {
        if let Ok(Err(e)) = grpc.await {
            tracing::error!(error = %e, "gRPC server failed");
        }
    }
    match failure {
        Some(why) => {
            tracing::error!(reason = %why, "controller stopped");
            Err(CliError::Osm(why))
        }
        None => {
            tracing::info!("controller stopped");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn join_message(r: Result<Result<(), String>, tokio::task::JoinError>) -> String {
    match r {
        Ok(Ok(())) => "it ended".into(),
        Ok(Err(e)) => e,
        Err(e) => e.to_string(),
    }
}
