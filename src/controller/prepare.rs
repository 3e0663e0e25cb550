//! What a reconcile (and a gRPC preview) needs before it can plan: the Flux source's artifact, the
//! repository read from it, and an NBI session from the OsmSync's Secret. Each step says why it
//! could not be done as a [`Failure`] with Flux's reason.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DynamicObject};
use kube::ResourceExt;
use tracing::Instrument;

use super::failure::{Failure, Requeue, Stop};
use super::secret::{connection_from_secret, OsmConnection};
use super::Context;
use crate::api::flux::{source_resource, Artifact, SourceState};
use crate::api::{reason, OsmSync, SubstituteKind, SubstituteReference};
use crate::duration::format_duration;
use crate::engine::Osm;
use crate::repo::{read_repository, DesiredState, SealKey, Substitutions, Variable};

/// The artifact an OsmSync's `sourceRef` serves.
pub struct Source {
    /// "<Kind>/<namespace>/<name>", for messages.
    pub label: String,
    pub artifact: Artifact,
    /// `sha256:<hex>` (from `digest`, or the legacy `checksum`).
    pub digest: String,
}

impl Source {
    pub fn revision(&self) -> &str {
        &self.artifact.revision
    }
}

/// Resolves `spec.sourceRef` to the artifact the source serves.
pub async fn source(ctx: &Context, sync: &OsmSync) -> Result<Source, Stop> {
    let ns = sync.namespace().unwrap_or_default();
    let src = &sync.spec.source_ref;
    let src_ns = src.namespace.clone().unwrap_or_else(|| ns.clone());
    let label = format!("{}/{src_ns}/{}", src.kind.as_str(), src.name);
    if ctx.opts.no_cross_namespace_refs && src_ns != ns {
        return Err(Failure::new(
            reason::ACCESS_DENIED,
            format!("can't access '{label}', cross-namespace references have been blocked"),
        )
        .stalled()
        .requeue(Requeue::OnChange)
        .into());
    }
    let resource = source_resource(src.kind, src.api_version.as_deref());
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &src_ns, &resource);
    let Some(obj) = api
        .get_opt(&src.name)
        .instrument(tracing::info_span!("source.resolve"))
        .await
        .map_err(|e| api_failure(e, &format!("source '{label}'")))?
    else {
        return Err(Failure::new(
            reason::ARTIFACT_FAILED,
            format!("Source '{label}' not found"),
        )
        .requeue(Requeue::Dependency)
        .into());
    };
    // The artifact is used whenever the source serves one, as kustomize-controller does:
    // source-controller keeps serving the last artifact while it builds the next revision
    // (Ready=Unknown) or cannot reach Git (Ready=False), and drift correction must go on.
    let state = SourceState::from_object(&obj);
    let Some(artifact) = state.artifact else {
        let why = state
            .message
            .map(|m| format!(" (source: {m})"))
            .unwrap_or_default();
        return Err(Failure::new(
            reason::ARTIFACT_FAILED,
            format!(
                "Source artifact not found, retrying in {}{why}",
                format_duration(ctx.opts.requeue_dependency)
            ),
        )
        .requeue(Requeue::Dependency)
        .into());
    };
    let digest = artifact
        .digest
        .clone()
        .or_else(|| artifact.checksum.as_ref().map(|c| format!("sha256:{c}")))
        .unwrap_or_default();
    Ok(Source {
        label,
        artifact,
        digest,
    })
}

/// A Kubernetes API error reading an object the OsmSync names: a refusal (403: the controller's
/// RBAC does not cover it) or a 404 for its kind (the CRD is not installed) is something the user
/// must fix, so it becomes Ready=False with the API server's own message; anything else is left to
/// the error policy's backoff.
pub fn api_failure(e: kube::Error, what: &str) -> Stop {
    match e {
        kube::Error::Api(s) if s.code == 403 => Failure::new(
            crate::api::reason::ACCESS_DENIED,
            format!("cannot read {what}: {}", s.message),
        )
        .into(),
        kube::Error::Api(s) if s.code == 404 => Failure::new(
            crate::api::reason::ARTIFACT_FAILED,
            format!("cannot read {what}: {}", s.message),
        )
        .requeue(Requeue::Dependency)
        .into(),
        e => Stop::Api(e),
    }
}

/// The variables of `spec.substitute` and `spec.substituteFrom` (Secrets and ConfigMaps of the
/// OsmSync's own namespace), with the key secret values are sealed with. Values are never put in
/// a message; a missing source that is not optional stops the reconcile before anything is sent.
///
/// The key is derived from the OSM password of the credentials Secret: when it was read for
/// that, it is returned too, for [`credentials`] to use instead of reading it again (one read
/// per reconcile, and the seals and the NBI session see the same version of it).
pub async fn substitutions(
    ctx: &Context,
    sync: &OsmSync,
) -> Result<(Substitutions, Option<CredentialsSecret>), Stop> {
    let spec = &sync.spec;
    if spec.substitute.is_empty() && spec.substitute_from.is_empty() {
        return Ok((Substitutions::default(), None));
    }
    let ns = sync.namespace().unwrap_or_default();
    let credentials = if spec
        .substitute_from
        .iter()
        .any(|r| r.kind == SubstituteKind::Secret)
    {
        Some(credentials_secret(ctx, sync).await?)
    } else {
        None
    };
    let key = credentials.as_ref().map_or_else(SealKey::default, |c| {
        SealKey::from_password(c.conn.credentials.password.expose())
    });
    let mut subs = Substitutions::enabled(key);
    subs.strict = spec.substitute_strict;
    let failed = |msg: String| -> Stop {
        Failure::new(reason::SUBSTITUTE_FAILED, msg)
            .requeue(Requeue::Dependency)
            .into()
    };
    for r in &spec.substitute_from {
        let label = format!("{:?} '{ns}/{}'", r.kind, r.name);
        subs.note_source(label.clone());
        let Some(pairs) = substitute_source(ctx, &ns, r, &label).await? else {
            if r.optional {
                continue;
            }
            return Err(failed(format!(
                "substituteFrom {label} not found (mark it optional: true if it may be absent)"
            )));
        };
        for (k, bytes) in pairs {
            let value = String::from_utf8(bytes).map_err(|_| {
                failed(format!(
                    "substituteFrom {label}: key '{k}' is not UTF-8 text"
                ))
            })?;
            let var = Variable {
                value,
                secret: r.kind == SubstituteKind::Secret,
                origin: label.clone(),
            };
            subs.define(&k, var)
                .map_err(|e| failed(format!("substituteFrom {e}")))?;
        }
    }
    if !spec.substitute.is_empty() {
        subs.note_source("spec.substitute");
    }
    // Inline variables take precedence over substituteFrom, as in kustomize-controller.
    for (k, v) in &spec.substitute {
        subs.define(
            k,
            Variable {
                value: v.clone(),
                secret: false,
                origin: "spec.substitute".into(),
            },
        )
        .map_err(|e| Stop::from(Failure::new(reason::INVALID_SPEC, e).stalled()))?;
    }
    Ok((subs, credentials))
}

/// The keys and values of one `substituteFrom` object, `None` when it does not exist.
async fn substitute_source(
    ctx: &Context,
    ns: &str,
    r: &SubstituteReference,
    label: &str,
) -> Result<Option<Vec<(String, Vec<u8>)>>, Stop> {
    let denied = |e| api_failure(e, &format!("substituteFrom {label}"));
    Ok(match r.kind {
        SubstituteKind::Secret => Api::<Secret>::namespaced(ctx.client.clone(), ns)
            .get_opt(&r.name)
            .instrument(tracing::info_span!("substitute.secret"))
            .await
            .map_err(denied)?
            .map(|obj| {
                let data = obj.data.into_iter().flatten().map(|(k, v)| (k, v.0));
                let text = obj
                    .string_data
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k, v.into_bytes()));
                data.chain(text).collect()
            }),
        SubstituteKind::ConfigMap => Api::<ConfigMap>::namespaced(ctx.client.clone(), ns)
            .get_opt(&r.name)
            .instrument(tracing::info_span!("substitute.configmap"))
            .await
            .map_err(denied)?
            .map(|obj| {
                obj.data
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k, v.into_bytes()))
                    .collect()
            }),
    })
}

/// Downloads the artifact (digest verified, safe extraction) and reads the repository in it,
/// substituting `subs` in its NsInstance files.
pub async fn repository(
    ctx: &Context,
    sync: &OsmSync,
    source: &Source,
    subs: Substitutions,
) -> Result<DesiredState, Failure> {
    let revision = source.revision();
    let snapshot = crate::source::fetch(
        &ctx.http,
        &source.artifact.url,
        revision,
        &source.digest,
        &ctx.opts.fetch,
    )
    .instrument(tracing::info_span!("artifact.fetch", revision = %revision))
    .await
    .map_err(|e| {
        Failure::new(
            reason::ARTIFACT_FAILED,
            format!("failed to fetch artifact for revision {revision}: {e}"),
        )
    })?;
    tracing::info_span!("repository.read")
        .in_scope(|| read_repository(snapshot.root(), &ctx.read_options(sync, subs)))
        .map_err(|e| {
            // A variable defined nowhere may come with the next change of a Secret or
            // ConfigMap (watched, or read at the next retry): not stalled.
            if e.only_undefined_variables() && !sync.spec.substitute_from.is_empty() {
                Failure::new(
                    reason::SUBSTITUTE_FAILED,
                    format!("substitution failed for revision {revision}: {e}"),
                )
                .requeue(Requeue::Dependency)
            } else {
                Failure::new(
                    reason::VALIDATION_FAILED,
                    format!("validation failed for revision {revision}: {e}"),
                )
            }
        })
}

/// The OSM the OsmSync's Secret reaches: its NBI session (shared across reconciles of every
/// OsmSync that uses the same Secret version) and live view. `read`: the Secret as this
/// reconcile already read it ([`substitutions`]); `None`: read it now.
pub async fn credentials(
    ctx: &Context,
    sync: &OsmSync,
    read: Option<CredentialsSecret>,
) -> Result<Osm, Stop> {
    let secret = match read {
        Some(s) => s,
        None => credentials_secret(ctx, sync).await?,
    };
    let ns = sync.namespace().unwrap_or_default();
    let name = &sync.spec.osm.secret_ref.name;
    ctx.osms
        .get(
            &format!("{ns}/{name}"),
            &secret.version,
            secret.conn,
            sync.spec.osm.insecure_skip_tls_verify,
        )
        .map_err(|e| {
            Failure::new(reason::INVALID_SECRET, format!("Secret '{ns}/{name}': {e}")).into()
        })
}

/// The OsmSync's credentials Secret as read: the connection it holds and its resource version.
pub struct CredentialsSecret {
    conn: OsmConnection,
    version: String,
}

/// Reads the OsmSync's credentials Secret.
async fn credentials_secret(ctx: &Context, sync: &OsmSync) -> Result<CredentialsSecret, Stop> {
    let ns = sync.namespace().unwrap_or_default();
    let name = &sync.spec.osm.secret_ref.name;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(secret) = secrets
        .get_opt(name)
        .instrument(tracing::info_span!("credentials"))
        .await
        .map_err(|e| api_failure(e, &format!("Secret '{ns}/{name}'")))?
    else {
        return Err(Failure::new(
            reason::SECRET_NOT_FOUND,
            format!("Secret '{ns}/{name}' not found"),
        )
        .into());
    };
    let invalid =
        |e: String| Failure::new(reason::INVALID_SECRET, format!("Secret '{ns}/{name}': {e}"));
    let conn = connection_from_secret(&secret).map_err(invalid)?;
    Ok(CredentialsSecret {
        conn,
        version: secret.resource_version().unwrap_or_default(),
    })
}
