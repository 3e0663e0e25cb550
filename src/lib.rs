//! OSM Ops: GitOps for Open Source MANO. See `ARCHITECTURE.md` in the shared design folder and
//! `docs/architecture.md` for the module map.

pub mod repo;
