//! Watching Flux sources for new artifacts, robust to a Flux that does not serve every source kind
//! (Flux ≤ 2.6 has no ExternalArtifact, a cluster may lack OCIRepository or Bucket). Each kind
//! gets its own stream that first asks the API server whether it serves the kind (at start and
//! then every [`REDISCOVER`]) and watches it only then. The streams never fail: a missing kind,
//! a removed CRD or a failing watch is handled here, so nothing reaches the controller's shared
//! trigger backoff and the OsmSync watch is never paused by a source kind.
//!
//! Only a change of the artifact (revision or digest) triggers the OsmSyncs that use a source:
//! source-controller rewrites status while it builds a revision (Ready=Unknown, progress
//! messages) and that is no reason to reconcile.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::api::{Api, DynamicObject};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;

use crate::api::flux::source_resource;
use crate::api::SourceKind;

/// How often a kind the API server does not serve is looked for again.
pub const REDISCOVER: Duration = Duration::from_secs(300);

/// Whether the API server serves `kind` (a 404 for the group version means no).
async fn served(client: &Client, kind: SourceKind) -> Result<bool, kube::Error> {
    let res = source_resource(kind, None);
    match client.list_api_group_resources(&res.api_version).await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == res.plural)),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// What about a source triggers its OsmSyncs: the artifact it serves.
fn artifact_key(obj: &DynamicObject) -> Option<u64> {
    let artifact = &obj.data["status"]["artifact"];
    let mut h = std::collections::hash_map::DefaultHasher::new();
    artifact["revision"].as_str().hash(&mut h);
    artifact["digest"].as_str().hash(&mut h);
    artifact["url"].as_str().hash(&mut h);
    Some(h.finish())
}

/// Source objects of `kind` whose artifact changed, for as long as the stream is polled.
pub fn artifact_changes(
    client: Client,
    namespace: Option<String>,
    kind: SourceKind,
    rediscover: Duration,
) -> impl Stream<Item = Result<DynamicObject, watcher::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<DynamicObject>(64);
    tokio::spawn(async move {
        let mut reported_missing = false;
        loop {
            if tx.is_closed() {
                return;
            }
            match served(&client, kind).await {
                Ok(true) => {
                    tracing::info!(kind = kind.as_str(), "watching Flux source kind");
                    reported_missing = false;
                    let resource = source_resource(kind, None);
                    let api: Api<DynamicObject> = match &namespace {
                        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
                        None => Api::all_with(client.clone(), &resource),
                    };
                    let mut changes = watcher(api, watcher::Config::default())
                        .default_backoff()
                        .touched_objects()
                        .predicate_filter(artifact_key, Default::default())
                        .boxed();
                    while let Some(item) = changes.next().await {
                        match item {
                            Ok(obj) => {
                                if tx.send(obj).await.is_err() {
                                    return;
                                }
                            }
                            Err(e) if is_not_found(&e) => {
                                tracing::info!(
                                    kind = kind.as_str(),
                                    "Flux source kind no longer served; not watching it"
                                );
                                break;
                            }
                            Err(e) => {
                                tracing::debug!(kind = kind.as_str(), error = %e, "source watch error (retrying)")
                            }
                        }
                    }
                }
                Ok(false) => {
                    if !reported_missing {
                        tracing::info!(
                            kind = kind.as_str(),
                            "the API server does not serve this Flux source kind: not watching it (looking again every {}s)",
                            rediscover.as_secs()
                        );
                        reported_missing = true;
                    }
                }
                Err(e) => {
                    tracing::warn!(kind = kind.as_str(), error = %e, "cannot discover whether the API server serves this Flux source kind")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(rediscover) => {}
                _ = tx.closed() => return,
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|obj| (Ok(obj), rx))
    })
}

fn is_not_found(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s)) => s.code == 404,
        watcher::Error::WatchError(s) => s.code == 404,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(status: serde_json::Value) -> DynamicObject {
        let mut o = DynamicObject::new("repo", &source_resource(SourceKind::GitRepository, None));
        o.data = json!({ "status": status });
        o
    }

    #[test]
    fn only_the_artifact_triggers() {
        let building = source(
            json!({"conditions": [{"type": "Ready", "status": "Unknown"}],
            "artifact": {"revision": "main@sha1:a", "digest": "sha256:1", "url": "http://x/a.tar.gz"}}),
        );
        let ready = source(json!({"conditions": [{"type": "Ready", "status": "True"}],
            "artifact": {"revision": "main@sha1:a", "digest": "sha256:1", "url": "http://x/a.tar.gz"}}));
        let next = source(
            json!({"artifact": {"revision": "main@sha1:b", "digest": "sha256:2", "url": "http://x/b.tar.gz"}}),
        );
        assert_eq!(artifact_key(&building), artifact_key(&ready));
        assert_ne!(artifact_key(&ready), artifact_key(&next));
        assert_ne!(artifact_key(&source(json!({}))), artifact_key(&ready));
    }
}
