//! Events in Flux's style, to Kubernetes and (with `--events-addr`) to Flux's
//! notification-controller, so Flux Alerts and commit-status Providers see OsmSyncs.
//!
//! - Kubernetes: reason = a condition reason, Normal or Warning, the revision as the annotation
//!   `osmops.io/revision` (and `osmops.io/commit_status: update` on success, as Flux controllers
//!   write). A repeat of the same event for the same object (same type, reason and message) within
//!   [`AGGREGATION_WINDOW`] bumps `count` and `lastTimestamp` of the first one instead of creating
//!   another, as client-go's event correlator does.
//! - notification-controller: Flux's event format (`eventv1.Event`): severity info/error, the
//!   involved object, reason, message, and metadata = the `osmops.io/` annotations without their
//!   prefix (`revision`, `commit_status`) plus the object's own `event.toolkit.fluxcd.io/*`
//!   annotations without theirs (Flux RFC-0008). Posting is best effort, off the reconcile path.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use crate::api::{OsmSync, GROUP};

pub const REVISION_ANNOTATION: &str = "osmops.io/revision";
pub const COMMIT_STATUS_ANNOTATION: &str = "osmops.io/commit_status";
/// Object annotations with this prefix are passed to notification-controller (Flux RFC-0008).
pub const EVENT_METADATA_PREFIX: &str = "event.toolkit.fluxcd.io/";
pub const COMPONENT: &str = "osmops-controller";
/// Repeats of an event within this window are counted on the first one.
pub const AGGREGATION_WINDOW: Duration = Duration::from_secs(600);
/// Distinct recent events remembered for aggregation (oldest forgotten first).
const REMEMBERED: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }

    /// Flux's event severity.
    fn severity(self) -> &'static str {
        match self {
            EventType::Normal => "info",
            EventType::Warning => "error",
        }
    }
}

/// What one event says about one object.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct EventKey {
    uid: String,
    type_: &'static str,
    reason: String,
    message: String,
}

struct Recent {
    name: String,
    count: i32,
    first_seen: Instant,
}

/// Publishes events for the controller; one per controller instance.
pub struct Recorder {
    client: Client,
    instance: String,
    /// notification-controller's event receiver, e.g. `http://notification-controller.flux-system.svc.cluster.local./`.
    events_addr: Option<String>,
    http: reqwest::Client,
    recent: Mutex<HashMap<EventKey, Recent>>,
}

impl Recorder {
    pub fn new(client: Client, instance: String, events_addr: Option<String>) -> Recorder {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("a default HTTP client builds");
        Recorder {
            client,
            instance,
            events_addr,
            http,
            recent: Mutex::default(),
        }
    }

    /// Publishes an event about `sync`. Failures are logged, never fatal: events are best effort.
    /// `commit_status` marks a success event that Git providers should turn into a commit status.
    pub async fn publish(
        &self,
        sync: &OsmSync,
        kind: EventType,
        reason: &str,
        message: &str,
        revision: Option<&str>,
        commit_status: bool,
    ) {
        // One line (events are shown in tables), size-limited; long validation reports are kept
        // in the status instead.
        let message: String = super::failure::one_line(message)
            .chars()
            .take(1024)
            .collect();
        let mut annotations = BTreeMap::new();
        if let Some(rev) = revision {
            annotations.insert(REVISION_ANNOTATION.to_owned(), rev.to_owned());
        }
        if commit_status {
            annotations.insert(COMMIT_STATUS_ANNOTATION.to_owned(), "update".to_owned());
        }
        self.forward(sync, kind, reason, &message, &annotations);
        self.record(sync, kind, reason, &message, annotations).await;
    }

    async fn record(
        &self,
        sync: &OsmSync,
        kind: EventType,
        reason: &str,
        message: &str,
        annotations: BTreeMap<String, String>,
    ) {
        let ns = sync.namespace().unwrap_or_default();
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        let now = jiff::Timestamp::now();
        let key = EventKey {
            uid: sync
                .uid()
                .unwrap_or_else(|| format!("{ns}/{}", sync.name_any())),
            type_: kind.as_str(),
            reason: reason.to_owned(),
            message: message.to_owned(),
        };
        if let Some((name, count)) = self.repeat_of(&key) {
            let patch = json!({"count": count, "lastTimestamp": Time(now), "series": null});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
            {
                Ok(_) => return,
                // The first one expired (events have a TTL): create a new one below.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => {
                    tracing::warn!(error = %e, reason, "cannot update event");
                    return;
                }
            }
        }
        let event = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}.", sync.name_any())),
                namespace: Some(ns.clone()),
                annotations: Some(annotations).filter(|a| !a.is_empty()),
                ..Default::default()
            },
            involved_object: involved_object(sync),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            type_: Some(kind.as_str().to_owned()),
            source: Some(EventSource {
                component: Some(COMPONENT.into()),
                host: None,
            }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            count: Some(1),
            action: Some("Reconcile".into()),
            reporting_component: Some(COMPONENT.into()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &event).await {
            Ok(created) => self.remember(key, created.name_any()),
            Err(e) => tracing::warn!(error = %e, reason, "cannot publish event"),
        }
    }

    /// The name of the event this one repeats and the count it reaches now.
    fn repeat_of(&self, key: &EventKey) -> Option<(String, i32)> {
        let mut recent = self.recent.lock().expect("events lock");
        let r = recent.get_mut(key)?;
        if r.first_seen.elapsed() > AGGREGATION_WINDOW {
            recent.remove(key);
            return None;
        }
        r.count += 1;
        Some((r.name.clone(), r.count))
    }

    fn remember(&self, key: EventKey, name: String) {
        let mut recent = self.recent.lock().expect("events lock");
        if recent.len() >= REMEMBERED {
            recent.retain(|_, r| r.first_seen.elapsed() <= AGGREGATION_WINDOW);
            if recent.len() >= REMEMBERED {
                recent.clear();
            }
        }
        recent.insert(
            key,
            Recent {
                name,
                count: 1,
                first_seen: Instant::now(),
            },
        );
    }

    /// Posts the event to notification-controller (when configured), in the background.
    fn forward(
        &self,
        sync: &OsmSync,
        kind: EventType,
        reason: &str,
        message: &str,
        annotations: &BTreeMap<String, String>,
    ) {
        let Some(addr) = self.events_addr.clone() else {
            return;
        };
        let body = flux_event(sync, kind, reason, message, annotations, &self.instance);
        let http = self.http.clone();
        tokio::spawn(async move {
            // notification-controller may be restarting: a few quick retries, then give up.
            for attempt in 0..3u32 {
                match http.post(&addr).json(&body).send().await {
                    Ok(r) if r.status().is_success() => return,
                    Ok(r) if r.status().is_client_error() => {
                        tracing::warn!(status = %r.status(), "notification-controller refused the event");
                        return;
                    }
                    Ok(r) => tracing::debug!(status = %r.status(), attempt, "cannot post event"),
                    Err(e) => tracing::debug!(error = %e, attempt, "cannot post event"),
                }
                tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt))).await;
            }
            tracing::warn!(addr = %addr, "cannot post event to notification-controller");
        });
    }
}

fn involved_object(sync: &OsmSync) -> ObjectReference {
    ObjectReference {
        api_version: Some(OsmSync::api_version(&()).into_owned()),
        kind: Some(OsmSync::kind(&()).into_owned()),
        name: Some(sync.name_any()),
        namespace: sync.namespace(),
        uid: sync.uid(),
        resource_version: sync.resource_version(),
        ..Default::default()
    }
}

/// Flux's `eventv1.Event` for notification-controller.
pub fn flux_event(
    sync: &OsmSync,
    kind: EventType,
    reason: &str,
    message: &str,
    annotations: &BTreeMap<String, String>,
    instance: &str,
) -> serde_json::Value {
    let group_prefix = format!("{GROUP}/");
    let mut metadata: BTreeMap<String, String> = annotations
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(&group_prefix)?.to_owned(), v.clone())))
        .collect();
    for (k, v) in sync.annotations() {
        if let Some(key) = k.strip_prefix(EVENT_METADATA_PREFIX) {
            // The controller's own keys win over an object's annotations.
            metadata.entry(key.to_owned()).or_insert_with(|| v.clone());
        }
    }
    json!({
        "involvedObject": involved_object(sync),
        "severity": kind.severity(),
        "timestamp": crate::model::now_rfc3339(),
        "message": message,
        "reason": reason,
        "metadata": metadata,
        "reportingController": COMPONENT,
        "reportingInstance": instance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flux_event_carries_severity_revision_commit_status_and_passed_annotations() {
        let mut sync: OsmSync = serde_json::from_value(json!({
            "apiVersion": "osmops.io/v1alpha1", "kind": "OsmSync",
            "metadata": {"name": "s", "namespace": "ops", "uid": "u1",
                "annotations": {"event.toolkit.fluxcd.io/env": "prod", "event.toolkit.fluxcd.io/revision": "spoofed", "other": "x"}},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "r"}, "interval": "5m", "osm": {"secretRef": {"name": "o"}}}
        }))
        .unwrap();
        sync.metadata.resource_version = Some("7".into());
        let ann = BTreeMap::from([
            (REVISION_ANNOTATION.to_owned(), "main@sha1:abc".to_owned()),
            (COMMIT_STATUS_ANNOTATION.to_owned(), "update".to_owned()),
        ]);
        let e = flux_event(
            &sync,
            EventType::Normal,
            "ReconciliationSucceeded",
            "ok",
            &ann,
            "pod-1",
        );
        assert_eq!(e["severity"], "info");
        assert_eq!(e["involvedObject"]["kind"], "OsmSync");
        assert_eq!(e["involvedObject"]["apiVersion"], "osmops.io/v1alpha1");
        assert_eq!(
            e["metadata"],
            json!({"revision": "main@sha1:abc", "commit_status": "update", "env": "prod"})
        );
        assert_eq!(e["reportingController"], "osmops-controller");
        let w = flux_event(
            &sync,
            EventType::Warning,
            "OperationFailed",
            "boom",
            &BTreeMap::new(),
            "p",
        );
        assert_eq!(w["severity"], "error");
    }
}
