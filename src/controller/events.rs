//! Kubernetes Events in Flux's style: reason = a condition reason, Normal or Warning, and the
//! revision as an annotation (`osmops.io/revision`) that notification tooling can forward.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff;
use kube::api::{Api, PostParams};
use kube::{Client, Resource, ResourceExt};

use crate::api::OsmSync;

pub const REVISION_ANNOTATION: &str = "osmops.io/revision";
pub const COMPONENT: &str = "osmops-controller";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// Publishes an event about `sync`. Failures are logged, never fatal: events are best effort.
pub async fn publish(
    client: &Client,
    sync: &OsmSync,
    kind: EventType,
    reason: &str,
    message: &str,
    revision: Option<&str>,
    instance: &str,
) {
    let ns = sync.namespace().unwrap_or_default();
    let now = jiff::Timestamp::now();
    let mut annotations = BTreeMap::new();
    if let Some(rev) = revision {
        annotations.insert(REVISION_ANNOTATION.to_owned(), rev.to_owned());
    }
    let event = Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}.", sync.name_any())),
            namespace: Some(ns.clone()),
            annotations: Some(annotations).filter(|a| !a.is_empty()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some(OsmSync::api_version(&()).into_owned()),
            kind: Some(OsmSync::kind(&()).into_owned()),
            name: Some(sync.name_any()),
            namespace: Some(ns.clone()),
            uid: sync.uid(),
            resource_version: sync.resource_version(),
            ..Default::default()
        },
        reason: Some(reason.to_owned()),
        // Events are size-limited; long validation reports are kept in the status instead.
        message: Some(message.chars().take(1024).collect()),
        type_: Some(
            match kind {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
            .to_owned(),
        ),
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
        reporting_instance: Some(instance.to_owned()),
        ..Default::default()
    };
    let api: Api<Event> = Api::namespaced(client.clone(), &ns);
    if let Err(e) = api.create(&PostParams::default(), &event).await {
        tracing::warn!(error = %e, reason, "cannot publish event");
    }
}
