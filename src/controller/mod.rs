//! The Kubernetes controller: reconciles `OsmSync` objects with kube-runtime, watches the Flux
//! source kinds the API server serves and maps their artifact changes to the OsmSyncs that
//! reference them, serves metrics and
//! probes, and optionally runs only while holding a leader Lease. It never talks to the NBI
//! itself: the engine does.

mod cleanup;
pub mod events;
mod failure;
mod follower;
mod gates;
pub mod leader;
mod metrics;
mod operations;
mod options;
mod prepare;
mod preview;
mod reconcile;
mod report;
mod run;
mod secret;
mod sources;
pub mod status;
pub mod throttle;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};

pub use failure::stalls;
pub use leader::LeaderElection;
pub use metrics::Metrics;
pub use preview::{nbi_for_sync, preview_plan, AccessError};
pub use reconcile::reconcile;
pub use run::ReconcileError;

use crate::api::flux::source_resource;
use crate::api::{OsmSync, SourceKind, SubstituteKind, RECONCILE_REQUESTED_AT};
use crate::engine::{LiveView, Osm};
use crate::osm::{ClientOptions, NbiClient, NbiError};
use crate::source::FetchOptions;
use secret::OsmConnection;

#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// OsmSyncs reconciled at once (Flux's `--concurrent`).
    pub concurrent: u16,
    /// Requeue period while dependencies or sources are not ready (Flux's `--requeue-dependency`).
    pub requeue_dependency: Duration,
    pub no_cross_namespace_refs: bool,
    /// Watch only this namespace (default: all).
    pub namespace: Option<String>,
    pub fetch: FetchOptions,
    /// How often followed OSM operations are polled.
    pub poll_interval: Duration,
    /// Bounds on what the repository reader accepts.
    pub limits: crate::repo::Limits,
    /// Flux notification-controller's event receiver (Flux's `--events-addr`).
    pub events_addr: Option<String>,
    /// Reconcile only OsmSyncs whose labels match (Flux's `--watch-label-selector`).
    pub label_selector: Option<String>,
    /// Spread of the requeue after a success, ± this percentage of `spec.interval` (Flux's
    /// `--interval-jitter-percentage`), so OsmSyncs that start together do not hit OSM together.
    pub interval_jitter_percent: u8,
    /// How long one read of an OSM's NS list is shared by the OsmSyncs on that OSM.
    pub osm_list_max_age: Duration,
    /// Hand operations that need nothing more from their reconcile to the follower instead of
    /// following them in the worker (follower.rs).
    pub hand_off_operations: bool,
    /// Secrets and ConfigMaps matching this selector are watched: a change reconciles the
    /// OsmSyncs whose `substituteFrom` names them (Flux's `--watch-configs-label-selector`).
    /// `None`: not watched (a change is seen at the next interval).
    pub watch_configs_label_selector: Option<String>,
}

/// Flux's default for `--watch-configs-label-selector`.
pub const WATCH_CONFIGS_LABEL_SELECTOR: &str = "reconcile.fluxcd.io/watch=Enabled";

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            concurrent: 4,
            requeue_dependency: Duration::from_secs(30),
            no_cross_namespace_refs: false,
            namespace: None,
            fetch: FetchOptions::default(),
            poll_interval: Duration::from_secs(2),
            limits: crate::repo::Limits::default(),
            events_addr: None,
            label_selector: None,
            interval_jitter_percent: 5,
            osm_list_max_age: crate::engine::NS_LIST_MAX_AGE,
            hand_off_operations: true,
            watch_configs_label_selector: Some(WATCH_CONFIGS_LABEL_SELECTOR.to_owned()),
        }
    }
}

/// One handle per OSM for every OsmSync ([`Osm`]: session and live view). Sessions are kept one
/// per (Secret, its resourceVersion, TLS setting): the token is reused across reconciles and a
/// changed Secret starts a new session. Each carries the live view of the OSM it reaches, shared
/// by every session to the same endpoint, project and user.
pub struct OsmHandles {
    sessions: Mutex<HashMap<(String, String, bool), NbiClient>>,
    views: Mutex<HashMap<String, Arc<LiveView>>>,
    /// How long one read of an OSM's NS list is shared.
    list_max_age: Duration,
}

impl OsmHandles {
    pub fn new(list_max_age: Duration) -> OsmHandles {
        OsmHandles {
            sessions: Mutex::default(),
            views: Mutex::default(),
            list_max_age,
        }
    }

    fn get(
        &self,
        secret: &str,
        version: &str,
        conn: OsmConnection,
        insecure: bool,
    ) -> Result<Osm, NbiError> {
        let key = (secret.to_owned(), version.to_owned(), insecure);
        let client = {
            let mut map = self.sessions.lock().expect("sessions lock");
            match map.get(&key) {
                Some(c) => c.clone(),
                None => {
                    // A changed Secret makes older sessions for it useless.
                    map.retain(|(s, _, _), _| s != secret);
                    let mut opts = ClientOptions::new(conn.url);
                    opts.ca_pem = conn.ca_pem;
                    opts.insecure_skip_tls_verify = insecure;
                    let client = NbiClient::new(opts, conn.credentials)?;
                    map.insert(key, client.clone());
                    client
                }
            }
        };
        let view = self
            .views
            .lock()
            .expect("live views lock")
            .entry(format!(
                "{}|{}|{}",
                client.base_url(),
                client.project(),
                client.user()
            ))
            .or_insert_with(|| Arc::new(LiveView::new(self.list_max_age)))
            .clone();
        Ok(Osm::shared(client, view))
    }
}

pub struct Context {
    pub client: Client,
    pub opts: ControllerOptions,
    pub metrics: Arc<Metrics>,
    /// The OSMs the OsmSyncs reach.
    pub osms: OsmHandles,
    /// Artifact downloads.
    pub http: reqwest::Client,
    /// This instance, for events and leases.
    pub identity: String,
    /// Plans, operations and events for the gRPC API.
    pub journal: Arc<crate::journal::Journal>,
    /// Kubernetes events (aggregated) and notification-controller.
    pub events: events::Recorder,
    /// Whether this replica reconciles (always, without leader election). Standby replicas
    /// refuse gRPC calls: their journal is empty.
    pub leading: Arc<std::sync::atomic::AtomicBool>,
    /// Follows the OSM operations reconciles hand off (follower.rs).
    pub follower: follower::Follower,
    /// The OsmSyncs the follower brings back, for the controller's trigger stream (taken once).
    followed_ended: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<ObjectRef<OsmSync>>>>,
}

impl Context {
    pub fn new(
        client: Client,
        opts: ControllerOptions,
        metrics: Arc<Metrics>,
        identity: String,
    ) -> Context {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(300))
            .connect_timeout(Duration::from_secs(15))
            .build()
            .expect("a default HTTP client builds");
        let events =
            events::Recorder::new(client.clone(), identity.clone(), opts.events_addr.clone());
        let osms = OsmHandles::new(opts.osm_list_max_age);
        let (ended_tx, ended_rx) = tokio::sync::mpsc::unbounded_channel();
        Context {
            follower: follower::Follower::new(opts.poll_interval, ended_tx),
            followed_ended: Mutex::new(Some(ended_rx)),
            events,
            leading: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            client,
            opts,
            metrics,
            osms,
            http,
            identity,
            journal: Arc::default(),
        }
    }
}

impl Context {
    /// Called when no reconcile runs: forgets NS lists too old to be shared and gives the heap
    /// the reconciles freed back to the operating system. glibc keeps freed memory in its arenas
    /// (a controller that reconciled 100 OsmSyncs stayed at its peak); musl, which the image is
    /// built with, returns it by itself.
    pub async fn release_idle_memory(&self) {
        let views: Vec<Arc<LiveView>> = self
            .osms
            .views
            .lock()
            .expect("live views lock")
            .values()
            .cloned()
            .collect();
        for view in views {
            view.forget_stale().await;
        }
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only releases free memory of the allocator's own arenas; it takes
        // the arena locks itself and touches no memory in use.
        unsafe {
            libc::malloc_trim(0);
        }
    }

    /// How to read an OsmSync's repository: its path and file extensions, the controller's limits;
    /// credentials come from the Secret, never from the repository.
    pub(crate) fn read_options(
        &self,
        sync: &OsmSync,
        substitutions: crate::repo::Substitutions,
    ) -> crate::repo::ReadOptions {
        crate::repo::ReadOptions {
            path: sync.spec.path.as_ref().map(std::path::PathBuf::from),
            file_extensions: sync.spec.file_extensions.clone(),
            credentials_from_elsewhere: true,
            limits: self.opts.limits.clone(),
            substitutions,
        }
    }
}

/// `interval` moved by a random amount within ± `percent` % (Flux's jittered interval).
pub fn jittered(interval: Duration, percent: u8) -> Duration {
    if percent == 0 {
        return interval;
    }
    let spread = f64::from(percent.min(99)) / 100.0;
    let factor = 1.0 + rand::random_range(-spread..=spread);
    interval.mul_f64(factor)
}

fn error_policy(sync: Arc<OsmSync>, err: &ReconcileError, _ctx: Arc<Context>) -> Action {
    tracing::warn!(osmsync = %sync.name_any(), kind = err.metric_label(), error = %err, "reconcile error");
    let retry = sync
        .spec
        .retry_interval
        .as_deref()
        .and_then(|r| crate::duration::parse_duration(r).ok())
        .unwrap_or(Duration::from_secs(30));
    Action::requeue(retry.min(Duration::from_secs(60)))
}

/// What makes an OsmSync worth reconciling again: a new generation, a reconcile request, a
/// deletion or a finalizer change. Status writes change none of these, so they cause no loop.
fn trigger_hash(sync: &OsmSync) -> Option<u64> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    sync.metadata.generation.hash(&mut h);
    sync.annotations().get(RECONCILE_REQUESTED_AT).hash(&mut h);
    // Approving a plan and resuming a rollout are done by annotating the OsmSync.
    for key in [
        crate::api::APPROVE,
        crate::api::APPROVED_BY,
        crate::api::RESUME_ROLLOUT,
    ] {
        sync.annotations().get(key).hash(&mut h);
    }
    sync.metadata.deletion_timestamp.is_some().hash(&mut h);
    sync.finalizers().hash(&mut h);
    Some(h.finish())
}

/// The OsmSyncs whose `sourceRef` points at `source`.
pub fn syncs_for_source(
    store: &Store<OsmSync>,
    kind: SourceKind,
    source: &DynamicObject,
) -> Vec<ObjectRef<OsmSync>> {
    let (name, ns) = (source.name_any(), source.namespace().unwrap_or_default());
    store
        .state()
        .iter()
        .filter(|s| {
            let r = &s.spec.source_ref;
            let sync_ns = s.namespace().unwrap_or_default();
            r.kind == kind && r.name == name && r.namespace.as_deref().unwrap_or(&sync_ns) == ns
        })
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

/// The OsmSyncs whose `substituteFrom` names the `kind` object `name` in `ns` (only objects of
/// an OsmSync's own namespace are read).
pub fn syncs_for_substitute(
    store: &Store<OsmSync>,
    kind: SubstituteKind,
    name: &str,
    ns: &str,
) -> Vec<ObjectRef<OsmSync>> {
    store
        .state()
        .iter()
        .filter(|s| {
            s.namespace().as_deref() == Some(ns)
                && s.spec
                    .substitute_from
                    .iter()
                    .any(|r| r.kind == kind && r.name == name)
        })
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let syncs: Api<OsmSync> = match &ctx.opts.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (reader, writer) = reflector::store();
    let mut config = watcher::Config::default();
    if let Some(sel) = &ctx.opts.label_selector {
        config = config.labels(sel);
    }
    let main = watcher(syncs, config)
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(trigger_hash, Default::default());
    let mut controller = Controller::for_stream(main, reader.clone());
    for kind in [
        SourceKind::GitRepository,
        SourceKind::OCIRepository,
        SourceKind::Bucket,
        SourceKind::ExternalArtifact,
    ] {
        let store = reader.clone();
        let changes = sources::artifact_changes(
            client.clone(),
            ctx.opts.namespace.clone(),
            kind,
            sources::REDISCOVER,
        );
        controller = controller.watches_stream_with(
            changes,
            move |src| syncs_for_source(&store, kind, &src),
            source_resource(kind, None),
        );
    }
    // A change of a labelled Secret or ConfigMap (a rotated password) reconciles the OsmSyncs
    // that substitute from it. Only metadata is watched: values are read when reconciling.
    if let Some(sel) = &ctx.opts.watch_configs_label_selector {
        let config = watcher::Config::default().labels(sel);
        macro_rules! watch_configs {
            ($kind:ty, $sub:expr) => {{
                // `PartialObjectMeta`: metadata-only requests, never the values.
                let api: Api<kube::core::PartialObjectMeta<$kind>> = match &ctx.opts.namespace {
                    Some(ns) => Api::namespaced(client.clone(), ns),
                    None => Api::all(client.clone()),
                };
                let store = reader.clone();
                let changes = watcher(api, config.clone())
                    .default_backoff()
                    .touched_objects();
                controller = controller.watches_stream(changes, move |o| {
                    syncs_for_substitute(
                        &store,
                        $sub,
                        &o.name_any(),
                        &o.namespace().unwrap_or_default(),
                    )
                });
            }};
        }
        watch_configs!(k8s_openapi::api::core::v1::Secret, SubstituteKind::Secret);
        watch_configs!(
            k8s_openapi::api::core::v1::ConfigMap,
            SubstituteKind::ConfigMap
        );
    }
    // An OSM operation the follower saw end brings its OsmSync back.
    if let Some(rx) = ctx.followed_ended.lock().expect("trigger lock").take() {
        let ended = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|sync| (sync, rx))
        });
        controller = controller.reconcile_on(ended);
    }
    controller
        .with_config(ControllerConfig::default().concurrency(ctx.opts.concurrent))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
}

/// The listeners of `/metrics` and of `/healthz` + `/readyz`, bound before anything else starts
/// so that a port in use stops the controller at once, with the address in the error.
pub struct HttpListeners {
    /// `None` when metrics are off (`--metrics-addr=0`, controller-runtime's way).
    metrics: Option<tokio::net::TcpListener>,
    /// `None` when the probes share the metrics address.
    health: Option<tokio::net::TcpListener>,
}

impl HttpListeners {
    pub async fn bind(
        metrics_addr: Option<SocketAddr>,
        health_addr: SocketAddr,
    ) -> Result<Self, String> {
        let bind = |addr: SocketAddr, what: &'static str| async move {
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr} ({what}): {e}"))
        };
        let metrics = match metrics_addr {
            Some(a) => Some(bind(a, "--metrics-addr").await?),
            None => None,
        };
        let health = if Some(health_addr) == metrics_addr {
            None
        } else {
            Some(bind(health_addr, "--health-addr").await?)
        };
        Ok(HttpListeners { metrics, health })
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz`; `/readyz` answers 503 until `ready` is set.
pub async fn serve_http(
    metrics: Arc<Metrics>,
    listeners: HttpListeners,
    ready: Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<()> {
    use axum::http::StatusCode;
    use axum::routing::get;
    let metrics_app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let m = metrics.clone();
            async move {
                (
                    [(
                        "content-type",
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    m.encode(),
                )
            }
        }),
    );
    let health_app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.load(std::sync::atomic::Ordering::SeqCst);
                async move {
                    if ready {
                        (StatusCode::OK, "ok")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "starting")
                    }
                }
            }),
        );
    match (listeners.metrics, listeners.health) {
        (Some(ml), None) => axum::serve(ml, metrics_app.merge(health_app)).await,
        (Some(ml), Some(hl)) => {
            let (a, b) = tokio::join!(axum::serve(ml, metrics_app), axum::serve(hl, health_app));
            a.and(b)
        }
        (None, Some(hl)) => axum::serve(hl, health_app).await,
        (None, None) => unreachable!("the probes always listen"),
    }
}

/// How a leader-elected run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderRunEnd {
    /// `shutdown` resolved (the lease was released if held).
    Shutdown,
    /// The lease was lost: the process should exit non-zero, as Flux controllers do, so that it
    /// restarts as a clean standby.
    LeadershipLost,
}

/// Runs the controller only while holding the leader Lease: waits to become leader, then
/// reconciles until leadership is lost or `shutdown` resolves. Everything runs in the calling task,
/// so stopping that task also stops renewing the lease, like a killed process.
pub async fn run_with_leader_election(
    ctx: Arc<Context>,
    le: LeaderElection,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> LeaderRunEnd {
    use std::sync::atomic::Ordering;
    ctx.leading.store(false, Ordering::SeqCst);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watch_shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
        std::future::pending::<()>().await
    };
    let leading = ctx.leading.clone();
    let lead = async {
        let mut stopped = stop_rx.clone();
        tokio::select! {
            _ = le.acquire() => {}
            _ = stopped.changed() => return LeaderRunEnd::Shutdown,
        }
        leading.store(true, Ordering::SeqCst);
        // The controller wants a Sync shutdown future: renewal signals it through a channel.
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let mut stopped = stop_rx.clone();
        let hold = async {
            let shutting_down = tokio::select! {
                _ = le.hold() => {
                    tracing::error!("leadership lost: stopping");
                    false
                }
                _ = stopped.changed() => true,
            };
            let _ = done_tx.send(());
            shutting_down
        };
        let ((), shutting_down) = tokio::join!(
            run(ctx, async move {
                let _ = done_rx.await;
            }),
            hold
        );
        leading.store(false, Ordering::SeqCst);
        // Reconciling has stopped: hand the lease over now rather than after it expires.
        if shutting_down {
            le.release().await;
            LeaderRunEnd::Shutdown
        } else {
            LeaderRunEnd::LeadershipLost
        }
    };
    tokio::select! {
        end = lead => end,
        _ = watch_shutdown => LeaderRunEnd::Shutdown,
    }
}

#[cfg(test)]
mod tests {
    use super::jittered;
    use std::time::Duration;

    #[test]
    fn jitter_spreads_requeues_within_the_percentage() {
        let base = Duration::from_secs(300);
        assert_eq!(jittered(base, 0), base);
        let spread: Vec<Duration> = (0..200).map(|_| jittered(base, 10)).collect();
        assert!(spread
            .iter()
            .all(|d| *d >= Duration::from_secs(270) && *d <= Duration::from_secs(330)));
        let distinct: std::collections::HashSet<_> = spread.iter().collect();
        assert!(distinct.len() > 100, "requeues are spread, not equal");
    }
}
