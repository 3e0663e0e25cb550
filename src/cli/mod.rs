//! The `osmops` command line: argument parsing, wiring, exit codes and human output.
//! Exit codes: 0 success, 1 OSM or operation failure, 2 invalid input (nothing sent to OSM).

mod output;
mod remote;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::duration::parse_duration;
use crate::engine::{self, EngineError, EngineOptions};
use crate::osm::{ClientOptions, Credentials, NbiClient, Secret};
use crate::plan::Inventory;
use crate::repo::{self, Limits, ReadOptions};
use crate::sim::{LcmMode, Seed, SimConfig, Simulator};

/// The build's version: `OSMOPS_VERSION` at compile time (the image build sets it), else the crate version.
pub const VERSION: &str = match option_env!("OSMOPS_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};

#[derive(Parser, Debug)]
#[command(name = "osmops", version = VERSION, about = "GitOps for Open Source MANO: make OSM match the desired state kept in Git")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show what `apply` would change in OSM, without changing anything.
    Plan(RunArgs),
    /// Make OSM match the repository: onboard packages, create/upgrade NS instances, prune.
    Apply(ApplyArgs),
    /// Run the OSM NBI simulator.
    Sim(SimArgs),
    /// Print the OsmSync CustomResourceDefinition (YAML), generated from the Rust types.
    Crd,
    /// Run the Kubernetes controller reconciling OsmSync objects (kubeconfig or in-cluster).
    Controller(ControllerArgs),
    /// Read syncs, plans and OSM operations from the controller's gRPC API.
    Get {
        #[command(subcommand)]
        what: remote::GetWhat,
        #[command(flatten)]
        grpc: remote::GrpcArgs,
    },
    /// Follow the controller's event stream (reconciles, plans, OSM operations).
    Events {
        /// Resume after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        #[arg(short, long)]
        namespace: Option<String>,
        #[command(flatten)]
        grpc: remote::GrpcArgs,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogEncoding {
    Console,
    Json,
}

#[derive(Args, Debug)]
struct ControllerArgs {
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
    log_level: String,
    #[arg(long, value_enum, default_value_t = LogEncoding::Console)]
    log_encoding: LogEncoding,
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

/// Bounds on what the repository reader accepts (docs/repository-format.md).
#[derive(Args, Debug, Clone)]
struct LimitArgs {
    /// Largest YAML file read (osm_ops_config.yaml, NsInstance files, descriptors), in bytes.
    #[arg(long, default_value_t = Limits::default().max_yaml_bytes)]
    max_yaml_bytes: u64,
    /// Deepest nesting of YAML sequences and mappings.
    #[arg(long, default_value_t = Limits::default().max_yaml_depth)]
    max_yaml_depth: usize,
    /// Most alias uses (*name) in one YAML file.
    #[arg(long, default_value_t = Limits::default().max_yaml_aliases)]
    max_yaml_aliases: usize,
    /// Most YAML nodes in one file, counting those aliases expand to.
    #[arg(long, default_value_t = Limits::default().max_yaml_nodes)]
    max_yaml_nodes: usize,
    /// Largest OSM package (sum of its files' sizes), in bytes.
    #[arg(long, default_value_t = Limits::default().max_package_bytes)]
    max_package_bytes: u64,
    /// Most files and folders in one OSM package.
    #[arg(long, default_value_t = Limits::default().max_package_files)]
    max_package_files: usize,
    /// Most files and folders looked at while searching NsInstance files.
    #[arg(long, default_value_t = Limits::default().max_scanned_entries)]
    max_scanned_entries: usize,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            max_yaml_bytes: self.max_yaml_bytes,
            max_yaml_depth: self.max_yaml_depth,
            max_yaml_aliases: self.max_yaml_aliases,
            max_yaml_nodes: self.max_yaml_nodes,
            max_package_bytes: self.max_package_bytes,
            max_package_files: self.max_package_files,
            max_scanned_entries: self.max_scanned_entries,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Repository directory (with osm_ops_config.yaml, or NsInstance files and osm-pkgs/).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// OSM NBI base URL, e.g. https://osm.example.com:9999/osm. Without it (and without a
    /// connection file) an embedded NBI simulator is used.
    #[arg(long, env = "OSMOPS_URL")]
    osm_url: Option<String>,
    #[arg(long, env = "OSMOPS_USER")]
    user: Option<String>,
    #[arg(long, env = "OSMOPS_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    #[arg(long, env = "OSMOPS_PROJECT")]
    project: Option<String>,
    /// Credentials file in the original OSM Ops format (hostname, project, user, password).
    #[arg(long, env = "OSMOPS_CONNECTION_FILE")]
    connection_file: Option<PathBuf>,
    /// Extra CA certificate(s) (PEM) to trust for the NBI's TLS certificate.
    #[arg(long, env = "OSMOPS_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Do not verify the NBI's TLS certificate (explicit, logged opt-out).
    #[arg(long)]
    insecure_skip_tls_verify: bool,
    /// Delete NS instances and packages this state file owns that are no longer in the repository.
    #[arg(long)]
    prune: bool,
    /// State file recording what this repository owns in OSM (needed for --prune).
    #[arg(long)]
    state: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Args, Debug)]
struct ApplyArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Follow started OSM operations until they complete (`--wait=false` to fire and forget).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    wait: bool,
    /// How long to follow operations, e.g. 5m.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
    /// NS writes in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

#[derive(Args, Debug)]
struct SimArgs {
    #[arg(long, default_value = "127.0.0.1:9999")]
    listen: std::net::SocketAddr,
    /// YAML seed (projects, users, vimAccounts, k8sClusters); default: admin/admin + VIM mylocation1.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Disable the NBI's 1 s re-login throttle.
    #[arg(long)]
    no_token_throttle: bool,
    /// Delay before the fake LCM completes an operation.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    lcm_delay: Duration,
    /// Run without LCM: operations stay PROCESSING forever.
    #[arg(long)]
    no_lcm: bool,
}

/// Where the NBI is and how to log in; the embedded simulator is kept alive alongside.
struct Target {
    client: NbiClient,
    _sim: Option<Simulator>,
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Osm(String),
}

impl CliError {
    fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Input(_) => ExitCode::from(2),
            CliError::Osm(_) => ExitCode::from(1),
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Kept until main returns: flushes exported spans.
    let _telemetry = match &cli.command {
        Command::Controller(a) => {
            crate::telemetry::init(&a.log_level, a.log_encoding == LogEncoding::Json)
        }
        _ => crate::telemetry::init("warn", false),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Plan(args) => run_plan(args).await,
            Command::Apply(args) => run_apply(args).await,
            Command::Sim(args) => run_sim(args).await,
            Command::Crd => {
                print!("{}", crate::api::crd_yaml());
                Ok(ExitCode::SUCCESS)
            }
            Command::Controller(args) => run_controller(args).await,
            Command::Get { what, grpc } => match remote::get(&grpc, &what).await {
                Ok(out) => {
                    print!("{out}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Err(CliError::Osm(e)),
            },
            Command::Events {
                after,
                namespace,
                grpc,
            } => remote::events(&grpc, after, namespace)
                .await
                .map(|_| ExitCode::SUCCESS)
                .map_err(CliError::Osm),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// The original `nbi-connection.yaml`: `hostname: host:port`, `project`, `user`, `password`
/// (plus `url`, which OSM Ops also accepts).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionFile {
    hostname: Option<String>,
    url: Option<String>,
    project: Option<String>,
    user: Option<String>,
    password: Option<String>,
}

async fn connect(args: &RunArgs, announce: bool) -> Result<Target, CliError> {
    let mut url = args.osm_url.clone();
    let mut user = args.user.clone();
    let mut password = args.password.clone();
    let mut project = args.project.clone();
    if let Some(path) = &args.connection_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::Input(format!(
                "cannot read connection file {}: {e}",
                path.display()
            ))
        })?;
        let f: ConnectionFile = serde_yaml::from_str(&text).map_err(|e| {
            CliError::Input(format!("invalid connection file {}: {e}", path.display()))
        })?;
        if url.is_none() {
            url = f.url.or_else(|| {
                f.hostname.map(|h| {
                    // The original operator spoke plain HTTP to host:port (behind an nginx front).
                    tracing::warn!("connection file gives only 'hostname': using plain http://{h}/osm like the original OSM Ops; set 'url' for https");
                    format!("http://{h}/osm")
                })
            });
        }
        user = user.or(f.user);
        password = password.or(f.password);
        project = project.or(f.project);
    }
    let ca_pem =
        match &args.ca_file {
            Some(p) => Some(std::fs::read(p).map_err(|e| {
                CliError::Input(format!("cannot read CA file {}: {e}", p.display()))
            })?),
            None => None,
        };
    let (url, creds, sim) = match url {
        Some(url) => {
            let missing: Vec<&str> = [
                ("--user", user.is_none()),
                ("--password", password.is_none()),
            ]
            .iter()
            .filter(|(_, m)| *m)
            .map(|(n, _)| *n)
            .collect();
            if !missing.is_empty() {
                return Err(CliError::Input(format!(
                    "missing OSM credentials: {} (flags, OSMOPS_* variables or --connection-file)",
                    missing.join(", ")
                )));
            }
            let creds = Credentials {
                user: user.unwrap_or_default(),
                password: Secret::new(password.unwrap_or_default()),
                project: project.unwrap_or_else(|| "admin".into()),
            };
            (url, creds, None)
        }
        None => {
            let config = SimConfig {
                lcm_delay: Duration::from_secs(1),
                ..SimConfig::default()
            };
            let sim = Simulator::start(config)
                .await
                .map_err(|e| CliError::Osm(format!("cannot start the embedded simulator: {e}")))?;
            if announce {
                println!(
                    "No --osm-url given: using the embedded OSM NBI simulator at {} (user admin, project admin, VIM account mylocation1).",
                    sim.url()
                );
            }
            let creds = Credentials {
                user: "admin".into(),
                password: Secret::new("admin"),
                project: "admin".into(),
            };
            (sim.url(), creds, Some(sim))
        }
    };
    let mut opts = ClientOptions::new(url);
    opts.ca_pem = ca_pem;
    opts.insecure_skip_tls_verify = args.insecure_skip_tls_verify;
    let client = NbiClient::new(opts, creds).map_err(|e| CliError::Input(e.to_string()))?;
    Ok(Target { client, _sim: sim })
}

fn read_repo(args: &RunArgs) -> Result<repo::DesiredState, CliError> {
    if args.prune && args.state.is_none() {
        return Err(CliError::Input(
            "--prune needs --state FILE: OSM Ops only prunes what it recorded as its own".into(),
        ));
    }
    // The CLI takes credentials from flags, OSMOPS_* variables, --connection-file or the embedded
    // simulator, never from a path named inside the repository.
    let opts = ReadOptions {
        credentials_from_elsewhere: true,
        limits: args.limits.limits(),
        ..Default::default()
    };
    let state = repo::read_repository(&args.dir, &opts).map_err(|e| {
        CliError::Input(format!(
            "{}: {e}\nNothing was sent to OSM.",
            args.dir.display()
        ))
    })?;
    for w in &state.warnings {
        eprintln!("warning: {w}");
    }
    Ok(state)
}

fn load_state(path: Option<&Path>) -> Result<Inventory, CliError> {
    let Some(path) = path else {
        return Ok(Inventory::default());
    };
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| CliError::Input(format!("invalid state file {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Inventory::default()),
        Err(e) => Err(CliError::Input(format!(
            "cannot read state file {}: {e}",
            path.display()
        ))),
    }
}

fn save_state(path: &Path, inv: &Inventory) -> Result<(), CliError> {
    let tmp = path.with_extension("tmp");
    let text = serde_json::to_string_pretty(inv).expect("inventory serializes");
    std::fs::write(&tmp, text + "\n")
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| CliError::Osm(format!("cannot write state file {}: {e}", path.display())))
}

fn engine_error(e: EngineError) -> CliError {
    match e {
        EngineError::Invalid(_) => CliError::Input(e.to_string()),
        EngineError::Nbi(_) => CliError::Osm(e.to_string()),
    }
}

async fn run_plan(args: RunArgs) -> Result<ExitCode, CliError> {
    let text = args.output == OutputFormat::Text;
    let desired = read_repo(&args)?;
    let inventory = load_state(args.state.as_deref())?;
    let target = connect(&args, text).await?;
    let opts = EngineOptions {
        prune: args.prune,
        ..Default::default()
    };
    let plan = engine::preview(&target.client, &desired, &inventory, &opts)
        .await
        .map_err(engine_error)?;
    if text {
        print!("{}", output::plan_table(&plan));
        println!(
            "{} change(s) planned. {}.",
            plan.writes(),
            output::traffic(&target.client.counters().snapshot())
        );
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&plan).expect("plan serializes")
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_apply(args: ApplyArgs) -> Result<ExitCode, CliError> {
    let run = &args.run;
    let text = run.output == OutputFormat::Text;
    let desired = read_repo(run)?;
    let inventory = load_state(run.state.as_deref())?;
    let target = connect(run, text).await?;
    let opts = EngineOptions {
        prune: run.prune,
        wait: args.wait,
        timeout: args.timeout,
        concurrency: args.concurrency,
        poll_interval: Duration::from_millis(500),
    };
    let printed_plan = std::sync::atomic::AtomicBool::new(false);
    let progress = |plan: &crate::plan::Plan, p: &engine::Progress| {
        if !text {
            return;
        }
        if !printed_plan.swap(true, std::sync::atomic::Ordering::Relaxed) {
            print!("{}", output::plan_table(plan));
        }
        if let Some(line) = output::progress_line(plan, p) {
            println!("{line}");
        }
    };
    let outcome = engine::reconcile(&target.client, &desired, &inventory, &opts, &progress)
        .await
        .map_err(engine_error)?;
    if let Some(path) = &run.state {
        save_state(path, &outcome.inventory)?;
    }
    if text {
        if !printed_plan.load(std::sync::atomic::Ordering::Relaxed) {
            print!("{}", output::plan_table(&outcome.plan));
        }
        println!("{}", output::outcome_summary(&outcome));
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcome).expect("outcome serializes")
        );
    }
    Ok(if outcome.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn run_sim(args: SimArgs) -> Result<ExitCode, CliError> {
    let seed = match &args.seed {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| CliError::Input(format!("cannot read seed {}: {e}", p.display())))?;
            Seed::from_yaml(&text).map_err(CliError::Input)?
        }
        None => Seed::default(),
    };
    let config = SimConfig {
        token_throttle: !args.no_token_throttle,
        lcm_mode: if args.no_lcm {
            LcmMode::None
        } else {
            LcmMode::Auto
        },
        lcm_delay: args.lcm_delay,
        seed,
        ..SimConfig::default()
    };
    let sim = Simulator::start_on(args.listen, config)
        .await
        .map_err(|e| CliError::Osm(format!("cannot listen on {}: {e}", args.listen)))?;
    println!("OSM NBI simulator listening on {}", sim.url());
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| CliError::Osm(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
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

async fn run_controller(args: ControllerArgs) -> Result<ExitCode, CliError> {
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
        ..Default::default()
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
