use std::fmt;

/// An error answered by the NBI: its `{code, status, detail}` body, or what we could read of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbiErrorBody {
    pub status: u16,
    pub code: String,
    pub detail: String,
}

impl fmt::Display for NbiErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.detail)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NbiError {
    /// The NBI answered with an error status.
    #[error("OSM NBI refused {method} {route}: {body}")]
    Api {
        method: String,
        route: String,
        body: NbiErrorBody,
    },
    /// The request could not reach OSM at all (nothing was sent or processed).
    #[error("cannot reach OSM NBI at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// A write was sent but no answer came back: it may or may not have happened.
    /// Callers resolve this by re-listing, never by blindly sending again.
    #[error("outcome of {method} {route} is unknown: {reason}")]
    OutcomeUnknown {
        method: String,
        route: String,
        reason: String,
    },
    /// The NBI answered 2xx with a body we cannot use.
    #[error("unexpected answer from OSM NBI to {method} {route}: {reason}")]
    BadResponse {
        method: String,
        route: String,
        reason: String,
    },
    /// Login failed (wrong credentials, project, or an account that needs a password change).
    #[error("OSM login failed for user '{user}' in project '{project}': {reason}")]
    Login {
        user: String,
        project: String,
        reason: String,
    },
    #[error("invalid OSM client configuration: {0}")]
    Config(String),
    /// The run's time (`--timeout`, `spec.timeout`) was up: the request was not sent.
    #[error("not sent: the time allowed for this run is up before {method} {route}")]
    Deadline { method: String, route: String },
}

impl NbiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            NbiError::Api { body, .. } => Some(body.status),
            _ => None,
        }
    }

    pub fn is_status(&self, status: u16) -> bool {
        self.status() == Some(status)
    }

    /// True when OSM could not be reached or did not answer (as opposed to refusing a request).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            NbiError::Unreachable { .. } | NbiError::OutcomeUnknown { .. }
        ) || matches!(self.status(), Some(502..=504))
    }

    /// Short label for metrics and condition reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            NbiError::Api { .. } => "api",
            NbiError::Unreachable { .. } => "unreachable",
            NbiError::OutcomeUnknown { .. } => "outcome_unknown",
            NbiError::BadResponse { .. } => "bad_response",
            NbiError::Login { .. } => "login",
            NbiError::Config(_) => "config",
            NbiError::Deadline { .. } => "deadline",
        }
    }
}

/// Parses an NBI error body (JSON or YAML `{code, status, detail}`), keeping the raw text otherwise.
pub fn parse_error_body(status: u16, text: &str) -> NbiErrorBody {
    let parsed: Option<serde_json::Value> = serde_json::from_str(text)
        .ok()
        .or_else(|| serde_saphyr::from_str(text).ok());
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("UNKNOWN")
        .to_uppercase()
        .replace(' ', "_");
    NbiErrorBody {
        status,
        code: field("code").unwrap_or(reason),
        detail: field("detail").unwrap_or_else(|| {
            let t = text.trim();
            if t.is_empty() {
                "(no detail)".to_owned()
            } else {
                t.chars().take(500).collect()
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_and_yaml_error_bodies() {
        let b = parse_error_body(
            409,
            r#"{"code":"CONFLICT","status":409,"detail":"Error, MD5 mismatch"}"#,
        );
        assert_eq!(b.code, "CONFLICT");
        assert_eq!(b.detail, "Error, MD5 mismatch");
        let b = parse_error_body(404, "---\ncode: NOT_FOUND\nstatus: 404\ndetail: nope\n");
        assert_eq!(b.detail, "nope");
        let b = parse_error_body(502, "<html>bad gateway</html>");
        assert_eq!(b.code, "BAD_GATEWAY");
        assert!(b.detail.contains("bad gateway"));
    }
}
