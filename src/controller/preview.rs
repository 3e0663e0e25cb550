//! Read-only access to OSM on behalf of the gRPC API: a plan computed now for an OsmSync (no
//! writes), and the NBI session of an OsmSync for refreshing operation states.

use std::sync::Arc;

use kube::api::Api;

use super::artifact::Unresolved;
use super::reconcile::session;
use super::status::inventory_from_status;
use super::Context;
use crate::api::OsmSync;
use crate::engine::{self, EngineError, EngineOptions};
use crate::osm::NbiClient;
use crate::plan::Plan;
use crate::repo::read_repository;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

async fn get_sync(ctx: &Context, ns: &str, name: &str) -> Result<OsmSync, AccessError> {
    let api: Api<OsmSync> = Api::namespaced(ctx.client.clone(), ns);
    api.get_opt(name)
        .await
        .map_err(|e| AccessError::Unavailable(format!("Kubernetes API: {e}")))?
        .ok_or_else(|| AccessError::NotFound(format!("OsmSync '{ns}/{name}' not found")))
}

/// The NBI session of an OsmSync (its Secret), shared with the reconciler.
pub async fn nbi_for_sync(
    ctx: &Context,
    ns: &str,
    name: &str,
) -> Result<Arc<NbiClient>, AccessError> {
    let sync = get_sync(ctx, ns, name).await?;
    session(ctx, &sync, ns)
        .await
        .map_err(|e| AccessError::Unavailable(format!("Kubernetes API: {e}")))?
        .map_err(|(_, msg)| AccessError::FailedPrecondition(msg))
}

/// Computes the plan for an OsmSync's current artifact (or `revision`, if that is the one the
/// source serves) against live OSM, without writing anything. Returns the revision planned.
pub async fn preview_plan(
    ctx: &Context,
    ns: &str,
    name: &str,
    revision: Option<&str>,
) -> Result<(String, Plan), AccessError> {
    let sync = get_sync(ctx, ns, name).await?;
    let resolved = match super::artifact::resolve(ctx, &sync, ns)
        .await
        .map_err(|e| AccessError::Unavailable(format!("Kubernetes API: {e}")))?
    {
        Ok(r) => r,
        Err(Unresolved::Missing(msg) | Unresolved::Blocked(msg)) => {
            return Err(AccessError::FailedPrecondition(msg))
        }
        Err(Unresolved::NotReady { label, .. }) => {
            return Err(AccessError::FailedPrecondition(format!(
                "Source '{label}' has no ready artifact"
            )))
        }
    };
    let (label, artifact, digest) = (resolved.label, resolved.artifact, resolved.digest);
    if let Some(wanted) = revision.filter(|r| !r.is_empty()) {
        if wanted != artifact.revision {
            return Err(AccessError::NotFound(format!(
                "revision '{wanted}' is no longer served by {label}; its current artifact is '{}'",
                artifact.revision
            )));
        }
    }
    let snapshot = crate::source::fetch(
        &ctx.http,
        &artifact.url,
        &artifact.revision,
        &digest,
        &ctx.opts.fetch,
    )
    .await
    .map_err(|e| {
        AccessError::FailedPrecondition(format!("cannot fetch the artifact of {label}: {e}"))
    })?;
    let read_opts = ctx.read_options(&sync);
    let desired = read_repository(snapshot.root(), &read_opts).map_err(|e| {
        AccessError::FailedPrecondition(format!(
            "validation failed for revision {}: {e}",
            artifact.revision
        ))
    })?;
    let nbi = session(ctx, &sync, ns)
        .await
        .map_err(|e| AccessError::Unavailable(format!("Kubernetes API: {e}")))?
        .map_err(|(_, msg)| AccessError::FailedPrecondition(msg))?;
    let inventory = inventory_from_status(sync.status.as_ref().and_then(|s| s.inventory.as_ref()));
    let opts = EngineOptions {
        prune: sync.spec.prune,
        ..EngineOptions::default()
    };
    match engine::preview(&nbi, &desired, &inventory, &opts).await {
        Ok(plan) => Ok((artifact.revision, plan)),
        Err(EngineError::Nbi(e)) if e.is_unavailable() => {
            Err(AccessError::Unavailable(format!("OSM: {e}")))
        }
        Err(e) => Err(AccessError::FailedPrecondition(e.to_string())),
    }
}
