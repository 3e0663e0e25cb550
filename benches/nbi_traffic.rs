//! NBI traffic benchmark (a bench binary, not a timed test). Against the simulator with realistic
//! record sizes and its 1 s / 2 s token throttle ON, compares for N KNF creates and N upgrades:
//!   (a) the `osmops apply` binary, one process per run (one login, one list per collection,
//!       keep-alive), and
//!   (b) a baseline replaying the `osm` CLI's request pattern as measured with the real CLI (one
//!       process and one login per command, a new connection per request, full list downloads;
//!       `ns-create` sends 5 requests: token, NSD list, VIM list, VIM by id, POST), plus a
//!       modelled 0.4 s of process start-up per command (the real CLI's Python start-up).
//! Then a reconcile of 1,000 unchanged KNFs (writes, requests, engine CPU time). Then network
//! services of several members: 100 NS of 3 KNF members each, one KDU param changed per NS
//! (osmops vs. the CLI's `ns-action` per KDU), and 50 VM-based NS scaled from level 1 to 3
//! (scale operations sent, wall time, all followed to COMPLETED).
//!
//! Both contenders reach the simulator through a TLS front that counts the bytes on the wire.
//!
//!     cargo bench --bench nbi_traffic                 # N = 10 and 100, plus the 1,000 no-op
//!     OSMOPS_BENCH_N=10 cargo bench --bench nbi_traffic
//!     OSMOPS_BENCH_OTHERS=500                         # NS already in OSM for the second creates row
//!     OSMOPS_BENCH_BEFORE=/path/to/older/osmops       # also measure an earlier build's creates
//!     OSMOPS_BENCH_ONLY=services                      # only the network-service rows

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use osmops::engine::{self, EngineOptions};
use osmops::osm::{ClientOptions, Credentials, NbiClient, Secret};
use osmops::plan::Inventory;
use osmops::repo::{read_repository, ReadOptions};
use osmops::sim::{SimConfig, Simulator};
use serde_json::{json, Value};

const VNFD: &str = "vnfd:\n  id: openldap_knf\n  product-name: openldap_knf\n  provider: Telefonica\n  version: '1.0'\n  description: KNF with single KDU using a helm-chart for openldap version 1.2.7\n  df:\n  - id: default-df\n  ext-cpd:\n  - id: mgmt-ext\n    k8s-cluster-net: mgmtnet\n  k8s-cluster:\n    nets:\n    - id: mgmtnet\n  kdu:\n  - name: ldap\n    helm-chart: stable/openldap\n  mgmt-cp: mgmt-ext\n";
const NSD: &str = "nsd:\n  nsd:\n  - id: openldap_ns\n    name: openldap_ns\n    designer: OSM\n    version: '1.0'\n    description: NS consisting of a single KNF openldap_knf connected to mgmt network\n    df:\n    - id: default-df\n      vnf-profile:\n      - id: openldap\n        vnfd-id: openldap_knf\n        virtual-link-connectivity:\n        - constituent-cpd-id:\n          - constituent-base-element-id: openldap\n            constituent-cpd-id: mgmt-ext\n          virtual-link-profile-id: mgmtnet\n    virtual-link-desc:\n    - id: mgmtnet\n      mgmt-network: 'true'\n    vnfd-id:\n    - openldap_knf\n";

#[derive(Debug, Default, Clone, Copy)]
struct Traffic {
    requests: usize,
    connections: u64,
    /// HTTP bytes (request line + headers + body, both directions), counted by the simulator.
    bytes: u64,
    /// Bytes on the wire behind TLS (handshakes, records, both directions), counted by the front.
    wire: u64,
    wall: Duration,
}

/// What one contender sent and received since `front` was reset (and the simulator's log
/// cleared).
fn traffic(sim: &Simulator, front: &TlsFront, conns_before: u64, wall: Duration) -> Traffic {
    let log = sim.log();
    Traffic {
        requests: log.len(),
        connections: sim.connections() - conns_before,
        bytes: log.iter().map(|e| e.request_bytes + e.response_bytes).sum(),
        wire: front.wire.load(Ordering::Relaxed),
        wall,
    }
}

/// OSM's NBI as production reaches it: behind TLS. Terminates TLS in front of the simulator and
/// counts every byte on the client side of the TCP connections (handshakes, record overhead,
/// payloads, both directions), which is what "wire bytes" means in the tables.
struct TlsFront {
    url: String,
    ca_file: tempfile::NamedTempFile,
    ca_pem: Vec<u8>,
    wire: Arc<AtomicU64>,
}

impl TlsFront {
    async fn start(sim: &Simulator) -> TlsFront {
        use tokio_rustls::rustls;
        let backend = sim
            .url()
            .trim_start_matches("http://")
            .trim_end_matches("/osm")
            .to_owned();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let ca_pem = cert.cert.pem().into_bytes();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let wire = Arc::new(AtomicU64::new(0));
        let counter = wire.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, counter, backend) =
                    (acceptor.clone(), counter.clone(), backend.clone());
                tokio::spawn(async move {
                    let counted = Counted {
                        inner: tcp,
                        bytes: counter,
                    };
                    let Ok(mut tls) = acceptor.accept(counted).await else {
                        return;
                    };
                    let Ok(mut plain) = tokio::net::TcpStream::connect(&backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        let mut ca_file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut ca_file, &ca_pem).unwrap();
        TlsFront {
            url: format!("https://localhost:{port}/osm"),
            ca_file,
            ca_pem,
            wire,
        }
    }

    fn reset(&self) {
        self.wire.store(0, Ordering::Relaxed);
    }
}

/// A TCP stream that counts the bytes read from and written to it.
struct Counted {
    inner: tokio::net::TcpStream,
    bytes: Arc<AtomicU64>,
}

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        self.bytes.fetch_add(read, Ordering::Relaxed);
        r
    }
}

impl tokio::io::AsyncWrite for Counted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &r {
            self.bytes.fetch_add(*n as u64, Ordering::Relaxed);
        }
        r
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn ns_repo(dir: &Path, n: usize, replicas: u32) {
    for i in 0..n {
        write(
            dir,
            &format!("knf{i:04}.osmops.yaml"),
            &format!("kind: NsInstance\nname: knf{i:04}\ndescription: benchmark KNF {i}\nnsdName: openldap_ns\nvnfName: openldap\nvimAccountName: mylocation1\nkdu:\n  name: ldap\n  model: stable/openldap:1.2.7\n  params:\n    replicaCount: \"{replicas}\"\n"),
        );
    }
}

fn creds() -> Credentials {
    Credentials {
        user: "admin".into(),
        password: Secret::new("admin"),
        project: "admin".into(),
    }
}

async fn realistic_sim() -> Simulator {
    Simulator::start(SimConfig {
        token_throttle: true,
        lcm_delay: Duration::from_millis(200),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// Onboards the OpenLDAP packages (not measured) and waits out the token throttle window.
async fn onboard(sim: &Simulator) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "osm-pkgs/openldap_knf/vnfd.yaml", VNFD);
    write(dir.path(), "osm-pkgs/openldap_ns/nsd.yaml", NSD);
    let c = NbiClient::new(ClientOptions::new(sim.url()), creds()).unwrap();
    let desired = read_repository(dir.path(), &ReadOptions::default()).unwrap();
    engine::reconcile(
        &c,
        &desired,
        &Inventory::default(),
        &EngineOptions::default(),
        &|_, _| {},
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    sim.clear_log();
}

/// `others` NS instances of another repository, already instantiated (not measured): the OSM
/// a new repository's creates land in.
async fn populate(sim: &Simulator, others: usize) {
    if others == 0 {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for i in 0..others {
        write(
            dir.path(),
            &format!("other{i:04}.osmops.yaml"),
            &format!("kind: NsInstance\nname: other{i:04}\ndescription: another team KNF {i}\nnsdName: openldap_ns\nvnfName: openldap\nvimAccountName: mylocation1\nkdu:\n  name: ldap\n  model: stable/openldap:1.2.7\n  params:\n    replicaCount: \"1\"\n"),
        );
    }
    let c = NbiClient::new(ClientOptions::new(sim.url()), creds()).unwrap();
    let desired = read_repository(dir.path(), &ReadOptions::default()).unwrap();
    let opts = EngineOptions {
        owner: osmops::plan::Owner::new("another-team").unwrap(),
        wait: false,
        concurrency: 16,
        ..EngineOptions::default()
    };
    let out = engine::reconcile(&c, &desired, &Inventory::default(), &opts, &|_, _| {})
        .await
        .unwrap();
    assert!(!out.failed(), "{}", out.summary());
    wait_instantiated(sim, others).await;
    sim.clear_log();
}

async fn wait_instantiated(sim: &Simulator, n: usize) {
    loop {
        let ready = sim
            .ns_instances()
            .iter()
            .filter(|r| r["_admin"]["nsState"] == "INSTANTIATED")
            .count();
        if ready >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the token throttle window pass so both contenders start alike.
    tokio::time::sleep(Duration::from_millis(2100)).await;
}

/// Whose the benchmark's NS are: the `osmops` runs and the in-process setups alike.
const BENCH_OWNER: &str = "bench";

/// Runs `osmops apply` as its own process against the simulator behind TLS (a fresh session,
/// like one run of the CLI): process against process.
fn osmops_apply(bin: &Path, url: &str, ca_file: &Path, dir: &Path) -> Duration {
    let t = Instant::now();
    let out = std::process::Command::new(bin)
        .arg("apply")
        .arg(dir)
        .args([
            "--osm-url",
            url,
            "--user",
            "admin",
            "--password",
            "admin",
            "--project",
            "admin",
            "--owner",
            BENCH_OWNER,
        ])
        .env_remove("OSMOPS_BENCH_ONLY")
        .env_remove("OSMOPS_BENCH_N")
        .env_remove("OSMOPS_BENCH_OTHERS")
        .env_remove("OSMOPS_BENCH_BEFORE")
        .env_remove("OSMOPS_BENCH_SKIP_NOOP")
        .arg("--ca-file")
        .arg(ca_file)
        .arg("--wait=false")
        .output()
        .expect("osmops runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

/// `osmops apply` (the binary `bin`) creating `n` NS into an OSM holding `others`, then
/// upgrading them.
async fn engine_run(bin: &Path, n: usize, others: usize) -> (Traffic, Traffic) {
    let sim = realistic_sim().await;
    onboard(&sim).await;
    populate(&sim, others).await;
    let front = TlsFront::start(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    ns_repo(dir.path(), n, 1);
    let run = |dir: &Path| {
        let (url, ca, path, bin) = (
            front.url.clone(),
            front.ca_file.path().to_owned(),
            dir.to_owned(),
            bin.to_owned(),
        );
        tokio::task::spawn_blocking(move || osmops_apply(&bin, &url, &ca, &path))
    };
    let c0 = sim.connections();
    let wall = run(dir.path()).await.unwrap();
    let creates = traffic(&sim, &front, c0, wall);
    assert_eq!(sim.ns_instances().len(), n + others);
    wait_instantiated(&sim, n + others).await;
    sim.clear_log();
    front.reset();
    ns_repo(dir.path(), n, 2);
    let c0 = sim.connections();
    let wall = run(dir.path()).await.unwrap();
    let upgrades = traffic(&sim, &front, c0, wall);
    let actions = sim
        .log()
        .iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("/action"))
        .count();
    assert_eq!(actions, n);
    (creates, upgrades)
}

/// Process start-up CPU of one `osm` CLI command (Python, osmclient imports), as measured with the
/// real CLI: a model, added to the baseline's wall time per command.
const CLI_STARTUP: Duration = Duration::from_millis(400);

/// One `osm` CLI command: its own process. osmclient makes a new pycurl handle per request, so
/// every request is a new TCP connection with a full TLS handshake (no session resumption):
/// here a new HTTP client per request.
struct CliCommand {
    ca: reqwest::Certificate,
    base: String,
    token: String,
}

impl CliCommand {
    async fn start(base: &str, ca_pem: &[u8]) -> CliCommand {
        let mut c = CliCommand {
            ca: reqwest::Certificate::from_pem(ca_pem).unwrap(),
            base: base.to_owned(),
            token: String::new(),
        };
        let v = c
            .send(
                reqwest::Method::POST,
                "admin/v1/tokens",
                Some(json!({"username": "admin", "password": "admin", "project_id": "admin"})),
            )
            .await;
        c.token = v["id"].as_str().unwrap().to_owned();
        c
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .add_root_certificate(self.ca.clone())
            .build()
            .unwrap();
        let mut r = http
            .request(method, format!("{}/{path}", self.base))
            .header("Accept", "application/json")
            .header("Content-Type", "application/yaml")
            .header(
                "User-Agent",
                "PycURL/7.45.2 libcurl/7.88.1 OpenSSL/3.0.11 zlib/1.2.13",
            );
        if !self.token.is_empty() {
            r = r.bearer_auth(&self.token);
        }
        if let Some(b) = body {
            r = r.body(b.to_string());
        }
        let resp = r.send().await.unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap_or(Value::Null)
    }
}

/// `osm ns-action NAME --vnf_name MEMBER --kdu_name ldap --action_name upgrade --params ...`:
/// one process, one login, the NS list twice, the action.
async fn cli_kdu_upgrade(base: &str, ca_pem: &[u8], name: &str, member: &str, replicas: &str) {
    let get = reqwest::Method::GET;
    let cli = CliCommand::start(base, ca_pem).await;
    let all = cli
        .send(get.clone(), "nslcm/v1/ns_instances_content", None)
        .await;
    let _again = cli.send(get, "nslcm/v1/ns_instances_content", None).await;
    let id = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap()["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"member_vnf_index": member, "kdu_name": "ldap", "primitive": "upgrade",
        "primitive_params": {"replicaCount": replicas, "kdu_model": "stable/openldap:1.2.7"}});
    cli.send(
        reqwest::Method::POST,
        &format!("nslcm/v1/ns_instances/{id}/action"),
        Some(body),
    )
    .await;
}

/// The `osm` CLI pattern creating `n` NS into an OSM holding `others`, then upgrading them.
async fn baseline_run(n: usize, others: usize) -> (Traffic, Traffic) {
    let sim = realistic_sim().await;
    onboard(&sim).await;
    populate(&sim, others).await;
    let front = TlsFront::start(&sim).await;
    let base = front.url.clone();
    let get = reqwest::Method::GET;
    let c0 = sim.connections();
    let t = Instant::now();
    for i in 0..n {
        // osm ns-create --ns_name knfI --nsd_name openldap_ns --vim_account mylocation1 --config ...
        let cli = CliCommand::start(&base, &front.ca_pem).await;
        let nsds = cli.send(get.clone(), "nsd/v1/ns_descriptors", None).await;
        let nsd = nsds
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == "openldap_ns")
            .unwrap()["_id"]
            .clone();
        let vims = cli.send(get.clone(), "admin/v1/vim_accounts", None).await;
        let vim = vims
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "mylocation1")
            .unwrap()["_id"]
            .as_str()
            .unwrap()
            .to_owned();
        cli.send(get.clone(), &format!("admin/v1/vim_accounts/{vim}"), None)
            .await;
        let body = json!({"nsName": format!("knf{i:04}"), "nsdId": nsd, "vimAccountId": vim, "nsDescription": format!("benchmark KNF {i}"),
            "additionalParamsForVnf": [{"member-vnf-index": "openldap", "additionalParamsForKdu": [{"kdu_name": "ldap", "additionalParams": {"replicaCount": "1"}, "kdu_model": "stable/openldap:1.2.7"}]}]});
        cli.send(
            reqwest::Method::POST,
            "nslcm/v1/ns_instances_content",
            Some(body),
        )
        .await;
    }
    let creates = traffic(&sim, &front, c0, t.elapsed() + CLI_STARTUP * n as u32);
    wait_instantiated(&sim, n + others).await;
    sim.clear_log();
    front.reset();
    let c0 = sim.connections();
    let t = Instant::now();
    for i in 0..n {
        // osm ns-action knfI --vnf_name openldap --kdu_name ldap --action_name upgrade --params ...
        cli_kdu_upgrade(&base, &front.ca_pem, &format!("knf{i:04}"), "openldap", "2").await;
    }
    (
        creates,
        traffic(&sim, &front, c0, t.elapsed() + CLI_STARTUP * n as u32),
    )
}

fn row(label: &str, e: Traffic, b: Traffic) -> String {
    format!(
        "| {label} | {} / {} | {} / {} | {:.1} / {:.1} | {:.1} / {:.1} | {:.3} / {:.3} | {:.1}% | {:.1}% | {:.1}x |",
        e.requests,
        b.requests,
        e.connections,
        b.connections,
        e.bytes as f64 / 1024.0,
        b.bytes as f64 / 1024.0,
        e.wire as f64 / 1024.0,
        b.wire as f64 / 1024.0,
        e.wall.as_secs_f64(),
        b.wall.as_secs_f64(),
        100.0 * (1.0 - e.bytes as f64 / b.bytes as f64),
        100.0 * (1.0 - e.wire as f64 / b.wire as f64),
        b.wall.as_secs_f64() / e.wall.as_secs_f64(),
    )
}

/// CPU time (user + system) of the calling thread, from /proc (10 ms resolution).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // Fields after the command name: state is not numeric, so utime/stime are at 10 and 11 here.
    let ticks = f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn unchanged_1000() {
    // The simulator gets its own runtime and threads so the engine's CPU time can be read from
    // the one thread that runs it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let sim = Simulator::start(SimConfig {
                token_throttle: true,
                lcm_delay: Duration::from_millis(100),
                ..SimConfig::default()
            })
            .await
            .unwrap();
            tx.send(sim.url()).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let url = rx.recv().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let n = 1000;
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "osm-pkgs/openldap_knf/vnfd.yaml", VNFD);
        write(dir.path(), "osm-pkgs/openldap_ns/nsd.yaml", NSD);
        let setup = NbiClient::new(ClientOptions::new(url.clone()), creds()).unwrap();
        let d = read_repository(dir.path(), &ReadOptions::default()).unwrap();
        engine::reconcile(&setup, &d, &Inventory::default(), &EngineOptions::default(), &|_, _| {}).await.unwrap();
        std::fs::remove_dir_all(dir.path().join("osm-pkgs")).unwrap();
        ns_repo(dir.path(), n, 1);
        let d = read_repository(dir.path(), &ReadOptions::default()).unwrap();
        let opts = EngineOptions { wait: true, timeout: Duration::from_secs(600), poll_interval: Duration::from_millis(500), concurrency: 8, ..EngineOptions::default() };
        let out = engine::reconcile(&setup, &d, &Inventory::default(), &opts, &|_, _| {}).await.unwrap();
        assert!(!out.failed(), "{}", out.summary());
        tokio::time::sleep(Duration::from_millis(2100)).await;
        // The measured reconcile: a fresh session (one login), like a restarted controller.
        let client = NbiClient::new(ClientOptions::new(url.clone()), creds()).unwrap();
        let cpu0 = thread_cpu();
        let t = Instant::now();
        let d = read_repository(dir.path(), &ReadOptions::default()).unwrap();
        let parse_cpu = thread_cpu() - cpu0;
        let out = engine::reconcile(&client, &d, &out.inventory, &opts, &|_, _| {}).await.unwrap();
        let wall = t.elapsed();
        let cpu = thread_cpu() - cpu0;
        let c = client.counters().snapshot();
        println!("\n## Reconcile of {n} unchanged KNFs (fresh session, inventory present)\n");
        println!("| writes | requests | bytes received | wall time | engine CPU (incl. repo read) | repo read CPU |");
        println!("|---|---|---|---|---|---|");
        println!(
            "| {} | {} | {:.1} KiB | {:.3} s | {:.2} s | {:.2} s |",
            out.plan.writes(),
            c.requests,
            c.bytes_received as f64 / 1024.0,
            wall.as_secs_f64(),
            cpu.as_secs_f64(),
            parse_cpu.as_secs_f64()
        );
        assert_eq!(out.plan.writes(), 0);
    });
}

/// A 3-member NSD (members m1, m2, m3, each the one-KDU OpenLDAP KNF).
fn three_member_nsd() -> String {
    let profile = |m: &str| {
        format!("      - id: {m}\n        vnfd-id: openldap_knf\n        virtual-link-connectivity:\n        - constituent-cpd-id:\n          - constituent-base-element-id: {m}\n            constituent-cpd-id: mgmt-ext\n          virtual-link-profile-id: mgmtnet\n")
    };
    format!("nsd:\n  nsd:\n  - id: trio_ns\n    name: trio_ns\n    designer: OSM Ops benchmark\n    version: '1.0'\n    df:\n    - id: default-df\n      vnf-profile:\n{}{}{}    virtual-link-desc:\n    - id: mgmtnet\n      mgmt-network: 'true'\n    vnfd-id:\n    - openldap_knf\n", profile("m1"), profile("m2"), profile("m3"))
}

/// `n` NS of the 3-member NSD, each declaring its three KDUs; member m2's `replicaCount` is
/// `changed`.
fn trio_repo(dir: &Path, n: usize, changed: u32) {
    for i in 0..n {
        let kdu = |m: &str, r: u32| {
            format!("- vnfName: {m}\n  name: ldap\n  model: stable/openldap:1.2.7\n  params:\n    replicaCount: \"{r}\"\n")
        };
        write(
            dir,
            &format!("trio{i:04}.osmops.yaml"),
            &format!("kind: NsInstance\nname: trio{i:04}\ndescription: benchmark NS {i}\nnsdName: trio_ns\nvimAccountName: mylocation1\nkdus:\n{}{}{}", kdu("m1", 1), kdu("m2", changed), kdu("m3", 1)),
        );
    }
}

/// 100 NS of 3 members: one KDU param changed per NS. osmops (one process, `--wait=false`) vs.
/// the CLI's `ns-action` per changed KDU (tokens, NS list ×2, POST action, one process each).
async fn three_member_changes(bin: &Path, n: usize) -> (Traffic, Traffic) {
    let sim = realistic_sim().await;
    onboard(&sim).await;
    let setup = NbiClient::new(ClientOptions::new(sim.url()), creds()).unwrap();
    let nsd_dir = tempfile::tempdir().unwrap();
    write(nsd_dir.path(), "osm-pkgs/openldap_knf/vnfd.yaml", VNFD);
    write(
        nsd_dir.path(),
        "osm-pkgs/trio_ns/nsd.yaml",
        &three_member_nsd(),
    );
    let d = read_repository(nsd_dir.path(), &ReadOptions::default()).unwrap();
    let out = engine::reconcile(
        &setup,
        &d,
        &Inventory::default(),
        &EngineOptions::default(),
        &|_, _| {},
    )
    .await
    .unwrap();
    assert!(!out.failed(), "{}", out.summary());
    let dir = tempfile::tempdir().unwrap();
    trio_repo(dir.path(), n, 1);
    let d = read_repository(dir.path(), &ReadOptions::default()).unwrap();
    let opts = EngineOptions {
        wait: false,
        concurrency: 16,
        owner: osmops::plan::Owner::new(BENCH_OWNER).unwrap(),
        ..EngineOptions::default()
    };
    let out = engine::reconcile(&setup, &d, &Inventory::default(), &opts, &|_, _| {})
        .await
        .unwrap();
    assert!(!out.failed(), "{}", out.summary());
    wait_instantiated(&sim, n).await;
    sim.clear_log();
    let front = TlsFront::start(&sim).await;
    // osmops: the whole repository, one KDU changed per NS.
    trio_repo(dir.path(), n, 2);
    let (url, ca, path, b) = (
        front.url.clone(),
        front.ca_file.path().to_owned(),
        dir.path().to_owned(),
        bin.to_owned(),
    );
    let c0 = sim.connections();
    let wall = tokio::task::spawn_blocking(move || osmops_apply(&b, &url, &ca, &path))
        .await
        .unwrap();
    let engine = traffic(&sim, &front, c0, wall);
    let actions: Vec<Value> = sim
        .operations()
        .into_iter()
        .filter(|o| o["lcmOperationType"] == "action")
        .collect();
    assert_eq!(actions.len(), n, "one upgrade per NS");
    assert!(actions
        .iter()
        .all(|o| o["operationParams"]["member_vnf_index"] == "m2"));
    for _ in 0..200 {
        if sim
            .operations()
            .iter()
            .all(|o| o["operationState"] != "PROCESSING")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // The CLI pattern: the same change again (to 3), one `osm ns-action` per NS.
    sim.clear_log();
    front.reset();
    let c0 = sim.connections();
    let t = Instant::now();
    for i in 0..n {
        cli_kdu_upgrade(&front.url, &front.ca_pem, &format!("trio{i:04}"), "m2", "3").await;
    }
    let cli = traffic(&sim, &front, c0, t.elapsed() + CLI_STARTUP * n as u32);
    (engine, cli)
}

/// 50 VM-based NS (examples/vm-web, its aspect allowed up to 5 levels) at scale level 1, then
/// declared at level 3: one `apply` that sends the scale steps and follows them to their end.
async fn scale_fifty(n: usize) -> (usize, Duration, usize, osmops::osm::CounterSnapshot) {
    let sim = realistic_sim().await;
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/vm-web/osm-pkgs");
    let dir = tempfile::tempdir().unwrap();
    let vnfd = std::fs::read_to_string(ex.join("web_vnf/web_vnfd.yaml"))
        .unwrap()
        .replace("max-scale-level: 2", "max-scale-level: 5")
        .replace("max-number-of-instances: 3", "max-number-of-instances: 6");
    write(dir.path(), "osm-pkgs/web_vnf/web_vnfd.yaml", &vnfd);
    write(
        dir.path(),
        "osm-pkgs/web_vnf/cloud_init/cloud-config.txt",
        &std::fs::read_to_string(ex.join("web_vnf/cloud_init/cloud-config.txt")).unwrap(),
    );
    write(
        dir.path(),
        "osm-pkgs/web_ns/web_nsd.yaml",
        &std::fs::read_to_string(ex.join("web_ns/web_nsd.yaml")).unwrap(),
    );
    let docs = |level: u32| {
        for i in 0..n {
            write(dir.path(), &format!("web{i:03}.osmops.yaml"), &format!("kind: NsInstance\nname: web{i:03}\nnsdName: web-ns\nvimAccountName: mylocation1\nconfig:\n  vld:\n  - name: mgmtnet\n    vim-network-name: mgmt\nscale:\n- vnfName: vnf1\n  aspect: web-aspect\n  level: {level}\n"));
        }
    };
    let c = NbiClient::new(ClientOptions::new(sim.url()), creds()).unwrap();
    let opts = EngineOptions {
        wait: true,
        timeout: Duration::from_secs(600),
        poll_interval: Duration::from_millis(500),
        concurrency: 16,
        ..EngineOptions::default()
    };
    docs(1);
    let mut inv = Inventory::default();
    // Create, then the first step to level 1 (OSM scales instantiated NS only).
    for _ in 0..2 {
        let d = read_repository(dir.path(), &ReadOptions::default()).unwrap();
        let out = engine::reconcile(&c, &d, &inv, &opts, &|_, _| {})
            .await
            .unwrap();
        assert!(!out.failed(), "{}", out.summary());
        inv = out.inventory;
    }
    docs(3);
    let d = read_repository(dir.path(), &ReadOptions::default()).unwrap();
    let before = c.counters().snapshot();
    let t = Instant::now();
    let out = engine::reconcile(&c, &d, &inv, &opts, &|_, _| {})
        .await
        .unwrap();
    let wall = t.elapsed();
    let used = c.counters().snapshot().since(&before);
    assert!(!out.failed(), "{}", out.summary());
    let completed = out
        .operations
        .iter()
        .filter(|o| o.state == osmops::model::OperationState::Completed)
        .count();
    (out.plan.count("scale"), wall, completed, used)
}

fn services(rt: &tokio::runtime::Runtime) {
    let now = Path::new(env!("CARGO_BIN_EXE_osmops"));
    println!("\n## Network services: 100 NS of 3 members, one KDU param changed per NS (osmops vs. `osm ns-action` per KDU, behind TLS)\n");
    println!("| scenario | requests (osmops / CLI) | TCP connections | HTTP KiB (osmops / CLI) | wire KiB, TLS (osmops / CLI) | wall s (osmops / CLI) | HTTP bytes saved | wire bytes saved | wall ratio |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let (e, b) = rt.block_on(three_member_changes(now, 100));
    println!("{}", row("100 NS × 3 members, 1 KDU changed each", e, b));
    let (steps, wall, completed, used) = rt.block_on(scale_fifty(50));
    println!("\n## Scale 50 VM-based NS from level 1 to 3 (one apply, operations followed to their end; LCM 200 ms per operation, run one after the other per NS)\n");
    println!(
        "| scale operations sent | followed to COMPLETED | wall time | requests | KiB received |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {steps} | {completed} | {:.2} s | {} | {:.1} |",
        wall.as_secs_f64(),
        used.requests,
        used.bytes_received as f64 / 1024.0
    );
    assert_eq!(steps, 100);
    assert_eq!(completed, 100);
}

fn main() {
    let sizes: Vec<usize> = std::env::var("OSMOPS_BENCH_N")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 100]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if std::env::var("OSMOPS_BENCH_ONLY").as_deref() == Ok("services") {
        services(&rt);
        return;
    }
    let others: usize = std::env::var("OSMOPS_BENCH_OTHERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    println!(
        "## `osmops apply` vs. the `osm` CLI's request pattern, process against process, behind TLS (token throttle on, realistic record sizes; CLI wall time includes a modelled 0.4 s start-up per command)\n"
    );
    println!("| scenario | requests (osmops / CLI) | TCP connections | HTTP KiB (osmops / CLI) | wire KiB, TLS (osmops / CLI) | wall s (osmops / CLI) | HTTP bytes saved | wire bytes saved | wall ratio |");
    println!("|---|---|---|---|---|---|---|---|---|");
    // An earlier build of osmops, measured in the same run for "before / after" rows.
    let before = std::env::var_os("OSMOPS_BENCH_BEFORE").map(std::path::PathBuf::from);
    let now = Path::new(env!("CARGO_BIN_EXE_osmops"));
    for n in sizes {
        let (ec, eu) = rt.block_on(engine_run(now, n, 0));
        let (bc, bu) = rt.block_on(baseline_run(n, 0));
        println!(
            "{}",
            row(&format!("{n} KNF creates into an empty OSM"), ec, bc)
        );
        if let Some(old) = &before {
            let (oc, _) = rt.block_on(engine_run(old, n, 0));
            println!(
                "{}",
                row(
                    &format!("{n} KNF creates into an empty OSM, osmops before"),
                    oc,
                    bc
                )
            );
        }
        println!("{}", row(&format!("{n} KNF upgrades"), eu, bu));
        if others > 0 {
            let (ec, _) = rt.block_on(engine_run(now, n, others));
            let (bc, _) = rt.block_on(baseline_run(n, others));
            let label = format!("{n} KNF creates into an OSM holding {others} other NS");
            println!("{}", row(&label, ec, bc));
            if let Some(old) = &before {
                let (oc, _) = rt.block_on(engine_run(old, n, others));
                println!("{}", row(&format!("{label}, osmops before"), oc, bc));
            }
        }
    }
    services(&rt);
    drop(rt);
    if std::env::var("OSMOPS_BENCH_SKIP_NOOP").is_err() {
        unchanged_1000();
    }
}
