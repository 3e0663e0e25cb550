//! The OSM NBI client: TLS, token reuse and one re-login on 401, typed endpoints, typed errors,
//! retries of idempotent requests only, and request/byte counters.

mod error;
mod records;
mod token;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

pub use error::{parse_error_body, NbiError, NbiErrorBody};
pub use records::{K8sCluster, NsRecord, OpRecord, PackageRecord, VimAccount};
pub use token::{now_epoch, Token, RENEW_BEFORE_EXPIRY};

use crate::repo::PackageKind;

/// A password or other secret: never printed by `Debug`.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: String,
    pub password: Secret,
    /// Project name or id.
    pub project: String,
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Base URL including the `/osm` root, e.g. `https://osm.example:9999/osm`.
    pub base_url: String,
    /// Extra CA certificates (PEM) trusted besides the system roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Skip TLS verification: an explicit, logged opt-out.
    pub insecure_skip_tls_verify: bool,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries of idempotent requests after connection errors or 502/503/504.
    pub max_retries: u32,
    pub retry_base_delay: Duration,
}

impl ClientOptions {
    pub fn new(base_url: impl Into<String>) -> Self {
        ClientOptions {
            base_url: base_url.into(),
            ca_pem: None,
            insecure_skip_tls_verify: false,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_retries: 3,
            retry_base_delay: Duration::from_millis(200),
        }
    }
}

/// Requests and bytes (headers + bodies, both directions) exchanged with the NBI.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    writes: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    logins: AtomicU64,
    retries: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CounterSnapshot {
    pub requests: u64,
    pub writes: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub logins: u64,
    pub retries: u64,
}

impl CounterSnapshot {
    pub fn since(&self, earlier: &CounterSnapshot) -> CounterSnapshot {
        CounterSnapshot {
            requests: self.requests - earlier.requests,
            writes: self.writes - earlier.writes,
            bytes_sent: self.bytes_sent - earlier.bytes_sent,
            bytes_received: self.bytes_received - earlier.bytes_received,
            logins: self.logins - earlier.logins,
            retries: self.retries - earlier.retries,
        }
    }
}

impl Counters {
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            logins: self.logins.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }
}

/// What a request carries.
enum Payload {
    None,
    Json(Value),
    Package {
        bytes: Arc<Vec<u8>>,
        filename: String,
        md5: String,
    },
}

struct Call {
    method: Method,
    /// Route template for errors, logs and metrics (ids replaced by `{id}`).
    route: &'static str,
    path: String,
    query: Vec<(String, String)>,
    payload: Payload,
}

impl Call {
    fn get(route: &'static str, path: String, query: &[(&str, &str)]) -> Call {
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

    fn idempotent(&self) -> bool {
        self.method == Method::GET
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: bytes::Bytes,
}

impl Answer {
    fn json(&self, call: &Call) -> Result<Value, NbiError> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| NbiError::BadResponse {
            method: call.method.to_string(),
            route: call.route.to_owned(),
            reason: format!("invalid JSON: {e}"),
        })
    }
}

/// The result of `DELETE ns_instances_content/<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NsDeletion {
    /// 204: the NS was not instantiated and is gone.
    Deleted,
    /// 202: a terminate operation started; the NS disappears when it completes.
    Terminating { op_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedNs {
    pub osm_id: String,
    pub nslcmop_id: Option<String>,
}

pub struct NbiClient {
    http: reqwest::Client,
    base: String,
    creds: Credentials,
    opts: ClientOptions,
    token: Mutex<Option<Token>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for NbiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NbiClient")
            .field("base", &self.base)
            .field("user", &self.creds.user)
            .finish()
    }
}

impl NbiClient {
    pub fn new(opts: ClientOptions, creds: Credentials) -> Result<Self, NbiError> {
        let base = opts.base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(NbiError::Config(format!(
                "OSM URL '{base}' must start with http:// or https://"
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
            tracing::warn!(url = %base, "TLS certificate verification is DISABLED for the OSM NBI (explicit opt-out)");
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| NbiError::Config(format!("cannot build HTTP client: {e}")))?;
        Ok(NbiClient {
            http,
            base,
            creds,
            opts,
            token: Mutex::new(None),
            counters: Arc::new(Counters::default()),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// A valid token, logging in when there is none or it is about to expire. The mutex makes
    /// concurrent callers wait for one login instead of each logging in.
    async fn token(&self) -> Result<String, NbiError> {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_ref().filter(|t| t.is_fresh(now_epoch())) {
            return Ok(t.id.clone());
        }
        let t = self.login().await?;
        let id = t.id.clone();
        *guard = Some(t);
        Ok(id)
    }

    /// Drops `rejected` after a 401 unless another task already replaced it.
    async fn invalidate(&self, rejected: &str) {
        let mut guard = self.token.lock().await;
        if guard.as_ref().map(|t| t.id.as_str()) == Some(rejected) {
            *guard = None;
        }
    }

    async fn login(&self) -> Result<Token, NbiError> {
        let url = format!("{}/admin/v1/tokens", self.base);
        let body = serde_json::json!({
            "username": self.creds.user,
            "password": self.creds.password.expose(),
            "project_id": self.creds.project,
        });
        let login_err = |reason: String| NbiError::Login {
            user: self.creds.user.clone(),
            project: self.creds.project.clone(),
            reason,
        };
        let mut attempt = 0;
        let answer = loop {
            let req = self
                .http
                .post(&url)
                .header(CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(&body).expect("JSON serializes"));
            match self.send(req).await {
                Ok(a) => break a,
                Err(e) if attempt < self.opts.max_retries && (e.is_connect() || e.is_timeout()) => {
                    attempt += 1;
                    self.backoff(attempt).await;
                }
                Err(e) => {
                    return Err(NbiError::Unreachable {
                        url: self.base.clone(),
                        reason: describe(&e),
                    })
                }
            }
        };
        self.counters.logins.fetch_add(1, Ordering::Relaxed);
        if !answer.status.is_success() {
            let text = String::from_utf8_lossy(&answer.body);
            return Err(login_err(
                parse_error_body(answer.status.as_u16(), &text).to_string(),
            ));
        }
        let v: Value = serde_json::from_slice(&answer.body)
            .map_err(|e| login_err(format!("invalid token answer: {e}")))?;
        let id = v
            .get("id")
            .and_then(|i| i.as_str())
            .ok_or_else(|| login_err("token answer has no 'id'".into()))?;
        let Some(expires) = v.get("expires").and_then(|e| e.as_f64()) else {
            let msg = v
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("no 'expires' in token answer");
            return Err(login_err(format!(
                "OSM did not issue a usable token ({msg}); the password may need changing"
            )));
        };
        tracing::debug!(user = %self.creds.user, "logged in to OSM NBI");
        Ok(Token {
            id: id.to_owned(),
            expires,
        })
    }

    /// Sends one HTTP request and reads the whole answer, counting requests and bytes.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
        let req = req.build()?;
        let sent = request_size(&req);
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.counters.bytes_sent.fetch_add(sent, Ordering::Relaxed);
        let resp = self.http.execute(req).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?;
        let head: usize = headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum();
        self.counters
            .bytes_received
            .fetch_add((head + 17 + body.len()) as u64, Ordering::Relaxed);
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    async fn backoff(&self, attempt: u32) {
        self.counters.retries.fetch_add(1, Ordering::Relaxed);
        let base = self.opts.retry_base_delay.as_millis() as u64 * (1u64 << attempt.min(6));
        let jitter = rand::thread_rng().gen_range(0..=base / 2 + 1);
        tokio::time::sleep(Duration::from_millis(base + jitter)).await;
    }

    /// One NBI call with the token, one re-login on 401, and retries only where they are safe.
    async fn call(&self, call: &Call) -> Result<Answer, NbiError> {
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
        let url = format!("{}/{}", self.base, call.path);
        let mut relogged = false;
        let mut attempt = 0;
        loop {
            let token = self.token().await?;
            let mut req = self
                .http
                .request(call.method.clone(), &url)
                .bearer_auth(&token);
            if !call.query.is_empty() {
                req = req.query(&call.query);
            }
            req = match &call.payload {
                Payload::None => req,
                Payload::Json(v) => req
                    .header(CONTENT_TYPE, "application/json")
                    .body(serde_json::to_vec(v).expect("JSON serializes")),
                Payload::Package {
                    bytes,
                    filename,
                    md5,
                } => req
                    .header(CONTENT_TYPE, "application/gzip")
                    .header("Content-Filename", filename.as_str())
                    .header("Content-File-MD5", md5.as_str())
                    .body(bytes.as_ref().clone()),
            };
            let started = std::time::Instant::now();
            if !call.idempotent() {
                self.counters.writes.fetch_add(1, Ordering::Relaxed);
            }
            let result = self.send(req).await;
            let unknown = |reason: String| NbiError::OutcomeUnknown {
                method: call.method.to_string(),
                route: call.route.to_owned(),
                reason,
            };
            match result {
                Ok(a) => {
                    tracing::debug!(method = %call.method, route = call.route, status = a.status.as_u16(),
                        elapsed_ms = started.elapsed().as_millis() as u64, "NBI request");
                    if a.status == StatusCode::UNAUTHORIZED && !relogged {
                        // Revoked token, NBI restarted with a fresh DB, clock skew: log in once more.
                        relogged = true;
                        self.invalidate(&token).await;
                        continue;
                    }
                    if a.status.is_success() {
                        return Ok(a);
                    }
                    let retryable = matches!(a.status.as_u16(), 502..=504);
                    if retryable && call.idempotent() && attempt < self.opts.max_retries {
                        attempt += 1;
                        self.backoff(attempt).await;
                        continue;
                    }
                    let body =
                        parse_error_body(a.status.as_u16(), &String::from_utf8_lossy(&a.body));
                    if matches!(a.status.as_u16(), 502 | 504) && !call.idempotent() {
                        // A gateway error on a write says nothing about whether NBI applied it.
                        return Err(unknown(format!("gateway answered {body}")));
                    }
                    return Err(NbiError::Api {
                        method: call.method.to_string(),
                        route: call.route.to_owned(),
                        body,
                    });
                }
                // A refused connection reached nothing, so even a write can be sent again; any
                // other transport error is only safe to retry for reads.
                Err(e) if e.is_connect() || call.idempotent() => {
                    if attempt >= self.opts.max_retries {
                        return Err(NbiError::Unreachable {
                            url: self.base.clone(),
                            reason: describe(&e),
                        });
                    }
                    attempt += 1;
                    self.backoff(attempt).await;
                }
                Err(e) => return Err(unknown(describe(&e))),
            }
        }
    }

    async fn list<T>(
        &self,
        route: &'static str,
        query: &[(&str, &str)],
        parse: fn(&Value) -> Result<T, String>,
    ) -> Result<Vec<T>, NbiError> {
        let call = Call::get(route, route.to_owned(), query);
        let answer = self.call(&call).await?;
        let v = answer.json(&call)?;
        let items = v.as_array().ok_or_else(|| NbiError::BadResponse {
            method: "GET".into(),
            route: route.to_owned(),
            reason: "expected a JSON array".into(),
        })?;
        items
            .iter()
            .map(|item| {
                parse(item).map_err(|reason| NbiError::BadResponse {
                    method: "GET".into(),
                    route: route.to_owned(),
                    reason,
                })
            })
            .collect()
    }

    pub async fn list_vim_accounts(&self) -> Result<Vec<VimAccount>, NbiError> {
        self.list("admin/v1/vim_accounts", &[], VimAccount::from_value)
            .await
    }

    pub async fn list_k8sclusters(&self) -> Result<Vec<K8sCluster>, NbiError> {
        self.list("admin/v1/k8sclusters", &[], K8sCluster::from_value)
            .await
    }

    /// Lists VNF or NS packages; `query` filters server-side (e.g. `[("id", "openldap_knf")]`).
    pub async fn list_packages(
        &self,
        kind: PackageKind,
        query: &[(&str, &str)],
    ) -> Result<Vec<PackageRecord>, NbiError> {
        let route = match kind {
            PackageKind::Vnf => "vnfpkgm/v1/vnf_packages",
            PackageKind::Ns => "nsd/v1/ns_descriptors",
        };
        self.list(route, query, PackageRecord::from_value).await
    }

    /// One-shot onboarding (`POST *_content`); returns the new record's `_id`.
    pub async fn create_package(
        &self,
        kind: PackageKind,
        bytes: Arc<Vec<u8>>,
        filename: &str,
        md5: &str,
    ) -> Result<String, NbiError> {
        let route = match kind {
            PackageKind::Vnf => "vnfpkgm/v1/vnf_packages_content",
            PackageKind::Ns => "nsd/v1/ns_descriptors_content",
        };
        let call = Call {
            method: Method::POST,
            route,
            path: route.to_owned(),
            query: vec![],
            payload: Payload::Package {
                bytes,
                filename: filename.to_owned(),
                md5: md5.to_owned(),
            },
        };
        let answer = self.call(&call).await?;
        created_id(&answer, &call)
    }

    /// Full re-upload (`PUT vnf_packages/<_id>/package_content` / `ns_descriptors/<_id>/nsd_content`),
    /// what `osm nfpkg-update` does; not the YAML merge-patch route.
    pub async fn replace_package(
        &self,
        kind: PackageKind,
        osm_id: &str,
        bytes: Arc<Vec<u8>>,
        filename: &str,
        md5: &str,
    ) -> Result<(), NbiError> {
        let (route, path) = match kind {
            PackageKind::Vnf => (
                "vnfpkgm/v1/vnf_packages/{id}/package_content",
                format!("vnfpkgm/v1/vnf_packages/{osm_id}/package_content"),
            ),
            PackageKind::Ns => (
                "nsd/v1/ns_descriptors/{id}/nsd_content",
                format!("nsd/v1/ns_descriptors/{osm_id}/nsd_content"),
            ),
        };
        let call = Call {
            method: Method::PUT,
            route,
            path,
            query: vec![],
            payload: Payload::Package {
                bytes,
                filename: filename.to_owned(),
                md5: md5.to_owned(),
            },
        };
        self.call(&call).await.map(|_| ())
    }

    pub async fn delete_package(&self, kind: PackageKind, osm_id: &str) -> Result<(), NbiError> {
        let (route, path) = match kind {
            PackageKind::Vnf => (
                "vnfpkgm/v1/vnf_packages_content/{id}",
                format!("vnfpkgm/v1/vnf_packages_content/{osm_id}"),
            ),
            PackageKind::Ns => (
                "nsd/v1/ns_descriptors_content/{id}",
                format!("nsd/v1/ns_descriptors_content/{osm_id}"),
            ),
        };
        let call = Call {
            method: Method::DELETE,
            route,
            path,
            query: vec![],
            payload: Payload::None,
        };
        self.call(&call).await.map(|_| ())
    }

    pub async fn list_ns_instances(
        &self,
        query: &[(&str, &str)],
    ) -> Result<Vec<NsRecord>, NbiError> {
        self.list("nslcm/v1/ns_instances_content", query, NsRecord::from_value)
            .await
    }

    /// `POST ns_instances_content`: creates and instantiates an NS.
    pub async fn create_ns_instance(&self, body: Value) -> Result<CreatedNs, NbiError> {
        let route = "nslcm/v1/ns_instances_content";
        let call = Call {
            method: Method::POST,
            route,
            path: route.to_owned(),
            query: vec![],
            payload: Payload::Json(body),
        };
        let answer = self.call(&call).await?;
        let osm_id = created_id(&answer, &call)?;
        let v = answer.json(&call)?;
        Ok(CreatedNs {
            osm_id,
            nslcmop_id: v
                .get("nslcmop_id")
                .and_then(|o| o.as_str())
                .map(str::to_owned),
        })
    }

    /// `DELETE ns_instances_content/<id>`: terminate + autoremove, or immediate deletion.
    pub async fn delete_ns_instance(&self, osm_id: &str) -> Result<NsDeletion, NbiError> {
        let call = Call {
            method: Method::DELETE,
            route: "nslcm/v1/ns_instances_content/{id}",
            path: format!("nslcm/v1/ns_instances_content/{osm_id}"),
            query: vec![],
            payload: Payload::None,
        };
        let answer = self.call(&call).await?;
        if answer.status == StatusCode::ACCEPTED {
            let v = answer.json(&call)?;
            let op_id = v
                .get("_id")
                .or_else(|| v.get("id"))
                .and_then(|i| i.as_str())
                .ok_or_else(|| NbiError::BadResponse {
                    method: "DELETE".into(),
                    route: call.route.to_owned(),
                    reason: "202 without the terminate operation id".into(),
                })?;
            return Ok(NsDeletion::Terminating {
                op_id: op_id.to_owned(),
            });
        }
        Ok(NsDeletion::Deleted)
    }

    /// `POST ns_instances/<id>/action`; returns the nslcmop id.
    pub async fn ns_action(&self, osm_id: &str, body: Value) -> Result<String, NbiError> {
        let call = Call {
            method: Method::POST,
            route: "nslcm/v1/ns_instances/{id}/action",
            path: format!("nslcm/v1/ns_instances/{osm_id}/action"),
            query: vec![],
            payload: Payload::Json(body),
        };
        let answer = self.call(&call).await?;
        created_id(&answer, &call)
    }

    pub async fn list_ns_lcm_op_occs(
        &self,
        query: &[(&str, &str)],
    ) -> Result<Vec<OpRecord>, NbiError> {
        self.list("nslcm/v1/ns_lcm_op_occs", query, OpRecord::from_value)
            .await
    }

    /// One operation; `None` when OSM no longer has it (an autoremoved NS takes its ops along).
    pub async fn get_ns_lcm_op_occ(&self, op_id: &str) -> Result<Option<OpRecord>, NbiError> {
        let call = Call::get(
            "nslcm/v1/ns_lcm_op_occs/{id}",
            format!("nslcm/v1/ns_lcm_op_occs/{op_id}"),
            &[],
        );
        match self.call(&call).await {
            Ok(a) => {
                let v = a.json(&call)?;
                OpRecord::from_value(&v)
                    .map(Some)
                    .map_err(|reason| NbiError::BadResponse {
                        method: "GET".into(),
                        route: call.route.into(),
                        reason,
                    })
            }
            Err(e) if e.is_status(404) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The id of a created record: body `id` (201/202), else the last segment of `Location`.
fn created_id(answer: &Answer, call: &Call) -> Result<String, NbiError> {
    let v = answer.json(call)?;
    if let Some(id) = v
        .get("id")
        .or_else(|| v.get("_id"))
        .and_then(|i| i.as_str())
    {
        return Ok(id.to_owned());
    }
    answer
        .headers
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.rsplit('/').next())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| NbiError::BadResponse {
            method: call.method.to_string(),
            route: call.route.to_owned(),
            reason: "no id in the answer".into(),
        })
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

/// A reqwest error with its causes, without URLs' query strings (which never hold secrets here).
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}
