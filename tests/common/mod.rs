#![allow(dead_code)]
//! Shared helpers: a fast simulator, a client for it, and repositories written to temp dirs.

pub mod artifacts;
pub mod kube_emulator;
pub mod process;
pub mod python;
pub mod schema;
pub mod world;

use std::path::{Path, PathBuf};
use std::time::Duration;

use osmops::engine::{self, EngineOptions, Outcome};
use osmops::osm::{ClientOptions, Credentials, NbiClient, Secret};
use osmops::plan::Inventory;
use osmops::repo::{read_repository, DesiredState, ReadOptions};
use osmops::sim::{SimConfig, Simulator};

/// A simulator without the token throttle and with a quick LCM, for fast tests. As in OSM, a
/// terminated NS disappears a while after its terminate COMPLETED (here 150 ms).
pub async fn fast_sim() -> Simulator {
    Simulator::start(SimConfig {
        token_throttle: false,
        lcm_pickup_delay: Duration::from_millis(10),
        lcm_delay: Duration::from_millis(50),
        autoremove_delay: Duration::from_millis(150),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

pub fn client(sim: &Simulator) -> NbiClient {
    let mut opts = ClientOptions::new(sim.url());
    opts.retry_base_delay = Duration::from_millis(10);
    NbiClient::new(
        opts,
        Credentials {
            user: "admin".into(),
            password: Secret::new("admin"),
            project: "admin".into(),
        },
    )
    .unwrap()
}

/// Engine options for a test repository ("test-repo" is the owner its creates are marked with).
pub fn opts() -> EngineOptions {
    EngineOptions {
        owner: osmops::plan::Owner::new("test-repo").unwrap(),
        poll_interval: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
        ..EngineOptions::default()
    }
}

/// A copy of `examples/<name>`, to change.
pub fn example_copy(name: &str) -> tempfile::TempDir {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name),
        dir.path(),
    );
    dir
}

pub fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

pub const VNFD: &str = "vnfd:\n  id: openldap_knf\n  product-name: openldap_knf\n  provider: Telefonica\n  version: '1.0'\n  description: KNF with single KDU\n  df:\n  - id: default-df\n  ext-cpd:\n  - id: mgmt-ext\n    k8s-cluster-net: mgmtnet\n  k8s-cluster:\n    nets:\n    - id: mgmtnet\n  kdu:\n  - name: ldap\n    helm-chart: stable/openldap\n  mgmt-cp: mgmt-ext\n";

pub const NSD: &str = "nsd:\n  nsd:\n  - id: openldap_ns\n    name: openldap_ns\n    designer: OSM\n    version: '1.0'\n    description: NS with one KNF\n    df:\n    - id: default-df\n      vnf-profile:\n      - id: openldap\n        vnfd-id: openldap_knf\n        virtual-link-connectivity:\n        - constituent-cpd-id:\n          - constituent-base-element-id: openldap\n            constituent-cpd-id: mgmt-ext\n          virtual-link-profile-id: mgmtnet\n    virtual-link-desc:\n    - id: mgmtnet\n      mgmt-network: 'true'\n    vnfd-id:\n    - openldap_knf\n";

pub fn ns_doc(name: &str, replicas: Option<&str>) -> String {
    let mut s = format!("kind: NsInstance\nname: {name}\ndescription: test NS {name}\nnsdName: openldap_ns\nvnfName: openldap\nvimAccountName: mylocation1\nkdu:\n  name: ldap\n");
    if let Some(r) = replicas {
        s.push_str(&format!("  params:\n    replicaCount: \"{r}\"\n"));
    }
    s
}

/// Writes (or rewrites) the NsInstance file of each name with `replicas`, as a commit
/// changing their params would.
pub fn write_ns_docs<S: AsRef<str>>(root: &Path, names: &[S], replicas: &str) {
    for n in names {
        let n = n.as_ref();
        write(
            root,
            &format!("{n}.osmops.yaml"),
            &ns_doc(n, Some(replicas)),
        );
    }
}

/// A number from the environment (bench sizes), or `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A repository with the OpenLDAP packages and one NsInstance file per (name, replicas).
pub fn repo(instances: &[(&str, Option<&str>)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "osm-pkgs/openldap_knf/openldap_vnfd.yaml", VNFD);
    write(dir.path(), "osm-pkgs/openldap_ns/openldap_nsd.yaml", NSD);
    for (name, r) in instances {
        write(
            dir.path(),
            &format!("{name}.osmops.yaml"),
            &ns_doc(name, *r),
        );
    }
    dir
}

pub fn desired(root: &Path) -> DesiredState {
    read_repository(root, &ReadOptions::default()).expect("valid repository")
}

pub async fn reconcile(
    client: &NbiClient,
    root: &Path,
    inv: &Inventory,
    opts: &EngineOptions,
) -> Outcome {
    engine::reconcile(client, &desired(root), inv, opts, &|_, _| {})
        .await
        .expect("reconcile runs")
}

pub fn summary(o: &Outcome) -> Vec<String> {
    o.plan
        .actions
        .iter()
        .map(|a| format!("{} {} {}", a.operation.label(), a.kind.label(), a.name))
        .collect()
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_osmops"))
}

/// The binary, with no `OSMOPS_*` variable from the environment the tests run in.
pub fn osmops_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("OSMOPS_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Writes (non-token) requests in the simulator log.
pub fn writes(sim: &Simulator) -> Vec<String> {
    sim.log()
        .iter()
        .filter(|e| e.is_write())
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

/// The simulator's KDU upgrade operations (`lcmOperationType: action`).
pub fn action_ops(sim: &Simulator) -> Vec<serde_json::Value> {
    sim.operations()
        .into_iter()
        .filter(|op| op["lcmOperationType"] == "action")
        .collect()
}

/// An upgrade operation's `primitive_params` as an object. OSM (and so the simulator) stores
/// them as a JSON string (`NsLcmOpTopic.new` in NBI `osm_nbi/instance_topics.py`).
pub fn primitive_params(op: &serde_json::Value) -> serde_json::Value {
    match &op["operationParams"]["primitive_params"] {
        serde_json::Value::String(s) => serde_json::from_str(s).expect("JSON in primitive_params"),
        other => other.clone(),
    }
}

/// The newest KDU upgrade operation in the simulator.
pub fn last_action_op(sim: &Simulator) -> serde_json::Value {
    action_ops(sim)
        .into_iter()
        .max_by(|a, b| {
            a["startTime"]
                .as_f64()
                .partial_cmp(&b["startTime"].as_f64())
                .unwrap()
        })
        .expect("an upgrade operation")
}

/// Waits until the simulator has no operation running.
pub async fn settle(sim: &Simulator) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while sim
        .operations()
        .iter()
        .any(|o| o["operationState"] == "PROCESSING")
    {
        assert!(std::time::Instant::now() < until, "operations never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `osm ns-action NAME --vnf_name openldap --kdu_name ldap --action_name upgrade --params
/// '{replicaCount: R}'` by someone else (the same NBI request), followed to its end.
pub async fn upgrade_by_hand(sim: &Simulator, ns_name: &str, replicas: &str) -> String {
    let c = client(sim);
    let ns = c.list_ns_instances(&[("name", ns_name)]).await.unwrap();
    let params = serde_json::json!({ "replicaCount": replicas });
    let body =
        osmops::osm::KduUpgrade::new("openldap", "ldap", params.as_object().unwrap().clone());
    let op = c.ns_action(&ns[0].osm_id, &body).await.unwrap();
    settle(sim).await;
    op
}

/// Waits until OSM no longer lists an NS named `name`.
pub async fn wait_ns_gone(c: &NbiClient, name: &str) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !c
        .list_ns_instances(&[("name", name)])
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < until,
            "OSM never removed NS {name}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
