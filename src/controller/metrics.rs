//! Prometheus metrics in Flux's names where Flux has them.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::engine::Outcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub controller: String,
    /// success | error | requeue
    pub result: String,
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
    pub nbi_requests: Counter,
    pub nbi_bytes_sent: Counter,
    pub nbi_bytes_received: Counter,
    pub operations: Family<OpKind, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let reconcile_duration = Family::<ObjectLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 14))
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
        Metrics {
            registry,
            reconcile_duration,
            reconcile_total,
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
        for op in &o.operations {
            self.operations
                .get_or_create(&OpKind {
                    r#type: op.op_type.clone(),
                    state: op.state.to_string(),
                })
                .inc();
        }
    }

    pub fn count_result(&self, result: &str) {
        self.reconcile_total
            .get_or_create(&ResultLabels {
                controller: "osmsync".into(),
                result: result.into(),
            })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
