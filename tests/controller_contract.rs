//! Layer 1 of k8s-test-harness.md: each reconcile path as a request contract. The test plays the
//! Kubernetes API server over a tower-test mock and checks what the reconciler asks for and
//! writes; the artifact server and the NBI simulator are real.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, Request, Response};
use common::artifacts::{tar_dir, ArtifactServer};
use common::*;
use kube::client::Body;
use kube::runtime::controller::Action;
use osmops::api::OsmSync;
use osmops::controller::{reconcile, Context, ControllerOptions, Metrics};
use osmops::source::FetchOptions;
use serde_json::{json, Value};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;
type Responder = tower_test::mock::SendResponse<Response<Body>>;

struct Harness {
    handle: Handle,
    ctx: Arc<Context>,
}

fn harness() -> Harness {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(svc, "default");
    let opts = ControllerOptions {
        poll_interval: Duration::from_millis(20),
        // Requeue periods are asserted exactly.
        interval_jitter_percent: 0,
        // These tests pin the API calls of one reconcile that follows its operations itself;
        // the hand-off to the follower is tested with the real controller (controller_e2e.rs).
        hand_off_operations: false,
        fetch: FetchOptions {
            localhost_override: None,
            retry_delay: Duration::from_millis(10),
            ..FetchOptions::default()
        },
        ..ControllerOptions::default()
    };
    Harness {
        handle,
        ctx: Arc::new(Context::new(
            client,
            opts,
            Arc::new(Metrics::default()),
            "test-instance".into(),
        )),
    }
}

struct Seen {
    method: Method,
    path: String,
    body: Value,
    respond: Responder,
}

impl Harness {
    async fn next(&mut self) -> Seen {
        let (req, respond) =
            tokio::time::timeout(Duration::from_secs(20), self.handle.next_request())
                .await
                .expect("the reconciler sent a request")
                .expect("client alive");
        let (parts, body) = req.into_parts();
        let bytes = body.collect_bytes().await.unwrap();
        Seen {
            method: parts.method,
            path: parts.uri.to_string(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            respond,
        }
    }

    async fn expect(&mut self, method: Method, path: &str) -> Seen {
        let s = self.next().await;
        assert_eq!(s.method, method, "{} {}", s.method, s.path);
        assert!(
            s.path.starts_with(path),
            "expected {method} {path}, got {} {}",
            s.method,
            s.path
        );
        s
    }

    async fn assert_idle(&mut self) {
        let more =
            tokio::time::timeout(Duration::from_millis(300), self.handle.next_request()).await;
        if let Ok(Some((req, _))) = more {
            panic!("unexpected request {} {}", req.method(), req.uri());
        }
    }
}

fn reply(r: Responder, status: u16, body: Value) {
    r.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap(),
    );
}

fn not_found(r: Responder) {
    reply(
        r,
        404,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
    );
}

const SYNCS: &str = "/apis/osmops.io/v1alpha1/namespaces/ops/osmsyncs";
const GITREPOS: &str = "/apis/source.toolkit.fluxcd.io/v1/namespaces/ops/gitrepositories";

fn sync_json(extra_spec: Value, finalizer: bool) -> Value {
    let mut spec = json!({
        "sourceRef": {"kind": "GitRepository", "name": "repo"},
        "interval": "5m",
        "prune": true,
        "osm": {"secretRef": {"name": "osm-creds"}},
    });
    for (k, v) in extra_spec.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({
        "apiVersion": "osmops.io/v1alpha1", "kind": "OsmSync",
        "metadata": {"name": "demo", "namespace": "ops", "uid": "u-1", "generation": 1, "resourceVersion": "10",
                     "finalizers": if finalizer { json!(["osmops.io/finalizer"]) } else { json!([]) }},
        "spec": spec,
    })
}

fn sync(v: &Value) -> Arc<OsmSync> {
    Arc::new(serde_json::from_value(v.clone()).unwrap())
}

fn gitrepo(url: &str, digest: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "repo", "namespace": "ops"},
        "status": {
            "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}, "reason": "Succeeded", "message": "stored artifact", "lastTransitionTime": "2026-11-20T10:15:02Z"}],
            "artifact": {"url": url, "path": "gitrepository/flux-system/osm-repo/5394cb7f.tar.gz", "revision": "main@sha1:5394cb7f48332b2de7c17dd8b8384bbc84b7e738", "digest": digest, "lastUpdateTime": "2026-11-20T10:15:02Z"}
        }
    })
}

fn secret(url: &str) -> Value {
    use base64_like::encode;
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "osm-creds", "namespace": "ops", "resourceVersion": "3"},
           "data": {"url": encode(url), "user": encode("admin"), "password": encode("admin"), "project": encode("admin")}})
}

/// Standard base64 without a dependency (Secret data is base64 on the wire).
mod base64_like {
    pub fn encode(s: &str) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let b = s.as_bytes();
        let mut out = String::new();
        for chunk in b.chunks(3) {
            let n = (chunk[0] as u32) << 16
                | (*chunk.get(1).unwrap_or(&0) as u32) << 8
                | *chunk.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

fn ready_condition(status_patch: &Value) -> &Value {
    status_patch["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .expect("a Ready condition")
}

#[tokio::test]
async fn new_sync_gets_the_finalizer_first() {
    let mut h = harness();
    let obj = sync_json(json!({}), false);
    let task = tokio::spawn(reconcile(sync(&obj), h.ctx.clone()));
    let s = h.expect(Method::PATCH, &format!("{SYNCS}/demo?")).await;
    let ops = s.body.as_array().expect("a JSON patch");
    assert!(
        ops.iter().any(|op| op["op"] == "add"
            && op["path"]
                .as_str()
                .unwrap()
                .starts_with("/metadata/finalizers")),
        "{ops:?}"
    );
    reply(s.respond, 200, sync_json(json!({}), true));
    let action = task.await.unwrap().unwrap();
    assert_eq!(action, Action::await_change());
    h.assert_idle().await;
}

#[tokio::test]
async fn suspended_sync_does_no_work_but_observes_its_generation() {
    let mut h = harness();
    let mut obj = sync_json(json!({"suspend": true}), true);
    obj["metadata"]["generation"] = json!(2);
    obj["metadata"]["annotations"] = json!({"reconcile.fluxcd.io/requestedAt": "now"});
    let ready = json!([{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
        "message": "Applied revision: main@sha1:1", "observedGeneration": 1,
        "lastTransitionTime": "2026-12-01T00:00:00Z"}]);
    obj["status"] = json!({"observedGeneration": 1, "conditions": ready});
    // Ready: the generation that asked for suspension is observed (kstatus: Current), as
    // kustomize-controller's finalizeStatus does; the reconcile request is not handled (nothing
    // ran for it) and the conditions are left alone.
    let task = tokio::spawn(reconcile(sync(&obj), h.ctx.clone()));
    let s = h
        .expect(Method::PATCH, &format!("{SYNCS}/demo/status"))
        .await;
    assert_eq!(s.body["status"]["observedGeneration"], 2);
    assert!(
        s.body["status"].get("lastHandledReconcileAt").is_none(),
        "{}",
        s.body
    );
    if let Some(conditions) = s.body["status"].get("conditions") {
        assert_eq!(conditions, &ready, "conditions are left as they were");
    }
    reply(s.respond, 200, obj.clone());
    assert_eq!(task.await.unwrap().unwrap(), Action::await_change());
    h.assert_idle().await;
    // Observed already: no request at all.
    obj["status"]["observedGeneration"] = json!(2);
    let action = reconcile(sync(&obj), h.ctx.clone()).await.unwrap();
    assert_eq!(action, Action::await_change());
    h.assert_idle().await;
    // Not Ready when suspended: nothing is observed (kstatus keeps InProgress), nothing written.
    obj["metadata"]["generation"] = json!(3);
    obj["status"] = json!({"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "False",
        "reason": "ArtifactFailed", "message": "x", "observedGeneration": 2,
        "lastTransitionTime": "2026-12-01T00:00:00Z"}]});
    let action = reconcile(sync(&obj), h.ctx.clone()).await.unwrap();
    assert_eq!(action, Action::await_change());
    h.assert_idle().await;
}

#[tokio::test]
async fn dependency_not_ready_requeues_after_the_dependency_interval() {
    let mut h = harness();
    let obj = sync_json(json!({"dependsOn": [{"name": "base"}]}), true);
    let task = tokio::spawn(reconcile(sync(&obj), h.ctx.clone()));
    // The source first: a dependency on the same source must have applied its revision.
    let s = h.expect(Method::GET, &format!("{GITREPOS}/repo")).await;
    reply(
        s.respond,
        200,
        gitrepo("http://x/a.tar.gz", "sha256:00", true),
    );
    let s = h.expect(Method::GET, &format!("{SYNCS}/base")).await;
    not_found(s.respond);
    let s = h
        .expect(Method::PATCH, &format!("{SYNCS}/demo/status"))
        .await;
    let ready = ready_condition(&s.body);
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("DependencyNotReady"))
    );
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("ops/base not found"),
        "{ready}"
    );
    reply(s.respond, 200, obj.clone());
    let e = h
        .expect(Method::POST, "/api/v1/namespaces/ops/events")
        .await;
    assert_eq!(e.body["reason"], "DependencyNotReady");
    // Waiting is normal operation, as in Flux.
    assert_eq!(e.body["type"], "Normal");
    reply(e.respond, 201, e.body.clone());
    assert_eq!(
        task.await.unwrap().unwrap(),
        Action::requeue(Duration::from_secs(30))
    );
    h.assert_idle().await;
}

#[tokio::test]
async fn a_source_without_artifact_is_artifact_failed_with_a_requeue() {
    let mut h = harness();
    let obj = sync_json(json!({}), true);
    let task = tokio::spawn(reconcile(sync(&obj), h.ctx.clone()));
    let s = h.expect(Method::GET, &format!("{GITREPOS}/repo")).await;
    let mut building = gitrepo("http://x/a.tar.gz", "sha256:00", false);
    building["status"]
        .as_object_mut()
        .unwrap()
        .remove("artifact");
    reply(s.respond, 200, building);
    let s = h
        .expect(Method::PATCH, &format!("{SYNCS}/demo/status"))
        .await;
    let ready = ready_condition(&s.body);
    assert_eq!(ready["reason"], "ArtifactFailed");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .starts_with("Source artifact not found, retrying in 30s"),
        "{ready}"
    );
    reply(s.respond, 200, obj.clone());
    let e = h
        .expect(Method::POST, "/api/v1/namespaces/ops/events")
        .await;
    reply(e.respond, 201, e.body.clone());
    assert_eq!(
        task.await.unwrap().unwrap(),
        Action::requeue(Duration::from_secs(30))
    );
    // A missing source says so.
    let task = tokio::spawn(reconcile(sync(&obj), h.ctx.clone()));
    let s = h.expect(Method::GET, &format!("{GITREPOS}/repo")).await;
    not_found(s.respond);
    let s = h
        .expect(Method::PATCH, &format!("{SYNCS}/demo/status"))
        .await;
    assert_eq!(
        ready_condition(&s.body)["message"],
        "Source 'GitRepository/ops/repo' not found"
    );
    reply(s.respond, 200, obj.clone());
    let e = h
        .expect(Method::POST, "/api/v1/namespaces/ops/events")
        .await;
    reply(e.respond, 201, e.body.clone());
    task.await.unwrap().unwrap();
}

/// Drives a reconcile that reaches OSM: source → progress status → Secret → final status → event.
async fn drive_to_osm(
    h: &mut Harness,
    obj: &Value,
    repo_url: &str,
    digest: &str,
    nbi_url: &str,
) -> (Value, Value, Action) {
    let task = tokio::spawn(reconcile(sync(obj), h.ctx.clone()));
    let s = h.expect(Method::GET, &format!("{GITREPOS}/repo")).await;
    reply(s.respond, 200, gitrepo(repo_url, digest, true));
    let s = h
        .expect(Method::PATCH, &format!("{SYNCS}/demo/status"))
        .await;
    let progress = s.body.clone();
    reply(s.respond, 200, obj.clone());
    let mut next = h.next().await;
    if next
        .path
        .starts_with("/api/v1/namespaces/ops/secrets/osm-creds")
    {
        reply(next.respond, 200, secret(nbi_url));
        next = h
            .expect(Method::PATCH, &format!("{SYNCS}/demo/status"))
            .await;
    }
    // Operations OSM accepted are written ahead (status.operations alone), then the final status.
    let mut written_ahead = vec![];
    while next.body["status"]
        .as_object()
        .is_some_and(|s| s.keys().eq(["operations"]))
    {
        written_ahead.push(next.body["status"]["operations"].clone());
        reply(next.respond, 200, obj.clone());
        next = h
            .expect(Method::PATCH, &format!("{SYNCS}/demo/status"))
            .await;
    }
    let fin = next.body.clone();
    reply(next.respond, 200, obj.clone());
    let e = h
        .expect(Method::POST, "/api/v1/namespaces/ops/events")
        .await;
    let event = e.body.clone();
    reply(e.respond, 201, event.clone());
    let action = task.await.unwrap().unwrap();
    h.assert_idle().await;
    (
        json!({"progress": progress, "final": fin, "writtenAhead": written_ahead}),
        event,
        action,
    )
}

#[tokio::test]
async fn successful_reconcile_applies_the_revision_and_reports_ready() {
    let mut h = harness();
    let sim = fast_sim().await;
    let server = ArtifactServer::start().await;
    let (url, digest) = server.publish("repo.tar.gz", tar_dir(repo(&[("ldap", Some("1"))]).path()));
    let obj = sync_json(json!({}), true);
    let (status, event, action) = drive_to_osm(&mut h, &obj, &url, &digest, &sim.url()).await;
    let progress = ready_condition(&status["progress"]);
    assert_eq!(progress["status"], "Unknown");
    assert!(
        progress["message"]
            .as_str()
            .unwrap()
            .starts_with("Fetching manifests for revision main@sha1:5394cb7f"),
        "{progress}"
    );
    let fin = &status["final"]["status"];
    let ready = ready_condition(&status["final"]);
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("True"), Some("ReconciliationSucceeded"))
    );
    assert_eq!(
        ready["message"],
        "Applied revision: main@sha1:5394cb7f48332b2de7c17dd8b8384bbc84b7e738"
    );
    assert_eq!(
        fin["lastAppliedRevision"],
        "main@sha1:5394cb7f48332b2de7c17dd8b8384bbc84b7e738"
    );
    assert_eq!(fin["observedGeneration"], 1);
    assert_eq!(fin["inventory"]["nsInstances"][0]["name"], "ldap");
    assert_eq!(fin["inventory"]["packages"].as_array().unwrap().len(), 2);
    assert_eq!(
        fin["history"][0]["lastReconciledStatus"],
        "ReconciliationSucceeded"
    );
    assert_eq!(fin["history"][0]["totalReconciliations"], 1);
    assert_eq!(
        fin["history"][0]["metadata"]["revision"],
        "main@sha1:5394cb7f48332b2de7c17dd8b8384bbc84b7e738"
    );
    assert!(fin["history"][0]["digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(fin["operations"][0]["state"], "COMPLETED");
    // The instantiate was recorded as PROCESSING as soon as OSM accepted it.
    let ahead = &status["writtenAhead"][0][0];
    assert_eq!(
        (ahead["type"].as_str(), ahead["state"].as_str()),
        (Some("instantiate"), Some("PROCESSING"))
    );
    assert_eq!(ahead["nslcmopId"], fin["operations"][0]["nslcmopId"]);
    assert_eq!(fin["operations"][0]["type"], "instantiate");
    assert!(fin["operations"][0]["nslcmopId"].is_string());
    assert!(fin["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["type"] != "Reconciling"));
    assert_eq!(event["reason"], "ReconciliationSucceeded");
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .starts_with("Reconciliation finished in "),
        "{event}"
    );
    assert!(event["message"]
        .as_str()
        .unwrap()
        .contains("next run in 5m0s"));
    assert_eq!(
        event["metadata"]["annotations"]["osmops.io/revision"],
        "main@sha1:5394cb7f48332b2de7c17dd8b8384bbc84b7e738"
    );
    assert_eq!(action, Action::requeue(Duration::from_secs(300)));
    assert_eq!(sim.ns_instances().len(), 1);
    // The Secret's user and password are both "admin" (the simulator's account); the project
    // (also "admin", not a credential) is recorded with the inventory: nothing else may say admin.
    let mut shown = status.clone();
    assert_eq!(shown["final"]["status"]["inventory"]["project"], "admin");
    shown["final"]["status"]["inventory"]["project"] = json!("-");
    assert!(
        !serde_json::to_string(&shown).unwrap().contains("\"admin\""),
        "no credentials in the status"
    );
}

#[tokio::test]
async fn invalid_repository_is_validation_failed_and_osm_untouched() {
    let mut h = harness();
    let sim = fast_sim().await;
    let server = ArtifactServer::start().await;
    let dir = repo(&[("ldap", None)]);
    write(dir.path(), "bad.osmops.yaml", "kind: NsInstance\nname: x\n");
    let (url, digest) = server.publish("bad.tar.gz", tar_dir(dir.path()));
    let obj = sync_json(json!({}), true);
    let (status, event, action) = drive_to_osm(&mut h, &obj, &url, &digest, &sim.url()).await;
    let ready = ready_condition(&status["final"]);
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("ValidationFailed"))
    );
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("bad.osmops.yaml (document 1): field 'nsdName': missing required field"),
        "{ready}"
    );
    assert_eq!(
        status["final"]["status"]["lastAttemptedRevision"],
        "main@sha1:5394cb7f48332b2de7c17dd8b8384bbc84b7e738"
    );
    assert!(status["final"]["status"]
        .get("lastAppliedRevision")
        .is_none());
    assert_eq!(event["type"], "Warning");
    assert_eq!(action, Action::requeue(Duration::from_secs(300)));
    assert!(sim.log().is_empty(), "OSM untouched");
}

#[tokio::test]
async fn unreachable_nbi_is_reported_as_osm_unreachable() {
    let mut h = harness();
    let server = ArtifactServer::start().await;
    let (url, digest) = server.publish("repo.tar.gz", tar_dir(repo(&[("ldap", None)]).path()));
    let obj = sync_json(json!({"retryInterval": "1m"}), true);
    let (status, _, action) =
        drive_to_osm(&mut h, &obj, &url, &digest, "http://127.0.0.1:9/osm").await;
    let ready = ready_condition(&status["final"]);
    assert_eq!(ready["reason"], "OSMUnreachable");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach OSM NBI at http://127.0.0.1:9/osm"),
        "{ready}"
    );
    assert_eq!(action, Action::requeue(Duration::from_secs(60)));
}

#[tokio::test]
async fn missing_secret_is_secret_not_found() {
    let mut h = harness();
    let server = ArtifactServer::start().await;
    let (url, digest) = server.publish("repo.tar.gz", tar_dir(repo(&[]).path()));
    let obj = sync_json(json!({}), true);
    let task = tokio::spawn(reconcile(sync(&obj), h.ctx.clone()));
    let s = h.expect(Method::GET, &format!("{GITREPOS}/repo")).await;
    reply(s.respond, 200, gitrepo(&url, &digest, true));
    let s = h
        .expect(Method::PATCH, &format!("{SYNCS}/demo/status"))
        .await;
    reply(s.respond, 200, obj.clone());
    let s = h
        .expect(Method::GET, "/api/v1/namespaces/ops/secrets/osm-creds")
        .await;
    not_found(s.respond);
    let s = h
        .expect(Method::PATCH, &format!("{SYNCS}/demo/status"))
        .await;
    assert_eq!(ready_condition(&s.body)["reason"], "SecretNotFound");
    assert_eq!(
        ready_condition(&s.body)["message"],
        "Secret 'ops/osm-creds' not found"
    );
    reply(s.respond, 200, obj.clone());
    let e = h
        .expect(Method::POST, "/api/v1/namespaces/ops/events")
        .await;
    reply(e.respond, 201, e.body.clone());
    task.await.unwrap().unwrap();
}

fn deleting(mut obj: Value, inventory: Value, prune: bool) -> Value {
    obj["metadata"]["deletionTimestamp"] = json!("2026-11-24T10:00:00Z");
    obj["spec"]["prune"] = json!(prune);
    obj["status"] = json!({"inventory": inventory});
    obj
}

#[tokio::test]
async fn deletion_with_prune_removes_owned_ns_then_the_finalizer() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = repo(&[("ldap", None)]);
    let o = reconcile_engine(&c, dir.path()).await;
    let inv = serde_json::to_value(osmops::controller::status::inventory_to_status(
        &o.inventory,
        &sim.url(),
        "admin",
    ))
    .unwrap();
    let mut h = harness();
    let obj = deleting(sync_json(json!({}), true), inv, true);
    let task = tokio::spawn(reconcile(sync(&obj), h.ctx.clone()));
    let s = h
        .expect(Method::PATCH, &format!("{SYNCS}/demo/status"))
        .await;
    let progress = ready_condition(&s.body);
    assert!(
        progress["message"]
            .as_str()
            .unwrap()
            .starts_with("Deleting: pruning 1 NS instance(s) and 2 package(s)"),
        "{progress}"
    );
    reply(s.respond, 200, obj.clone());
    let s = h
        .expect(Method::GET, "/api/v1/namespaces/ops/secrets/osm-creds")
        .await;
    reply(s.respond, 200, secret(&sim.url()));
    let e = h
        .expect(Method::POST, "/api/v1/namespaces/ops/events")
        .await;
    assert_eq!(e.body["reason"], "Pruned");
    reply(e.respond, 201, e.body.clone());
    let s = h.expect(Method::PATCH, &format!("{SYNCS}/demo?")).await;
    assert!(
        s.body
            .as_array()
            .unwrap()
            .iter()
            .any(|op| op["op"] == "remove"),
        "finalizer removed: {}",
        s.body
    );
    reply(s.respond, 200, sync_json(json!({}), false));
    task.await.unwrap().unwrap();
    assert!(
        sim.ns_instances().is_empty()
            && sim.vnf_packages().is_empty()
            && sim.ns_packages().is_empty()
    );
}

#[tokio::test]
async fn deletion_without_prune_only_drops_the_finalizer() {
    let sim = fast_sim().await;
    let mut h = harness();
    let inv =
        json!({"nsInstances": [{"name": "ldap", "osmId": "x", "digest": "d"}], "packages": []});
    let obj = deleting(sync_json(json!({}), true), inv, false);
    let task = tokio::spawn(reconcile(sync(&obj), h.ctx.clone()));
    let s = h.expect(Method::PATCH, &format!("{SYNCS}/demo?")).await;
    assert!(s
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|op| op["op"] == "remove"));
    reply(s.respond, 200, sync_json(json!({}), false));
    task.await.unwrap().unwrap();
    h.assert_idle().await;
    assert!(sim.log().is_empty());
}

async fn reconcile_engine(
    c: &osmops::osm::NbiClient,
    root: &std::path::Path,
) -> osmops::engine::Outcome {
    // As the OsmSync ops/demo would have: its mark is what proves ownership at deletion.
    let opts = osmops::engine::EngineOptions {
        owner: osmops::plan::Owner::controller("ops", "demo"),
        ..opts()
    };
    common::reconcile(c, root, &osmops::plan::Inventory::default(), &opts).await
}

#[tokio::test]
async fn cross_namespace_source_is_refused_when_blocked() {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let opts = ControllerOptions {
        no_cross_namespace_refs: true,
        ..ControllerOptions::default()
    };
    let ctx = Arc::new(Context::new(
        kube::Client::new(svc, "default"),
        opts,
        Arc::new(Metrics::default()),
        "t".into(),
    ));
    let mut h = Harness { handle, ctx };
    let mut obj = sync_json(json!({}), true);
    obj["spec"]["sourceRef"]["namespace"] = json!("flux-system");
    let task = tokio::spawn(reconcile(sync(&obj), h.ctx.clone()));
    let s = h
        .expect(Method::PATCH, &format!("{SYNCS}/demo/status"))
        .await;
    let conds = s.body["status"]["conditions"].as_array().unwrap().clone();
    let ready = ready_condition(&s.body);
    assert_eq!(ready["reason"], "AccessDenied");
    assert_eq!(ready["message"], "can't access 'GitRepository/flux-system/repo', cross-namespace references have been blocked");
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "Stalled" && c["status"] == "True"),
        "stalled until the spec changes"
    );
    reply(s.respond, 200, obj.clone());
    let e = h
        .expect(Method::POST, "/api/v1/namespaces/ops/events")
        .await;
    reply(e.respond, 201, e.body.clone());
    assert_eq!(task.await.unwrap().unwrap(), Action::await_change());
}

#[tokio::test]
async fn an_unchanged_revision_only_counts_in_the_history_and_sends_no_event() {
    let mut h = harness();
    let sim = fast_sim().await;
    let server = ArtifactServer::start().await;
    let (url, digest) = server.publish("repo.tar.gz", tar_dir(repo(&[("ldap", Some("1"))]).path()));
    let mut obj = sync_json(json!({}), true);
    let (status, _, _) = drive_to_osm(&mut h, &obj, &url, &digest, &sim.url()).await;
    // The next periodic reconcile sees the status the first one wrote.
    obj["status"] = status["final"]["status"].clone();
    obj["metadata"]["annotations"] =
        json!({"reconcile.fluxcd.io/requestedAt": "2026-11-24T12:00:00Z"});
    let task = tokio::spawn(reconcile(sync(&obj), h.ctx.clone()));
    let s = h.expect(Method::GET, &format!("{GITREPOS}/repo")).await;
    reply(s.respond, 200, gitrepo(&url, &digest, true));
    let s = h
        .expect(Method::GET, "/api/v1/namespaces/ops/secrets/osm-creds")
        .await;
    reply(s.respond, 200, secret(&sim.url()));
    // The handled request time changes and the history snapshot counts the reconcile (Flux's
    // History.Upsert): one status write, no event.
    let s = h
        .expect(Method::PATCH, &format!("{SYNCS}/demo/status"))
        .await;
    assert_eq!(
        s.body["status"]["lastHandledReconcileAt"],
        "2026-11-24T12:00:00Z"
    );
    let history = s.body["status"]["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "no new snapshot for a no-op");
    assert_eq!(history[0]["totalReconciliations"], 2);
    assert_eq!(
        history[0]["lastReconciledStatus"],
        "ReconciliationSucceeded"
    );
    let after_second = s.body["status"].clone();
    reply(s.respond, 200, obj.clone());
    assert_eq!(
        task.await.unwrap().unwrap(),
        Action::requeue(Duration::from_secs(300))
    );
    h.assert_idle().await;
    // Without the annotation change only the count moves (when the second changed).
    obj["status"] = after_second;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let task = tokio::spawn(reconcile(sync(&obj), h.ctx.clone()));
    let s = h.expect(Method::GET, &format!("{GITREPOS}/repo")).await;
    reply(s.respond, 200, gitrepo(&url, &digest, true));
    let s = h
        .expect(Method::GET, "/api/v1/namespaces/ops/secrets/osm-creds")
        .await;
    reply(s.respond, 200, secret(&sim.url()));
    let s = h
        .expect(Method::PATCH, &format!("{SYNCS}/demo/status"))
        .await;
    assert_eq!(s.body["status"]["history"][0]["totalReconciliations"], 3);
    assert_eq!(s.body["status"]["conditions"], obj["status"]["conditions"]);
    reply(s.respond, 200, obj.clone());
    task.await.unwrap().unwrap();
    h.assert_idle().await;
    let logins = sim
        .log()
        .iter()
        .filter(|e| e.path.ends_with("/admin/v1/tokens"))
        .count();
    assert_eq!(logins, 1, "the NBI session is reused across reconciles");
}

#[tokio::test]
async fn metrics_and_probes_are_served() {
    let mut h = harness();
    let mut obj = sync_json(json!({"suspend": true}), true);
    obj["status"] = json!({"observedGeneration": 1});
    reconcile(sync(&obj), h.ctx.clone()).await.unwrap();
    h.assert_idle().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listeners = osmops::controller::HttpListeners::bind(Some(addr), addr)
        .await
        .unwrap();
    let server = tokio::spawn(osmops::controller::serve_http(
        h.ctx.metrics.clone(),
        listeners,
        ready.clone(),
    ));
    let http = reqwest::Client::new();
    let mut body = String::new();
    for _ in 0..50 {
        if let Ok(r) = http.get(format!("http://{addr}/metrics")).send().await {
            body = r.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(body.contains("gotk_reconcile_duration_seconds_count{kind=\"OsmSync\",name=\"demo\",namespace=\"ops\"} 1"), "{body}");
    assert!(
        body.contains(
            "controller_runtime_reconcile_total{controller=\"osmsync\",result=\"success\"} 1"
        ),
        "{body}"
    );
    assert!(body.contains("osmops_nbi_requests_total"), "{body}");
    assert_eq!(
        http.get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Not ready until start-up has finished; a second listener on the same port is refused.
    let readyz = || async {
        http.get(format!("http://{addr}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(readyz().await, 503);
    ready.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(readyz().await, 200);
    let taken = osmops::controller::HttpListeners::bind(Some(addr), addr)
        .await
        .err()
        .expect("the port is in use");
    assert!(
        taken.contains(&addr.to_string()) && taken.contains("--metrics-addr"),
        "{taken}"
    );
    server.abort();
}

/// The CRD (its `pattern` and CEL rule, as the API server emulator applies them) and the
/// controller's parser agree on every duration field: what the API server admits is never refused
/// by the controller as InvalidSpec, and what the controller refuses never gets in.
#[test]
fn the_crd_admits_exactly_the_durations_the_controller_accepts() {
    use proptest::strategy::{Strategy, ValueTree};
    let schema =
        common::schema::crd_schema(include_str!("../crds/osmops.io_osmsyncs.yaml"), "v1alpha1");
    let mut cases: Vec<String> = [
        "5m",
        "1h30m",
        "90s",
        "1.5h",
        "100ms",
        "10us",
        "10µs",
        "8760h",
        "8759h60m",
        "8760h1ns",
        "8761h",
        "525600m",
        "525601m",
        "0s",
        "0",
        "0h0m0s",
        "",
        ".5s",
        "5.s",
        "5",
        "5d",
        "-5s",
        "+5s",
        " 5m",
        "99999999h",
        "99999999h99999999h99999999h99999999h",
        "1s1s1s1s",
        "1s1s1s1s1s",
        "123456789s",
        "12345678s",
        "1.123456789s",
        "1.1234567890s",
        "1m1h",
        "1h1h",
        "0.000000001s",
        "0.0000000001s",
        "00000000s",
        "00000001ns",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // And many generated ones around the grammar's edges, deterministically.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy =
        "[0-9]{0,9}(\\.[0-9]{0,10})?(ns|us|µs|ms|s|m|h|d|)([0-9]{0,9}(ns|us|ms|s|m|h)){0,4}";
    for _ in 0..3000 {
        cases.push(strategy.new_tree(&mut runner).unwrap().current());
    }
    for field in ["interval", "retryInterval", "timeout"] {
        for s in &cases {
            let mut doc = json!({
                "apiVersion": "osmops.io/v1alpha1", "kind": "OsmSync", "metadata": {"name": "x"},
                "spec": {"interval": "5m", "sourceRef": {"kind": "GitRepository", "name": "r"},
                         "osm": {"secretRef": {"name": "s"}}}
            });
            doc["spec"][field] = json!(s);
            let admitted = common::schema::admit(&schema, &mut doc, true, "OsmSync x");
            let parsed = osmops::duration::parse_spec_duration(s);
            assert_eq!(
                admitted.is_ok(),
                parsed.is_ok(),
                "spec.{field}: {s:?}: the API server says {:?}, the controller {:?}",
                admitted.err().map(|e| e.message),
                parsed
            );
        }
    }
}
