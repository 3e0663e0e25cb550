//! Controller scale benchmark (a bench binary, not a timed test): 100 OsmSyncs × 10 KNFs through
//! the shared test world (tests/common/world.rs: Kubernetes API emulator, NBI simulator,
//! artifact server). The controller runs as a separate `osmops controller` process so that its
//! memory can be read from /proc.
//!
//!     cargo bench --bench controller_scale
//!     OSMOPS_BENCH_SYNCS=20 cargo bench --bench controller_scale
//!     OSMOPS_BENCH_LCM_MS=10000     # the simulated LCM's time per operation (default 200 ms)

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use kube::api::Api;
use osmops::api::OsmSync;
use osmops::sim::{SimConfig, Simulator};
use serde_json::json;

use common::process::{free_port, memory, spawn_controller};
use common::{client, opts, reconcile, write, NSD, VNFD};

#[tokio::main]
async fn main() {
    let syncs: usize = std::env::var("OSMOPS_BENCH_SYNCS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let knfs: usize = std::env::var("OSMOPS_BENCH_KNFS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    // How long the simulated LCM takes per operation (a real KNF instantiate takes minutes).
    let lcm_ms: u64 = std::env::var("OSMOPS_BENCH_LCM_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let sim = Simulator::start(SimConfig {
        token_throttle: true,
        lcm_delay: Duration::from_millis(lcm_ms),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let url = sim.url();
    let world = common::world::world_with(sim, &url, "admin", "admin").await;
    let sim = &world.sim;

    // Packages are onboarded beforehand; each repository holds 10 NsInstance documents.
    let pkgs = tempfile::tempdir().unwrap();
    write(pkgs.path(), "osm-pkgs/openldap_knf/vnfd.yaml", VNFD);
    write(pkgs.path(), "osm-pkgs/openldap_ns/nsd.yaml", NSD);
    reconcile(&client(sim), pkgs.path(), &Default::default(), &opts()).await;

    for i in 0..syncs {
        let dir = tempfile::tempdir().unwrap();
        for j in 0..knfs {
            write(
                dir.path(),
                &format!("knf{j}.osmops.yaml"),
                &format!("kind: NsInstance\nname: s{i:03}-knf{j}\nnsdName: openldap_ns\nvnfName: openldap\nvimAccountName: mylocation1\nkdu:\n  name: ldap\n  params:\n    replicaCount: \"1\"\n"),
            );
        }
        let source = format!("repo{i:03}");
        world.add_git_repository(&source).await;
        world
            .publish_to(&source, &format!("main@sha1:{i:040}"), dir.path())
            .await;
    }

    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = world.emu.kubeconfig(tmp.path());
    let metrics_port = free_port();
    let mut child = spawn_controller(&kubeconfig, metrics_port, &[]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (idle_rss, _) = memory(child.id());

    let syncs_api: Api<OsmSync> = world.syncs();
    let requests_before = sim.log().len();
    let t0 = Instant::now();
    for i in 0..syncs {
        // Not pruning, and a timeout long enough for a throttled OSM.
        let overrides = json!({"sourceRef": {"kind": "GitRepository", "name": format!("repo{i:03}")},
                               "timeout": "5m", "prune": false});
        world
            .create_sync_with(&format!("sync{i:03}"), overrides)
            .await;
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
    // P3: the controller idle with every OsmSync Ready (no reconcile running, none due: the
    // interval is longer than the bench), its resident memory now.
    settle(sim).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (idle_with_syncs, _) = memory(child.id());
    // S2: one interval with nothing changed (every OsmSync asked to reconcile once), with the
    // shared OSM view (default 5 s window) and without it (window 0 s), side by side.
    let shared = interval(&world, syncs, "interval-shared").await;
    child.kill().ok();
    let _ = child.wait();
    let mut child = spawn_controller(&kubeconfig, metrics_port, &["--osm-list-max-age", "0s"]);
    settle(sim).await;
    let unshared = interval(&world, syncs, "interval-unshared").await;
    child.kill().ok();
    let _ = child.wait();
    assert_eq!(sim.ns_instances().len(), syncs * knfs);
    println!("## Controller scale: {syncs} OsmSyncs × {knfs} KNFs (emulated API server, NBI simulator with token throttle, LCM {lcm_ms} ms)\n");
    println!("| time to all Ready | reconciles | reconciles/s | NBI requests | controller RSS idle | controller RSS peak | RSS idle with {syncs} OsmSyncs Ready (P3) |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {:.1} s | {} | {:.1} | {} | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
        all_ready.as_secs_f64(),
        reconciles,
        reconciles / all_ready.as_secs_f64(),
        nbi_requests,
        idle_rss as f64 / 1024.0,
        peak.max(hwm) as f64 / 1024.0,
        idle_with_syncs as f64 / 1024.0
    );
    println!(
        "\nTarget P3 (≤ 30 MiB resident idle with {syncs} OsmSyncs): {}",
        if idle_with_syncs <= 30 * 1024 {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "\n## S2: one interval with nothing changed ({syncs} OsmSyncs × {knfs} KNFs on one OSM)\n"
    );
    println!(
        "| OSM view | NS list reads | operation reads | NBI requests | bytes received | time |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, r) in [
        ("shared, 5 s window (default)", &shared),
        ("not shared (--osm-list-max-age 0s)", &unshared),
    ] {
        println!(
            "| {name} | {} | {} | {} | {:.1} KiB | {:.1} s |",
            r.ns_reads,
            r.op_reads,
            r.requests,
            r.received as f64 / 1024.0,
            r.secs
        );
    }
    println!(
        "\nNS list reads {} vs {}; bytes {:.1}x less.",
        shared.ns_reads,
        unshared.ns_reads,
        unshared.received as f64 / shared.received.max(1) as f64
    );
}

/// Waits until the simulator has seen no request for 2 s (start-up reconciles are over).
async fn settle(sim: &Simulator) {
    let mut seen = sim.log().len();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = sim.log().len();
        if now == seen {
            return;
        }
        seen = now;
    }
}

struct Round {
    ns_reads: usize,
    op_reads: usize,
    requests: usize,
    received: u64,
    secs: f64,
}

/// Asks every OsmSync to reconcile once and counts what reached OSM until all were handled.
async fn interval(world: &common::world::World, syncs: usize, token: &str) -> Round {
    let before = world.sim.log().len();
    let t = Instant::now();
    for i in 0..syncs {
        world.request_reconcile(&format!("sync{i:03}"), token).await;
    }
    loop {
        let list = world.syncs().list(&Default::default()).await.unwrap();
        let handled = list
            .items
            .iter()
            .filter(|s| {
                s.status
                    .as_ref()
                    .and_then(|st| st.last_handled_reconcile_at.as_deref())
                    == Some(token)
            })
            .count();
        if handled == syncs {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(900),
            "only {handled}/{syncs} handled"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    let log = world.sim.log();
    let round = &log[before..];
    Round {
        ns_reads: round
            .iter()
            .filter(|e| e.method == "GET" && e.path.ends_with("/ns_instances_content"))
            .count(),
        op_reads: round
            .iter()
            .filter(|e| e.path.ends_with("/ns_lcm_op_occs"))
            .count(),
        requests: round.len(),
        received: round.iter().map(|e| e.response_bytes).sum(),
        secs,
    }
}
