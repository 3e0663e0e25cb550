//! Layer 2 of k8s-test-harness.md: the real kube-runtime Controller, watcher, finalizer helper and
//! Lease leader election against the Kubernetes API emulator, with real tar.gz artifacts served
//! over HTTP and the NBI simulator. kubectl reads the same emulator.

mod common;

use std::time::{Duration, Instant};

use common::world::*;
use common::*;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use osmops::controller::{self, LeaderElection};
use osmops::sim::Simulator;
use serde_json::json;

fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl is installed");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitops_lifecycle_through_the_real_controller() {
    let w = world().await;
    let dir = repo(&[("ldap", Some("1"))]);
    w.publish(
        "main@sha1:1111111111111111111111111111111111111111",
        dir.path(),
    )
    .await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let ctl = tokio::spawn(controller::run(context(&w.client, "ctl-1"), async move {
        let _ = stop_rx.await;
    }));
    w.create_sync("demo").await;

    // GitRepository + Secret + OsmSync → OSM reaches the desired state, Ready=True.
    let s = w
        .wait_for("demo", "first revision applied", |s| {
            applied(s, "main@sha1:1111111111111111111111111111111111111111")
        })
        .await;
    assert!(s
        .metadata
        .finalizers
        .as_ref()
        .unwrap()
        .contains(&"osmops.io/finalizer".to_owned()));
    let st = s.status.clone().unwrap();
    assert_eq!(st.observed_generation, s.metadata.generation);
    assert_eq!(st.history.len(), 1);
    assert_eq!(st.operations.len(), 1);
    assert_eq!(w.sim.ns_instances().len(), 1);
    assert_eq!(w.sim.ns_instances()[0]["nsState"], "READY");

    // kubectl sees Flux-like printer columns and `kubectl wait` returns.
    let tmp = tempfile::tempdir().unwrap();
    let kc = w.emu.kubeconfig(tmp.path());
    let (code, out, err) = kubectl(&kc, &["get", "osmsyncs", "-n", "ops"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "AGE", "READY", "STATUS", "REVISION", "SUSPENDED"],
        "{out}"
    );
    assert!(
        out.contains("True")
            && out.contains("Applied revision: main@sha1:1111111111111111111111111111111111111111"),
        "{out}"
    );
    let (code, out, err) = kubectl(&kc, &["get", "osms", "demo", "-n", "ops"]);
    assert_eq!(code, 0, "short name works: {out}\n{err}");
    let (code, out, err) = kubectl(
        &kc,
        &[
            "wait",
            "--for=condition=Ready",
            "osmsync/demo",
            "-n",
            "ops",
            "--timeout=20s",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("condition met"), "{out}");

    // A new artifact revision → one upgrade and a new history entry.
    let writes_before = writes(&w.sim).len();
    write(dir.path(), "ldap.osmops.yaml", &ns_doc("ldap", Some("2")));
    w.publish(
        "main@sha1:2222222222222222222222222222222222222222",
        dir.path(),
    )
    .await;
    let s = w
        .wait_for("demo", "second revision applied", |s| {
            applied(s, "main@sha1:2222222222222222222222222222222222222222")
        })
        .await;
    let st = s.status.unwrap();
    assert_eq!(st.history.len(), 2);
    assert_eq!(
        st.history[0].metadata.get("upgrade").map(String::as_str),
        Some("1")
    );
    assert_eq!(
        st.history[0].metadata.get("revision").map(String::as_str),
        Some("main@sha1:2222222222222222222222222222222222222222")
    );
    assert_eq!(st.operations[0].type_, "action");
    assert_eq!(st.operations[0].state, "COMPLETED");
    assert_eq!(
        st.operations[0].revision,
        "main@sha1:2222222222222222222222222222222222222222"
    );
    let new_writes: Vec<String> = writes(&w.sim)[writes_before..].to_vec();
    assert_eq!(new_writes.len(), 1, "{new_writes:?}");
    assert!(new_writes[0].ends_with("/action"));

    // A broken revision → Ready=False with the validation message, OSM untouched.
    write(
        dir.path(),
        "broken.osmops.yaml",
        "kind: NsInstance\nname: broken\n",
    );
    let requests_before = w.sim.log().len();
    w.publish(
        "main@sha1:3333333333333333333333333333333333333333",
        dir.path(),
    )
    .await;
    let (st, message) = w.wait_for_reason("demo", "ValidationFailed").await;
    assert_eq!(st.condition("Ready").unwrap().status, "False");
    assert!(
        message
            .contains("broken.osmops.yaml (document 1): field 'nsdName': missing required field"),
        "{message}"
    );
    assert_eq!(
        st.last_attempted_revision.as_deref(),
        Some("main@sha1:3333333333333333333333333333333333333333")
    );
    assert_eq!(
        st.last_applied_revision.as_deref(),
        Some("main@sha1:2222222222222222222222222222222222222222")
    );
    assert_eq!(w.sim.log().len(), requests_before, "OSM untouched");

    // The fixed revision → Ready again.
    std::fs::remove_file(dir.path().join("broken.osmops.yaml")).unwrap();
    write(dir.path(), "ldap.osmops.yaml", &ns_doc("ldap", Some("3")));
    w.publish(
        "main@sha1:4444444444444444444444444444444444444444",
        dir.path(),
    )
    .await;
    w.wait_for("demo", "fixed revision applied", |s| {
        applied(s, "main@sha1:4444444444444444444444444444444444444444")
    })
    .await;

    // Events were recorded with the revision annotation.
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(w.client.clone(), "ops");
    let evs = events.list(&Default::default()).await.unwrap();
    let ok = evs
        .items
        .iter()
        .find(|e| e.reason.as_deref() == Some("ReconciliationSucceeded"))
        .expect("a success event");
    assert!(ok
        .message
        .as_deref()
        .unwrap()
        .starts_with("Reconciliation finished in"));
    assert!(ok
        .metadata
        .annotations
        .as_ref()
        .unwrap()
        .contains_key("osmops.io/revision"));
    assert!(evs
        .items
        .iter()
        .any(|e| e.reason.as_deref() == Some("ValidationFailed")
            && e.type_.as_deref() == Some("Warning")));

    // Deletion with prune removes the NS instances, then the finalizer goes and the object with it.
    w.syncs()
        .delete("demo", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    while w.syncs().get_opt("demo").await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "OsmSync not deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(w.sim.ns_instances().is_empty(), "pruned on deletion");
    assert!(w.sim.vnf_packages().is_empty() && w.sim.ns_packages().is_empty());
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(10), ctl)
        .await
        .expect("graceful shutdown")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover_between_two_replicas() {
    let w = world().await;
    let dir = repo(&[("ldap", Some("1"))]);
    w.publish("main@sha1:aaaa", dir.path()).await;
    let lease = Duration::from_secs(2);
    let replica = |id: &'static str| {
        let ctx = context(&w.client, id);
        let le = LeaderElection::new(
            w.client.clone(),
            "ops",
            "osmops-controller-leader",
            id,
            lease,
        );
        tokio::spawn(controller::run_with_leader_election(
            ctx,
            le,
            std::future::pending::<()>(),
        ))
    };
    let a = replica("replica-a");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = replica("replica-b");
    w.create_sync("demo").await;
    w.wait_for("demo", "applied by the leader", |s| {
        applied(s, "main@sha1:aaaa")
    })
    .await;
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(w.client.clone(), "ops");
    let holder =
        |l: k8s_openapi::api::coordination::v1::Lease| l.spec.unwrap().holder_identity.unwrap();
    assert_eq!(
        holder(leases.get("osmops-controller-leader").await.unwrap()),
        "replica-a"
    );

    // Kill the leader without releasing the lease; the other replica takes over once it expires.
    a.abort();
    let killed = Instant::now();
    write(dir.path(), "ldap.osmops.yaml", &ns_doc("ldap", Some("2")));
    w.publish("main@sha1:bbbb", dir.path()).await;
    w.wait_for("demo", "applied by the new leader", |s| {
        applied(s, "main@sha1:bbbb")
    })
    .await;
    assert_eq!(
        holder(leases.get("osmops-controller-leader").await.unwrap()),
        "replica-b"
    );
    assert!(
        killed.elapsed() >= Duration::from_secs(1),
        "took over only after the lease lapsed"
    );
    b.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_binary_runs_from_a_kubeconfig_and_stops_gracefully() {
    let w = world().await;
    let dir = repo(&[("ldap", None)]);
    w.publish("main@sha1:cccc", dir.path()).await;
    let tmp = tempfile::tempdir().unwrap();
    let kc = w.emu.kubeconfig(tmp.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = std::process::Command::new(bin())
        .args([
            "controller",
            "--leader-elect",
            "--leader-election-namespace",
            "ops",
            "--metrics-addr",
            &addr,
            "--health-addr",
            &addr,
        ])
        .args([
            "--operation-poll-interval",
            "50ms",
            "--log-encoding",
            "json",
            "--grpc-addr",
            "127.0.0.1:0",
        ])
        .env("KUBECONFIG", &kc)
        .env("POD_NAME", "osmops-controller-0")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    w.create_sync("demo").await;
    w.wait_for("demo", "applied by the binary", |s| {
        applied(s, "main@sha1:cccc")
    })
    .await;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let metrics = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("gotk_reconcile_duration_seconds_count{kind=\"OsmSync\",name=\"demo\",namespace=\"ops\"}"), "{metrics}");
    assert!(
        metrics.contains("osmops_osm_operations_total{type=\"instantiate\",state=\"COMPLETED\"} 1"),
        "{metrics}"
    );
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(w.client.clone(), "ops");
    let lease = leases.get("osmops-controller-leader").await.unwrap();
    assert_eq!(
        lease.spec.unwrap().holder_identity.as_deref(),
        Some("osmops-controller-0")
    );
    // SIGTERM → graceful shutdown, exit code 0.
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let logs = String::from_utf8_lossy(&status.stderr);
    assert_eq!(status.status.code(), Some(0), "{logs}");
    assert!(
        logs.lines()
            .any(|l| l.starts_with('{') && l.contains("controller stopped")),
        "JSON logs: {logs}"
    );
    // The lease was handed over on the way out, not left to expire.
    let lease = leases.get("osmops-controller-leader").await.unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity, None, "{logs}");
    assert!(!logs.contains("\"admin\""), "no credentials in logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenants_absurd_durations_do_not_stop_the_controller_for_the_others() {
    fn strip_cel_rules(schema: &mut serde_json::Value) {
        match schema {
            serde_json::Value::Object(m) => {
                m.remove("x-kubernetes-validations");
                m.values_mut().for_each(strip_cel_rules);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip_cel_rules),
            _ => {}
        }
    }
    // The CRD refuses these durations now (its CEL rule); objects stored before the rule (or by an
    // API server without CEL) still hold them, and updating a CRD does not revalidate what is
    // stored. So this API server has the CRD without its CEL rules.
    let absurd = json!({"interval": "99999999h", "retryInterval": "99999999h99999999h99999999h99999999h", "timeout": "99999999.5h"});
    let refused = world().await;
    let mut too_long = json!({"sourceRef": {"kind": "GitRepository", "name": "repo"}, "osm": {"secretRef": {"name": "osm-creds"}}});
    for (k, v) in absurd.as_object().unwrap() {
        too_long[k] = v.clone();
    }
    let e = refused
        .syncs()
        .create(
            &kube::api::PostParams::default(),
            &serde_json::from_value(
                json!({"apiVersion": "osmops.io/v1alpha1", "kind": "OsmSync",
                "metadata": {"name": "absurd", "namespace": "ops"}, "spec": too_long}),
            )
            .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("8760h"), "{e}");
    let mut resources = common::kube_emulator::default_resources();
    strip_cel_rules(resources[0].schema.as_mut().unwrap());
    let w = world_on(common::kube_emulator::KubeEmulator::start_with(resources).await).await;
    let dir = repo(&[("ldap", Some("1"))]);
    let rev = "main@sha1:1111111111111111111111111111111111111111";
    w.publish(rev, dir.path()).await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let ctl = tokio::spawn(controller::run(context(&w.client, "ctl-1"), async move {
        let _ = stop_rx.await;
    }));
    // These durations match the CRD's pattern but are far beyond what timers hold: they once
    // panicked inside reconcile and error_policy alike.
    w.create_sync_with("absurd", absurd).await;
    w.create_sync("demo").await;
    let (st, message) = w.wait_for_reason("absurd", "InvalidSpec").await;
    assert!(message.contains("8760h"), "{message}");
    assert_eq!(st.condition("Stalled").unwrap().status, "True");
    w.wait_for("demo", "the other OsmSync applied", |s| applied(s, rev))
        .await;
    assert!(!ctl.is_finished(), "the controller keeps running");
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(15), ctl)
        .await
        .expect("controller stops")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_never_shows_in_controller_logs_events_status_or_grpc() {
    let pw = "pW-9zQ-distinct-s3cret";
    let mut seed = osmops::sim::Seed::default();
    seed.users.push(osmops::sim::SeedUser {
        name: "ops-user".into(),
        password: pw.into(),
        projects: vec!["admin".into()],
    });
    let sim = Simulator::start(osmops::sim::SimConfig {
        token_throttle: false,
        lcm_pickup_delay: Duration::from_millis(10),
        lcm_delay: Duration::from_millis(50),
        autoremove_delay: Duration::from_millis(100),
        seed,
        ..osmops::sim::SimConfig::default()
    })
    .await
    .unwrap();
    // The password is in the Secret, and also in the URL's user-info.
    let url = format!("http://ops-user:{pw}@{}/osm", sim.addr());
    let w = world_with(sim, &url, "ops-user", pw).await;
    create_secret(
        &w.client,
        "unreachable",
        &format!("http://ops-user:{pw}@127.0.0.1:9/osm"),
        "ops-user",
        pw,
    )
    .await;
    let dir = repo(&[("ldap", None)]);
    w.publish("main@sha1:dddd", dir.path()).await;
    let tmp = tempfile::tempdir().unwrap();
    let controller = common::process::TracedController::spawn(&w.emu.kubeconfig(tmp.path()));
    w.create_sync("demo").await;
    w.create_sync_with(
        "down",
        json!({"osm": {"secretRef": {"name": "unreachable"}}, "timeout": "3s"}),
    )
    .await;
    w.wait_for("demo", "applied", |s| applied(s, "main@sha1:dddd"))
        .await;
    let (_, msg) = w.wait_for_reason("down", "OSMUnreachable").await;
    assert!(
        msg.contains("http://127.0.0.1:9/osm"),
        "the URL is shown without user-info: {msg}"
    );
    // Everything a user can read: status, events, gRPC answers (through the CLI client), logs.
    let mut seen = String::new();
    for name in ["demo", "down"] {
        seen.push_str(&serde_json::to_string(&w.syncs().get(name).await.unwrap()).unwrap());
    }
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(w.client.clone(), "ops");
    seen.push_str(
        &serde_json::to_string(&events.list(&Default::default()).await.unwrap()).unwrap(),
    );
    let grpc = controller.grpc.clone();
    for what in [
        vec!["get", "syncs"],
        vec!["get", "plan", "demo", "-n", "ops"],
        vec!["get", "plan", "demo", "-n", "ops", "--preview"],
        vec!["get", "operations"],
    ] {
        let out = std::process::Command::new(bin())
            .args(&what)
            .args(["--grpc", &grpc, "--output", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{what:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        seen.push_str(&String::from_utf8_lossy(&out.stdout));
        seen.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    let logs = controller.stop().await;
    assert!(
        logs.len() > 10_000,
        "trace logs were written ({} bytes)",
        logs.len()
    );
    seen.push_str(&logs);
    assert!(!seen.contains(pw), "the password shows up somewhere");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_ns_is_reported_until_remediation_recreates_it() {
    let w = world().await;
    w.sim.fail_next(
        "instantiate",
        Some("ldap"),
        1,
        "helm install failed: timed out",
    );
    let dir = repo(&[("ldap", None)]);
    let rev = "main@sha1:eeee";
    w.publish(rev, dir.path()).await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let ctl = tokio::spawn(controller::run(context(&w.client, "ctl-1"), async move {
        let _ = stop_rx.await;
    }));
    w.create_sync("demo").await;
    // The failed instantiate is reported with OSM's message...
    w.wait_for_reason("demo", "OperationFailed").await;
    // ...and on the retry the NS is never "unchanged": broken, Stalled, nothing sent.
    let s = w
        .wait_for("demo", "broken and stalled", |s| {
            s.status.as_ref().is_some_and(|st| {
                st.condition("Stalled").is_some_and(|c| c.status == "True")
                    && st
                        .condition("Ready")
                        .is_some_and(|c| c.message.contains("broken NsInstance ldap"))
            })
        })
        .await;
    let ready = s
        .status
        .as_ref()
        .unwrap()
        .condition("Ready")
        .unwrap()
        .clone();
    assert!(
        ready.message.contains("helm install failed: timed out"),
        "{}",
        ready.message
    );
    // Said in the OsmSync's terms, not the CLI's.
    assert!(
        ready
            .message
            .contains("no remediation configured (spec.remediation.instantiate.retries)")
            && !ready.message.contains("--"),
        "{}",
        ready.message
    );
    assert_eq!(w.sim.ns_instances().len(), 1);
    // Remediation in the spec: the NS is deleted and created again, each step an operation in
    // the status history.
    w.patch_spec(
        "demo",
        json!({"remediation": {"instantiate": {"retries": 1}}}),
    )
    .await;
    let s = w
        .wait_for("demo", "recreated and Ready", |s| applied(s, rev))
        .await;
    let st = s.status.as_ref().unwrap();
    let types: Vec<&str> = st
        .operations
        .iter()
        .filter(|o| o.revision == rev)
        .map(|o| o.type_.as_str())
        .collect();
    assert!(
        types.starts_with(&["instantiate", "terminate"]),
        "{:?}",
        st.operations
    );
    assert_eq!(
        st.history[0].last_reconciled_status,
        "ReconciliationSucceeded"
    );
    assert!(
        st.history
            .iter()
            .any(|h| h.last_reconciled_status == "OperationFailed"),
        "the failure before remediation has its own snapshot: {:?}",
        st.history
    );
    assert_eq!(w.sim.ns_instances().len(), 1);
    assert_eq!(w.sim.ns_instances()[0]["nsState"], "READY");
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(15), ctl).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_work_is_ready_false_with_the_reason_and_a_refused_prune_changes_nothing() {
    let w = world().await;
    let dir = repo(&[("a", None), ("b", None)]);
    let rev = "main@sha1:ffff";
    w.publish(rev, dir.path()).await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let ctl = tokio::spawn(controller::run(context(&w.client, "ctl-1"), async move {
        let _ = stop_rx.await;
    }));
    w.create_sync("demo").await;
    w.wait_for("demo", "applied", |s| applied(s, rev)).await;
    // Someone creates a second "a" by hand: the name is ambiguous, the work is blocked.
    let nsd = w.sim.ns_packages()[0]["_id"].as_str().unwrap().to_owned();
    let vim = w.sim.vim_id("mylocation1").unwrap();
    client(&w.sim)
        .create_ns_instance(&json!({"nsName": "a", "nsdId": nsd, "vimAccountId": vim}))
        .await
        .unwrap();
    write(dir.path(), "a.osmops.yaml", &ns_doc("a", Some("5")));
    w.publish("main@sha1:ff01", dir.path()).await;
    let (st, message) = w.wait_for_reason("demo", "ProgressingWithRetry").await;
    assert_eq!(st.condition("Ready").unwrap().status, "False");
    assert!(
        message.contains("2 NS instances in OSM are named 'a'"),
        "{message}"
    );
    assert_eq!(st.condition("Reconciling").unwrap().status, "True");
    // An emptied revision: the prune guard refuses, nothing is deleted.
    let empty = tempfile::tempdir().unwrap();
    let before = w.sim.ns_instances().len();
    w.publish("main@sha1:ff02", empty.path()).await;
    let (_, message) = w.wait_for_reason("demo", "PruneGuard").await;
    assert!(message.contains("spec.allowEmpty"), "{message}");
    assert_eq!(w.sim.ns_instances().len(), before, "nothing deleted");
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(15), ctl).await;
}

/// client-go's rule: a lease is expired when its record has not changed for its duration *as
/// observed on this node*; the holder's `renewTime` is never compared with the local clock.
#[tokio::test]
async fn a_lease_renewed_by_a_node_with_a_skewed_clock_is_not_stolen() {
    use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    let w = world().await;
    let leases: Api<Lease> = Api::namespaced(w.client.clone(), "ops");
    // The other node's clock is an hour behind ours: by wall clocks its lease is long expired.
    let skewed = |n: i64| {
        MicroTime(
            k8s_openapi::jiff::Timestamp::now()
                .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(3600 - n))
                .unwrap(),
        )
    };
    let mut lease = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("leader".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("other-node".into()),
            lease_duration_seconds: Some(1),
            renew_time: Some(skewed(0)),
            ..Default::default()
        }),
    };
    lease = leases.create(&PostParams::default(), &lease).await.unwrap();
    let le = LeaderElection::new(
        w.client.clone(),
        "ops",
        "leader",
        "me",
        Duration::from_secs(1),
    );
    // While the other node keeps renewing, we never take over.
    for n in 1..=6 {
        assert!(
            !le.try_acquire_or_renew().await.unwrap(),
            "stolen at renewal {n}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        lease.spec.as_mut().unwrap().renew_time = Some(skewed(n));
        lease = leases
            .replace("leader", &PostParams::default(), &lease)
            .await
            .unwrap();
    }
    assert!(!le.try_acquire_or_renew().await.unwrap());
    // It stops renewing: after its duration, observed here, the lease is ours.
    let stopped = Instant::now();
    while !le.try_acquire_or_renew().await.unwrap() {
        assert!(
            stopped.elapsed() < Duration::from_secs(5),
            "never took over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        stopped.elapsed() >= Duration::from_secs(1),
        "took over before the lease lapsed"
    );
    let spec = leases.get("leader").await.unwrap().spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("me"));
    assert_eq!(spec.lease_transitions, Some(1));

    // A clean shutdown releases it: the next instance takes over at once.
    le.release().await;
    let next = LeaderElection::new(
        w.client.clone(),
        "ops",
        "leader",
        "next",
        Duration::from_secs(30),
    );
    assert!(
        next.try_acquire_or_renew().await.unwrap(),
        "a released lease is free"
    );
    // Release never clears a lease someone else holds.
    le.release().await;
    let spec = leases.get("leader").await.unwrap().spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("next"));
}

/// Starts the controller on `w`; stops it when the returned sender is dropped or fired.
fn start_controller(w: &World, id: &str) -> tokio::sync::oneshot::Sender<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(controller::run(context(&w.client, id), async move {
        let _ = stop_rx.await;
    }));
    stop_tx
}

fn sync_json(w: &World, name: &str) -> serde_json::Value {
    w.emu
        .get("osmops.io/v1alpha1/osmsyncs", "ops", name)
        .expect("the OsmSync exists")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flux_without_some_source_kinds_reconciles_every_osmsync_promptly() {
    // Flux ≤ 2.6: no ExternalArtifact; this cluster has no OCIRepository or Bucket either.
    let resources = kube_emulator::default_resources()
        .into_iter()
        .filter(|r| !matches!(r.kind, "ExternalArtifact" | "OCIRepository" | "Bucket"))
        .collect();
    let w = world_on(kube_emulator::KubeEmulator::start_with(resources).await).await;
    let dir = repo(&[("ldap", Some("1"))]);
    w.publish("main@sha1:1111", dir.path()).await;
    let _stop = start_controller(&w, "ctl");
    w.create_sync("demo").await;
    w.wait_for("demo", "applied", |s| applied(s, "main@sha1:1111"))
        .await;
    // A reconcile request is handled at once, not after the missing kinds' watch backoff.
    for token in ["first", "second", "third"] {
        let asked = Instant::now();
        w.request_reconcile("demo", token).await;
        w.wait_for("demo", "the request handled", |s| {
            s.status
                .as_ref()
                .and_then(|st| st.last_handled_reconcile_at.as_deref())
                == Some(token)
        })
        .await;
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "request {token} took {:?}",
            asked.elapsed()
        );
    }
    // A new artifact on the served kind still triggers.
    write(dir.path(), "ldap.osmops.yaml", &ns_doc("ldap", Some("2")));
    w.publish("main@sha1:2222", dir.path()).await;
    w.wait_for("demo", "new revision applied", |s| {
        applied(s, "main@sha1:2222")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kstatus_sees_a_new_osmsync_in_progress_until_reconciled_and_a_suspended_one_current() {
    let w = world().await;
    w.publish("main@sha1:3333", repo(&[("ldap", None)]).path())
        .await;
    w.create_sync("demo").await;
    // The CRD's status default: not yet observed, so a parent Kustomization's health check waits.
    let fresh = sync_json(&w, "demo");
    assert_eq!(fresh["status"], json!({"observedGeneration": -1}));
    assert_eq!(kstatus(&fresh), "InProgress");
    let _stop = start_controller(&w, "ctl");
    w.wait_for("demo", "applied", |s| applied(s, "main@sha1:3333"))
        .await;
    assert_eq!(kstatus(&sync_json(&w, "demo")), "Current");
    // `suspend: true` committed in Git: a new generation, observed without any work.
    let requests = w.sim.log().len();
    w.patch_spec("demo", json!({"suspend": true})).await;
    let s = w
        .wait_for("demo", "the suspending generation observed", |s| {
            s.metadata.generation == Some(2)
                && s.status.as_ref().and_then(|st| st.observed_generation) == Some(2)
        })
        .await;
    assert!(s.is_ready(), "suspension keeps the last Ready");
    assert_eq!(kstatus(&sync_json(&w, "demo")), "Current");
    // A reconcile request while suspended stays unhandled: nothing ran for it.
    w.request_reconcile("demo", "while-suspended").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = w.syncs().get("demo").await.unwrap();
    assert_ne!(
        s.status
            .as_ref()
            .and_then(|st| st.last_handled_reconcile_at.as_deref()),
        Some("while-suspended")
    );
    assert_eq!(
        w.sim.log().len(),
        requests,
        "a suspended OsmSync does not talk to OSM"
    );
    // Resumed: the request is handled by a reconcile that ran.
    w.patch_spec("demo", json!({"suspend": false})).await;
    w.wait_for("demo", "the request handled after resuming", |s| {
        s.status
            .as_ref()
            .and_then(|st| st.last_handled_reconcile_at.as_deref())
            == Some("while-suspended")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_building_a_new_revision_keeps_serving_the_last_artifact() {
    let w = world().await;
    w.publish("main@sha1:4444", repo(&[("ldap", None)]).path())
        .await;
    let _stop = start_controller(&w, "ctl");
    w.create_sync("demo").await;
    w.wait_for("demo", "applied", |s| applied(s, "main@sha1:4444"))
        .await;
    // source-controller while it builds the next revision (or cannot reach Git): Ready is not
    // True, the last artifact is still served.
    let repos: Api<kube::api::DynamicObject> = Api::namespaced_with(
        w.client.clone(),
        "ops",
        &osmops::api::flux::source_resource(osmops::api::SourceKind::GitRepository, None),
    );
    for (status, reason) in [("Unknown", "Progressing"), ("False", "GitOperationFailed")] {
        let conditions = json!({"status": {"conditions": [{"type": "Ready", "status": status, "reason": reason,
            "message": "building artifact: new upstream revision", "lastTransitionTime": "2026-11-24T10:05:00Z"}]}});
        repos
            .patch_status("repo", &PatchParams::default(), &Patch::Merge(conditions))
            .await
            .unwrap();
        w.request_reconcile("demo", reason).await;
        let s = w
            .wait_for("demo", "the request handled", |s| {
                s.status
                    .as_ref()
                    .and_then(|st| st.last_handled_reconcile_at.as_deref())
                    == Some(reason)
            })
            .await;
        assert_eq!(
            ready_reason(&s).as_deref(),
            Some("ReconciliationSucceeded"),
            "{:?}",
            s.status
        );
    }
    assert!(w.events("demo", "ArtifactFailed").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_of_one_failure_keep_ready_false_and_make_one_event() {
    let w = world().await;
    w.publish("main@sha1:5555", repo(&[("ldap", None)]).path())
        .await;
    let _stop = start_controller(&w, "ctl");
    w.create_sync_with(
        "demo",
        json!({"retryInterval": "300ms", "osm": {"secretRef": {"name": "missing"}}}),
    )
    .await;
    let (status, _) = w.wait_for_reason("demo", "SecretNotFound").await;
    let since = status
        .condition("Ready")
        .unwrap()
        .last_transition_time
        .clone();
    // Several retries later Ready never went back through Unknown.
    let watch_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch_until {
        let s = w.syncs().get("demo").await.unwrap();
        let ready = s
            .status
            .as_ref()
            .and_then(|st| st.condition("Ready"))
            .unwrap()
            .clone();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "SecretNotFound")
        );
        assert_eq!(ready.last_transition_time, since);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events = w.events("demo", "SecretNotFound").await;
    assert_eq!(events.len(), 1, "{events:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_events_are_counted_on_the_first_one() {
    let w = world().await;
    w.create_sync("demo").await;
    let sync = w.syncs().get("demo").await.unwrap();
    let recorder = osmops::controller::events::Recorder::new(w.client.clone(), "ctl".into(), None);
    for _ in 0..3 {
        recorder
            .publish(
                &sync,
                osmops::controller::events::EventType::Warning,
                "OSMUnreachable",
                "NBI down",
                None,
                false,
            )
            .await;
    }
    recorder
        .publish(
            &sync,
            osmops::controller::events::EventType::Warning,
            "OSMUnreachable",
            "another message",
            None,
            false,
        )
        .await;
    let mut events = w.events("demo", "OSMUnreachable").await;
    events.sort_by_key(|e| e.count);
    let counts: Vec<(Option<i32>, Option<String>)> = events
        .iter()
        .map(|e| (e.count, e.message.clone()))
        .collect();
    assert_eq!(
        counts,
        [
            (Some(1), Some("another message".to_owned())),
            (Some(3), Some("NBI down".to_owned()))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependency_on_the_same_source_must_have_applied_the_revision_first() {
    let w = world().await;
    let dir = repo(&[]);
    std::fs::create_dir_all(dir.path().join("base")).unwrap();
    std::fs::rename(
        dir.path().join("osm-pkgs"),
        dir.path().join("base/osm-pkgs"),
    )
    .unwrap();
    write(dir.path(), "base/a.osmops.yaml", &ns_doc("ns-a", Some("1")));
    write(dir.path(), "app/b.osmops.yaml", &ns_doc("ns-b", Some("1")));
    w.publish("main@sha1:6661", dir.path()).await;
    let _stop = start_controller(&w, "ctl");
    w.create_sync_with("base", json!({"path": "base"})).await;
    w.create_sync_with(
        "app",
        json!({"path": "app", "dependsOn": [{"name": "base"}]}),
    )
    .await;
    w.wait_for("app", "applied", |s| applied(s, "main@sha1:6661"))
        .await;
    // The base is Ready but stays on the old revision (suspended); a push must not run the app
    // ahead of it.
    w.patch_spec("base", json!({"suspend": true})).await;
    w.wait_for("base", "suspension observed", |s| {
        s.status.as_ref().and_then(|st| st.observed_generation) == s.metadata.generation
    })
    .await;
    write(dir.path(), "app/b.osmops.yaml", &ns_doc("ns-b", Some("2")));
    w.publish("main@sha1:6662", dir.path()).await;
    let (_, message) = w.wait_for_reason("app", "DependencyNotReady").await;
    assert!(
        message.contains(
            "ops/base has not applied revision main@sha1:6662 yet (last applied: main@sha1:6661)"
        ),
        "{message}"
    );
    // Resumed, the base applies the revision, then the app follows.
    w.patch_spec("base", json!({"suspend": false})).await;
    w.wait_for("base", "applied", |s| applied(s, "main@sha1:6662"))
        .await;
    w.wait_for("app", "applied after its dependency", |s| {
        applied(s, "main@sha1:6662")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_refusals_show_as_access_denied_with_the_api_servers_message() {
    let w = world().await;
    w.publish("main@sha1:7777", repo(&[("ldap", None)]).path())
        .await;
    w.emu.forbid("/secrets/osm-creds");
    let _stop = start_controller(&w, "ctl");
    w.create_sync("demo").await;
    let (_, message) = w.wait_for_reason("demo", "AccessDenied").await;
    assert!(
        message.starts_with("cannot read Secret 'ops/osm-creds': ")
            && message.contains("is forbidden"),
        "{message}"
    );
    assert!(w.sim.ns_instances().is_empty());
}

/// The emulator is only worth its tests if it is as strict as a real API server: each rule the
/// controller's bugs hid behind is pinned here.
#[tokio::test]
async fn the_emulator_applies_the_api_servers_rules() {
    let w = world().await;
    let http = reqwest::Client::new();
    let syncs_url = format!(
        "{}/apis/osmops.io/v1alpha1/namespaces/ops/osmsyncs",
        w.emu.url
    );
    let body = |spec: serde_json::Value| json!({"apiVersion": "osmops.io/v1alpha1", "kind": "OsmSync", "metadata": {"name": "x"}, "spec": spec});
    let spec = json!({"sourceRef": {"kind": "GitRepository", "name": "repo"}, "interval": "5m",
                      "osm": {"secretRef": {"name": "osm-creds"}, "insecureSkipTLSVerify": true}});
    // kubectl's default, fieldValidation=Strict: an unknown field is refused and named.
    let r = http
        .post(format!("{syncs_url}?fieldValidation=Strict"))
        .json(&body(spec.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("unknown field \\\"spec.osm.insecureSkipTLSVerify\\\""),
        "{text}"
    );
    // Without it (kube-rs' default) the field is pruned and defaults are applied.
    let r = http
        .post(&syncs_url)
        .json(&body(spec))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        created["spec"]["osm"],
        json!({"secretRef": {"name": "osm-creds"}, "insecureSkipTlsVerify": false})
    );
    assert_eq!(created["spec"]["wait"], true);
    assert_eq!(created["status"], json!({"observedGeneration": -1}));
    // Schema validation: a pattern, an enum, a required field.
    let bad =
        json!({"sourceRef": {"kind": "HelmRepository", "name": "r"}, "interval": "five minutes"});
    let r = http
        .post(&syncs_url)
        .json(
            &json!({"apiVersion": "osmops.io/v1alpha1", "kind": "OsmSync",
        "metadata": {"name": "y"}, "spec": bad}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    for part in [
        "spec.interval",
        "should match",
        "spec.sourceRef.kind: Unsupported value: \\\"HelmRepository\\\"",
        "spec.osm: Required value",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    // A stale resourceVersion is a conflict.
    let mut stale = created.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    let r = http
        .put(format!("{syncs_url}/x"))
        .json(&stale)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    // A JSON patch `test` that fails is 422.
    let r = http
        .patch(format!("{syncs_url}/x"))
        .header("content-type", "application/json-patch+json")
        .body(r#"[{"op": "test", "path": "/spec/interval", "value": "1h"}, {"op": "replace", "path": "/spec/interval", "value": "2h"}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // Deletion with a finalizer bumps the generation.
    w.syncs()
        .patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["osmops.io/finalizer"]}})),
        )
        .await
        .unwrap();
    w.syncs()
        .delete("x", &DeleteParams::default())
        .await
        .unwrap();
    let deleting = w.syncs().get("x").await.unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(deleting.metadata.generation, Some(2));
    // A kind the server does not serve is 404; a watch older than the compacted history is 410.
    let emu = kube_emulator::KubeEmulator::start_with(
        kube_emulator::default_resources()
            .into_iter()
            .filter(|r| r.kind != "ExternalArtifact")
            .collect(),
    )
    .await;
    let r = http
        .get(format!(
            "{}/apis/source.toolkit.fluxcd.io/v1/namespaces/ops/externalartifacts",
            emu.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    w.emu.compact();
    let text = http
        .get(format!(
            "{syncs_url}?watch=true&resourceVersion={rv}&timeoutSeconds=1"
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(
        (first["type"].as_str(), first["object"]["code"].as_u64()),
        (Some("ERROR"), Some(410)),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_loses_its_lease_exits_non_zero() {
    let w = world().await;
    let tmp = tempfile::tempdir().unwrap();
    let kc = w.emu.kubeconfig(tmp.path());
    let child = std::process::Command::new(bin())
        .args([
            "controller",
            "--enable-leader-election",
            "--leader-election-namespace",
            "ops",
        ])
        .args([
            "--leader-election-lease-duration",
            "3s",
            "--leader-election-renew-deadline",
            "2s",
        ])
        .args([
            "--leader-election-retry-period",
            "200ms",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .args(["--health-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"])
        .env("KUBECONFIG", &kc)
        .env("POD_NAME", "osmops-controller-0")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(w.client.clone(), "ops");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lease = loop {
        if let Some(l) = leases.get_opt("osmops-controller-leader").await.unwrap() {
            if l.spec.as_ref().and_then(|s| s.holder_identity.as_deref())
                == Some("osmops-controller-0")
            {
                break l;
            }
        }
        assert!(Instant::now() < deadline, "never became leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Another instance takes the lease (say, after a network partition).
    let spec = lease.spec.as_mut().unwrap();
    spec.holder_identity = Some("intruder".into());
    spec.lease_duration_seconds = Some(60);
    spec.renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    leases
        .replace("osmops-controller-leader", &PostParams::default(), &lease)
        .await
        .unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{logs}");
    assert!(logs.contains("leader election lost"), "{logs}");
    // It did not hand the lease back: it was not its own any more.
    let now = leases.get("osmops-controller-leader").await.unwrap();
    assert_eq!(
        now.spec.unwrap().holder_identity.as_deref(),
        Some("intruder")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_osm_runs_an_operation_follows_it_to_its_end() {
    use osmops::sim::SimConfig;
    let sim = Simulator::start(SimConfig {
        token_throttle: false,
        lcm_pickup_delay: Duration::from_millis(10),
        lcm_delay: Duration::from_secs(2),
        autoremove_delay: Duration::from_millis(150),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let url = sim.url();
    let w = world_with(sim, &url, "admin", "admin").await;
    let dir = repo(&[("ldap", Some("1"))]);
    w.publish("main@sha1:8881", dir.path()).await;
    let first = tokio::spawn(controller::run(
        context(&w.client, "before-restart"),
        std::future::pending::<()>(),
    ));
    w.create_sync("demo").await;
    w.wait_for("demo", "applied", |s| applied(s, "main@sha1:8881"))
        .await;
    write(dir.path(), "ldap.osmops.yaml", &ns_doc("ldap", Some("2")));
    w.publish("main@sha1:8882", dir.path()).await;
    // The upgrade is recorded as soon as OSM accepted it; the controller dies while OSM runs it.
    let s = w
        .wait_for("demo", "the upgrade recorded while running", |s| {
            s.status.as_ref().is_some_and(|st| {
                st.operations
                    .iter()
                    .any(|o| o.type_ == "action" && o.state == "PROCESSING")
            })
        })
        .await;
    first.abort();
    let op_id = s.status.unwrap().operations[0].nslcmop_id.clone();
    // A new controller (empty journal) follows it to its end instead of forgetting it.
    let ctx = context(&w.client, "after-restart");
    let _second = tokio::spawn(controller::run(ctx.clone(), std::future::pending::<()>()));
    let s = w
        .wait_for("demo", "the upgrade followed to its end", |s| {
            applied(s, "main@sha1:8882")
                && s.status.as_ref().is_some_and(|st| {
                    st.operations
                        .iter()
                        .any(|o| o.nslcmop_id == op_id && o.state == "COMPLETED")
                })
        })
        .await;
    let st = s.status.unwrap();
    let op = st
        .operations
        .iter()
        .find(|o| o.nslcmop_id == op_id)
        .unwrap();
    assert_eq!(op.revision, "main@sha1:8882");
    assert!(op.end_time.is_some());
    let journal = ctx.journal.operations(|o| o.nslcmop_id == op_id);
    assert_eq!(
        journal.len(),
        1,
        "the new controller's gRPC history lists it"
    );
    assert_eq!(journal[0].state.as_str(), "COMPLETED");
    assert_eq!(
        writes(&w.sim)
            .iter()
            .filter(|w| w.ends_with("/action"))
            .count(),
        1,
        "nothing was sent twice"
    );
}

/// Starts the controller with a context the test keeps (to read its metrics).
fn start_with_context(
    w: &World,
) -> (
    tokio::sync::oneshot::Sender<()>,
    std::sync::Arc<controller::Context>,
) {
    let ctx = context(&w.client, "ctl-1");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(controller::run(ctx.clone(), async move {
        let _ = stop_rx.await;
    }));
    (stop_tx, ctx)
}

/// The value of a metric series for OsmSync ops/demo, from the controller's exposition.
fn demo_metric(ctx: &controller::Context, name: &str) -> Option<String> {
    let series = format!("{name}{{kind=\"OsmSync\",name=\"demo\",namespace=\"ops\"}} ");
    ctx.metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(&series).map(str::to_owned))
}

fn pending_digest(s: &osmops::api::OsmSync) -> Option<String> {
    s.status
        .as_ref()
        .and_then(|st| st.pending_plan.as_ref())
        .map(|p| p.digest.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_approval_writes_nothing_until_the_digest_is_approved_and_voids_stale_approvals() {
    let w = world().await;
    let dir = repo(&[("ldap", Some("1"))]);
    let rev1 = "main@sha1:a1a1";
    w.publish(rev1, dir.path()).await;
    let (stop, ctx) = start_with_context(&w);
    w.create_sync_with("demo", json!({"approval": "manual"}))
        .await;
    let (st, msg) = w.wait_for_reason("demo", "AwaitingApproval").await;
    let pending = st.pending_plan.clone().expect("status.pendingPlan");
    assert_eq!(pending.revision, rev1);
    assert!(pending.summary.contains("create"), "{}", pending.summary);
    assert!(
        msg.starts_with(&format!(
            "Plan {} (",
            osmops::plan::short_digest(&pending.digest)
        )) && msg.ends_with("awaits approval"),
        "{msg}"
    );
    let events = w.wait_for_event("demo", "AwaitingApproval").await;
    let note = events[0].message.clone().unwrap_or_default();
    assert!(note.contains(&pending.digest), "{note}");
    assert!(note.contains("osmops.io/approve="), "{note}");
    assert!(
        writes(&w.sim).is_empty(),
        "nothing is written before approval"
    );
    w.wait_for_event("demo", "AwaitingApproval").await;
    assert_eq!(
        demo_metric(&ctx, "osmops_plan_awaiting_approval").as_deref(),
        Some("1")
    );

    // A mistyped digest approves nothing, and is called what it is.
    w.annotate("demo", json!({"osmops.io/approve": "sha256:0123"}))
        .await;
    w.wait_for("demo", "the mistyped approval reported", |s| {
        s.status
            .as_ref()
            .and_then(|st| st.condition("Ready"))
            .is_some_and(|c| {
                c.reason == "AwaitingApproval"
                    && c.message.contains("the approved digest is not this plan's")
            })
    })
    .await;
    let events = w.events("demo", "AwaitingApproval").await;
    assert!(
        events.iter().any(|e| e.message.as_deref().is_some_and(|m| {
            m.contains("osmops.io/approve=sha256:0123 is not the digest of the pending plan")
        })),
        "{events:?}"
    );
    assert!(writes(&w.sim).is_empty());

    // The exact digest: applied, with who approved it in status, history and events.
    w.annotate(
        "demo",
        json!({"osmops.io/approve": pending.digest, "osmops.io/approved-by": "alice"}),
    )
    .await;
    let s = w
        .wait_for("demo", "the approved plan applied", |s| applied(s, rev1))
        .await;
    let st = s.status.unwrap();
    let approved = st.last_approved_plan.clone().expect("lastApprovedPlan");
    assert_eq!(approved.digest, pending.digest);
    assert_eq!(approved.approved_by, "alice");
    assert!(st.pending_plan.is_none());
    assert_eq!(
        st.history[0].metadata.get("approvedBy").map(String::as_str),
        Some("alice")
    );
    let ev = w.events("demo", "PlanApproved").await;
    assert!(
        ev[0]
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("approved by alice"),
        "{ev:?}"
    );
    assert_eq!(w.sim.ns_instances().len(), 1);
    assert_eq!(
        demo_metric(&ctx, "osmops_plan_awaiting_approval").as_deref(),
        Some("0")
    );

    // A new revision waits for approval; OSM changes before the approval arrives: void.
    write(dir.path(), "ldap.osmops.yaml", &ns_doc("ldap", Some("2")));
    let rev2 = "main@sha1:b2b2";
    w.publish(rev2, dir.path()).await;
    let s = w
        .wait_for("demo", "the upgrade plan pending", |s| {
            s.status
                .as_ref()
                .and_then(|st| st.pending_plan.as_ref())
                .is_some_and(|p| p.revision == rev2)
        })
        .await;
    let upgrade = pending_digest(&s).unwrap();
    assert!(action_ops(&w.sim).is_empty());
    upgrade_by_hand(&w.sim, "ldap", "9").await;
    w.annotate(
        "demo",
        json!({"osmops.io/approve": upgrade, "osmops.io/approved-by": "bob"}),
    )
    .await;
    let s = w
        .wait_for("demo", "the stale approval voided", |s| {
            s.status
                .as_ref()
                .and_then(|st| st.condition("Ready"))
                .is_some_and(|c| c.message.contains("is void"))
                && pending_digest(s).is_some_and(|d| d != upgrade)
        })
        .await;
    assert_eq!(
        action_ops(&w.sim).len(),
        1,
        "only the upgrade by hand: the stale approval sent nothing"
    );
    assert!(!applied(&s, rev2));
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_the_policy_reports_is_a_drifted_condition_on_a_ready_osmsync_until_corrected() {
    let w = world().await;
    let dir = repo(&[("ldap", Some("1"))]);
    let rev = "main@sha1:c3c3";
    w.publish(rev, dir.path()).await;
    let (stop, ctx) = start_with_context(&w);
    w.create_sync_with("demo", json!({"driftPolicy": "warn"}))
        .await;
    w.wait_for("demo", "applied", |s| applied(s, rev)).await;
    upgrade_by_hand(&w.sim, "ldap", "4").await;
    w.request_reconcile("demo", "1").await;
    let s = w
        .wait_for("demo", "the Drifted condition", |s| {
            s.status
                .as_ref()
                .is_some_and(|st| st.condition("Drifted").is_some())
        })
        .await;
    assert!(s.is_ready(), "drift that is only reported keeps Ready");
    let st = s.status.unwrap();
    let c = st.condition("Drifted").unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", "DriftDetected")
    );
    assert!(
        c.message
            .contains("NsInstance ldap: KDU params changed outside Git"),
        "{}",
        c.message
    );
    assert_eq!(st.drift.len(), 1);
    assert_eq!(st.drift[0].name, "ldap");
    assert_eq!(w.events("demo", "DriftDetected").await.len(), 1);
    assert_eq!(action_ops(&w.sim).len(), 1, "warn sends nothing");
    assert_eq!(
        demo_metric(&ctx, "osmops_drifted_objects").as_deref(),
        Some("1")
    );

    // driftPolicy correct: upgraded back to Git, condition gone, a DriftCorrected event.
    w.patch_spec("demo", json!({"driftPolicy": "correct"}))
        .await;
    let s = w
        .wait_for("demo", "drift corrected", |s| {
            s.is_ready()
                && s.status
                    .as_ref()
                    .is_some_and(|st| st.condition("Drifted").is_none() && st.drift.is_empty())
        })
        .await;
    assert!(s.is_ready());
    let last = last_action_op(&w.sim);
    assert_eq!(primitive_params(&last)["replicaCount"], "1");
    let ev = w.events("demo", "DriftCorrected").await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(
        demo_metric(&ctx, "osmops_drifted_objects").as_deref(),
        Some("0")
    );
    assert_eq!(
        demo_metric(&ctx, "osmops_drift_corrections_total").as_deref(),
        Some("1")
    );
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_canary_pauses_the_rollout_until_the_resume_annotation() {
    let w = world().await;
    let names = ["a", "b", "c"];
    let one: Vec<(&str, Option<&str>)> = names.iter().map(|n| (*n, Some("1"))).collect();
    let dir = repo(&one);
    let rev1 = "main@sha1:d4d4";
    w.publish(rev1, dir.path()).await;
    let (stop, ctx) = start_with_context(&w);
    w.create_sync_with(
        "demo",
        json!({"rollout": {"canary": 1, "maxParallel": 2, "failurePolicy": "pause"}}),
    )
    .await;
    w.wait_for("demo", "applied", |s| applied(s, rev1)).await;
    write_ns_docs(dir.path(), &names, "2");
    w.sim
        .fail_next("action", Some("a"), 1, "helm upgrade failed");
    let rev2 = "main@sha1:e5e5";
    w.publish(rev2, dir.path()).await;
    let (st, msg) = w.wait_for_reason("demo", "RolloutPaused").await;
    // One short sentence in the STATUS column; why and how to resume in the status and the event.
    assert_eq!(
        msg,
        format!("Rollout paused after a failed batch of revision {rev2}")
    );
    let r = st.rollout.clone().expect("status.rollout");
    assert!(
        r.message.contains("the canary batch failed (a)"),
        "{}",
        r.message
    );
    let events = w.wait_for_event("demo", "RolloutPaused").await;
    let note = events[0].message.clone().unwrap_or_default();
    assert!(note.contains("the canary batch failed (a)"), "{note}");
    assert!(note.contains("osmops.io/resume-rollout"), "{note}");
    assert!(!note.contains('\n'), "one line: {note}");
    assert!(r.paused);
    assert_eq!(r.revision, rev2);
    assert_eq!(action_ops(&w.sim).len(), 1, "only the canary was upgraded");
    assert_eq!(
        demo_metric(&ctx, "osmops_rollout_paused").as_deref(),
        Some("1")
    );
    // Another reconcile of the same revision stays paused and sends nothing.
    w.request_reconcile("demo", "again").await;
    w.wait_for("demo", "the reconcile request handled", |s| {
        s.status
            .as_ref()
            .and_then(|st| st.last_handled_reconcile_at.as_deref())
            == Some("again")
    })
    .await;
    assert_eq!(
        ready_reason(&w.syncs().get("demo").await.unwrap()).as_deref(),
        Some("RolloutPaused")
    );
    assert_eq!(action_ops(&w.sim).len(), 1);
    // One pause, one event: the paused revision's later reconciles repeat nothing.
    assert_eq!(w.events("demo", "RolloutPaused").await.len(), 1);
    // Resumed: the rest of the rollout runs; the failed canary stays reported.
    w.annotate("demo", json!({"osmops.io/resume-rollout": "1"}))
        .await;
    w.wait_for("demo", "b and c upgraded", |s| {
        s.status
            .as_ref()
            .and_then(|st| st.rollout.as_ref())
            .is_some_and(|r| !r.paused && r.last_handled_resume.as_deref() == Some("1"))
            && action_ops(&w.sim).len() == 3
    })
    .await;
    assert!(!w.events("demo", "RolloutResumed").await.is_empty());
    assert_eq!(
        demo_metric(&ctx, "osmops_rollout_paused").as_deref(),
        Some("0")
    );
    let _ = stop.send(());
}

/// Flux emits on change: a spec edit that changes nothing in OSM is no "ReconciliationSucceeded"
/// event; and the controller's log lines carry a trace id only when traces are exported
/// (issue 20, item 8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_op_spec_edit_is_no_news_and_logs_carry_no_empty_trace_id() {
    use std::io::Read;
    let w = world().await;
    let rev = "main@sha1:9a9a";
    w.publish(rev, repo(&[("ldap", None)]).path()).await;
    w.create_sync("demo").await;
    let tmp = tempfile::tempdir().unwrap();
    let kc = w.emu.kubeconfig(tmp.path());
    let port = common::process::free_port();
    let mut child = std::process::Command::new(bin())
        .args([
            "controller",
            "--enable-leader-election=false",
            "--grpc-addr",
            "127.0.0.1:0",
        ])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .args(["--health-addr", &format!("127.0.0.1:{port}")])
        .args(["--operation-poll-interval", "100ms"])
        .env("KUBECONFIG", &kc)
        .env("OSMOPS_LOG", "osmops=debug")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read as it comes: a full pipe would stop the controller.
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = stderr.read_to_string(&mut log);
        log
    });
    w.wait_for("demo", "applied", |s| applied(s, rev)).await;
    let succeeded = w
        .wait_for_event("demo", "ReconciliationSucceeded")
        .await
        .len();
    // Another interval: a new generation, nothing to do in OSM.
    w.patch_spec("demo", json!({"interval": "2h"})).await;
    w.wait_for("demo", "the edit observed", |s| {
        s.metadata.generation == Some(2)
            && s.status.as_ref().and_then(|st| st.observed_generation) == Some(2)
            && s.is_ready()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        w.events("demo", "ReconciliationSucceeded").await.len(),
        succeeded,
        "a no-op edit is no news"
    );
    child.kill().unwrap();
    let _ = child.wait();
    let log = reader.join().unwrap();
    assert!(
        log.contains("reconcile{"),
        "log lines inside the reconcile span: {log}"
    );
    assert!(
        !log.contains("trace_id"),
        "no trace id without tracing: {log}"
    );
}

// ---- Operations handed off to the follower: no worker waits on OSM ---------------------------

/// A simulator whose LCM takes `lcm` per operation.
async fn slow_lcm_world(lcm: Duration) -> World {
    use osmops::sim::SimConfig;
    let sim = Simulator::start(SimConfig {
        token_throttle: false,
        lcm_pickup_delay: Duration::from_millis(10),
        lcm_delay: lcm,
        autoremove_delay: Duration::from_millis(150),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let url = sim.url();
    world_with(sim, &url, "admin", "admin").await
}

fn ready_reason_of(s: &osmops::api::OsmSync) -> Option<(String, String)> {
    s.status
        .as_ref()
        .and_then(|st| st.condition("Ready"))
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// One worker (`--concurrent 1`) and two OsmSyncs whose instantiates take OSM 2 s: both are
/// "in progress" while OSM still runs the first one (the worker did not wait), and each
/// operation's end brings its OsmSync back to Ready=True, with one history snapshot holding
/// what both reconciles did, a Progressing and a ReconciliationSucceeded event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_hands_its_operations_off_and_their_end_brings_the_osmsync_back() {
    let w = slow_lcm_world(Duration::from_secs(2)).await;
    // The packages are in OSM already, so that neither OsmSync waits for the other's.
    let onboarded = reconcile(
        &client(&w.sim),
        repo(&[]).path(),
        &osmops::plan::Inventory::default(),
        &opts(),
    )
    .await;
    assert!(!onboarded.failed(), "{}", onboarded.summary());
    w.add_git_repository("repo-b").await;
    for (source, name, rev) in [
        ("repo", "ldap-a", "main@sha1:a1"),
        ("repo-b", "ldap-b", "main@sha1:b1"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &format!("{name}.osmops.yaml"),
            &ns_doc(name, Some("1")),
        );
        w.publish_to(source, rev, dir.path()).await;
    }
    let one_worker = osmops::controller::ControllerOptions {
        concurrent: 1,
        ..ctl_opts()
    };
    let ctx = context_with(&w.client, "ctl-1", one_worker);
    let _ctl = tokio::spawn(controller::run(ctx.clone(), std::future::pending::<()>()));
    w.create_sync("a").await;
    w.create_sync_with(
        "b",
        json!({"sourceRef": {"kind": "GitRepository", "name": "repo-b"}}),
    )
    .await;
    let in_progress = |s: &osmops::api::OsmSync| {
        ready_reason_of(s) == Some(("Unknown".into(), "Progressing".into()))
            && s.status.as_ref().is_some_and(|st| {
                st.operations
                    .iter()
                    .any(|o| o.type_ == "instantiate" && o.state == "PROCESSING")
            })
    };
    w.wait_for("a", "a in progress", in_progress).await;
    w.wait_for("b", "b in progress", in_progress).await;
    let processing = w
        .sim
        .operations()
        .iter()
        .filter(|o| o["operationState"] == "PROCESSING")
        .count();
    assert_eq!(
        processing, 2,
        "both OsmSyncs reached OSM while OSM still ran both operations: the one worker never waited"
    );
    assert!(ctx.follower.following() >= 1);
    for (name, rev) in [("a", "main@sha1:a1"), ("b", "main@sha1:b1")] {
        let s = w.wait_for(name, "applied", |s| applied(s, rev)).await;
        let st = s.status.unwrap();
        assert_eq!(st.operations[0].state, "COMPLETED", "{name}");
        assert!(st.operations[0].end_time.is_some());
        assert_eq!(st.history.len(), 1, "{name}: {:?}", st.history);
        let h = &st.history[0];
        assert_eq!(h.last_reconciled_status, "ReconciliationSucceeded");
        assert_eq!(
            h.metadata.get("resumedOperations").map(String::as_str),
            Some("1"),
            "{name}: {:?}",
            h.metadata
        );
        assert!(
            h.metadata.contains_key("operations"),
            "what the reconcile that started it did is kept: {:?}",
            h.metadata
        );
        let progressing = w.events(name, "Progressing").await;
        assert!(
            progressing.iter().any(|e| e
                .message
                .as_deref()
                .is_some_and(|m| m.contains("1 OSM operation(s) in progress"))),
            "{progressing:?}"
        );
        let done = w.events(name, "ReconciliationSucceeded").await;
        assert!(
            done.iter().any(|e| e
                .message
                .as_deref()
                .is_some_and(|m| m.contains("1 OSM operation(s) started earlier completed"))),
            "{done:?}"
        );
    }
    assert_eq!(ctx.follower.following(), 0);
    assert_eq!(w.sim.ns_instances().len(), 2);
    assert_eq!(
        writes(&w.sim)
            .iter()
            .filter(|p| p.ends_with("ns_instances_content"))
            .count(),
        2,
        "one create each, nothing sent twice"
    );
}

/// An operation that fails after it was handed off: the OsmSync ends Ready=False with OSM's
/// message, as when the worker followed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handed_off_operation_that_fails_is_ready_false_with_osms_message() {
    let w = slow_lcm_world(Duration::from_millis(500)).await;
    w.sim.fail_next(
        "instantiate",
        Some("ldap"),
        1,
        "no capacity left in VIM mylocation1",
    );
    w.publish("main@sha1:f1", repo(&[("ldap", Some("1"))]).path())
        .await;
    let _stop = start_controller(&w, "ctl-1");
    w.create_sync("demo").await;
    let (status, message) = w.wait_for_reason("demo", "OperationFailed").await;
    assert!(
        message.contains("no capacity left in VIM mylocation1"),
        "{message}"
    );
    assert_eq!(status.operations[0].state, "FAILED");
    assert_ne!(
        status.last_applied_revision.as_deref(),
        Some("main@sha1:f1")
    );
}

/// OSM stops answering while the follower follows an operation: after `spec.timeout` the
/// OsmSync is Ready=False (OSMUnreachable, since when and why); once OSM answers again, the
/// operation's end brings it to Ready=True. Nothing is sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn osm_unreachable_while_following_is_reported_after_the_timeout_then_recovers() {
    use osmops::sim::{Fault, FaultAction};
    let w = slow_lcm_world(Duration::from_secs(3)).await;
    w.publish("main@sha1:u1", repo(&[("ldap", Some("1"))]).path())
        .await;
    let _stop = start_controller(&w, "ctl-1");
    w.create_sync_with("demo", json!({"timeout": "2s"})).await;
    w.wait_for("demo", "in progress", |s| {
        ready_reason_of(s) == Some(("Unknown".into(), "Progressing".into()))
    })
    .await;
    w.sim.inject(Fault {
        method: None,
        path_contains: "/nslcm/v1/ns_lcm_op_occs".into(),
        action: FaultAction::Status(503),
        remaining: usize::MAX,
    });
    let (_, message) = w.wait_for_reason("demo", "OSMUnreachable").await;
    assert!(
        message.contains("still running after 2s") && message.contains("unreachable since"),
        "{message}"
    );
    w.sim.clear_faults();
    w.wait_for("demo", "applied once OSM answers", |s| {
        applied(s, "main@sha1:u1")
    })
    .await;
    assert_eq!(
        writes(&w.sim)
            .iter()
            .filter(|p| p.ends_with("ns_instances_content"))
            .count(),
        1
    );
}

/// The VM-based example through the controller: created with its config, brought to its scale
/// level once OSM has it instantiated (the operation recorded with its scaling aspect), and a
/// config change OSM cannot make blocked until `spec.allowRecreate` lets the NS be recreated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_ns_is_scaled_to_its_level_and_recreated_for_config_only_when_allowed() {
    let w = world().await;
    let dir = example_copy("vm-web");
    let rev = "main@sha1:a1a1";
    w.publish(rev, dir.path()).await;
    let stop = start_controller(&w, "ctl-1");
    w.create_sync("demo").await;
    let vms = |w: &World| {
        w.sim
            .vnf_instances()
            .first()
            .and_then(|v| v["vdur"].as_array().map(Vec::len))
            .unwrap_or(0)
    };
    let s = w
        .wait_for("demo", "scaled to level 1", |s| {
            applied(s, rev)
                && s.status.as_ref().is_some_and(|st| {
                    st.operations
                        .iter()
                        .any(|o| o.type_ == "scale" && o.state == "COMPLETED")
                })
        })
        .await;
    assert_eq!(vms(&w), 2);
    let st = s.status.unwrap();
    let scale = st.operations.iter().find(|o| o.type_ == "scale").unwrap();
    assert_eq!(scale.target, "vnf1/web-aspect");
    assert_eq!(scale.ns_name, "web");
    let old_id = w.sim.ns_instances()[0]["_id"].clone();
    // Another VIM network: OSM cannot change it on the running NS.
    let text = std::fs::read_to_string(dir.path().join("web.osmops.yaml")).unwrap();
    std::fs::write(
        dir.path().join("web.osmops.yaml"),
        text.replace("vim-network-name: mgmt", "vim-network-name: mgmt-v2"),
    )
    .unwrap();
    w.publish("main@sha1:a2a2", dir.path()).await;
    let (_, message) = w.wait_for_reason("demo", "ProgressingWithRetry").await;
    assert!(
        message.contains("changed since instantiate: config.vld")
            && message.contains("spec.allowRecreate: true"),
        "{message}"
    );
    assert_eq!(w.sim.ns_instances()[0]["_id"], old_id, "nothing deleted");
    w.patch_spec("demo", json!({"allowRecreate": true})).await;
    w.wait_for("demo", "recreated", |s| applied(s, "main@sha1:a2a2"))
        .await;
    let ns = w.sim.ns_instances();
    assert_eq!(ns.len(), 1);
    assert_ne!(ns[0]["_id"], old_id);
    assert_eq!(
        ns[0]["instantiate_params"]["vld"][0]["vim-network-name"],
        "mgmt-v2"
    );
    let _ = stop.send(());
}
