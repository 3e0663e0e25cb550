//! The digest of a plan: what an approval names (`osmops.io/approve: <digest>`, gRPC
//! `ApprovePlan`, `osmops apply --plan`). It covers every write the plan would send — kind, name,
//! operation with its OSM ids, the reason (which states the live values it changes, e.g.
//! "replicaCount 2→3"), and the digest of the desired document or package content written — and
//! the rollout batches. Any change of the revision's content, of live OSM or of the rollout that
//! changes what would be written changes the digest, so an approval can never apply a plan other
//! than the one approved. Reads (unchanged, blocked, drift that is only reported) are not covered:
//! they send nothing.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{ObjectKind, Plan};
use crate::repo::DesiredState;

pub(super) fn plan_digest(plan: &Plan, desired: &DesiredState) -> String {
    let writes: Vec<serde_json::Value> = plan
        .actions
        .iter()
        .filter(|a| a.operation.is_write())
        .map(|a| {
            let content = match a.kind {
                ObjectKind::NsInstance => desired.ns_instance(&a.name).map(|n| n.digest()),
                ObjectKind::VnfPackage | ObjectKind::NsPackage => {
                    desired.package(&a.name).map(|p| p.digest.clone())
                }
            };
            json!({
                "kind": a.kind.label(),
                "name": a.name,
                "operation": a.operation,
                "reason": a.reason,
                "content": content,
            })
        })
        .collect();
    let canonical = json!({ "writes": writes, "batches": plan.batches });
    let bytes = serde_json::to_vec(&canonical).expect("JSON values always serialize");
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The first 12 hex digits, for messages: `sha256:0123456789ab`.
pub fn short_digest(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}", &hex[..hex.len().min(12)])
}
