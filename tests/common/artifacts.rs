//! A local HTTP server serving tar.gz artifacts, like Flux's source-controller does.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use sha2::{Digest, Sha256};

#[derive(Default)]
struct Store {
    files: Mutex<HashMap<String, Vec<u8>>>,
    /// Answer 500 to this many requests first.
    failures: AtomicUsize,
    hits: AtomicUsize,
}

pub struct ArtifactServer {
    pub base: String,
    store: Arc<Store>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ArtifactServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    State(store): State<Arc<Store>>,
    UrlPath(name): UrlPath<String>,
) -> impl IntoResponse {
    store.hits.fetch_add(1, Ordering::SeqCst);
    if store.failures.load(Ordering::SeqCst) > 0 {
        store.failures.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::INTERNAL_SERVER_ERROR, Vec::new());
    }
    match store.files.lock().unwrap().get(&name) {
        Some(b) => (StatusCode::OK, b.clone()),
        None => (StatusCode::NOT_FOUND, Vec::new()),
    }
}

impl ArtifactServer {
    pub async fn start() -> ArtifactServer {
        let store = Arc::new(Store::default());
        let app = Router::new()
            .route("/{name}", axum::routing::get(serve))
            .with_state(store.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        ArtifactServer { base, store, task }
    }

    /// Publishes bytes; returns (url, "sha256:<hex>").
    pub fn publish(&self, name: &str, bytes: Vec<u8>) -> (String, String) {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        self.store
            .files
            .lock()
            .unwrap()
            .insert(name.to_owned(), bytes);
        (format!("{}/{name}", self.base), digest)
    }

    pub fn fail_next(&self, n: usize) {
        self.store.failures.store(n, Ordering::SeqCst);
    }

    pub fn hits(&self) -> usize {
        self.store.hits.load(Ordering::SeqCst)
    }
}

/// A tar.gz of a directory tree, entries relative to `root` (like source-controller's artifacts).
pub fn tar_dir(root: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.append_dir_all(".", root).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&b.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

/// A tar.gz with raw entries: (name, type, content). Names are written verbatim (hostile ones too).
pub fn raw_tar(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, content) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_size(if kind.is_file() {
            content.len() as u64
        } else {
            0
        });
        h.set_mode(0o644);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if kind.is_symlink() {
            old.linkname[..content.len()].copy_from_slice(content.as_bytes());
        }
        h.set_cksum();
        let data: &[u8] = if kind.is_file() {
            content.as_bytes()
        } else {
            &[]
        };
        b.append(&h, data).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&b.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}
