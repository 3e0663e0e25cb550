//! The NBI's HTTP conventions (osm-nbi.md §1): requests, replies rendered as JSON or YAML by
//! `Accept`, and error bodies `{code, status, detail}` in OSM's own wording.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Response};
use serde_json::{json, Value};

pub type Status = axum::http::StatusCode;

/// OSM's realm on every 401, whatever the reason (measured against OSM's NBI).
pub const REALM: &str = "Needed a token or Authorization http header";

/// What a route answers; rendered as JSON or YAML according to `Accept`.
pub struct Reply {
    pub status: Status,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: Status, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: vec![],
        }
    }

    /// A bodiless answer. The NBI (cherrypy) still labels it `text/html;charset=utf-8`.
    pub fn empty(status: Status) -> Reply {
        Reply {
            status,
            body: None,
            headers: vec![("Content-Type", "text/html;charset=utf-8".into())],
        }
    }

    /// The NBI's error body `{code, status, detail}`.
    pub fn error(status: Status, detail: impl Into<String>) -> Reply {
        let code = status
            .canonical_reason()
            .unwrap_or("UNKNOWN")
            .to_uppercase()
            .replace(' ', "_");
        let mut r = Reply::json(
            status,
            json!({"code": code, "status": status.as_u16(), "detail": detail.into()}),
        );
        if status == Status::UNAUTHORIZED {
            r.headers
                .push(("WWW-Authenticate", format!("Bearer realm=\"{REALM}\"")));
        }
        r
    }

    pub fn with_location(mut self, path: String) -> Reply {
        self.headers.push(("Location", path));
        self
    }
}

/// The database layer's not-found text, as `osm_common` words it for `get_one`.
pub fn not_found(filter: &str) -> Reply {
    Reply::error(
        Status::NOT_FOUND,
        format!("database exception Not found entry with filter='{filter}'"),
    )
}

/// A JSON-schema violation of the input, as the NBI reports it: `at '<path>'` when the error
/// has a path, then the schema message, then the step.
pub fn format_error(path: &str, msg: impl std::fmt::Display) -> Reply {
    let at = if path.is_empty() {
        String::new()
    } else {
        format!("at '{path}'")
    };
    Reply::error(
        Status::UNPROCESSABLE_ENTITY,
        format!("Format error {at} '{msg}'  while 'validating input parameters'"),
    )
}

pub fn unexpected(seg: &str) -> Reply {
    Reply::error(
        Status::METHOD_NOT_ALLOWED,
        format!("Unexpected URL item {seg}"),
    )
}

pub fn method_not_allowed(m: &Method) -> Reply {
    Reply::error(
        Status::METHOD_NOT_ALLOWED,
        format!("Method {m} not supported for this URL"),
    )
}

pub struct Request {
    pub method: Method,
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .to_ascii_lowercase()
    }

    pub fn force(&self) -> bool {
        self.query
            .iter()
            .any(|(k, v)| k == "FORCE" && !v.eq_ignore_ascii_case("false"))
    }

    /// JSON for `application/json`, YAML (a JSON superset) otherwise; empty body = `{}`.
    pub fn parse_body(&self) -> Result<Value, Reply> {
        if self.body.is_empty() {
            return Ok(json!({}));
        }
        if self.content_type().contains("application/json") {
            serde_json::from_slice(&self.body)
                .map_err(|e| Reply::error(Status::BAD_REQUEST, format!("Invalid json format {e}")))
        } else {
            serde_saphyr::from_slice::<Value>(&self.body).map_err(|e| {
                Reply::error(
                    Status::BAD_REQUEST,
                    format!("Invalid yaml format {}", e.to_string().replace('\n', " ")),
                )
            })
        }
    }
}

/// JSON when `Accept` has application/json, YAML for `*/*`, application/yaml or no Accept;
/// errors with an unmatched Accept are JSON (osm-nbi.md §1.3).
pub fn render(reply: Reply, accept: &str) -> Response<Body> {
    let wants_json = accept.contains("application/json");
    let wants_yaml =
        accept.is_empty() || accept.contains("application/yaml") || accept.contains("*/*");
    let (content_type, bytes) = match &reply.body {
        None => (None, Vec::new()),
        // Unmatched Accept: errors (and, here, everything else) fall back to JSON.
        Some(v) if wants_json || !wants_yaml => {
            let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
            s.push('\n');
            (Some("application/json; charset=utf-8"), s.into_bytes())
        }
        Some(v) => (
            Some("application/yaml"),
            format!("---\n{}", serde_saphyr::to_string(v).unwrap_or_default()).into_bytes(),
        ),
    };
    let mut builder = Response::builder()
        .status(reply.status)
        .header("Server", "osmops-nbi-sim");
    if let Some(ct) = content_type {
        builder = builder.header("Content-Type", ct);
    }
    builder = builder.header("Content-Length", bytes.len().to_string());
    for (k, v) in reply.headers {
        builder = builder.header(k, v);
    }
    builder.body(Body::from(bytes)).expect("valid response")
}
