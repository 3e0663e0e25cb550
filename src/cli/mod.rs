//! The `osmops` command line: argument parsing, wiring, exit codes and human output.
//! Exit codes: 0 success, 1 OSM or operation failure, 2 invalid input (nothing sent to OSM).

mod controller;
mod files;
mod output;
mod owner;
mod remote;
#[cfg(feature = "simulator")]
mod sim;
mod state;
mod sync;
mod target;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Plan(sync::PlanArgs),
    /// Make OSM match the repository: onboard packages, create/upgrade NS instances, prune.
    Apply(sync::ApplyArgs),
    /// Run the OSM NBI simulator.
    #[cfg(feature = "simulator")]
    Sim(sim::SimArgs),
    /// Print the OsmSync CustomResourceDefinition (YAML), generated from the Rust types.
    Crd {
        /// Print the field reference (Markdown tables, as in docs/osmsync.md) instead.
        #[arg(long)]
        reference: bool,
    },
    /// Run the Kubernetes controller reconciling OsmSync objects (kubeconfig or in-cluster).
    // A flag given twice keeps its last value, as pflag does in Flux's controllers: a kustomize
    // patch that appends an argument to the Deployment must not crash-loop the pod.
    #[command(args_override_self = true)]
    Controller(controller::ControllerArgs),
    /// Read syncs, plans and OSM operations from the controller's gRPC API.
    Get {
        #[command(subcommand)]
        what: remote::GetWhat,
        #[command(flatten)]
        grpc: remote::GrpcArgs,
    },
    /// Approve the plan an OsmSync with `spec.approval: manual` waits on (through the
    /// controller's gRPC API; the controller then applies exactly that plan).
    Approve {
        /// The OsmSync.
        name: String,
        #[arg(short, long, default_value = "default")]
        namespace: String,
        /// The digest to approve; default: the plan pending now (printed before approving).
        #[arg(long)]
        digest: Option<String>,
        /// Who approves, recorded with the approval (default: $USER).
        #[arg(long, env = "USER")]
        approver: Option<String>,
        #[command(flatten)]
        grpc: remote::GrpcArgs,
    },
    /// Follow the controller's event stream (reconciles, plans, OSM operations).
    Events {
        /// Replay the retained events after this sequence number first (0: all of them);
        /// without it, only new events are shown.
        #[arg(long)]
        after: Option<u64>,
        #[arg(short, long)]
        namespace: Option<String>,
        #[command(flatten)]
        grpc: remote::GrpcArgs,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
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

/// With `--output json`, a refusal or failure is a JSON object on stdout too, so that a pipeline
/// reading stdout never gets nothing: `{"error": {"exitCode": 2, "kind": "invalidInput",
/// "message": ...}}`.
fn json_error(e: &CliError) -> String {
    let (code, kind) = match e {
        CliError::Input(_) => (2, "invalidInput"),
        CliError::Osm(_) => (1, "osmFailure"),
    };
    serde_json::to_string_pretty(&serde_json::json!({
        "error": { "exitCode": code, "kind": kind, "message": e.to_string() }
    }))
    .expect("JSON values serialize")
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_errors = match &cli.command {
        Command::Plan(a) => a.json_output(),
        Command::Apply(a) => a.json_output(),
        _ => false,
    };
    // Kept until main returns: flushes exported spans.
    let _telemetry = match &cli.command {
        Command::Controller(a) => crate::telemetry::init(
            a.log_level.as_filter(),
            a.log_encoding == controller::LogEncoding::Json,
        ),
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
            Command::Plan(args) => sync::run_plan(args).await,
            Command::Apply(args) => sync::run_apply(args).await,
            #[cfg(feature = "simulator")]
            Command::Sim(args) => sim::run_sim(args).await,
            Command::Crd { reference } => {
                if reference {
                    print!("{}", crate::api::reference::reference_markdown());
                } else {
                    print!("{}", crate::api::crd_yaml());
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Controller(args) => controller::run_controller(args).await,
            Command::Get { what, grpc } => match remote::get(&grpc, &what).await {
                Ok(out) => {
                    print!("{out}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Err(CliError::Osm(e)),
            },
            Command::Approve {
                name,
                namespace,
                digest,
                approver,
                grpc,
            } => match remote::approve(&grpc, &namespace, &name, digest, approver).await {
                Ok(out) => {
                    println!("{out}");
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
            if json_errors {
                println!("{}", json_error(&e));
            }
            e.exit_code()
        }
    }
}
