//! Logging and tracing: a tracing subscriber (console or JSON), plus OpenTelemetry trace export
//! over OTLP/HTTP when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, to `http://` or `https://` collectors (a CA from
//! `OTEL_EXPORTER_OTLP_CERTIFICATE`); the exporter reads the other `OTEL_*` variables (headers,
//! `OTEL_SERVICE_NAME`) itself.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Keeps the exporter alive; flushes pending spans when dropped.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    pub fn provider(&self) -> Option<&SdkTracerProvider> {
        self.provider.as_ref()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// The exporter's HTTP client: our reqwest (rustls, system roots plus an optional CA), blocking
/// because the batch span processor exports from its own thread, outside any async runtime.
#[derive(Debug)]
struct OtlpHttpClient(reqwest::blocking::Client);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpHttpClient {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        let resp = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body.to_vec())
            .send()?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes()?;
        let mut out = http::Response::builder().status(status).body(body)?;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

/// The CA (PEM) to trust for the collector besides the system roots: `ca_pem`, else the file named
/// by `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE` or `OTEL_EXPORTER_OTLP_CERTIFICATE` (the standard
/// variables).
fn collector_ca(ca_pem: Option<Vec<u8>>) -> Result<Option<Vec<u8>>, String> {
    if ca_pem.is_some() {
        return Ok(ca_pem);
    }
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
    ] {
        if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            return std::fs::read(&path)
                .map(Some)
                .map_err(|e| format!("cannot read {var} {}: {e}", path.to_string_lossy()));
        }
    }
    Ok(None)
}

/// A tracer provider exporting OTLP/HTTP (protobuf) to `endpoint` (base URL, e.g.
/// `https://collector:4318`), or to what the `OTEL_*` variables say when `endpoint` is None;
/// `https://` collectors are verified against the system roots plus `ca_pem` (or the standard
/// certificate variables).
pub fn tracer_provider(
    endpoint: Option<&str>,
    ca_pem: Option<Vec<u8>>,
) -> Result<SdkTracerProvider, String> {
    let mut client = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .timeout(std::time::Duration::from_secs(10));
    if let Some(pem) = collector_ca(ca_pem)? {
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("invalid collector CA certificate: {e}"))?
        {
            client = client.add_root_certificate(cert);
        }
    }
    // The blocking client owns a runtime: build it off any async runtime's threads.
    let client = std::thread::spawn(move || client.build())
        .join()
        .map_err(|_| "cannot build the OTLP HTTP client".to_owned())?
        .map_err(|e| format!("cannot build the OTLP HTTP client: {e}"))?;
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(OtlpHttpClient(client));
    if let Some(e) = endpoint {
        builder = builder.with_endpoint(format!("{}/v1/traces", e.trim_end_matches('/')));
    }
    let exporter = builder
        .build()
        .map_err(|e| format!("cannot create the OTLP exporter: {e}"))?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "osmops".into());
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The layer that turns tracing spans into OpenTelemetry spans.
pub fn otel_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer("osmops"))
}

fn otlp_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()))
}

/// Installs the global subscriber: `OSMOPS_LOG` (an EnvFilter) or `default_level`, console or
/// JSON lines on stderr, and OTLP trace export when configured through the environment.
pub fn init(default_level: &str, json: bool) -> TelemetryGuard {
    let filter =
        EnvFilter::try_from_env("OSMOPS_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    // Colours only for a person at a terminal: never in files, pipes or log collectors, and never
    // with NO_COLOR set.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let fmt = if json {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    let provider = if otlp_configured() {
        match tracer_provider(None, None) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("warning: {e}; traces are not exported");
                None
            }
        }
    } else {
        None
    };
    let otel = provider.as_ref().map(otel_layer);
    Registry::default().with(filter).with(fmt).with(otel).init();
    TelemetryGuard { provider }
}

/// The OpenTelemetry trace id of the current span, for log lines ("" when not exporting).
pub fn current_trace_id() -> String {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let ctx = tracing::Span::current().context();
    let id = ctx.span().span_context().trace_id();
    if id == opentelemetry::trace::TraceId::INVALID {
        String::new()
    } else {
        id.to_string()
    }
}
