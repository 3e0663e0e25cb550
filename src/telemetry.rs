//! Logging and tracing: a tracing subscriber (console or JSON), plus OpenTelemetry trace export
//! over OTLP/HTTP when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; the exporter reads the other `OTEL_*` variables
//! (headers, timeout, `OTEL_SERVICE_NAME`) itself.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
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

/// A tracer provider exporting to `endpoint` (OTLP/HTTP base URL, e.g. http://collector:4318),
/// or to what the `OTEL_*` variables say when `endpoint` is None.
pub fn tracer_provider(endpoint: Option<&str>) -> Result<SdkTracerProvider, String> {
    let mut builder = opentelemetry_otlp::SpanExporter::builder().with_http();
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
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    let provider = if otlp_configured() {
        match tracer_provider(None) {
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
