//! `osmops plan` and `osmops apply`: one repository against one OSM, on the same engine as the
//! controller. Exit codes: 0 success, 1 OSM or operation failure (and anything left blocked or
//! broken), 2 invalid input or a refused prune (nothing was sent to OSM).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Serialize;

mod args;
mod saved_plan;

pub use args::{ApplyArgs, LimitArgs, OutputFormat, PlanArgs, RunArgs};
use saved_plan::{load_plan, save_plan};

use super::output;
use super::owner::repository_owner;
use super::state::{Access, Identity, PausedRollout, StateStore};
use super::target::{warn_unknown_variables, Target, TargetArgs};
use super::CliError;
use crate::duration::parse_duration;
use crate::engine::{self, Approval, EngineError, EngineOptions, LiveView, OpsCache, Osm, Outcome};
use crate::plan::{
    DriftAction, DriftPolicy, FailurePolicy, Inventory, Owner, Plan, Remediation, Rollout,
};
use crate::repo::{self, Limits, ReadOptions};

/// A run's input, read and checked before anything is sent.
struct Prepared {
    desired: repo::DesiredState,
    target: Target,
    /// The session, with the operation history the state file remembers.
    osm: Osm,
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
        substitutions: args.substitution.substitutions(target.seal_key.clone())?,
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
    // With a state file, OSM's operation history is read from where the last run left it.
    let osm = match &store {
        Some(store) => {
            let scope = desired.ns_instances.iter().map(|n| n.name.clone());
            let memory = store.operations().usable_with(&target.seal_key);
            let ops = OpsCache::remembering(memory, scope);
            Osm::shared(
                target.client.clone(),
                Arc::new(LiveView::with_ops(Duration::ZERO, ops)),
            )
        }
        None => Osm::new(target.client.clone()),
    };
    Ok(Prepared {
        desired,
        target,
        osm,
        owner,
        store,
        inventory,
    })
}

/// Keeps what this run read of OSM's operation history in the state file.
async fn remember_operations(p: &Prepared, inventory: &Inventory) -> Result<(), String> {
    match (&p.store, &p.osm.view) {
        (Some(store), Some(view)) => store.set_operations(
            view.ops.memory().await.sealed(&p.desired.secrets),
            inventory,
        ),
        _ => Ok(()),
    }
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
        allow_recreate: args.allow_recreate,
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
    let plan = engine::preview(&p.osm, &p.desired, &p.inventory, &opts)
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
    let result = engine::reconcile(&p.osm, &p.desired, &p.inventory, &opts, &progress).await;
    // What this run read of OSM's history is kept, whatever the outcome (a refused plan wrote
    // nothing, so the inventory is the one it started from).
    let inventory = result.as_ref().map_or(&p.inventory, |o| &o.inventory);
    if let Err(e) = remember_operations(&p, inventory).await {
        save_error.lock().expect("save error").get_or_insert(e);
    }
    let outcome: Outcome = match result {
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
