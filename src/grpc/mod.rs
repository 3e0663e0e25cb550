//! The gRPC side API (tonic), generated from `proto/` by build.rs, served from the controller
//! process. Read-only except PreviewPlan (which writes nothing to OSM either). The data comes from
//! the journal; running operations are refreshed from OSM through the OsmSync's NBI session.

mod convert;
mod serve;
mod server;

pub use serve::{prepare, serve, serve_addr, serve_prepared, GrpcOptions, ServeError, TlsFiles};
pub use server::OsmOpsService;

pub mod pb {
    tonic::include_proto!("osmops.v1");
    /// Descriptor set for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("osmops_descriptor");
}
