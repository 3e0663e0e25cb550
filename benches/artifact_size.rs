//! S4 of issue 12 (a bench binary, not a timed test): the controller reconciles one OsmSync whose
//! artifact is large — OSM packages with incompressible files (Helm charts, images), 50 MiB of
//! tar.gz by default — and its peak memory is read from /proc (`VmHWM`). The artifact is
//! downloaded to disk with an incremental digest and extracted from disk; each package is
//! tarred and uploaded on its own.
//!
//!     cargo bench --bench artifact_size                       # 10 packages × 5 MiB
//!     OSMOPS_BENCH_PACKAGES=4 OSMOPS_BENCH_PACKAGE_MIB=2 cargo bench --bench artifact_size

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::process::{free_port, memory, spawn_controller};
use common::{env_or, write};
use serde_json::json;

/// Incompressible bytes (xorshift), so the artifact is as large on the wire as on disk.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let packages = env_or("OSMOPS_BENCH_PACKAGES", 10);
    let mib = env_or("OSMOPS_BENCH_PACKAGE_MIB", 5);
    let world = common::world::world().await;
    let dir = tempfile::tempdir().unwrap();
    for i in 0..packages {
        let id = format!("big_knf{i:02}");
        write(
            dir.path(),
            &format!("osm-pkgs/{id}/{id}_vnfd.yaml"),
            &format!("vnfd:\n  id: {id}\n  product-name: {id}\n  provider: bench\n  version: '1.0'\n  df:\n  - id: default-df\n  ext-cpd:\n  - id: mgmt-ext\n    k8s-cluster-net: mgmtnet\n  k8s-cluster:\n    nets:\n    - id: mgmtnet\n  kdu:\n  - name: app\n    helm-chart: charts/app\n  mgmt-cp: mgmt-ext\n"),
        );
        let blob = dir
            .path()
            .join(format!("osm-pkgs/{id}/charts/app/images.bin"));
        std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
        std::fs::write(blob, noise(mib * 1024 * 1024, i as u64 + 7)).unwrap();
    }
    let tar = common::artifacts::tar_dir(dir.path());
    let artifact_mib = tar.len() as f64 / 1048576.0;
    drop(tar);
    world.publish("main@sha1:5555", dir.path()).await;

    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = world.emu.kubeconfig(tmp.path());
    let port = free_port();
    let mut child = spawn_controller(&kubeconfig, port, &["--max-artifact-size", "209715200"]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle, _) = memory(child.id());
    let t = Instant::now();
    world
        .create_sync_with("big", json!({"prune": false, "timeout": "10m"}))
        .await;
    let mut peak = 0;
    loop {
        peak = peak.max(memory(child.id()).1);
        let s = world.syncs().get("big").await.unwrap();
        if s.is_ready() {
            break;
        }
        if let Some(reason) = common::world::ready_reason(&s).filter(|r| r != "Progressing") {
            assert!(
                !matches!(
                    reason.as_str(),
                    "ArtifactFailed" | "ValidationFailed" | "ReconciliationFailed"
                ),
                "{:?}",
                s.status
            );
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "not Ready: {:?}",
            s.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = t.elapsed();
    peak = peak.max(memory(child.id()).1);
    child.kill().ok();
    let _ = child.wait();
    assert_eq!(world.sim.vnf_packages().len(), packages);
    println!("## S4: one OsmSync with a {artifact_mib:.1} MiB artifact ({packages} packages × {mib} MiB of incompressible files)\n");
    println!("| time to Ready | controller RSS idle | controller RSS peak |");
    println!("|---|---|---|");
    println!(
        "| {:.1} s | {:.1} MiB | {:.1} MiB |",
        elapsed.as_secs_f64(),
        idle as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!(
        "\nTarget: peak RSS ≤ 100 MiB: {}",
        if (peak as f64 / 1024.0) <= 100.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}
