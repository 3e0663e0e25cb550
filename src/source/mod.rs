//! Fetching a Flux source artifact: a download streamed to disk with a size limit and the sha256
//! digest computed on the way, retries on 5xx and connection errors, `SOURCE_CONTROLLER_LOCALHOST`,
//! and safe extraction from disk into a temporary directory (a [`Snapshot`]). Memory does not grow
//! with the artifact's size. Knows nothing about Kubernetes or OSM.

mod extract;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures::StreamExt;
use sha2::{Digest, Sha256};

pub use extract::{extract_tar_gz, ExtractLimits};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot download artifact {url}: {reason}")]
    Download { url: String, reason: String },
    #[error("artifact {url} is larger than the {limit} byte limit")]
    TooLarge { url: String, limit: u64 },
    #[error("artifact digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("unsupported artifact digest '{0}' (expected sha256:<hex>)")]
    UnsupportedDigest(String),
    #[error("cannot extract artifact: {0}")]
    Extract(String),
}

#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Largest artifact (compressed) accepted; Flux's default is 100 MiB.
    pub max_download_bytes: u64,
    pub limits: ExtractLimits,
    /// Attempts for 5xx answers and connection errors.
    pub attempts: u32,
    pub retry_delay: Duration,
    /// `SOURCE_CONTROLLER_LOCALHOST`: replaces the artifact URL's host:port.
    pub localhost_override: Option<String>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            max_download_bytes: 100 * 1024 * 1024,
            limits: ExtractLimits::default(),
            attempts: 3,
            retry_delay: Duration::from_millis(500),
            localhost_override: None,
        }
    }
}

impl FetchOptions {
    /// The defaults, with `SOURCE_CONTROLLER_LOCALHOST` from the environment (as Flux
    /// controllers read it at start).
    pub fn from_env() -> FetchOptions {
        FetchOptions {
            localhost_override: std::env::var("SOURCE_CONTROLLER_LOCALHOST")
                .ok()
                .filter(|s| !s.is_empty()),
            ..FetchOptions::default()
        }
    }
}

/// An extracted artifact; the directory is removed when the snapshot is dropped.
#[derive(Debug)]
pub struct Snapshot {
    dir: tempfile::TempDir,
    pub revision: String,
    pub digest: String,
}

impl Snapshot {
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

/// Rewrites the host of `url` to `override_host` (`host:port`), as Flux controllers do with
/// `SOURCE_CONTROLLER_LOCALHOST` so a controller on a laptop reaches source-controller through a
/// port-forward.
pub fn rewrite_host(url: &str, override_host: Option<&str>) -> Result<String, SourceError> {
    let Some(host) = override_host else {
        return Ok(url.to_owned());
    };
    let mut u = reqwest::Url::parse(url).map_err(|e| SourceError::Download {
        url: url.into(),
        reason: format!("invalid URL: {e}"),
    })?;
    let (h, port) = match host.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok()),
        None => (host, None),
    };
    let bad = |_| SourceError::Download {
        url: url.into(),
        reason: format!("invalid SOURCE_CONTROLLER_LOCALHOST '{host}'"),
    };
    u.set_host(Some(h)).map_err(bad)?;
    u.set_port(port).map_err(|_| SourceError::Download {
        url: url.into(),
        reason: "cannot set port".into(),
    })?;
    Ok(u.to_string())
}

/// Downloads, verifies and extracts an artifact.
pub async fn fetch(
    http: &reqwest::Client,
    url: &str,
    revision: &str,
    digest: &str,
    opts: &FetchOptions,
) -> Result<Snapshot, SourceError> {
    let expected = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| SourceError::UnsupportedDigest(digest.to_owned()))?
        .to_ascii_lowercase();
    let url = rewrite_host(url, opts.localhost_override.as_deref())?;
    let (file, actual) = download(http, &url, opts).await?;
    if actual != expected {
        return Err(SourceError::DigestMismatch {
            expected: format!("sha256:{expected}"),
            actual: format!("sha256:{actual}"),
        });
    }
    let dir = tempfile::Builder::new()
        .prefix("osmops-artifact-")
        .tempdir()
        .map_err(|e| SourceError::Extract(format!("cannot create a temporary directory: {e}")))?;
    let limits = opts.limits.clone();
    let target = dir.path().to_path_buf();
    // Decompression and file writes are blocking work; the archive is read from disk.
    tokio::task::spawn_blocking(move || {
        let f = file
            .reopen()
            .map_err(|e| SourceError::Extract(format!("cannot reopen the download: {e}")))?;
        extract_tar_gz(std::io::BufReader::new(f), &target, &limits)
    })
    .await
    .map_err(|e| SourceError::Extract(format!("extraction task failed: {e}")))??;
    Ok(Snapshot {
        dir,
        revision: revision.to_owned(),
        digest: format!("sha256:{expected}"),
    })
}

/// One failed download attempt, and whether trying again could help.
struct Failed {
    error: SourceError,
    retryable: bool,
}

/// Downloads to a temporary file with retries; returns it with the hex sha256 of its content.
async fn download(
    http: &reqwest::Client,
    url: &str,
    opts: &FetchOptions,
) -> Result<(tempfile::NamedTempFile, String), SourceError> {
    let policy = ExponentialBuilder::default()
        .with_min_delay(opts.retry_delay)
        .with_max_times(opts.attempts.saturating_sub(1) as usize)
        .with_jitter();
    (|| download_once(http, url, opts.max_download_bytes))
        .retry(policy)
        .sleep(tokio::time::sleep)
        .when(|f: &Failed| f.retryable)
        .notify(|f: &Failed, wait: Duration| {
            tracing::warn!(%url, error = %f.error, retry_in = ?wait, "artifact download failed, retrying")
        })
        .await
        .map_err(|f| f.error)
}

/// One attempt, streamed to disk while hashing.
async fn download_once(
    http: &reqwest::Client,
    url: &str,
    limit: u64,
) -> Result<(tempfile::NamedTempFile, String), Failed> {
    let fail = |reason: String, retryable: bool| Failed {
        error: SourceError::Download {
            url: url.into(),
            reason,
        },
        retryable,
    };
    let too_large = || Failed {
        error: SourceError::TooLarge {
            url: url.into(),
            limit,
        },
        retryable: false,
    };
    let resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| fail(e.without_url().to_string(), true))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}"), status.is_server_error()));
    }
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut file = tempfile::Builder::new()
        .prefix("osmops-download-")
        .tempfile()
        .map_err(|e| fail(format!("cannot create a temporary file: {e}"), false))?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| fail(e.without_url().to_string(), true))?;
        // Checked while streaming: a lying or missing Content-Length cannot fill the disk.
        written += chunk.len() as u64;
        if written > limit {
            return Err(too_large());
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .map_err(|e| fail(format!("cannot write the download: {e}"), false))?;
    }
    file.flush()
        .map_err(|e| fail(format!("cannot write the download: {e}"), false))?;
    Ok((file, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_controller_localhost_rewrites_the_host() {
        let url = "http://source-controller.flux-system.svc.cluster.local./gitrepository/ns/repo/abc.tar.gz";
        assert_eq!(
            rewrite_host(url, Some("localhost:9090")).unwrap(),
            "http://localhost:9090/gitrepository/ns/repo/abc.tar.gz"
        );
        assert_eq!(rewrite_host(url, None).unwrap(), url);
    }
}
