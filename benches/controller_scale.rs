//! Controller scale benchmark (a bench binary, not a timed test): 100 OsmSyncs × 10 KNFs through
//! the Kubernetes API emulator (tests/common) and the NBI simulator. The controller runs as a
//! separate `osmops controller` process so that its memory can be read from /proc.
//!
//!     cargo bench --bench controller_scale
//!     OSMOPS_BENCH_SYNCS=20 cargo bench --bench controller_scale

#[path = "../tests/common/artifacts.rs"]
#[allow(dead_code)]
mod artifacts;
#[path = "../tests/common/kube_emulator.rs"]
#[allow(dead_code)]
mod kube_emulator;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use osmops::api::flux::source_resource;
use osmops::api::{OsmSync, SourceKind};
use osmops::engine::{self, EngineOptions};
use osmops::osm::{ClientOptions, Credentials, NbiClient, Secret as Password};
use osmops::plan::Inventory;
use osmops::repo::{read_repository, ReadOptions};
use osmops::sim::{SimConfig, Simulator};
use serde_json::json;

const VNFD: &str = "vnfd:\n  id: openldap_knf\n  product-name: openldap_knf\n  provider: Telefonica\n  version: '1.0'\n  df:\n  - id: default-df\n  ext-cpd:\n  - id: mgmt-ext\n    k8s-cluster-net: mgmtnet\n  k8s-cluster:\n    nets:\n    - id: mgmtnet\n  kdu:\n  - name: ldap\n    helm-chart: stable/openldap:1.2.7\n  mgmt-cp: mgmt-ext\n";
const NSD: &str = "nsd:\n  nsd:\n  - id: openldap_ns\n    name: openldap_ns\n    version: '1.0'\n    df:\n    - id: default-df\n      vnf-profile:\n      - id: openldap\n        vnfd-id: openldap_knf\n    virtual-link-desc:\n    - id: mgmtnet\n      mgmt-network: 'true'\n    vnfd-id:\n    - openldap_knf\n";

fn write(root: &std::path::Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// (VmRSS, VmHWM) of a process in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::main]
async fn main() {
    let syncs: usize = std::env::var("OSMOPS_BENCH_SYNCS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let knfs = 10;
    let emu = kube_emulator::KubeEmulator::start().await;
    let sim = Simulator::start(SimConfig {
        token_throttle: true,
        lcm_delay: Duration::from_millis(200),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let server = artifacts::ArtifactServer::start().await;
    let client = emu.client();
    let creds = || Credentials {
        user: "admin".into(),
        password: Password::new("admin"),
        project: "admin".into(),
    };

    // Packages are onboarded beforehand; each repository holds 10 NsInstance documents.
    let pkgs = tempfile::tempdir().unwrap();
    write(pkgs.path(), "osm-pkgs/openldap_knf/vnfd.yaml", VNFD);
    write(pkgs.path(), "osm-pkgs/openldap_ns/nsd.yaml", NSD);
    let setup = NbiClient::new(ClientOptions::new(sim.url()), creds()).unwrap();
    let d = read_repository(pkgs.path(), &ReadOptions::default()).unwrap();
    engine::reconcile(
        &setup,
        &d,
        &Inventory::default(),
        &EngineOptions::default(),
        &|_, _| {},
    )
    .await
    .unwrap();

    let data = [
        ("url", sim.url()),
        ("user", "admin".into()),
        ("password", "admin".into()),
        ("project", "admin".into()),
    ]
    .into_iter()
    .map(|(k, v): (&str, String)| (k.to_owned(), ByteString(v.into_bytes())))
    .collect();
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("osm".into()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), "bench")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let res = source_resource(SourceKind::GitRepository, None);
    let repos: Api<DynamicObject> = Api::namespaced_with(client.clone(), "bench", &res);
    for i in 0..syncs {
        let dir = tempfile::tempdir().unwrap();
        for j in 0..knfs {
            write(
                dir.path(),
                &format!("knf{j}.osmops.yaml"),
                &format!("kind: NsInstance\nname: s{i:03}-knf{j}\nnsdName: openldap_ns\nvnfName: openldap\nvimAccountName: mylocation1\nkdu:\n  name: ldap\n  params:\n    replicaCount: \"1\"\n"),
            );
        }
        let (url, digest) = server.publish(&format!("r{i}.tar.gz"), artifacts::tar_dir(dir.path()));
        let mut obj = DynamicObject::new(&format!("repo{i:03}"), &res);
        obj.data =
            json!({"spec": {"interval": "1m", "url": format!("https://git.example.org/r{i}.git")}});
        repos.create(&PostParams::default(), &obj).await.unwrap();
        let rev = format!("main@sha1:{i:040}");
        let status = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "stored", "lastTransitionTime": "2026-11-24T10:00:00Z"}],
            "artifact": {"url": url, "revision": rev, "digest": digest}}});
        repos
            .patch_status(
                &format!("repo{i:03}"),
                &PatchParams::default(),
                &Patch::Merge(status),
            )
            .await
            .unwrap();
    }

    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = emu.kubeconfig(tmp.path());
    let metrics_port = free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_osmops"))
        .args([
            "controller",
            "--concurrent",
            "4",
            "--operation-poll-interval",
            "200ms",
            "--grpc-addr",
            "127.0.0.1:0",
        ])
        .args([
            "--metrics-addr",
            &format!("127.0.0.1:{metrics_port}"),
            "--health-addr",
            &format!("127.0.0.1:{metrics_port}"),
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("OSMOPS_LOG", "error")
        .spawn()
        .expect("controller starts");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (idle_rss, _) = memory(child.id());

    let syncs_api: Api<OsmSync> = Api::namespaced(client.clone(), "bench");
    let requests_before = sim.log().len();
    let t0 = Instant::now();
    for i in 0..syncs {
        let s: OsmSync = serde_json::from_value(json!({
            "apiVersion": "osmops.io/v1alpha1", "kind": "OsmSync", "metadata": {"name": format!("sync{i:03}"), "namespace": "bench"},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": format!("repo{i:03}")}, "interval": "1h", "timeout": "5m",
                     "osm": {"secretRef": {"name": "osm"}}}
        }))
        .unwrap();
        syncs_api.create(&PostParams::default(), &s).await.unwrap();
    }
    let mut peak = 0;
    let all_ready = loop {
        let list = syncs_api.list(&Default::default()).await.unwrap();
        let ready = list.items.iter().filter(|s| s.is_ready()).count();
        peak = peak.max(memory(child.id()).1);
        if ready == syncs {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1800),
            "only {ready}/{syncs} Ready after 30 min"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let reconciles: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("controller_runtime_reconcile_total"))
        .filter_map(|l| {
            l.split_whitespace()
                .last()
                .and_then(|v| v.parse::<f64>().ok())
        })
        .sum();
    let (_, hwm) = memory(child.id());
    let nbi_requests = sim.log().len() - requests_before;
    child.kill().ok();
    let _ = child.wait();
    assert_eq!(sim.ns_instances().len(), syncs * knfs);
    println!("## Controller scale: {syncs} OsmSyncs × {knfs} KNFs (emulated API server, NBI simulator with token throttle, LCM 200 ms)\n");
    println!("| time to all Ready | reconciles | reconciles/s | NBI requests | controller RSS idle | controller RSS peak |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {:.1} s | {} | {:.1} | {} | {:.1} MiB | {:.1} MiB |",
        all_ready.as_secs_f64(),
        reconciles,
        reconciles / all_ready.as_secs_f64(),
        nbi_requests,
        idle_rss as f64 / 1024.0,
        peak.max(hwm) as f64 / 1024.0
    );
}
