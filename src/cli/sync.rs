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
use super::state::{Access, Identity, PausedRollout, StateStore};
use super::target::{warn_unknown_variables, Target, TargetArgs};
use super::CliError;
use crate::duration::parse_duration;
use crate::engine::{self, Approval, EngineError, EngineOptions, Outcome};
use crate::plan::{
    DriftAction, DriftPolicy, FailurePolicy, Inventory, Owner, Plan, Remediation, Rollout,
};
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

/// Drift handling and progressive rollout (the OsmSync's `driftPolicy` and `rollout`).
#[derive(Args, Debug, Clone)]
pub struct GateArgs {
    /// What to do with objects OSM changed outside Git since this repository applied them
    /// (known from --state): correct or warn. Default: correct NS instances, warn about packages.
    #[arg(long, value_name = "correct|warn")]
    drift_policy: Option<DriftAction>,
    /// NS operations at once, and the batch size after the canary.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    max_parallel: Option<u16>,
    /// NS writes in the first batch, followed to completion and checked healthy before the rest.
    #[arg(long, value_name = "N", default_value_t = 0)]
    canary: u16,
    /// After a failed batch: pause (later batches are not started) or continue.
    #[arg(long, value_name = "pause|continue", default_value = "pause")]
    failure_policy: FailurePolicy,
}

impl GateArgs {
    fn drift(&self) -> DriftPolicy {
        DriftPolicy::all(self.drift_policy)
    }

    fn rollout(&self) -> Rollout {
        Rollout {
            max_parallel: self.max_parallel.map(usize::from),
            canary: self.canary.into(),
            failure_policy: self.failure_policy,
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
    /// The state file records another URL for this OSM (a proxy, an IP address instead of a
    /// name): check that the OSM at --osm-url holds the objects it records, then record the new
    /// URL.
    #[arg(long, requires = "state")]
    rebind_state_url: bool,
    /// Resume a rollout the state file records as paused by a failed batch (for this repository
    /// content): the remaining NS writes are sent.
    #[arg(long, requires = "state")]
    resume_rollout: bool,
    /// This repository's identity in OSM (default: its Git remote and path, else its absolute
    /// path). What it creates is marked with it; prune only deletes what carries it (or what it
    /// adopted). Must not be empty.
    #[arg(long, env = "OSMOPS_OWNER", hide_env_values = true)]
    owner: Option<String>,
    /// Take over NS instances and packages that Git declares and that exist in OSM without this
    /// repository's mark (made by hand or by another tool): without it they are blocked. Adopted
    /// packages are re-uploaded with this repository's tag; adopted NS instances are recorded in
    /// the state file (OSM cannot re-mark them), and later prunes may delete them. Objects marked
    /// as another repository's are never adopted.
    #[arg(long)]
    adopt: bool,
    #[command(flatten)]
    remediation: RemediationArgs,
    #[command(flatten)]
    gates: GateArgs,
    /// Bound for the whole run: reading OSM, writing and following operations, e.g. 5m
    /// (more than 0, at most 8760h).
    #[arg(long, default_value = "5m", value_parser = parse_timeout)]
    timeout: Duration,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Save the plan (with its digest) to FILE, for `osmops apply --plan FILE`.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Apply only the plan saved by `osmops plan --out FILE`: refused, with nothing sent, when
    /// OSM or the repository changed so that the plan computed now differs from it.
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Follow started OSM operations until they complete (`--wait=false` to fire and forget).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    wait: bool,
    /// NS writes in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
}

/// A run's time bound: a duration of more than zero (a zero timeout could only fail after
/// trying).
fn parse_timeout(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err("must be more than 0 (e.g. 30s, 5m)".into()),
        d => Ok(d),
    }
}

impl RunArgs {
    pub fn json_output(&self) -> bool {
        self.output == OutputFormat::Json
    }
}

impl PlanArgs {
    pub fn json_output(&self) -> bool {
        self.run.json_output()
    }
}

impl ApplyArgs {
    pub fn json_output(&self) -> bool {
        self.run.json_output()
    }
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
        EngineError::Invalid(_)
        | EngineError::PruneGuard(_)
        | EngineError::AwaitingApproval(_)
        | EngineError::SavedPlanRefused(_) => CliError::Input(e.to_string()),
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
    )
    .map_err(|e| {
        CliError::Input(format!(
            "--owner / OSMOPS_OWNER: {e}. Nothing was sent to OSM."
        ))
    })?;
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
                Access {
                    adopt_legacy: args.adopt_state,
                    rebind_url: args.rebind_state_url,
                    lock_for: lock.then_some(args.timeout),
                },
            )?;
            if let Some(from) = store.rebound_from() {
                same_osm(&target, &inventory, from).await?;
                if lock {
                    store.confirm_rebind(&inventory)?;
                }
                eprintln!(
                    "state file {}: OSM at {} holds what it recorded for {from}; it now records the new URL",
                    path.display(),
                    target.shown
                );
            }
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

/// `--rebind-state-url`: the OSM at the new URL must hold at least one of the objects the state
/// file records (their OSM ids are UUIDs that no other OSM has), or the file is left alone.
async fn same_osm(target: &Target, inventory: &Inventory, from: &str) -> Result<(), CliError> {
    if inventory.is_empty() {
        return Ok(());
    }
    let osm = |e: crate::osm::NbiError| {
        CliError::Osm(format!(
            "cannot check that {} is the OSM the state file records: {e}",
            target.shown
        ))
    };
    for e in inventory.ns_instances.values().take(3) {
        if target
            .client
            .get_ns_instance(&e.osm_id)
            .await
            .map_err(osm)?
            .is_some()
        {
            return Ok(());
        }
    }
    for kind in [crate::repo::PackageKind::Vnf, crate::repo::PackageKind::Ns] {
        if !inventory.packages.values().any(|e| e.kind == kind) {
            continue;
        }
        let live = target.client.list_packages(kind, &[]).await.map_err(osm)?;
        if inventory
            .packages
            .values()
            .any(|e| e.kind == kind && live.iter().any(|p| p.osm_id == e.osm_id))
        {
            return Ok(());
        }
    }
    Err(CliError::Input(format!(
        "--rebind-state-url: none of the {} object(s) the state file records (for OSM {from}) exists in the OSM at {}: it is not the same OSM, so the state file is left as it was. Nothing was sent to OSM.",
        inventory.ns_instances.len() + inventory.packages.len(),
        target.shown
    )))
}

fn engine_options(args: &RunArgs, owner: Owner) -> EngineOptions {
    EngineOptions {
        prune: args.prune,
        allow_empty: args.allow_empty,
        owner,
        remediation: args.remediation.remediation(),
        timeout: args.timeout,
        drift: args.gates.drift(),
        rollout: args.gates.rollout(),
        adopt: args.adopt,
        ..EngineOptions::default()
    }
}

/// What `osmops plan --out` writes: the plan and what it was computed against.
#[derive(Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SavedPlan {
    /// Format version of this file.
    osmops_plan: u32,
    digest: String,
    target: String,
    owner: String,
    /// The plan itself, for people reading the file (only `digest` is used by apply).
    #[serde(default)]
    plan: serde_json::Value,
}

fn save_plan(path: &std::path::Path, p: &Prepared, plan: &Plan) -> Result<(), CliError> {
    super::files::check_writable_target(path, "plan file")?;
    let saved = SavedPlan {
        osmops_plan: 1,
        digest: plan.digest.clone(),
        target: p.target.shown.clone(),
        owner: p.owner.id().to_owned(),
        plan: serde_json::to_value(plan).expect("plans serialize"),
    };
    let text = serde_json::to_string_pretty(&saved).expect("saved plans serialize");
    std::fs::write(path, text + "\n")
        .map_err(|e| CliError::Input(format!("cannot write the plan to {}: {e}", path.display())))
}

/// What `apply --plan FILE` may apply, after checking the file is for this OSM and owner: its
/// digest and its readable body, both of which must be the plan computed now.
fn load_plan(path: &std::path::Path, p: &Prepared) -> Result<Approval, CliError> {
    let text = super::files::read_bounded(path, "saved plan")?.ok_or_else(|| {
        CliError::Input(format!(
            "cannot read the plan {}: it does not exist",
            path.display()
        ))
    })?;
    let saved: SavedPlan = serde_json::from_str(&text).map_err(|e| {
        CliError::Input(format!(
            "{} is not a plan saved by `osmops plan --out`: {e}",
            path.display()
        ))
    })?;
    if saved.osmops_plan != 1 {
        return Err(CliError::Input(format!(
            "{}: plan file version {} is not supported (1 is)",
            path.display(),
            saved.osmops_plan
        )));
    }
    if saved.target != p.target.shown || saved.owner != p.owner.id() {
        return Err(CliError::Input(format!(
            "{} was planned for OSM {} as owner {}, not for OSM {} as owner {}. Nothing was sent to OSM.",
            path.display(),
            saved.target,
            saved.owner,
            p.target.shown,
            p.owner.id()
        )));
    }
    Ok(Approval::Saved {
        digest: saved.digest,
        body: saved.plan,
    })
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
    let stuck = plan.actions.iter().any(|a| {
        matches!(
            a.operation,
            crate::plan::Operation::Broken { .. } | crate::plan::Operation::Blocked
        )
    });
    if stuck {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The rollout the state file records as paused for exactly this repository content, unless
/// `--resume-rollout` resumes it (the controller's rule, per revision: a new content starts a new
/// rollout).
fn paused_rollout(p: &Prepared, args: &RunArgs) -> Option<PausedRollout> {
    let paused = p.store.as_ref()?.paused()?;
    (paused.digest == p.desired.digest() && !args.resume_rollout).then_some(paused)
}

fn paused_message(paused: &PausedRollout) -> String {
    format!(
        "rollout paused since {} for this repository content: {}. Resume with --resume-rollout, or change the repository (new content starts a new rollout)",
        paused.at, paused.message
    )
}

pub async fn run_plan(plan_args: PlanArgs) -> Result<ExitCode, CliError> {
    let args = &plan_args.run;
    let p = prepare(args, false).await?;
    let paused = paused_rollout(&p, args);
    let opts = engine_options(args, p.owner.clone());
    let plan = engine::preview(&p.target.client, &p.desired, &p.inventory, &opts)
        .await
        .map_err(engine_error)?;
    if let Some(path) = &plan_args.out {
        save_plan(path, &p, &plan)?;
        eprintln!(
            "plan {} saved to {}: apply exactly this plan with `osmops apply --plan {}`",
            plan.digest,
            path.display(),
            path.display()
        );
    }
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
    if let Some(paused) = &paused {
        // What apply would do: send nothing.
        eprintln!("{}; apply sends nothing", paused_message(paused));
        return Ok(ExitCode::from(1));
    }
    Ok(plan_exit(&plan))
}

pub async fn run_apply(args: ApplyArgs) -> Result<ExitCode, CliError> {
    let run = &args.run;
    let text = run.output == OutputFormat::Text;
    let p = prepare(run, true).await?;
    if let Some(paused) = paused_rollout(&p, run) {
        return Err(CliError::Osm(format!(
            "{}. Nothing was sent to OSM.",
            paused_message(&paused)
        )));
    }
    let approval = match &args.plan {
        Some(path) => load_plan(path, &p)?,
        None => Approval::Auto,
    };
    let opts = EngineOptions {
        wait: args.wait,
        concurrency: args.concurrency.into(),
        poll_interval: Duration::from_millis(500),
        approval,
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
    let outcome: Outcome = match engine::reconcile(
        &p.target.client,
        &p.desired,
        &p.inventory,
        &opts,
        &progress,
    )
    .await
    {
        Ok(o) => o,
        Err(EngineError::SavedPlanRefused(refused)) => {
            let saved = args.plan.as_deref().unwrap_or(std::path::Path::new("-"));
            return Err(CliError::Input(format!(
                "refusing to apply {}: {}. Nothing was sent to OSM; run `osmops plan --out` again and review it. The plan now is {} ({}):\n{}",
                saved.display(),
                refused.why,
                refused.plan.digest,
                crate::plan::summary(&refused.plan),
                output::plan_table(&refused.plan)
            )));
        }
        Err(e) => return Err(engine_error(e)),
    };
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
    // The pause is remembered for this content, or forgotten once a run was not paused.
    if let Some(store) = &p.store {
        let paused = outcome.rollout_paused.as_ref().map(|why| PausedRollout {
            digest: p.desired.digest(),
            message: why.clone(),
            at: crate::model::Timestamp::now().to_string(),
        });
        if paused.is_some() || store.paused().is_some() {
            if let Err(e) = store.set_paused(paused, &outcome.inventory) {
                save_error.lock().expect("save error").get_or_insert(e);
            }
        }
    }
    if let Some(e) = save_error.into_inner().expect("save error") {
        // The state file could not record what this run created: say it here so it is not lost.
        eprintln!(
            "what this run owns in OSM (write it to the state file by hand):\n{}",
            serde_json::to_string_pretty(&outcome.inventory).expect("inventory serializes")
        );
        return Err(CliError::Osm(e));
    }
    Ok(
        if outcome.failed() || outcome.incomplete() || outcome.rollout_paused.is_some() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}
