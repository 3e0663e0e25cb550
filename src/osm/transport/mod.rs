//! How requests reach the NBI: one HTTP client, the token (reused until shortly before it expires,
//! one login at a time, one re-login on 401), retries only where they are safe, a deadline that
//! bounds every request of a run, one span and the counters per request. The typed endpoints
//! (`endpoints.rs`) are built on [`NbiClient::call`].

use std::sync::atomic::Ordering;

use backon::{ExponentialBuilder, Retryable};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

mod login;

use super::counters::Counters;
use super::error::{parse_error_body, NbiError};
use super::token::Token;
use super::{redact_url, ClientOptions, Credentials};
use crate::model::Timestamp;

/// Reads HTTP's `Date` header (RFC 9110's IMF-fixdate, an RFC 2822 date in GMT).
static HTTP_DATE: k8s_openapi::jiff::fmt::rfc2822::DateTimeParser =
    k8s_openapi::jiff::fmt::rfc2822::DateTimeParser::new();

/// A write is only started when at least this much of the run's time is left, so that it can get
/// its answer; a write that was sent may overrun the deadline by [`WRITE_GRACE`] at most.
pub const WRITE_MIN_TIME: Duration = Duration::from_secs(1);
pub const WRITE_GRACE: Duration = Duration::from_secs(5);

/// What a request carries.
pub(super) enum Payload {
    None,
    Json(Vec<u8>),
    Package {
        bytes: bytes::Bytes,
        filename: String,
        md5: String,
    },
}

impl Payload {
    pub fn json(body: &impl Serialize) -> Payload {
        Payload::Json(serde_json::to_vec(body).expect("request bodies serialize"))
    }
}

pub(super) struct Call {
    pub method: Method,
    /// Route template for errors, logs and metrics (ids replaced by `{id}`).
    pub route: &'static str,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub payload: Payload,
}

impl Call {
    pub fn get(route: &'static str, path: String, query: &[(&str, &str)]) -> Call {
        Call {
            method: Method::GET,
            route,
            path,
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            payload: Payload::None,
        }
    }

    pub fn write(method: Method, route: &'static str, path: String, payload: Payload) -> Call {
        Call {
            method,
            route,
            path,
            query: Vec::new(),
            payload,
        }
    }

    fn idempotent(&self) -> bool {
        self.method == Method::GET
    }
}

pub(super) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Answer {
    /// The body as typed records (lenient where the type says so).
    pub fn decode<T: serde::de::DeserializeOwned>(&self, call: &Call) -> Result<T, NbiError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| call.bad_response(format!("unexpected answer: {e}")))
    }

    pub fn json(&self, call: &Call) -> Result<Value, NbiError> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| call.bad_response(format!("invalid JSON: {e}")))
    }
}

impl Call {
    pub fn bad_response(&self, reason: impl Into<String>) -> NbiError {
        NbiError::BadResponse {
            method: self.method.to_string(),
            route: self.route.to_owned(),
            reason: reason.into(),
        }
    }
}

/// What every clone of a client shares: the connection pool, the token and the counters.
struct Shared {
    http: reqwest::Client,
    /// Base URL for requests (without user-info).
    base: String,
    /// Base URL for messages: user-info removed.
    shown: String,
    creds: Credentials,
    opts: ClientOptions,
    token: Mutex<Option<Token>>,
    counters: Arc<Counters>,
    /// OSM's clock as its last answer's `Date` header gave it.
    server_time: std::sync::Mutex<Option<Timestamp>>,
}

/// A session with one NBI (endpoint, user, project). Clones share the session; [`NbiClient::until`]
/// gives a clone whose every request ends by a deadline.
#[derive(Clone)]
pub struct NbiClient {
    shared: Arc<Shared>,
    deadline: Option<Instant>,
}

impl std::fmt::Debug for NbiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NbiClient")
            .field("base", &self.shared.shown)
            .field("user", &self.shared.creds.user)
            .finish()
    }
}

impl NbiClient {
    pub fn new(opts: ClientOptions, creds: Credentials) -> Result<Self, NbiError> {
        let given = opts.base_url.trim_end_matches('/').to_owned();
        let shown = redact_url(&given);
        let url = reqwest::Url::parse(&given)
            .map_err(|e| NbiError::Config(format!("OSM URL '{shown}' is not a URL: {e}")))?;
        // User-info in the URL would go out as an extra Basic Authorization header, which the
        // NBI does not take (it authenticates with the token): requests use the URL without it.
        if !url.username().is_empty() || url.password().is_some() {
            tracing::warn!(url = %shown, "the OSM URL carries user-info, which is not used: the NBI takes the user and password given separately");
        }
        let base = shown.clone();
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(NbiError::Config(format!(
                "OSM URL '{shown}' must start with http:// or https:// and name a host"
            )));
        }
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .default_headers(headers)
            .timeout(opts.request_timeout)
            .connect_timeout(opts.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("osmops/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &opts.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| NbiError::Config(format!("invalid CA certificate PEM: {e}")))?;
            if certs.is_empty() {
                return Err(NbiError::Config("CA PEM contains no certificate".into()));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if opts.insecure_skip_tls_verify {
            tracing::warn!(url = %shown, "TLS certificate verification is DISABLED for the OSM NBI (explicit opt-out)");
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| NbiError::Config(format!("cannot build HTTP client: {e}")))?;
        Ok(NbiClient {
            shared: Arc::new(Shared {
                http,
                base,
                shown,
                creds,
                opts,
                token: Mutex::new(None),
                counters: Arc::new(Counters::default()),
                server_time: std::sync::Mutex::new(None),
            }),
            deadline: None,
        })
    }

    /// The same session, with every request (login included) ending by `deadline`: requests
    /// are not started after it, a read in flight is cut at it, and a write is only started
    /// while there is time for its answer.
    pub fn until(&self, deadline: Instant) -> NbiClient {
        NbiClient {
            shared: self.shared.clone(),
            deadline: Some(match self.deadline {
                Some(d) => d.min(deadline),
                None => deadline,
            }),
        }
    }

    /// The base URL as it may be shown (user-info removed).
    pub fn base_url(&self) -> &str {
        &self.shared.shown
    }

    /// The user the session logs in as.
    pub fn user(&self) -> &str {
        &self.shared.creds.user
    }

    /// The project the session logs in to.
    pub fn project(&self) -> &str {
        &self.shared.creds.project
    }

    pub fn counters(&self) -> Arc<Counters> {
        self.shared.counters.clone()
    }

    /// How long the next request may take, or the error that stops it before it is sent.
    fn budget(&self, call: Option<&Call>) -> Result<Duration, NbiError> {
        let limit = self.shared.opts.request_timeout;
        let Some(deadline) = self.deadline else {
            return Ok(limit);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let (method, route) = call
            .map(|c| (c.method.to_string(), c.route))
            .unwrap_or_else(|| ("POST".into(), "admin/v1/tokens"));
        let write = call.is_some_and(|c| !c.idempotent());
        if left.is_zero() || (write && left < WRITE_MIN_TIME) {
            return Err(NbiError::Deadline {
                method,
                route: route.to_owned(),
            });
        }
        Ok(limit.min(if write { left + WRITE_GRACE } else { left }))
    }

    fn unreachable(&self, e: &reqwest::Error) -> NbiError {
        NbiError::Unreachable {
            url: self.shared.shown.clone(),
            reason: describe(e),
        }
    }

    /// Sends one HTTP request and reads the whole answer, counting requests and bytes.
    /// OSM's clock when it last answered (its `Date` header, second precision).
    pub fn server_time(&self) -> Option<Timestamp> {
        *self.shared.server_time.lock().expect("server time")
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
        let c = &self.shared.counters;
        let req = req.build()?;
        let sent = request_size(&req);
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.bytes_sent.fetch_add(sent, Ordering::Relaxed);
        let resp = self.shared.http.execute(req).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        if let Some(t) = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| HTTP_DATE.parse_timestamp(v).ok())
        {
            *self.shared.server_time.lock().expect("server time") = Some(t);
        }
        let body = resp.bytes().await?;
        let head: usize = headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum();
        c.bytes_received
            .fetch_add((head + 17 + body.len()) as u64, Ordering::Relaxed);
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Runs `attempt` until it succeeds or says `Final`: exponential backoff with jitter from
    /// `retry_base_delay`, at most `max_retries` retries, and none that the run's deadline leaves
    /// no time for. Every retry is counted.
    async fn retrying<T, F, Fut>(&self, attempt: F) -> Result<T, NbiError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Retry>>,
    {
        let o = &self.shared.opts;
        let policy = ExponentialBuilder::default()
            .with_min_delay(o.retry_base_delay * 2)
            .with_max_delay(o.retry_base_delay * 64)
            .with_max_times(o.max_retries as usize)
            .with_jitter();
        attempt
            .retry(policy)
            .sleep(tokio::time::sleep)
            .when(Retry::again)
            .adjust(|_, wait| {
                let wait = wait?;
                match self.deadline {
                    Some(d) if Instant::now() + wait >= d => None,
                    _ => Some(wait),
                }
            })
            .notify(|_, _| {
                self.shared.counters.retries.fetch_add(1, Ordering::Relaxed);
            })
            .await
            .map_err(Retry::into_error)
    }

    /// One NBI call with the token, one re-login on 401, and retries only where they are safe.
    pub(super) async fn call(&self, call: &Call) -> Result<Answer, NbiError> {
        use tracing::Instrument;
        // One span per NBI call: method and route template only, never ids, bodies or tokens.
        let span = tracing::info_span!(
            "nbi.request",
            otel.name = format!("{} {}", call.method, call.route),
            http.request.method = %call.method,
            url.template = call.route,
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        let result = self.call_unspanned(call).instrument(span.clone()).await;
        match &result {
            Ok(a) => {
                span.record("http.response.status_code", a.status.as_u16());
            }
            Err(e) => {
                if let Some(s) = e.status() {
                    span.record("http.response.status_code", s);
                }
                span.record("error.type", e.kind());
            }
        }
        result
    }

    async fn call_unspanned(&self, call: &Call) -> Result<Answer, NbiError> {
        self.retrying(|| self.attempt(call)).await
    }

    /// One attempt of a call, with one re-login when the NBI rejects the token (revoked, NBI
    /// restarted with a fresh DB, clock skew). Says whether another attempt is safe: always after
    /// a refused connection (nothing reached OSM), otherwise only for reads.
    async fn attempt(&self, call: &Call) -> Result<Answer, Retry> {
        let s = &self.shared;
        let url = format!("{}/{}", s.base, call.path);
        let mut relogged = false;
        loop {
            let token = self.token().await.map_err(Retry::Final)?;
            let timeout = self.budget(Some(call)).map_err(Retry::Final)?;
            let mut req = s
                .http
                .request(call.method.clone(), &url)
                .timeout(timeout)
                .bearer_auth(&token);
            if !call.query.is_empty() {
                req = req.query(&call.query);
            }
            req = match &call.payload {
                Payload::None => req,
                Payload::Json(v) => req.header(CONTENT_TYPE, "application/json").body(v.clone()),
                Payload::Package {
                    bytes,
                    filename,
                    md5,
                } => req
                    .header(CONTENT_TYPE, "application/gzip")
                    .header("Content-Filename", filename.as_str())
                    .header("Content-File-MD5", md5.as_str())
                    // Bytes clones share the buffer: no copy of the package per attempt.
                    .body(bytes.clone()),
            };
            let started = Instant::now();
            if !call.idempotent() {
                s.counters.writes.fetch_add(1, Ordering::Relaxed);
            }
            let unknown = |reason: String| NbiError::OutcomeUnknown {
                method: call.method.to_string(),
                route: call.route.to_owned(),
                reason,
            };
            let a = match self.send(req).await {
                Ok(a) => a,
                Err(e) if e.is_connect() || call.idempotent() => {
                    return Err(Retry::Again(self.unreachable(&e)))
                }
                Err(e) => return Err(Retry::Final(unknown(describe(&e)))),
            };
            tracing::debug!(method = %call.method, route = call.route, status = a.status.as_u16(),
                elapsed_ms = started.elapsed().as_millis() as u64, "NBI request");
            if a.status == StatusCode::UNAUTHORIZED && !relogged {
                relogged = true;
                self.invalidate(&token).await;
                continue;
            }
            if a.status.is_success() {
                return Ok(a);
            }
            let body = parse_error_body(a.status.as_u16(), &String::from_utf8_lossy(&a.body));
            let gateway = matches!(a.status.as_u16(), 502..=504);
            if gateway && !call.idempotent() && a.status != StatusCode::SERVICE_UNAVAILABLE {
                // A gateway error on a write says nothing about whether NBI applied it.
                return Err(Retry::Final(unknown(format!("gateway answered {body}"))));
            }
            let error = NbiError::Api {
                method: call.method.to_string(),
                route: call.route.to_owned(),
                body,
            };
            return Err(if gateway && call.idempotent() {
                Retry::Again(error)
            } else {
                Retry::Final(error)
            });
        }
    }
}

/// A failed attempt: worth another one, or final.
enum Retry {
    Again(NbiError),
    Final(NbiError),
}

impl Retry {
    fn again(&self) -> bool {
        matches!(self, Retry::Again(_))
    }

    fn into_error(self) -> NbiError {
        match self {
            Retry::Again(e) | Retry::Final(e) => e,
        }
    }
}

fn request_size(req: &reqwest::Request) -> u64 {
    let line = req.method().as_str().len() + req.url().as_str().len() + 11;
    let head: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    let body = req
        .body()
        .and_then(|b| b.as_bytes())
        .map(|b| b.len())
        .unwrap_or(0);
    (line + head + body) as u64
}

/// A reqwest error with its causes, without the URL (which may hold user-info; the caller names
/// the redacted base URL and the route instead).
fn describe(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "no answer within the request timeout".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        let text = cause.to_string();
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        src = cause.source();
    }
    s
}
