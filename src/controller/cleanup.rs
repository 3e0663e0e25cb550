//! Deletion of an OsmSync: with `prune` (and not suspended), first remove from OSM what it owns —
//! NS instances, then packages — then let the finalizer go. A suspended OsmSync is the escape
//! hatch: it is deleted without touching OSM.

use std::time::Duration;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::ResourceExt;

use super::events::EventType;
use super::failure::Stop;
use super::options::cleanup_options;
use super::prepare;
use super::report::failure_lines;
use super::run::{write_status, Intervals, ReconcileError};
use super::status::{inventory_for, inventory_to_status, mark_failed, mark_progressing};
use super::Context;
use crate::api::{reason, OsmSync};
use crate::engine;
use crate::repo::DesiredState;

pub(super) async fn cleanup(
    api: &Api<OsmSync>,
    sync: &OsmSync,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let ns = sync.namespace().unwrap_or_default();
    let recorded = sync.status.as_ref().and_then(|s| s.inventory.as_ref());
    let has_inventory =
        recorded.is_some_and(|i| !i.ns_instances.is_empty() || !i.packages.is_empty());
    if !sync.spec.prune || sync.spec.suspend {
        tracing::info!(osmsync = %sync.name_any(), "deleted without pruning OSM objects");
        ctx.journal.forget_sync(&ns, &sync.name_any());
        return Ok(Action::await_change());
    }
    let mut current = sync.status.clone().unwrap_or_default();
    let mut next = current.clone();
    if has_inventory {
        let inv = super::status::inventory_from_status(recorded);
        mark_progressing(
            &mut next,
            sync.metadata.generation,
            reason::PROGRESSING,
            &format!(
                "Deleting: pruning {} NS instance(s) and {} package(s) from OSM",
                inv.ns_instances.len(),
                inv.packages.len()
            ),
        );
        write_status(api, sync, &mut current, &next).await?;
    }
    let osm = match prepare::credentials(ctx, sync, None).await {
        Ok(c) => c,
        Err(Stop::Api(e)) => return Err(e.into()),
        Err(Stop::Failure(f)) => {
            let msg = format!("{}; cannot prune what this OsmSync owns in OSM", f.message);
            return Err(prune_failed(api, ctx, sync, &mut current, next, f.reason, msg).await);
        }
        // Reading credentials never waits on OSM operations.
        Err(Stop::InProgress { message, .. }) => {
            return Err(ReconcileError::PruneIncomplete(message));
        }
    };
    // A changed Secret (another OSM) leaves only OSM's own marks as proof of ownership.
    let inventory =
        inventory_for(recorded, osm.client.base_url(), osm.client.project()).unwrap_or_default();
    let timeout = Intervals::from(sync)
        .map(|iv| iv.timeout)
        .unwrap_or(Duration::from_secs(300));
    let opts = cleanup_options(ctx, sync, timeout);
    let result = engine::reconcile(
        &osm,
        &DesiredState::default(),
        &inventory,
        &opts,
        &|_, _| {},
    )
    .await;
    match result {
        Ok(o) if !o.failed() && !o.incomplete() && o.inventory.is_empty() => {
            ctx.metrics.observe_outcome(&o);
            if !o.plan.actions.is_empty() {
                ctx.events
                    .publish(
                        sync,
                        EventType::Normal,
                        "Pruned",
                        &format!("Pruned from OSM: {}", o.summary()),
                        None,
                        false,
                    )
                    .await;
            }
            ctx.journal.forget_sync(&ns, &sync.name_any());
            Ok(Action::await_change())
        }
        other => {
            let msg = match &other {
                Ok(o) => {
                    ctx.metrics.observe_outcome(o);
                    next.inventory = Some(inventory_to_status(
                        &o.inventory,
                        osm.client.base_url(),
                        osm.client.project(),
                    ));
                    format!("prune not finished: {}", failure_lines(o))
                }
                Err(e) => e.to_string(),
            };
            Err(prune_failed(
                api,
                ctx,
                sync,
                &mut current,
                next,
                reason::PRUNE_FAILED,
                msg,
            )
            .await)
        }
    }
}

/// Deletion cannot finish pruning: PruneFailed in the status (with the escape hatch), a Warning
/// event with `event_reason`, and an error so the finalizer stays and the deletion is retried.
async fn prune_failed(
    api: &Api<OsmSync>,
    ctx: &Context,
    sync: &OsmSync,
    current: &mut crate::api::OsmSyncStatus,
    mut next: crate::api::OsmSyncStatus,
    event_reason: &str,
    msg: String,
) -> ReconcileError {
    let msg = format!("{msg} (set spec.suspend=true to delete without pruning)");
    mark_failed(
        &mut next,
        sync.metadata.generation,
        reason::PRUNE_FAILED,
        &msg,
        false,
    );
    if let Err(e) = write_status(api, sync, current, &next).await {
        return e.into();
    }
    ctx.events
        .publish(sync, EventType::Warning, event_reason, &msg, None, false)
        .await;
    ReconcileError::PruneIncomplete(msg)
}
