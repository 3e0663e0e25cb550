//! The controller as its own `osmops controller` process: for benches that read its memory, and
//! for tests that read everything it logs.

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

/// `osmops controller` against `kubeconfig` with trace logs, read as they come (or the pipe
/// fills and blocks the controller); killed when dropped, even by a panic.
pub struct TracedController {
    child: std::process::Child,
    logs: Option<std::thread::JoinHandle<Vec<u8>>>,
    /// Its gRPC address, `http://127.0.0.1:<port>`.
    pub grpc: String,
}

impl TracedController {
    pub fn spawn(kubeconfig: &std::path::Path) -> TracedController {
        let http_addr = format!("127.0.0.1:{}", free_port());
        let grpc_addr = format!("127.0.0.1:{}", free_port());
        let mut child = std::process::Command::new(super::bin())
            .args([
                "controller",
                "--metrics-addr",
                &http_addr,
                "--health-addr",
                &http_addr,
                "--grpc-addr",
                &grpc_addr,
                "--operation-poll-interval",
                "50ms",
                "--log-level",
                "trace",
            ])
            .env("KUBECONFIG", kubeconfig)
            .env("OSMOPS_LOG", "trace")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let logs = std::thread::spawn(move || {
            let mut logs = Vec::new();
            std::io::Read::read_to_end(&mut stderr, &mut logs).unwrap();
            logs
        });
        TracedController {
            child,
            logs: Some(logs),
            grpc: format!("http://{grpc_addr}"),
        }
    }

    /// Stops it as Kubernetes does (SIGTERM), waits for it and returns everything it logged.
    pub async fn stop(mut self) -> String {
        std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let logs = self.logs.take().unwrap();
        tokio::task::spawn_blocking(move || {
            String::from_utf8_lossy(&logs.join().unwrap()).into_owned()
        })
        .await
        .unwrap()
    }
}

impl Drop for TracedController {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
