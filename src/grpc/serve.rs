//! Serving the API: the OsmOps service with health and reflection, optional TLS / mutual TLS
//! and bearer-token auth, checked before anything listens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Status};

use super::pb;
use super::pb::osm_ops_server::OsmOpsServer;
use super::server::OsmOpsService;
use crate::controller::Context;

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, clients must present a certificate signed by this CA (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    /// Reads the certificate, key and client CA and checks they make a TLS configuration, so a
    /// missing or broken file stops the controller at start, naming the file.
    pub fn check(&self) -> Result<(), ServeError> {
        let mut cfg = ServerTlsConfig::new()
            .identity(Identity::from_pem(read(&self.cert)?, read(&self.key)?));
        if let Some(ca) = &self.client_ca {
            cfg = cfg.client_ca_root(Certificate::from_pem(read(ca)?));
        }
        Server::builder().tls_config(cfg)?;
        Ok(())
    }
}

#[derive(Debug, Clone, Default)]
pub struct GrpcOptions {
    pub tls: Option<TlsFiles>,
    /// When set, every OsmOps call needs `authorization: Bearer <token>`.
    pub token: Option<String>,
}

/// Checks each OsmOps call: this replica must be the one reconciling (a standby's journal is
/// empty, so its answers would be wrong, not merely stale), and the bearer token must match.
#[derive(Clone)]
struct CallCheck {
    token: Option<Arc<str>>,
    leading: Arc<std::sync::atomic::AtomicBool>,
}

impl tonic::service::Interceptor for CallCheck {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        if !self.leading.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Status::unavailable(
                "this osmops replica is a standby (not the leader) and has no journal; retry, the leader answers",
            ));
        }
        let Some(expected) = &self.token else {
            return Ok(req);
        };
        let given = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match given {
            // Length first, then a constant-time comparison of the bytes.
            Some(t)
                if t.len() == expected.len()
                    && t.bytes()
                        .zip(expected.bytes())
                        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                        == 0 =>
            {
                Ok(req)
            }
            Some(_) => Err(Status::unauthenticated("invalid bearer token")),
            None => Err(Status::unauthenticated(
                "missing 'authorization: Bearer <token>' metadata",
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

fn read(path: &PathBuf) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path).map_err(|source| ServeError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    ctx: Arc<Context>,
    listener: tokio::net::TcpListener,
    opts: GrpcOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let router = prepare(ctx, opts).await?;
    serve_prepared(router, listener, shutdown).await
}

/// The gRPC server, ready to serve: TLS files read and checked, services registered. Everything
/// that can be wrong with the configuration fails here, before anything listens.
pub async fn prepare(
    ctx: Arc<Context>,
    opts: GrpcOptions,
) -> Result<tonic::transport::server::Router, ServeError> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<OsmOpsServer<OsmOpsService>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let check = CallCheck {
        token: opts.token.map(Arc::from),
        leading: ctx.leading.clone(),
    };
    let authenticated =
        check.token.is_some() || opts.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
    let api =
        OsmOpsServer::with_interceptor(OsmOpsService::new(ctx).authenticated(authenticated), check);
    let mut builder = Server::builder();
    if let Some(tls) = &opts.tls {
        let mut cfg =
            ServerTlsConfig::new().identity(Identity::from_pem(read(&tls.cert)?, read(&tls.key)?));
        if let Some(ca) = &tls.client_ca {
            cfg = cfg.client_ca_root(Certificate::from_pem(read(ca)?));
        }
        builder = builder.tls_config(cfg)?;
    }
    Ok(builder
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(api))
}

/// Serves a prepared server on `listener` until `shutdown` resolves.
pub async fn serve_prepared(
    router: tonic::transport::server::Router,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    router
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await?;
    Ok(())
}

/// Binds `addr` and serves (for the controller command).
pub async fn serve_addr(
    ctx: Arc<Context>,
    addr: SocketAddr,
    opts: GrpcOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })?;
    serve(ctx, listener, opts, shutdown).await
}
