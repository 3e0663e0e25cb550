//! S1 of issue 12 (a bench binary, not a timed test): one unchanged reconcile of N KNFs in an OSM
//! that holds a long operation history — each NS instantiated, then upgraded H-1 times through
//! the NBI, so every operation record is one the simulator's NBI and LCM wrote (same fields and
//! sizes as OSM's). Measured side by side in the same run: the engine reading every operation
//! (no cache, as the CLI does) and the engine with the controller's operations cache (warmed by
//! the reconcile before, as a running controller's is).
//!
//!
//! Then the same for the CLI (issue 24): the `osmops` binary's unchanged `apply` with a state file
//! that keeps the operations cursor, against today's (no state file: every operation read).
//!
//!     cargo bench --bench osm_history                        # N = 1,000, H = 20 (20,000 ops)
//!     OSMOPS_BENCH_NS=100 OSMOPS_BENCH_HISTORY=5 cargo bench --bench osm_history

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use osmops::engine::{self, EngineOptions, LiveView, Osm};
use osmops::osm::{ClientOptions, Credentials, NbiClient, Secret};
use osmops::plan::Inventory;
use osmops::repo::{read_repository, ReadOptions};
use osmops::sim::{SimConfig, Simulator};

const VNFD: &str = "vnfd:\n  id: openldap_knf\n  product-name: openldap_knf\n  provider: Telefonica\n  version: '1.0'\n  description: KNF with single KDU using a helm-chart for openldap version 1.2.7\n  df:\n  - id: default-df\n  ext-cpd:\n  - id: mgmt-ext\n    k8s-cluster-net: mgmtnet\n  k8s-cluster:\n    nets:\n    - id: mgmtnet\n  kdu:\n  - name: ldap\n    helm-chart: stable/openldap\n  mgmt-cp: mgmt-ext\n";
const NSD: &str = "nsd:\n  nsd:\n  - id: openldap_ns\n    name: openldap_ns\n    designer: OSM\n    version: '1.0'\n    description: NS consisting of a single KNF openldap_knf connected to mgmt network\n    df:\n    - id: default-df\n      vnf-profile:\n      - id: openldap\n        vnfd-id: openldap_knf\n        virtual-link-connectivity:\n        - constituent-cpd-id:\n          - constituent-base-element-id: openldap\n            constituent-cpd-id: mgmt-ext\n          virtual-link-profile-id: mgmtnet\n    virtual-link-desc:\n    - id: mgmtnet\n      mgmt-network: 'true'\n    vnfd-id:\n    - openldap_knf\n";

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn ns_repo(dir: &Path, n: usize, replicas: usize) {
    for i in 0..n {
        write(
            dir,
            &format!("knf{i:04}.osmops.yaml"),
            &format!("kind: NsInstance\nname: knf{i:04}\ndescription: benchmark KNF {i}\nnsdName: openldap_ns\nvnfName: openldap\nvimAccountName: mylocation1\nkdu:\n  name: ldap\n  model: stable/openldap:1.2.7\n  params:\n    replicaCount: \"{replicas}\"\n"),
        );
    }
}

fn client(url: &str) -> NbiClient {
    NbiClient::new(
        ClientOptions::new(url.to_owned()),
        Credentials {
            user: "admin".into(),
            password: Secret::new("admin"),
            project: "admin".into(),
        },
    )
    .unwrap()
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Measured {
    requests: usize,
    op_reads: usize,
    received: u64,
    wall: Duration,
}

/// One reconcile with `opts`, counting what the simulator served.
async fn measure(
    sim: &Simulator,
    osm: &Osm,
    dir: &Path,
    inv: &Inventory,
    opts: &EngineOptions,
) -> Measured {
    sim.clear_log();
    let t = Instant::now();
    let d = read_repository(dir, &ReadOptions::default()).unwrap();
    let out = engine::reconcile(osm, &d, inv, opts, &|_, _| {})
        .await
        .unwrap();
    let wall = t.elapsed();
    assert_eq!(out.plan.writes(), 0, "{}", out.summary());
    let log = sim.log();
    Measured {
        requests: log.len(),
        op_reads: log
            .iter()
            .filter(|e| e.path.ends_with("/ns_lcm_op_occs"))
            .count(),
        received: log.iter().map(|e| e.response_bytes).sum(),
        wall,
    }
}

/// One unchanged `osmops apply` of `dir` (a separate process, as CI runs it), counting what the
/// simulator served.
fn cli_apply(sim: &Simulator, dir: &Path, extra: &[&str]) -> Measured {
    sim.clear_log();
    let t = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_osmops"))
        .arg("apply")
        .arg(dir)
        .args([
            "--osm-url",
            &sim.url(),
            "--user",
            "admin",
            "--password",
            "admin",
        ])
        .args([
            "--project",
            "admin",
            "--owner",
            "unnamed",
            "--timeout",
            "30m",
        ])
        .args(extra)
        .output()
        .unwrap();
    let wall = t.elapsed();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("(0 writes)"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = sim.log();
    Measured {
        requests: log.len(),
        op_reads: log
            .iter()
            .filter(|e| e.path.ends_with("/ns_lcm_op_occs"))
            .count(),
        received: log.iter().map(|e| e.response_bytes).sum(),
        wall,
    }
}

#[tokio::main]
async fn main() {
    let n = env("OSMOPS_BENCH_NS", 1000);
    let history = env("OSMOPS_BENCH_HISTORY", 20).max(1);
    let sim = Simulator::start(SimConfig {
        token_throttle: true,
        lcm_pickup_delay: Duration::from_millis(5),
        lcm_delay: Duration::from_millis(20),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let url = sim.url();
    let setup = client(&url);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "osm-pkgs/openldap_knf/vnfd.yaml", VNFD);
    write(dir.path(), "osm-pkgs/openldap_ns/nsd.yaml", NSD);
    let opts = EngineOptions {
        timeout: Duration::from_secs(1800),
        poll_interval: Duration::from_millis(200),
        concurrency: 16,
        ..EngineOptions::default()
    };
    // The history: instantiate, then history-1 upgrades of every NS, each through the NBI.
    let built = Instant::now();
    let mut inv = Inventory::default();
    for round in 0..history {
        ns_repo(dir.path(), n, round + 1);
        let d = read_repository(dir.path(), &ReadOptions::default()).unwrap();
        let out = engine::reconcile(&setup, &d, &inv, &opts, &|_, _| {})
            .await
            .unwrap();
        assert!(!out.failed(), "{}", out.summary());
        inv = out.inventory;
    }
    // The measured repository holds only the NsInstance files (the packages are in OSM).
    std::fs::remove_dir_all(dir.path().join("osm-pkgs")).unwrap();
    let ops = sim.operations();
    let op_bytes: usize = ops
        .iter()
        .map(|o| serde_json::to_vec(o).unwrap().len())
        .sum();
    let ns_bytes: usize = sim
        .ns_instances()
        .iter()
        .map(|o| serde_json::to_vec(o).unwrap().len())
        .sum();
    eprintln!("history built in {:.0} s", built.elapsed().as_secs_f64());
    // What one NS list costs on the wire.
    sim.clear_log();
    setup.list_ns_instances(&[]).await.unwrap();
    let ns_list_bytes = sim.log()[0].response_bytes;

    // (a) every operation read (no cache), fresh session like a one-shot run.
    let full = measure(&sim, &Osm::new(client(&url)), dir.path(), &inv, &opts).await;
    // (b) the controller's cache, warmed by the reconcile before (same session, as a running
    //     controller has), then the measured unchanged reconcile; (c) the same with a new session.
    // A zero freshness window: each reconcile reads the NS list; operations come from the cache.
    let view = Arc::new(LiveView::new(Duration::ZERO));
    let warm = Osm::shared(client(&url), view.clone());
    measure(&sim, &warm, dir.path(), &inv, &opts).await;
    let cached = measure(&sim, &warm, dir.path(), &inv, &opts).await;
    let fresh_session = Osm::shared(client(&url), view.clone());
    let cached_fresh_session = measure(&sim, &fresh_session, dir.path(), &inv, &opts).await;

    println!(
        "## S1: one unchanged reconcile of {n} KNFs, OSM holding {} operations\n",
        ops.len()
    );
    println!(
        "Records as the simulator's NBI and LCM wrote them: {} operations, {:.0} bytes each on average ({:.1} MiB); {} NS instances, {:.0} bytes each; one NS list on the wire: {:.1} KiB.\n",
        ops.len(),
        op_bytes as f64 / ops.len() as f64,
        op_bytes as f64 / 1048576.0,
        n,
        ns_bytes as f64 / n as f64,
        ns_list_bytes as f64 / 1024.0
    );
    println!("| reconcile | requests | operation reads | received | received / NS list | wall |");
    println!("|---|---|---|---|---|---|");
    for (name, m) in [
        ("every operation read (no cache; fresh session)", &full),
        ("operations cache, warm session (controller)", &cached),
        ("operations cache, fresh session", &cached_fresh_session),
    ] {
        println!(
            "| {name} | {} | {} | {:.1} KiB | {:.2}x | {:.3} s |",
            m.requests,
            m.op_reads,
            m.received as f64 / 1024.0,
            m.received as f64 / ns_list_bytes as f64,
            m.wall.as_secs_f64()
        );
    }
    println!(
        "\nTarget: ≤ 3 requests and received ≤ 1.2x the NS list: {}",
        if cached_fresh_session.requests <= 3
            && cached.received as f64 <= 1.2 * ns_list_bytes as f64
        {
            "met"
        } else {
            "NOT met"
        }
    );

    // The CLI: today's run reads every operation; with a state file, the first run keeps the
    // cursor and the next unchanged run reads only what changed.
    let state = dir.path().join("osmops.state.json");
    let st = state.display().to_string();
    let today = cli_apply(&sim, dir.path(), &[]);
    let first = cli_apply(&sim, dir.path(), &["--state", &st]);
    let next = cli_apply(&sim, dir.path(), &["--state", &st]);
    let state_bytes = std::fs::metadata(&state).unwrap().len();
    println!("\n## One unchanged `osmops apply` of the {n} KNFs (the CLI, a separate process)\n");
    println!("| run | requests | operation reads | received | received / NS list | wall |");
    println!("|---|---|---|---|---|---|");
    for (name, m) in [
        ("without a state file (every operation read)", &today),
        (
            "with a state file, first run (no cursor yet: every operation read)",
            &first,
        ),
        (
            "with a state file, next run (cursor from the state file)",
            &next,
        ),
    ] {
        println!(
            "| {name} | {} | {} | {:.1} KiB | {:.2}x | {:.3} s |",
            m.requests,
            m.op_reads,
            m.received as f64 / 1024.0,
            m.received as f64 / ns_list_bytes as f64,
            m.wall.as_secs_f64()
        );
    }
    println!(
        "\nState file: {:.1} KiB. Target: an unchanged run with a state file receives ≤ 1.2x the NS list: {}",
        state_bytes as f64 / 1024.0,
        if next.received as f64 <= 1.2 * ns_list_bytes as f64 {
            "met"
        } else {
            "NOT met"
        }
    );
}
