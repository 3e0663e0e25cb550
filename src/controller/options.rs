//! The one place an OsmSync's spec becomes engine options, used alike by reconcile, cleanup and
//! preview — so a preview plans exactly what a reconcile would apply.

use std::time::Duration;

use kube::ResourceExt;

use super::Context;
use crate::api::{OsmSync, UpgradeStrategy};
use crate::engine::{Approval, EngineOptions};
use crate::plan::{Audience, DriftPolicy, Owner, Remediation, Rollout};

/// NS writes one reconcile keeps in flight (independent of `--concurrent`, which counts
/// reconciles): the engine's default, for every OsmSync.
const NS_WRITES_IN_FLIGHT: usize = 4;

/// What the spec asks for, bounded by `timeout`, under `approval`.
pub(super) fn engine_options(
    ctx: &Context,
    sync: &OsmSync,
    timeout: Duration,
    approval: Approval,
) -> EngineOptions {
    let spec = &sync.spec;
    let remediation = spec.remediation.clone().unwrap_or_default();
    let rollout = spec.rollout.clone().unwrap_or_default();
    EngineOptions {
        prune: spec.prune,
        allow_empty: spec.allow_empty,
        owner: Owner::controller(&sync.namespace().unwrap_or_default(), &sync.name_any()),
        remediation: Remediation {
            instantiate_retries: remediation.instantiate.retries,
            upgrade_retries: remediation.upgrade.retries,
            upgrade_rollback: remediation.upgrade.strategy == Some(UpgradeStrategy::Rollback),
        },
        wait: spec.wait,
        // Operations that need nothing more from the run go to the follower (follower.rs).
        hand_off: ctx.opts.hand_off_operations,
        timeout,
        concurrency: NS_WRITES_IN_FLIGHT,
        poll_interval: ctx.opts.poll_interval,
        drift: DriftPolicy::all(spec.drift_policy),
        rollout: Rollout {
            max_parallel: rollout.max_parallel.map(|n| n.max(1) as usize),
            canary: rollout.canary as usize,
            failure_policy: rollout.failure_policy.unwrap_or_default(),
        },
        approval,
        adopt: spec.adopt,
        audience: Audience::OsmSync,
        allow_recreate: spec.allow_recreate,
    }
}

/// Deleting an OsmSync with prune: everything it owns goes, followed to the end. Deleting the
/// OsmSync is the explicit request (no prune guard) and the approval; nothing is remediated.
pub(super) fn cleanup_options(ctx: &Context, sync: &OsmSync, timeout: Duration) -> EngineOptions {
    EngineOptions {
        prune: true,
        allow_empty: true,
        remediation: Remediation::default(),
        wait: true,
        hand_off: false,
        ..engine_options(ctx, sync, timeout, Approval::Auto)
    }
}
