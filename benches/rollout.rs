//! Issue 13's measurement (a bench binary, not a timed test): upgrading N KNFs at once against
//! the simulator with OSM-like LCM timings (0.3 s pickup, 2 s per operation, token throttle on),
//! progressively (canary 1, then batches of 20, each followed to COMPLETED and checked READY
//! before the next) and all at once (20 in flight, the same bound). Prints wall time, NBI
//! requests, operations and batches of each.
//!
//!     cargo bench --bench rollout                       # N = 100
//!     OSMOPS_BENCH_KNFS=20 cargo bench --bench rollout

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use osmops::engine::EngineOptions;
use osmops::plan::{FailurePolicy, Inventory, Rollout};
use osmops::sim::{SimConfig, Simulator};

use common::{client, ns_doc, opts, reconcile, write, NSD, VNFD};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn write_repo(root: &std::path::Path, n: usize, replicas: &str) {
    write(root, "osm-pkgs/openldap_knf/openldap_vnfd.yaml", VNFD);
    write(root, "osm-pkgs/openldap_ns/openldap_nsd.yaml", NSD);
    for i in 0..n {
        let name = format!("knf{i:03}");
        write(
            root,
            &format!("{name}.osmops.yaml"),
            &ns_doc(&name, Some(replicas)),
        );
    }
}

fn action_ops(sim: &Simulator) -> usize {
    sim.operations()
        .iter()
        .filter(|o| o["lcmOperationType"] == "action")
        .count()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env("OSMOPS_BENCH_KNFS", 100);
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("simulator starts");
    let c = client(&sim);
    let dir = tempfile::tempdir().unwrap();
    let base = EngineOptions {
        concurrency: 20,
        poll_interval: Duration::from_millis(500),
        timeout: Duration::from_secs(1800),
        ..opts()
    };
    write_repo(dir.path(), n, "1");
    let t = Instant::now();
    let created = reconcile(&c, dir.path(), &Inventory::default(), &base).await;
    assert!(!created.failed(), "{}", created.summary());
    println!(
        "setup: {n} KNFs created in {:.1} s ({})",
        t.elapsed().as_secs_f64(),
        created.summary()
    );
    let mut inventory = created.inventory;
    let runs = [
        (
            "canary 1 + batches of 20",
            Rollout {
                canary: 1,
                max_parallel: Some(20),
                failure_policy: FailurePolicy::Pause,
            },
        ),
        ("all at once, 20 in flight", Rollout::default()),
    ];
    println!(
        "| upgrade of {n} KNFs | wall | batches | NBI requests | upgrade operations | result |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, (label, rollout)) in runs.iter().enumerate() {
        write_repo(dir.path(), n, &(i + 2).to_string());
        let before = action_ops(&sim);
        let opts = EngineOptions {
            rollout: *rollout,
            ..base.clone()
        };
        let t = Instant::now();
        let o = reconcile(&c, dir.path(), &inventory, &opts).await;
        let wall = t.elapsed().as_secs_f64();
        println!(
            "| {label} | {wall:.1} s | {} | {} ({} writes) | {} | {} |",
            o.plan.batches.len().max(1),
            o.requests.requests,
            o.requests.writes,
            action_ops(&sim) - before,
            o.summary()
        );
        assert!(!o.failed() && o.rollout_paused.is_none(), "{}", o.summary());
        inventory = o.inventory;
    }
}
