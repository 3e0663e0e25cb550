#![recursion_limit = "512"]
//! OSM Ops: GitOps for Open Source MANO. See `ARCHITECTURE.md` in the shared design folder and
//! `docs/architecture.md` for the module map.

pub mod api;
pub mod cli;
pub mod controller;
pub mod duration;
pub mod engine;
pub mod grpc;
pub mod journal;
pub mod model;
pub mod osm;
pub mod plan;
pub mod repo;
#[cfg(feature = "simulator")]
pub mod sim;
pub mod source;
pub mod telemetry;
