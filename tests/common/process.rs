//! The controller as its own `osmops controller` process, for benches that read its memory.

/// A free local port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// (VmRSS, VmHWM) of a process in KiB.
pub fn memory(pid: u32) -> (u64, u64) {
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

/// Starts `osmops controller` against `kubeconfig` without leader election, metrics and probes
/// on `metrics_port`, with `extra` flags and those in `OSMOPS_BENCH_CONTROLLER_ARGS`;
/// `OSMOPS_BENCH_CONCURRENT` sets `--concurrent` (default 4).
pub fn spawn_controller(
    kubeconfig: &std::path::Path,
    metrics_port: u16,
    extra: &[&str],
) -> std::process::Child {
    std::process::Command::new(super::bin())
        .args([
            "controller",
            "--concurrent",
            // OSMOPS_BENCH_CONCURRENT: reconciles at once (default 4, the controller's default).
            &std::env::var("OSMOPS_BENCH_CONCURRENT").unwrap_or_else(|_| "4".into()),
            "--operation-poll-interval",
            "200ms",
            "--grpc-addr",
            "127.0.0.1:0",
            "--enable-leader-election=false",
        ])
        .args([
            "--metrics-addr",
            &format!("127.0.0.1:{metrics_port}"),
            "--health-addr",
            &format!("127.0.0.1:{metrics_port}"),
        ])
        .args(extra)
        // Extra controller flags for a run, e.g. OSMOPS_BENCH_CONTROLLER_ARGS="--kube-api-qps 500".
        .args(
            std::env::var("OSMOPS_BENCH_CONTROLLER_ARGS")
                .unwrap_or_default()
                .split_whitespace(),
        )
        .env("KUBECONFIG", kubeconfig)
        .env("OSMOPS_LOG", "error")
        .spawn()
        .expect("controller starts")
}
