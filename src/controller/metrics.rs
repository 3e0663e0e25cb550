//! Prometheus metrics in the names Flux's controllers (and controller-runtime under them) use, so
//! the flux2 monitoring dashboards' queries work for OsmSync: reconcile counts by result (one per
//! reconcile; one ending Ready=False is an `error`), reconcile durations up to 30 minutes, the
//! Ready condition per object, and the standard `process_*` metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Flux's reconcile-duration buckets reach 30 minutes (OSM operations are slow).
const DURATION_BUCKETS: [f64; 15] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

use crate::engine::Outcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

impl ObjectLabels {
    /// The labels of an OsmSync's series.
    pub fn of(sync: &crate::api::OsmSync) -> ObjectLabels {
        use kube::ResourceExt;
        ObjectLabels {
            kind: "OsmSync".into(),
            name: sync.name_any(),
            namespace: sync.namespace().unwrap_or_default(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub controller: String,
    /// success | error | requeue
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    pub controller: String,
}

/// Flux's `gotk_reconcile_condition` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabels {
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub r#type: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpKind {
    pub r#type: String,
    pub state: String,
}

pub struct Metrics {
    pub registry: Registry,
    pub reconcile_duration: Family<ObjectLabels, Histogram>,
    pub reconcile_total: Family<ResultLabels, Counter>,
    pub reconcile_errors: Family<ControllerLabel, Counter>,
    pub reconcile_time: Family<ControllerLabel, Histogram>,
    pub active_workers: Family<ControllerLabel, Gauge>,
    pub condition: Family<ConditionLabels, Gauge>,
    pub nbi_requests: Counter,
    pub nbi_bytes_sent: Counter,
    pub nbi_bytes_received: Counter,
    pub operations: Family<OpKind, Counter>,
    /// Objects OSM changed outside Git that the drift policy only reports, per OsmSync.
    pub drifted_objects: Family<ObjectLabels, Gauge>,
    /// Drifted objects the controller corrected, per OsmSync.
    pub drift_corrections: Family<ObjectLabels, Counter>,
    /// 1 while a plan waits for approval.
    pub awaiting_approval: Family<ObjectLabels, Gauge>,
    /// 1 while a rollout is paused by a failed batch.
    pub rollout_paused: Family<ObjectLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let reconcile_duration = Family::<ObjectLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(DURATION_BUCKETS)
        });
        registry.register(
            "gotk_reconcile_duration_seconds",
            "The duration in seconds of a reconciliation",
            reconcile_duration.clone(),
        );
        let reconcile_total = Family::<ResultLabels, Counter>::default();
        registry.register(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller and result",
            reconcile_total.clone(),
        );
        let reconcile_errors = Family::<ControllerLabel, Counter>::default();
        registry.register(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            reconcile_errors.clone(),
        );
        let reconcile_time = Family::<ControllerLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(DURATION_BUCKETS)
        });
        registry.register(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            reconcile_time.clone(),
        );
        let active_workers = Family::<ControllerLabel, Gauge>::default();
        registry.register(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            active_workers.clone(),
        );
        let condition = Family::<ConditionLabels, Gauge>::default();
        registry.register(
            "gotk_reconcile_condition",
            "The current condition status of a GitOps Toolkit resource reconciliation",
            condition.clone(),
        );
        let nbi_requests = Counter::default();
        registry.register(
            "osmops_nbi_requests",
            "Requests sent to OSM NBIs",
            nbi_requests.clone(),
        );
        let nbi_bytes_sent = Counter::default();
        registry.register(
            "osmops_nbi_sent_bytes",
            "Bytes sent to OSM NBIs (headers and bodies)",
            nbi_bytes_sent.clone(),
        );
        let nbi_bytes_received = Counter::default();
        registry.register(
            "osmops_nbi_received_bytes",
            "Bytes received from OSM NBIs (headers and bodies)",
            nbi_bytes_received.clone(),
        );
        let operations = Family::<OpKind, Counter>::default();
        registry.register(
            "osmops_osm_operations",
            "OSM operations started, by type and final state",
            operations.clone(),
        );
        let drifted_objects = Family::<ObjectLabels, Gauge>::default();
        registry.register(
            "osmops_drifted_objects",
            "Objects OSM changed outside Git that the drift policy only reports",
            drifted_objects.clone(),
        );
        let drift_corrections = Family::<ObjectLabels, Counter>::default();
        registry.register(
            "osmops_drift_corrections",
            "Drifted objects brought back to Git",
            drift_corrections.clone(),
        );
        let awaiting_approval = Family::<ObjectLabels, Gauge>::default();
        registry.register(
            "osmops_plan_awaiting_approval",
            "1 while a plan that would write waits for approval",
            awaiting_approval.clone(),
        );
        let rollout_paused = Family::<ObjectLabels, Gauge>::default();
        registry.register(
            "osmops_rollout_paused",
            "1 while a progressive rollout is paused by a failed batch",
            rollout_paused.clone(),
        );
        Metrics {
            registry,
            drifted_objects,
            drift_corrections,
            awaiting_approval,
            rollout_paused,
            reconcile_duration,
            reconcile_total,
            reconcile_errors,
            reconcile_time,
            active_workers,
            condition,
            nbi_requests,
            nbi_bytes_sent,
            nbi_bytes_received,
            operations,
        }
    }
}

impl Metrics {
    pub fn observe_outcome(&self, o: &Outcome) {
        self.nbi_requests.inc_by(o.requests.requests);
        self.nbi_bytes_sent.inc_by(o.requests.bytes_sent);
        self.nbi_bytes_received.inc_by(o.requests.bytes_received);
        self.observe_operations(&o.operations);
    }

    /// Operations a reconcile saw end (or stop being followed). One handed off to the follower
    /// is counted when a later reconcile sees it end, so each is counted once.
    pub fn observe_operations(&self, operations: &[crate::engine::OperationReport]) {
        for op in operations.iter().filter(|op| op.finished()) {
            self.operations
                .get_or_create(&OpKind {
                    r#type: op.op_type.to_string(),
                    state: op.state.to_string(),
                })
                .inc();
        }
    }

    fn controller() -> ControllerLabel {
        ControllerLabel {
            controller: CONTROLLER.into(),
        }
    }

    /// One finished reconcile: `error` when it failed or ended Ready=False, else `success`.
    pub fn count_reconcile(&self, failed: bool, seconds: f64) {
        let result = if failed { "error" } else { "success" };
        self.reconcile_total
            .get_or_create(&ResultLabels {
                controller: CONTROLLER.into(),
                result: result.into(),
            })
            .inc();
        if failed {
            self.reconcile_errors
                .get_or_create(&Self::controller())
                .inc();
        }
        self.reconcile_time
            .get_or_create(&Self::controller())
            .observe(seconds);
    }

    /// A reconcile worker starts (`+1`) or ends (`-1`); returns how many run now (`0`: just
    /// asks).
    pub fn worker(&self, delta: i64) -> i64 {
        self.active_workers
            .get_or_create(&Self::controller())
            .inc_by(delta)
            + delta
    }

    /// The Ready condition of an object now (`Deleted` once it is gone): 1 for its status, 0
    /// for the others, as Flux's `gotk_reconcile_condition`.
    pub fn set_ready(&self, object: &ObjectLabels, status: &str) {
        for s in ["True", "False", "Unknown", "Deleted"] {
            self.condition
                .get_or_create(&ConditionLabels {
                    kind: object.kind.clone(),
                    name: object.name.clone(),
                    namespace: object.namespace.clone(),
                    r#type: "Ready".into(),
                    status: s.into(),
                })
                .set(i64::from(s == status));
        }
    }

    /// The OpenMetrics text, with the process metrics appended (read from /proc at scrape time).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        let process = process_metrics();
        if !process.is_empty() {
            if let Some(body) = out.strip_suffix("# EOF\n") {
                out = format!("{body}{process}# EOF\n");
            }
        }
        out
    }
}

const CONTROLLER: &str = "osmsync";

/// `process_*` metrics as Prometheus client libraries export them (Linux /proc; empty elsewhere).
fn process_metrics() -> String {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return String::new();
    };
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n).and_then(|v| v.parse::<f64>().ok());
    // Without libc's sysconf: Linux reports 100 clock ticks per second to user space (USER_HZ)
    // and uses 4 KiB pages on the x86-64 and arm64 nodes this image runs on.
    const TICKS: f64 = 100.0;
    const PAGE: f64 = 4096.0;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: Option<f64>| {
        if let Some(v) = value {
            let sample = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{sample} {v}\n"
            ));
        }
    };
    // utime (14) + stime (15), 1-based in proc(5); here 0-based after the name: 11 and 12.
    let cpu = field(11).zip(field(12)).map(|(u, s)| (u + s) / TICKS);
    metric(
        "process_cpu_seconds",
        "counter",
        "Total user and system CPU time spent in seconds.",
        cpu,
    );
    metric(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        field(20),
    );
    metric(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        field(21).map(|p| p * PAGE),
    );
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    });
    let start = boot.zip(field(19)).map(|(b, ticks)| b + ticks / TICKS);
    metric(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        start,
    );
    let fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as f64);
    metric(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        fds,
    );
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<f64>().ok())
        });
    metric(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        max_fds,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux_dashboards_find_their_series_and_failures_count_once() {
        let m = Metrics::default();
        m.count_reconcile(false, 0.2);
        m.count_reconcile(true, 1500.0);
        let o = ObjectLabels {
            kind: "OsmSync".into(),
            name: "a".into(),
            namespace: "ops".into(),
        };
        m.set_ready(&o, "False");
        let text = m.encode();
        for line in [
            "controller_runtime_reconcile_total{controller=\"osmsync\",result=\"success\"} 1",
            "controller_runtime_reconcile_total{controller=\"osmsync\",result=\"error\"} 1",
            "controller_runtime_reconcile_errors_total{controller=\"osmsync\"} 1",
            "controller_runtime_reconcile_time_seconds_bucket{le=\"1800.0\",controller=\"osmsync\"} 2",
            "gotk_reconcile_condition{kind=\"OsmSync\",name=\"a\",namespace=\"ops\",type=\"Ready\",status=\"False\"} 1",
            "gotk_reconcile_condition{kind=\"OsmSync\",name=\"a\",namespace=\"ops\",type=\"Ready\",status=\"True\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        // A 25-minute reconcile is not in the top bucket only.
        assert!(
            text.contains("controller_runtime_reconcile_time_seconds_bucket{le=\"600.0\",controller=\"osmsync\"} 1"),
            "{text}"
        );
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    /// The chart's Grafana dashboard reads only what this controller exports: every metric a
    /// query (or a template variable) names is a series of `encode()`, and every label it
    /// selects or groups by is one of that series' labels or one Prometheus adds at scrape time.
    #[test]
    fn every_dashboard_query_names_an_exported_series() {
        let m = Metrics::default();
        let o = ObjectLabels {
            kind: "OsmSync".into(),
            name: "a".into(),
            namespace: "ops".into(),
        };
        // One sample in every family, through the calls the controller makes.
        m.count_reconcile(true, 1.0);
        m.worker(1);
        m.set_ready(&o, "True");
        m.reconcile_duration.get_or_create(&o).observe(1.0);
        m.drifted_objects.get_or_create(&o).set(1);
        m.drift_corrections.get_or_create(&o).inc();
        m.awaiting_approval.get_or_create(&o).set(1);
        m.rollout_paused.get_or_create(&o).set(1);
        m.nbi_requests.inc();
        m.nbi_bytes_sent.inc();
        m.nbi_bytes_received.inc();
        m.operations
            .get_or_create(&OpKind {
                r#type: "instantiate".into(),
                state: "COMPLETED".into(),
            })
            .inc();
        let exported = dashboard_check::series_labels(&m.encode());
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../charts/osmops/dashboards/osmsyncs.json"))
                .expect("the dashboard is JSON");
        let queries = dashboard_check::queries(&dashboard);
        assert!(queries.len() >= 10, "{queries:?}");
        let mut named = std::collections::BTreeSet::new();
        for q in &queries {
            let used = dashboard_check::metrics_and_labels(q);
            assert!(!used.is_empty(), "a query naming no series: {q}");
            for (metric, labels) in used {
                let Some(have) = exported.get(&metric) else {
                    panic!("{q}\nnames {metric}, which the controller does not export");
                };
                for l in labels {
                    assert!(
                        have.contains(&l) || dashboard_check::SCRAPE_LABELS.contains(&l.as_str()),
                        "{q}\nuses label {l} of {metric}, which has only {have:?}"
                    );
                }
                named.insert(metric);
            }
        }
        // The issue's panels: Ready, duration, operations, drift, paused rollouts, approvals.
        for wanted in [
            "gotk_reconcile_condition",
            "gotk_reconcile_duration_seconds_bucket",
            "osmops_osm_operations_total",
            "osmops_drifted_objects",
            "osmops_drift_corrections_total",
            "osmops_rollout_paused",
            "osmops_plan_awaiting_approval",
        ] {
            assert!(named.contains(wanted), "no panel reads {wanted}: {named:?}");
        }
        // The checker itself finds what it must refuse.
        let bad = dashboard_check::metrics_and_labels(
            r#"sum by (exported_namespace) (rate(gotk_reconcile_total{kind="OsmSync"}[5m]))"#,
        );
        assert_eq!(bad[0].0, "gotk_reconcile_total");
        assert!(!exported.contains_key("gotk_reconcile_total"));
    }

    /// A small PromQL reader, enough for dashboard queries: metric names, the labels their
    /// matchers and `by`/`without` clauses use, and `label_values(...)` of template variables.
    mod dashboard_check {
        use std::collections::{BTreeMap, BTreeSet};

        /// Labels Prometheus adds to every series of a target scraped by the ServiceMonitor.
        /// The series' own `namespace` becomes `exported_namespace` (it clashes with the target's).
        pub const SCRAPE_LABELS: [&str; 7] = [
            "job",
            "instance",
            "namespace",
            "pod",
            "container",
            "service",
            "endpoint",
        ];

        /// Sample names of an OpenMetrics text, with their labels as Prometheus stores them.
        pub fn series_labels(text: &str) -> BTreeMap<String, BTreeSet<String>> {
            let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                let name_end = line.find(['{', ' ']).unwrap_or(line.len());
                let labels = out.entry(line[..name_end].to_owned()).or_default();
                if let Some(rest) = line[name_end..].strip_prefix('{') {
                    let inner = &rest[..rest.find('}').unwrap_or(rest.len())];
                    for pair in inner.split(',').filter(|p| !p.is_empty()) {
                        let label = pair.split('=').next().unwrap_or_default();
                        labels.insert(if label == "namespace" {
                            "exported_namespace".into()
                        } else {
                            label.into()
                        });
                    }
                }
            }
            out
        }

        /// Every PromQL expression of the dashboard: panel targets and template variables.
        pub fn queries(dashboard: &serde_json::Value) -> Vec<String> {
            let mut out = Vec::new();
            let mut panels: Vec<&serde_json::Value> = Vec::new();
            let mut stack: Vec<&serde_json::Value> = dashboard["panels"]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            while let Some(p) = stack.pop() {
                if let Some(inner) = p["panels"].as_array() {
                    stack.extend(inner);
                }
                panels.push(p);
            }
            for p in panels {
                for t in p["targets"].as_array().into_iter().flatten() {
                    out.push(t["expr"].as_str().expect("a target with expr").to_owned());
                }
            }
            for v in dashboard["templating"]["list"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if v["type"] == "query" {
                    let q = v["query"]["query"].as_str().or(v["query"].as_str());
                    out.push(q.expect("a query variable with a query").to_owned());
                }
            }
            out
        }

        /// Words that are not metric names: binary operators, modifiers and the aggregation
        /// operators (which may be followed by `by (...)` rather than their parenthesis).
        const KEYWORDS: [&str; 21] = [
            "and",
            "or",
            "unless",
            "on",
            "ignoring",
            "group_left",
            "group_right",
            "bool",
            "offset",
            "sum",
            "min",
            "max",
            "avg",
            "count",
            "stddev",
            "stdvar",
            "topk",
            "bottomk",
            "quantile",
            "count_values",
            "group",
        ];

        /// (metric, labels it is selected or grouped by) for every metric an expression names.
        pub fn metrics_and_labels(expr: &str) -> Vec<(String, Vec<String>)> {
            let chars: Vec<char> = expr.chars().collect();
            let mut out: Vec<(String, Vec<String>)> = Vec::new();
            let mut grouping: Vec<String> = Vec::new();
            let mut i = 0;
            let ident = |i: usize| {
                let mut j = i;
                while j < chars.len()
                    && (chars[j].is_ascii_alphanumeric() || "_:".contains(chars[j]))
                {
                    j += 1;
                }
                (chars[i..j].iter().collect::<String>(), j)
            };
            let skip_ws = |mut j: usize| {
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                j
            };
            while i < chars.len() {
                let c = chars[i];
                if c == '"' {
                    i += 1
                        + chars[i + 1..]
                            .iter()
                            .position(|&c| c == '"')
                            .expect("closed string")
                        + 1;
                } else if c == '[' {
                    i += chars[i..]
                        .iter()
                        .position(|&c| c == ']')
                        .expect("closed range")
                        + 1;
                } else if c.is_ascii_digit() {
                    while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                        i += 1;
                    }
                } else if c.is_ascii_alphabetic() || c == '_' {
                    let (word, end) = ident(i);
                    let next = skip_ws(end);
                    if matches!(word.as_str(), "by" | "without") {
                        // by (a, b): labels of the series aggregated inside.
                        let close = next
                            + chars[next..]
                                .iter()
                                .position(|&c| c == ')')
                                .expect("closed by");
                        let inner: String = chars[next + 1..close].iter().collect();
                        grouping.extend(inner.split(',').map(|l| l.trim().to_owned()));
                        i = close + 1;
                    } else if word == "label_values" {
                        // label_values(selector, label): the label is the last argument.
                        let close = next
                            + chars[next..]
                                .iter()
                                .position(|&c| c == ')')
                                .expect("closed call");
                        let inner: String = chars[next + 1..close].iter().collect();
                        let (selector, label) = inner
                            .rsplit_once(',')
                            .expect("label_values(selector, label)");
                        let mut found = metrics_and_labels(selector);
                        if let Some(first) = found.first_mut() {
                            first.1.push(label.trim().to_owned());
                        }
                        out.extend(found);
                        i = close + 1;
                    } else if next < chars.len() && chars[next] == '('
                        || KEYWORDS.contains(&word.as_str())
                    {
                        i = end; // a function or a keyword
                    } else {
                        let mut labels = Vec::new();
                        i = next;
                        if i < chars.len() && chars[i] == '{' {
                            let close = i + chars[i..]
                                .iter()
                                .position(|&c| c == '}')
                                .expect("closed matcher");
                            let inner: String = chars[i + 1..close].iter().collect();
                            for m in split_matchers(&inner) {
                                let l = m.split(['=', '!', '~']).next().unwrap_or_default().trim();
                                labels.push(l.to_owned());
                            }
                            i = close + 1;
                        }
                        out.push((word, labels));
                    }
                } else {
                    i += 1;
                }
            }
            // Grouping labels belong to the series the expression aggregates.
            for (_, labels) in &mut out {
                labels.extend(
                    grouping
                        .iter()
                        .filter(|l| !l.is_empty() && *l != "le")
                        .cloned(),
                );
            }
            out
        }

        /// Matchers split at commas outside quoted values.
        fn split_matchers(inner: &str) -> Vec<String> {
            let mut out = vec![String::new()];
            let mut quoted = false;
            for c in inner.chars() {
                match c {
                    '"' => {
                        quoted = !quoted;
                        out.last_mut().unwrap().push(c);
                    }
                    ',' if !quoted => out.push(String::new()),
                    _ => out.last_mut().unwrap().push(c),
                }
            }
            out.into_iter().filter(|m| !m.trim().is_empty()).collect()
        }
    }
}
