//! The flags of `osmops controller`: Flux's names and defaults, each value checked as Flux's
//! controllers check it (exit 2), the last of a repeated flag winning (pflag).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, ValueEnum};

use crate::cli::sync::LimitArgs;
use crate::duration::parse_duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogEncoding {
    Console,
    Json,
}

/// Flux's log levels (plus warn).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_filter(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// A duration that must be greater than zero.
fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

/// A listen address as Flux writes it (`:8080` means every interface) or `host:port`.
fn listen_addr(s: &str) -> Result<SocketAddr, String> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_owned()
    };
    full.parse()
        .map_err(|e| format!("'{s}' is not a listen address (e.g. :8080 or 0.0.0.0:8080): {e}"))
}

/// `--metrics-addr`: a listen address, or `0` to serve no metrics (controller-runtime's way).
#[derive(Clone, Copy, Debug)]
pub(super) struct MetricsAddr(pub(super) Option<SocketAddr>);

fn metrics_addr(s: &str) -> Result<MetricsAddr, String> {
    if s == "0" {
        return Ok(MetricsAddr(None));
    }
    listen_addr(s).map(|a| MetricsAddr(Some(a)))
}

fn optional_label_selector(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Ok(String::new());
    }
    label_selector(s)
}

fn label_selector(s: &str) -> Result<String, String> {
    crate::api::selector::check_label_selector(s).map(|()| s.to_owned())
}

fn namespace_name(s: &str) -> Result<String, String> {
    if crate::api::selector::is_dns1123_label(s) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "'{s}' is not a namespace name (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)"
        ))
    }
}

/// Flux's notification-controller address: an http(s) URL with a host.
fn events_url(s: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(s).map_err(|e| format!("'{s}' is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("'{s}' is not an http(s) URL with a host"));
    }
    Ok(s.to_owned())
}

fn positive_qps(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(q) if q.is_finite() && q > 0.0 => Ok(q),
        _ => Err(format!(
            "'{s}' is not a positive number of requests per second"
        )),
    }
}

/// The flags of Flux's controllers (same names and defaults), plus OSM Ops' own.
#[derive(Args, Debug)]
pub struct ControllerArgs {
    /// OsmSyncs reconciled at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub(super) concurrent: u16,
    /// Requeue period while dependencies or sources are not ready.
    #[arg(long, default_value = "30s", value_parser = positive_duration)]
    pub(super) requeue_dependency: Duration,
    /// Refuse sourceRefs and dependsOn entries in other namespaces.
    #[arg(long)]
    pub(super) no_cross_namespace_refs: bool,
    /// Watch OsmSyncs in all namespaces; `--watch-all-namespaces=false` watches only the
    /// controller's own namespace (RUNTIME_NAMESPACE, else POD_NAMESPACE).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(super) watch_all_namespaces: bool,
    /// Watch only this namespace (wins over --watch-all-namespaces).
    #[arg(long, env = "WATCH_NAMESPACE", value_parser = namespace_name)]
    pub(super) watch_namespace: Option<String>,
    /// Reconcile only OsmSyncs whose labels match this selector (e.g. `sharding.fluxcd.io/key=shard1`),
    /// checked as the API server parses it.
    #[arg(long, value_parser = label_selector)]
    pub(super) watch_label_selector: Option<String>,
    /// Watch Secrets and ConfigMaps matching this selector: a change reconciles the OsmSyncs
    /// whose substituteFrom names them (Flux's flag and default). Empty: not watched.
    #[arg(long, default_value = crate::controller::WATCH_CONFIGS_LABEL_SELECTOR, value_parser = optional_label_selector)]
    pub(super) watch_configs_label_selector: String,
    /// Reconcile only while holding the leader Lease (Flux's default).
    #[arg(long, alias = "leader-elect", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(super) enable_leader_election: bool,
    /// Namespace of the leader Lease (default: the controller's namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub(super) leader_election_namespace: String,
    #[arg(long, default_value = "osmops-controller-leader")]
    pub(super) leader_election_id: String,
    /// How long a Lease holds without renewal.
    #[arg(long, default_value = "35s", value_parser = positive_duration)]
    pub(super) leader_election_lease_duration: Duration,
    /// How long the leader keeps reconciling without a successful renewal.
    #[arg(long, default_value = "30s", value_parser = positive_duration)]
    pub(super) leader_election_renew_deadline: Duration,
    /// How often the Lease is renewed (or looked at by standbys).
    #[arg(long, default_value = "5s", value_parser = positive_duration)]
    pub(super) leader_election_retry_period: Duration,
    /// Spread successful requeues by ± this percentage of spec.interval.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(0..100))]
    pub(super) interval_jitter_percentage: u8,
    /// Kubernetes API requests per second (client-side limit).
    #[arg(long, default_value = "50", value_parser = positive_qps)]
    pub(super) kube_api_qps: f32,
    /// Kubernetes API requests allowed in a burst.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) kube_api_burst: u32,
    /// Flux notification-controller's event receiver, e.g.
    /// http://notification-controller.flux-system.svc.cluster.local./
    #[arg(long, env = "EVENTS_ADDR", value_parser = events_url)]
    pub(super) events_addr: Option<String>,
    /// Where `/metrics` is served; `0` serves no metrics.
    #[arg(long, default_value = ":8080", value_parser = metrics_addr)]
    pub(super) metrics_addr: MetricsAddr,
    #[arg(long, default_value = ":9440", value_parser = listen_addr)]
    pub(super) health_addr: SocketAddr,
    /// Largest source artifact accepted, in bytes.
    #[arg(long, default_value_t = 100 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) max_artifact_size: u64,
    /// How long the controller waits at start-up for the Kubernetes API to answer (it retries
    /// unreachable or silent servers meanwhile, and `/readyz` answers 503); then it exits 1.
    #[arg(long, default_value = "2m", value_parser = positive_duration)]
    pub(super) startup_timeout: Duration,
    /// How often followed OSM operations are polled.
    #[arg(long, default_value = "2s", value_parser = positive_duration)]
    pub(super) operation_poll_interval: Duration,
    /// How long one read of an OSM's NS list is shared by the OsmSyncs on that OSM (0s: every
    /// reconcile reads it).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub(super) osm_list_max_age: Duration,
    /// Hand the OSM operations a reconcile started to one follower per OSM and free the worker
    /// (the OsmSync is Ready=Unknown until they end, which reconciles it again). `false`: the
    /// worker follows them to the end itself, as before.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(super) hand_off_operations: bool,
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
    #[arg(long, value_enum, default_value_t = LogEncoding::Console)]
    pub log_encoding: LogEncoding,
    /// Address of the gRPC API.
    #[arg(long, default_value = ":9090", value_parser = listen_addr)]
    pub(super) grpc_addr: SocketAddr,
    /// TLS certificate and key (PEM) for the gRPC API.
    #[arg(long, requires = "grpc_tls_key")]
    pub(super) grpc_tls_cert: Option<PathBuf>,
    #[arg(long, requires = "grpc_tls_cert")]
    pub(super) grpc_tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (mutual TLS).
    #[arg(long, requires = "grpc_tls_cert")]
    pub(super) grpc_client_ca: Option<PathBuf>,
    /// File holding the bearer token gRPC clients must send (e.g. a mounted Secret).
    #[arg(long)]
    pub(super) grpc_token_file: Option<PathBuf>,
    #[command(flatten)]
    pub(super) limits: LimitArgs,
}
