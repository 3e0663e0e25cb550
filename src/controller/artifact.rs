//! Resolving an OsmSync's `sourceRef` to the artifact the Flux source serves; shared by the
//! reconciler and the gRPC preview.

use kube::api::{Api, DynamicObject};

use super::Context;
use crate::api::flux::{source_resource, Artifact, SourceState};
use crate::api::OsmSync;

pub(super) struct Resolved {
    /// "<Kind>/<namespace>/<name>", for messages.
    pub label: String,
    pub artifact: Artifact,
    /// `sha256:<hex>` (from `digest`, or the legacy `checksum`).
    pub digest: String,
}

pub(super) enum Unresolved {
    /// The source object does not exist (message says which).
    Missing(String),
    /// It exists but has no ready artifact; the source's own Ready message if any.
    NotReady {
        label: String,
        source_message: Option<String>,
    },
    /// A cross-namespace reference while those are blocked.
    Blocked(String),
}

pub(super) async fn resolve(
    ctx: &Context,
    sync: &OsmSync,
    ns: &str,
) -> Result<Result<Resolved, Unresolved>, kube::Error> {
    let src = &sync.spec.source_ref;
    let src_ns = src.namespace.clone().unwrap_or_else(|| ns.to_owned());
    let label = format!("{}/{src_ns}/{}", src.kind.as_str(), src.name);
    if ctx.opts.no_cross_namespace_refs && src_ns != ns {
        return Ok(Err(Unresolved::Blocked(format!(
            "can't access '{label}', cross-namespace references have been blocked"
        ))));
    }
    let resource = source_resource(src.kind, src.api_version.as_deref());
    let src_api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &src_ns, &resource);
    let Some(obj) = src_api.get_opt(&src.name).await? else {
        return Ok(Err(Unresolved::Missing(format!(
            "Source '{label}' not found"
        ))));
    };
    let state = SourceState::from_object(&obj);
    let Some(artifact) = state.artifact.filter(|_| state.ready) else {
        return Ok(Err(Unresolved::NotReady {
            label,
            source_message: state.message,
        }));
    };
    let digest = artifact
        .digest
        .clone()
        .or_else(|| artifact.checksum.as_ref().map(|c| format!("sha256:{c}")))
        .unwrap_or_default();
    Ok(Ok(Resolved {
        label,
        artifact,
        digest,
    }))
}
