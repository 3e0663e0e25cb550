//! The OSM NBI client: TLS, token reuse and one re-login on 401, a deadline per run, retries of
//! idempotent requests only, request/byte counters (`transport/`, `counters.rs`); the typed endpoints
//! (`endpoints.rs`); lenient views of NBI records (`records/`); typed errors (`error.rs`).

mod counters;
mod endpoints;
mod error;
pub mod records;
pub mod schema;
mod token;
mod transport;

use std::time::Duration;

pub use counters::{CounterSnapshot, Counters};
pub use endpoints::{
    change_vnfpkg_body, scale_body, CreatedNs, KduParams, KduUpgrade, NsCreate, NsDeletion,
    VnfParams, KDU_MODEL_PARAM,
};
pub use error::{parse_error_body, NbiError, NbiErrorBody};
pub use records::{
    instantiation_config, K8sCluster, NsRecord, OpRecord, PackageRecord, VimAccount, VnfRecord,
};
pub use token::{Token, RENEW_BEFORE_EXPIRY};
pub use transport::{NbiClient, WRITE_GRACE, WRITE_MIN_TIME};

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

/// `url` with any user-info (`user:password@`) removed, for every message, log and status that
/// shows an OSM URL. Text that is not a URL with a host still loses whatever precedes an `@`.
pub fn redact_url(url: &str) -> String {
    if let Ok(mut u) = reqwest::Url::parse(url) {
        if u.has_host() {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            return u.to_string().trim_end_matches('/').to_owned();
        }
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    match rest.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}<redacted>@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_never_shows() {
        assert_eq!(
            redact_url("http://user:s3cret@osm.example:9999/osm"),
            "http://osm.example:9999/osm"
        );
        assert_eq!(
            redact_url("https://osm.example/osm/"),
            "https://osm.example/osm"
        );
        assert_eq!(
            redact_url("http://u:p@@bad host/osm"),
            "http://<redacted>@bad host/osm"
        );
        assert_eq!(redact_url("user:pw@host"), "<redacted>@host");
    }
}
