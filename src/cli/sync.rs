//! `osmops plan` and `osmops apply`: one repository against one OSM, on the same engine as the
//! controller. Exit codes: 0 success, 1 OSM or operation failure (and anything left blocked or
//! broken), 2 invalid input or a refused prune (nothing was sent to OSM).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::output;
use super::owner::repository_owner;
use super::state::{Identity, StateStore};
use super::target::{warn_unknown_variables, Target, TargetArgs};
use super::CliError;
use crate::duration::parse_duration;
use crate::engine::{self, EngineError, EngineOptions, Outcome};
use crate::plan::{Inventory, Owner, Plan, Remediation};
use crate::repo::{self, Limits, ReadOptions};

/// Bounds on what the repository reader accepts (docs/repository-format.md).
#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
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
    pub fn limits(&self) -> Limits {
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

/// What to do when an OSM operation fails (nothing, by default).
#[derive(Args, Debug, Clone)]
pub struct RemediationArgs {
    /// After a failed instantiate of an NS this repository created: delete it and create it again,
    /// up to N times.
    #[arg(long, default_value_t = 0, value_name = "N")]
    instantiate_retries: u32,
    /// After a failed KDU upgrade: send it again, up to N times.
    #[arg(long, default_value_t = 0, value_name = "N")]
    upgrade_retries: u32,
    /// When upgrade retries are used up: upgrade back to the params OSM last completed.
    #[arg(long)]
    upgrade_rollback: bool,
}

impl RemediationArgs {
    fn remediation(&self) -> Remediation {
        Remediation {
            instantiate_retries: self.instantiate_retries,
            upgrade_retries: self.upgrade_retries,
            upgrade_rollback: self.upgrade_rollback,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Repository directory (with osm_ops_config.yaml, or NsInstance files and osm-pkgs/).
    #[arg(default_value = ".")]
    dir: PathBuf,
    #[command(flatten)]
    target: TargetArgs,
    /// Delete NS instances and packages this repository owns that are no longer in it.
    #[arg(long)]
    prune: bool,
    /// Let prune delete every NS instance this repository owns (refused otherwise: an emptied
    /// repository and a typo in fileExtensions look alike).
    #[arg(long)]
    allow_empty: bool,
    /// State file recording what this repository owns in OSM (needed for --prune).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Accept a state file written by an earlier osmops, which does not record whose it is.
    #[arg(long, requires = "state")]
    adopt_state: bool,
    /// This repository's identity in OSM (default: its Git remote and path, else its absolute
    /// path). What it creates is marked with it; prune only deletes what carries it.
    #[arg(long, env = "OSMOPS_OWNER", hide_env_values = true)]
    owner: Option<String>,
    #[command(flatten)]
    remediation: RemediationArgs,
    /// Bound for the whole run: reading OSM, writing and following operations, e.g. 5m
    /// (at most 8760h).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Follow started OSM operations until they complete (`--wait=false` to fire and forget).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    wait: bool,
    /// NS writes in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
}

/// A run's input, read and checked before anything is sent.
struct Prepared {
    desired: repo::DesiredState,
    target: Target,
    owner: Owner,
    store: Option<StateStore>,
    inventory: Inventory,
}

fn engine_error(e: EngineError) -> CliError {
    match e {
        EngineError::Invalid(_) | EngineError::PruneGuard(_) => CliError::Input(e.to_string()),
        EngineError::Nbi(_) => CliError::Osm(e.to_string()),
    }
}

async fn prepare(args: &RunArgs, lock: bool) -> Result<Prepared, CliError> {
    warn_unknown_variables();
    if args.prune && args.state.is_none() {
        return Err(CliError::Input(
            "--prune needs --state FILE: OSM Ops only prunes what it recorded as its own".into(),
        ));
    }
    // Which OSM comes first, so that the embedded simulator is announced before anything else.
    // Building the client sends nothing.
    let target = args.target.connect().await?;
    // The CLI takes credentials from flags, OSMOPS_* variables, --connection-file or the embedded
    // simulator, never from a path named inside the repository.
    let opts = ReadOptions {
        credentials_from_elsewhere: true,
        limits: args.limits.limits(),
        ..Default::default()
    };
    let desired = repo::read_repository(&args.dir, &opts).map_err(|e| {
        CliError::Input(format!(
            "{}: {e}\nNothing was sent to OSM.",
            args.dir.display()
        ))
    })?;
    for w in &desired.warnings {
        eprintln!("warning: {w}");
    }
    let owner = Owner::new(
        args.owner
            .clone()
            .unwrap_or_else(|| repository_owner(&args.dir)),
    );
    let (store, inventory) = match &args.state {
        Some(path) => {
            let identity = Identity {
                owner: owner.id().to_owned(),
                osm_url: target.shown.clone(),
                project: target.project.clone(),
            };
            let (store, inventory) = StateStore::open(
                path,
                identity,
                args.adopt_state,
                lock.then_some(args.timeout),
            )?;
            (Some(store), inventory)
        }
        None => (None, Inventory::default()),
    };
    Ok(Prepared {
        desired,
        target,
        owner,
        store,
        inventory,
    })
}

fn engine_options(args: &RunArgs, owner: Owner) -> EngineOptions {
    EngineOptions {
        prune: args.prune,
        allow_empty: args.allow_empty,
        owner,
        remediation: args.remediation.remediation(),
        timeout: args.timeout,
        ..EngineOptions::default()
    }
}

/// JSON output: the result plus which OSM it concerns.
#[derive(Serialize)]
struct WithTarget<'a, T: Serialize> {
    target: &'a str,
    owner: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

/// Prints a plan or an outcome as JSON, with the OSM and owner it concerns.
fn print_json(p: &Prepared, body: &impl Serialize) {
    let out = WithTarget {
        target: &p.target.shown,
        owner: p.owner.id(),
        body,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&out).expect("plans and outcomes serialize")
    );
}

/// Whether a plan can be applied as it is: broken or blocked actions make `apply` exit 1.
fn plan_exit(plan: &Plan) -> ExitCode {
    let stuck = plan
        .actions
        .iter()
        .any(|a| matches!(a.operation.label(), "broken" | "blocked"));
    if stuck {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

pub async fn run_plan(args: RunArgs) -> Result<ExitCode, CliError> {
    let p = prepare(&args, false).await?;
    let opts = engine_options(&args, p.owner.clone());
    let plan = engine::preview(&p.target.client, &p.desired, &p.inventory, &opts)
        .await
        .map_err(engine_error)?;
    match args.output {
        OutputFormat::Text => {
            print!("{}", output::plan_table(&plan));
            for n in &plan.notes {
                println!("note: {n}");
            }
            println!(
                "{} change(s) planned. {}.",
                plan.writes(),
                output::traffic(&p.target.client.counters().snapshot())
            );
        }
        OutputFormat::Json => print_json(&p, &plan),
    }
    Ok(plan_exit(&plan))
}

pub async fn run_apply(args: ApplyArgs) -> Result<ExitCode, CliError> {
    let run = &args.run;
    let text = run.output == OutputFormat::Text;
    let p = prepare(run, true).await?;
    let opts = EngineOptions {
        wait: args.wait,
        concurrency: args.concurrency.into(),
        poll_interval: Duration::from_millis(500),
        ..engine_options(run, p.owner.clone())
    };
    let printed_plan = std::sync::atomic::AtomicBool::new(false);
    let save_error: Mutex<Option<String>> = Mutex::new(None);
    let progress = |plan: &Plan, ev: &engine::Progress| {
        if let engine::Progress::Inventory { inventory } = ev {
            // Write-ahead: record ownership as soon as OSM has answered.
            if let Some(store) = &p.store {
                if let Err(e) = store.save(inventory) {
                    save_error.lock().expect("save error").get_or_insert(e);
                }
            }
            return;
        }
        if !text {
            return;
        }
        if !printed_plan.swap(true, std::sync::atomic::Ordering::Relaxed) {
            print!("{}", output::plan_table(plan));
        }
        if let Some(line) = output::progress_line(plan, ev) {
            println!("{line}");
        }
    };
    let outcome: Outcome =
        engine::reconcile(&p.target.client, &p.desired, &p.inventory, &opts, &progress)
            .await
            .map_err(engine_error)?;
    if text {
        if !printed_plan.load(std::sync::atomic::Ordering::Relaxed) {
            print!("{}", output::plan_table(&outcome.plan));
        }
        for n in &outcome.plan.notes {
            println!("note: {n}");
        }
        println!("{}", output::outcome_summary(&outcome));
    } else {
        print_json(&p, &outcome);
    }
    if let Some(e) = save_error.into_inner().expect("save error") {
        // The state file could not record what this run created: say it here so it is not lost.
        eprintln!(
            "what this run owns in OSM (write it to the state file by hand):\n{}",
            serde_json::to_string_pretty(&outcome.inventory).expect("inventory serializes")
        );
        return Err(CliError::Osm(e));
    }
    Ok(if outcome.failed() || outcome.incomplete() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
