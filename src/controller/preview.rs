//! Read-only access to OSM on behalf of the gRPC API: a plan computed now for an OsmSync (no
//! writes), and the NBI session of an OsmSync for refreshing operation states.

use std::time::Duration;

use kube::api::Api;

use super::failure::Stop;
use super::options::engine_options;
use super::prepare;
use super::status::inventory_for;
use super::Context;
use crate::api::OsmSync;
use crate::engine::{self, Approval, EngineError, Osm};
use crate::plan::Plan;

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

fn access(stop: Stop) -> AccessError {
    match stop {
        Stop::Api(e) => AccessError::Unavailable(format!("Kubernetes API: {e}")),
        Stop::Failure(f) => AccessError::FailedPrecondition(f.message),
        Stop::InProgress { message, .. } => AccessError::FailedPrecondition(message),
    }
}

/// The NBI session of an OsmSync (its Secret), shared with the reconciler.
pub async fn nbi_for_sync(ctx: &Context, ns: &str, name: &str) -> Result<Osm, AccessError> {
    let sync = get_sync(ctx, ns, name).await?;
    prepare::credentials(ctx, &sync, None).await.map_err(access)
}

/// Computes the plan for an OsmSync's current artifact (or `revision`, if that is the one the
/// source serves) against live OSM, without writing anything: the same preparation as a
/// reconcile (source, repository, credentials, inventory), then `engine::preview`.
pub async fn preview_plan(
    ctx: &Context,
    ns: &str,
    name: &str,
    revision: Option<&str>,
) -> Result<(String, Plan), AccessError> {
    let sync = get_sync(ctx, ns, name).await?;
    let source = prepare::source(ctx, &sync).await.map_err(access)?;
    if let Some(wanted) = revision.filter(|r| !r.is_empty()) {
        if wanted != source.revision() {
            return Err(AccessError::NotFound(format!(
                "revision '{wanted}' is no longer served by {}; its current artifact is '{}'",
                source.label,
                source.revision()
            )));
        }
    }
    let (subs, credentials) = prepare::substitutions(ctx, &sync).await.map_err(access)?;
    let desired = prepare::repository(ctx, &sync, &source, subs)
        .await
        .map_err(|f| AccessError::FailedPrecondition(f.message))?;
    let osm = prepare::credentials(ctx, &sync, credentials)
        .await
        .map_err(access)?;
    let recorded = sync.status.as_ref().and_then(|s| s.inventory.as_ref());
    let inventory =
        inventory_for(recorded, osm.client.base_url(), osm.client.project()).unwrap_or_default();
    // The options a reconcile would apply with; the approval gate is not previewed.
    let timeout = super::run::Intervals::from(&sync)
        .map(|iv| iv.timeout)
        .unwrap_or(Duration::from_secs(300));
    let opts = engine_options(ctx, &sync, timeout, Approval::Auto);
    match engine::preview(&osm, &desired, &inventory, &opts).await {
        Ok(plan) => Ok((source.revision().to_owned(), plan)),
        Err(EngineError::Nbi(e)) if e.is_unavailable() => {
            Err(AccessError::Unavailable(format!("OSM: {e}")))
        }
        Err(e) => Err(AccessError::FailedPrecondition(e.to_string())),
    }
}
