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

use common::{action_ops, client, env_or, opts, reconcile, repo, write_ns_docs};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env_or("OSMOPS_BENCH_KNFS", 100);
    let names: Vec<String> = (0..n).map(|i| format!("knf{i:03}")).collect();
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("simulator starts");
    let c = client(&sim);
    let dir = repo(&[]);
    let base = EngineOptions {
        concurrency: 20,
        poll_interval: Duration::from_millis(500),
        timeout: Duration::from_secs(1800),
        ..opts()
    };
    write_ns_docs(dir.path(), &names, "1");
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
        write_ns_docs(dir.path(), &names, &(i + 2).to_string());
        let before = action_ops(&sim).len();
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
            action_ops(&sim).len() - before,
            o.summary()
        );
        assert!(!o.failed() && o.rollout_paused.is_none(), "{}", o.summary());
        inventory = o.inventory;
    }
}
