//! OpenTelemetry: a reconcile of the real controller (on the Kubernetes API emulator, with the NBI
//! simulator) exported over OTLP/HTTP to an in-process receiver; the span tree is asserted.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::world::*;
use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use osmops::controller::{self, ControllerOptions};
use prost::Message;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Debug)]
struct SeenSpan {
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent: Vec<u8>,
    attrs: HashMap<String, String>,
}

/// The receiver's one route: decode OTLP protobuf span batches into `store`.
fn receiver_app(store: Arc<Mutex<Vec<SeenSpan>>>) -> axum::Router {
    axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: bytes::Bytes| {
            let store = store.clone();
            async move {
                let req = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                let mut out = store.lock().unwrap();
                for s in req
                    .resource_spans
                    .into_iter()
                    .flat_map(|rs| rs.scope_spans)
                    .flat_map(|ss| ss.spans)
                {
                    let attrs = s
                        .attributes
                        .iter()
                        .map(|kv| {
                            let v = match kv.value.as_ref().and_then(|v| v.value.clone()) {
                                Some(AnyValue::StringValue(s)) => s,
                                Some(AnyValue::IntValue(i)) => i.to_string(),
                                Some(AnyValue::BoolValue(b)) => b.to_string(),
                                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                                other => format!("{other:?}"),
                            };
                            (kv.key.clone(), v)
                        })
                        .collect();
                    out.push(SeenSpan {
                        name: s.name,
                        trace_id: s.trace_id,
                        span_id: s.span_id,
                        parent: s.parent_span_id,
                        attrs,
                    });
                }
                axum::http::StatusCode::OK
            }
        }),
    )
}

/// An OTLP/HTTP receiver on its own thread and runtime (the batch exporter blocks while flushing);
/// over TLS when `tls` is given. Returns its base URL.
fn start_receiver_with(
    tls: Option<tokio_rustls::rustls::ServerConfig>,
) -> (String, Arc<Mutex<Vec<SeenSpan>>>) {
    let spans: Arc<Mutex<Vec<SeenSpan>>> = Arc::default();
    let app = receiver_app(spans.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let Some(tls) = tls else {
                tx.send(format!("http://127.0.0.1:{port}")).unwrap();
                axum::serve(listener, app).await.unwrap();
                return;
            };
            // The certificate names "localhost", so the URL must too.
            tx.send(format!("https://localhost:{port}")).unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    // A client that rejects the certificate ends the handshake: nothing to serve.
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        tower::ServiceExt::oneshot(app.clone(), req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    (rx.recv().unwrap(), spans)
}

fn start_receiver() -> (String, Arc<Mutex<Vec<SeenSpan>>>) {
    start_receiver_with(None)
}

/// A collector behind TLS with a certificate from a private CA (self-signed here).
fn tls_collector() -> (String, Arc<Mutex<Vec<SeenSpan>>>, Vec<u8>) {
    use tokio_rustls::rustls;
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
    let (url, spans) = start_receiver_with(Some(config));
    (url, spans, ca_pem)
}

/// Emits one span through a fresh provider for `endpoint` and flushes it (off the runtime: the
/// blocking exporter owns its own).
fn export_one_span(provider: opentelemetry_sdk::trace::SdkTracerProvider) -> Result<(), String> {
    let subscriber = tracing_subscriber::registry().with(osmops::telemetry::otel_layer(&provider));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("tls-probe").in_scope(|| tracing::info!("hello"));
    });
    let flushed = provider.force_flush().map_err(|e| e.to_string());
    let _ = provider.shutdown();
    flushed
}

#[test]
fn spans_reach_a_tls_collector_trusted_through_the_given_ca() {
    let (url, spans, ca_pem) = tls_collector();
    let provider = osmops::telemetry::tracer_provider(Some(&url), Some(ca_pem)).unwrap();
    export_one_span(provider).expect("exported over TLS");
    let names: Vec<String> = spans
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(names, ["tls-probe"]);
}

#[test]
fn a_collector_whose_certificate_is_not_trusted_gets_nothing() {
    let (url, spans, _ca_pem) = tls_collector();
    // No CA given and none in the environment: the private CA is not among the system roots.
    let provider = osmops::telemetry::tracer_provider(Some(&url), None).unwrap();
    let result = export_one_span(provider);
    assert!(
        result.is_err(),
        "an untrusted collector must not be exported to"
    );
    assert!(spans.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_reconcile_is_one_trace_with_phase_nbi_and_follow_spans() {
    let (endpoint, spans) = start_receiver();
    let provider = osmops::telemetry::tracer_provider(Some(&endpoint), None).unwrap();
    let subscriber = tracing_subscriber::registry().with(osmops::telemetry::otel_layer(&provider));
    // Current-thread runtime: every task of this test runs under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let w = world().await;
    w.publish("main@sha1:otel", repo(&[("ldap", Some("1"))]).path())
        .await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // The worker follows its operations (`--hand-off-operations=false`), so the follow spans
    // are in the reconcile's trace; handed off, they are the follower's.
    let inline = ControllerOptions {
        hand_off_operations: false,
        ..ctl_opts()
    };
    let ctl = tokio::spawn(controller::run(
        context_with(&w.client, "ctl", inline),
        async move {
            let _ = stop_rx.await;
        },
    ));
    w.create_sync("demo").await;
    w.wait_for("demo", "Ready", |s| applied(s, "main@sha1:otel"))
        .await;
    let _ = stop_tx.send(());
    ctl.await.unwrap();
    let flushed = tokio::task::spawn_blocking(move || {
        let r = provider.force_flush();
        let _ = provider.shutdown();
        r
    })
    .await
    .unwrap();
    flushed.expect("spans exported");

    let spans = spans.lock().unwrap().clone();
    // The reconcile that reached OSM: the root span whose trace has an engine span.
    let engine = spans
        .iter()
        .find(|s| s.name == "engine")
        .expect("an engine span");
    let trace: Vec<&SeenSpan> = spans
        .iter()
        .filter(|s| s.trace_id == engine.trace_id)
        .collect();
    // kube-runtime opens the root span ("reconciling object"); ours sits right under it.
    let root = trace
        .iter()
        .find(|s| s.parent.is_empty())
        .expect("a root span");
    assert_eq!(root.name, "reconciling object");
    let ours = trace
        .iter()
        .find(|s| s.name == "reconcile")
        .expect("the reconcile span");
    assert_eq!(ours.parent, root.span_id);
    assert_eq!(
        ours.attrs.get("osmsync.name").map(String::as_str),
        Some("demo")
    );
    assert_eq!(
        ours.attrs.get("osmsync.namespace").map(String::as_str),
        Some("ops")
    );
    assert_eq!(
        ours.attrs.get("trace_id").map(|t| t.len()),
        Some(32),
        "the trace id is recorded for log lines"
    );
    let names: Vec<&str> = trace.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "source.resolve",
        "artifact.fetch",
        "repository.read",
        "credentials",
        "engine",
        "osm.read",
        "plan",
        "apply",
        "operations.follow",
        "status.write",
    ] {
        assert!(
            names.contains(&expected),
            "missing span {expected} in {names:?}"
        );
    }
    // Parent links form a tree under the root.
    let by_id: HashMap<&[u8], &SeenSpan> =
        trace.iter().map(|s| (s.span_id.as_slice(), *s)).collect();
    for s in &trace {
        let mut cur = *s;
        let mut hops = 0;
        while !cur.parent.is_empty() {
            cur = by_id
                .get(cur.parent.as_slice())
                .unwrap_or_else(|| panic!("span {} has a parent outside the trace", s.name));
            hops += 1;
            assert!(hops < 20);
        }
        assert_eq!(cur.name, "reconciling object");
    }
    // One span per NBI request: method, route template, status; no ids or credentials.
    let nbi: Vec<&&SeenSpan> = trace
        .iter()
        .filter(|s| s.attrs.contains_key("url.template"))
        .collect();
    assert!(nbi.len() >= 6, "{nbi:?}");
    let create = nbi
        .iter()
        .find(|s| s.name == "POST nslcm/v1/ns_instances_content")
        .expect("the NS create request span");
    assert_eq!(
        create.attrs.get("http.request.method").map(String::as_str),
        Some("POST")
    );
    assert_eq!(
        create
            .attrs
            .get("http.response.status_code")
            .map(String::as_str),
        Some("201")
    );
    assert!(
        nbi.iter()
            .any(|s| s.name == "GET nslcm/v1/ns_lcm_op_occs/{id}"),
        "operation follow-up requests are spans"
    );
    let follow = trace
        .iter()
        .find(|s| s.name == "operations.follow")
        .unwrap();
    assert!(
        nbi.iter().any(|s| s.parent == follow.span_id),
        "polls sit under the follow span"
    );
    for s in &spans {
        for v in s.attrs.values() {
            assert!(
                !v.contains("password"),
                "no credentials in span attributes: {v}"
            );
        }
    }
}
