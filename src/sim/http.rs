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

/// A JSON-schema violation of an NS create, as the NBI reports it (`validate_input` in NBI
/// `osm_nbi/validation.py`, then `NsrTopic.new` adds the step): `at '<path>'` when the error has
/// a path, then jsonschema's message, then " while 'validating input parameters'".
pub fn format_error(path: &str, msg: impl std::fmt::Display) -> Reply {
    Reply::error(
        Status::UNPROCESSABLE_ENTITY,
        format!(
            "{} while 'validating input parameters'",
            schema_error_text(path, msg)
        ),
    )
}

/// A JSON-schema violation of an NS operation (action, terminate, instantiate):
/// `NsLcmOpTopic.new` adds no step, so the text ends with `validate_input`'s trailing space.
pub fn operation_format_error(path: &str, msg: impl std::fmt::Display) -> Reply {
    Reply::error(Status::UNPROCESSABLE_ENTITY, schema_error_text(path, msg))
}

/// `"Format error {error_pos} '{e.message}' "` (NBI `validate_input`).
fn schema_error_text(path: &str, msg: impl std::fmt::Display) -> String {
    let at = if path.is_empty() {
        String::new()
    } else {
        format!("at '{path}'")
    };
    format!("Format error {at} '{msg}' ")
}

/// Python's `repr()` of a JSON value, as jsonschema's messages show the offending instance
/// ("None is not of type 'object'", "{'kdu_name': 'ldap'} does not have enough properties").
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => py_str_repr(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(py_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", py_str_repr(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn py_str_repr(s: &str) -> String {
    // Python quotes with ' unless the text has ' and no ".
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `json.dumps(v)` with its defaults: separators ", " and ": ", non-ASCII escaped as
/// `\uXXXX`. The NBI stores an operation's `primitive_params` and `additionalParamsForVnf` this way
/// (`NsLcmOpTopic.new` in NBI `osm_nbi/instance_topics.py`). Keys come in the simulator's order
/// (sorted), not the request's: the same data, another string.
pub fn py_json_dumps(v: &Value) -> String {
    match v {
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(py_json_dumps)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", ascii_json_string(k), py_json_dumps(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::String(s) => ascii_json_string(s),
        other => other.to_string(),
    }
}

fn ascii_json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
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
    /// The client's address, when known.
    pub peer: Option<std::net::SocketAddr>,
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
        // `json.dumps(data, indent=4) + "\n"` (`_format_out` in NBI `osm_nbi/nbi.py`).
        Some(v) if wants_json || !wants_yaml => {
            let mut out = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
            serde::Serialize::serialize(v, &mut ser).expect("JSON values serialize");
            out.push(b'\n');
            (Some("application/json; charset=utf-8"), out)
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
