//! One test world for the controller tests (tests/controller_e2e.rs, tests/grpc.rs,
//! tests/telemetry.rs) and the controller scale bench: the Kubernetes API emulator, the NBI
//! simulator, an artifact server like source-controller's, a Secret `osm-creds` and a
//! GitRepository `repo` in namespace `ops` (more GitRepositories on demand).

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use osmops::api::flux::source_resource;
use osmops::api::{OsmSync, OsmSyncStatus, SourceKind};
use osmops::controller::{Context, ControllerOptions, Metrics};
use osmops::sim::Simulator;
use osmops::source::FetchOptions;
use serde_json::json;

use super::artifacts::{tar_dir, ArtifactServer};
use super::fast_sim;
use super::kube_emulator::KubeEmulator;

pub struct World {
    pub emu: KubeEmulator,
    pub sim: Simulator,
    pub artifacts: ArtifactServer,
    pub client: kube::Client,
}

pub fn ctl_opts() -> ControllerOptions {
    ControllerOptions {
        requeue_dependency: Duration::from_secs(1),
        poll_interval: Duration::from_millis(20),
        interval_jitter_percent: 0,
        fetch: FetchOptions {
            localhost_override: None,
            retry_delay: Duration::from_millis(10),
            ..FetchOptions::default()
        },
        ..ControllerOptions::default()
    }
}

pub fn context(client: &kube::Client, identity: &str) -> Arc<Context> {
    context_with(client, identity, ctl_opts())
}

pub fn context_with(
    client: &kube::Client,
    identity: &str,
    opts: ControllerOptions,
) -> Arc<Context> {
    Arc::new(Context::new(
        client.clone(),
        opts,
        Arc::new(Metrics::default()),
        identity.into(),
    ))
}

pub async fn world() -> World {
    let sim = fast_sim().await;
    let url = sim.url();
    world_with(sim, &url, "admin", "admin").await
}

/// Creates the Secret `name` in namespace ops with an OSM URL and credentials.
pub async fn create_secret(
    client: &kube::Client,
    name: &str,
    url: &str,
    user: &str,
    password: &str,
) {
    let data = [
        ("url", url.to_owned()),
        ("user", user.to_owned()),
        ("password", password.to_owned()),
        ("project", "admin".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), ByteString(v.into_bytes())))
    .collect();
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), "ops")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

/// A world on `emu` (e.g. an API server without some Flux kinds).
pub async fn world_on(emu: KubeEmulator) -> World {
    let sim = fast_sim().await;
    let url = sim.url();
    world_in(emu, sim, &url, "admin", "admin").await
}

pub async fn world_with(sim: Simulator, url: &str, user: &str, password: &str) -> World {
    world_in(KubeEmulator::start().await, sim, url, user, password).await
}

async fn world_in(
    emu: KubeEmulator,
    sim: Simulator,
    url: &str,
    user: &str,
    password: &str,
) -> World {
    let artifacts = ArtifactServer::start().await;
    let client = emu.client();
    create_secret(&client, "osm-creds", url, user, password).await;
    let world = World {
        emu,
        sim,
        artifacts,
        client,
    };
    world.add_git_repository("repo").await;
    world
}

impl World {
    fn git_repositories(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            "ops",
            &source_resource(SourceKind::GitRepository, None),
        )
    }

    /// Creates a GitRepository `name` in namespace ops, without an artifact yet.
    pub async fn add_git_repository(&self, name: &str) {
        let mut obj = DynamicObject::new(name, &source_resource(SourceKind::GitRepository, None));
        obj.data = json!({"spec": {"interval": "1m", "url": format!("https://git.example.org/{name}.git")}});
        self.git_repositories()
            .create(&PostParams::default(), &obj)
            .await
            .unwrap();
    }

    /// Publishes a repository as a new artifact revision of the GitRepository `repo` (as
    /// source-controller would).
    pub async fn publish(&self, rev: &str, dir: &std::path::Path) {
        self.publish_to("repo", rev, dir).await
    }

    /// Publishes a repository as a new artifact revision of the GitRepository `source`.
    pub async fn publish_to(&self, source: &str, rev: &str, dir: &std::path::Path) {
        let (url, digest) = self.artifacts.publish(
            &format!("{source}-{}.tar.gz", rev.replace([':', '@'], "_")),
            tar_dir(dir),
        );
        let repos = self.git_repositories();
        let status = json!({"status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "message": format!("stored artifact for revision '{rev}'"), "lastTransitionTime": "2026-11-24T10:00:00Z"}],
            "artifact": {"url": url, "path": format!("gitrepository/ops/{source}/{rev}.tar.gz"), "revision": rev, "digest": digest, "lastUpdateTime": "2026-11-24T10:00:00Z"}}});
        repos
            .patch_status(source, &PatchParams::default(), &Patch::Merge(status))
            .await
            .unwrap();
    }

    pub fn syncs(&self) -> Api<OsmSync> {
        Api::namespaced(self.client.clone(), "ops")
    }

    pub async fn create_sync(&self, name: &str) {
        self.create_sync_with(name, json!({})).await
    }

    /// Creates an OsmSync whose spec is the default one with `overrides` merged in.
    pub async fn create_sync_with(&self, name: &str, overrides: serde_json::Value) {
        let mut spec = json!({"sourceRef": {"kind": "GitRepository", "name": "repo"}, "interval": "1h", "retryInterval": "2s",
                     "timeout": "30s", "prune": true, "osm": {"secretRef": {"name": "osm-creds"}}});
        for (k, v) in overrides.as_object().expect("overrides are an object") {
            spec[k] = v.clone();
        }
        let sync: OsmSync = serde_json::from_value(json!({
            "apiVersion": "osmops.io/v1alpha1", "kind": "OsmSync", "metadata": {"name": name, "namespace": "ops"},
            "spec": spec
        }))
        .unwrap();
        self.syncs()
            .create(&PostParams::default(), &sync)
            .await
            .unwrap();
    }

    /// Waits until the OsmSync's Ready condition has `reason`; returns its status and the Ready
    /// condition's message.
    pub async fn wait_for_reason(&self, name: &str, reason: &str) -> (OsmSyncStatus, String) {
        let s = self
            .wait_for(name, reason, |s| ready_reason(s).as_deref() == Some(reason))
            .await;
        let status = s.status.expect("a Ready condition means a status");
        let message = status.condition("Ready").expect("Ready").message.clone();
        // What Flux tooling (kstatus: `flux`, Kustomization health checks, Argo CD) reads: a
        // failure is never Current, one that needs a person is Failed.
        let obj = serde_json::to_value(self.syncs().get(name).await.unwrap()).unwrap();
        let read = kstatus(&obj);
        if status
            .condition("Ready")
            .is_some_and(|c| c.status != "True")
        {
            assert_ne!(read, "Current", "{reason}: {:?}", status.conditions);
            if osmops::controller::stalls(reason) {
                assert_eq!(read, "Failed", "{reason}: {:?}", status.conditions);
            }
        }
        (status, message)
    }

    /// Waits until `check` holds for the OsmSync, or fails with its last status.
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&OsmSync) -> bool,
    ) -> OsmSync {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let s = self.syncs().get_opt(name).await.unwrap();
            if let Some(s) = &s {
                if check(s) {
                    return s.clone();
                }
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}: {:#?}", s.map(|s| s.status));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The reason of the OsmSync's Ready condition.
pub fn ready_reason(s: &OsmSync) -> Option<String> {
    s.status
        .as_ref()
        .and_then(|st| st.condition("Ready"))
        .map(|c| c.reason.clone())
}

pub fn applied(s: &OsmSync, rev: &str) -> bool {
    s.is_ready()
        && s.status
            .as_ref()
            .and_then(|st| st.last_applied_revision.as_deref())
            == Some(rev)
}

impl World {
    /// Merges `spec` into the OsmSync's spec (as a commit to Git changing it would).
    pub async fn patch_spec(&self, name: &str, spec: serde_json::Value) {
        self.syncs()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .unwrap();
    }

    /// Asks for a reconcile as `flux reconcile` does (`reconcile.fluxcd.io/requestedAt`).
    pub async fn request_reconcile(&self, name: &str, token: &str) {
        self.syncs()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}})),
            )
            .await
            .unwrap();
    }

    /// Sets annotations on the OsmSync (as `kubectl annotate --overwrite` does).
    pub async fn annotate(&self, name: &str, annotations: serde_json::Value) {
        self.syncs()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": annotations}})),
            )
            .await
            .unwrap();
    }

    /// Waits until there is an event about OsmSync `name` with `reason` (events are published
    /// after the status they report is written); returns them.
    pub async fn wait_for_event(
        &self,
        name: &str,
        reason: &str,
    ) -> Vec<k8s_openapi::api::core::v1::Event> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.events(name, reason).await;
            if !found.is_empty() {
                return found;
            }
            assert!(Instant::now() < deadline, "no {reason} event about {name}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The Kubernetes events about OsmSync `name` with `reason`.
    pub async fn events(&self, name: &str, reason: &str) -> Vec<k8s_openapi::api::core::v1::Event> {
        let events: Api<k8s_openapi::api::core::v1::Event> =
            Api::namespaced(self.client.clone(), "ops");
        events
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| {
                e.involved_object.name.as_deref() == Some(name)
                    && e.reason.as_deref() == Some(reason)
            })
            .collect()
    }
}

/// kstatus' status of a custom resource (sigs.k8s.io/cli-utils `status.Compute`, generic rules):
/// InProgress while `status.observedGeneration` differs from the generation or Reconciling=True,
/// Failed when Stalled=True, Current otherwise — including an object with an empty status, which
/// is why Flux's CRDs default `status.observedGeneration` to -1. Ready is not read: a Ready=False
/// object without Reconciling or Stalled is Current to kstatus, which is why the controller sets
/// one of them with every failure.
pub fn kstatus(obj: &serde_json::Value) -> &'static str {
    let generation = obj.pointer("/metadata/generation").and_then(|g| g.as_i64());
    if let Some(observed) = obj
        .pointer("/status/observedGeneration")
        .and_then(|g| g.as_i64())
    {
        if Some(observed) != generation {
            return "InProgress";
        }
    }
    let condition = |t: &str| {
        obj.pointer("/status/conditions")
            .and_then(|c| c.as_array())
            .and_then(|l| l.iter().find(|c| c["type"] == t))
            .and_then(|c| c["status"].as_str())
    };
    if condition("Reconciling") == Some("True") {
        return "InProgress";
    }
    if condition("Stalled") == Some("True") {
        return "Failed";
    }
    "Current"
}
