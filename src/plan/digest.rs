//! The digest of a plan: what an approval names (`osmops.io/approve: <digest>`, gRPC
//! `ApprovePlan`, `osmops apply --plan`). It covers every write the plan would send — kind, name,
//! operation with its OSM ids, the KDU, scaling aspect or member it is about, the reason (which states the live values it changes, e.g.
//! "replicaCount 2→3"), and the digest of the desired document or package content written — and
//! the rollout batches. Any change of the revision's content, of live OSM or of the rollout that
//! changes what would be written changes the digest, so an approval can never apply a plan other
//! than the one approved. Reads (unchanged, blocked, drift that is only reported) are not covered:
//! they send nothing, unless they adopt an object (which makes it this sync's to delete later).

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{ObjectKind, Plan};
use crate::repo::DesiredState;

pub(super) fn plan_digest(plan: &Plan, desired: &DesiredState) -> String {
    let writes: Vec<serde_json::Value> = plan
        .actions
        .iter()
        .filter(|a| a.operation.is_write() || a.adopt)
        .map(|a| {
            let content = match a.kind {
                ObjectKind::NsInstance => desired.ns_instance(&a.name).map(|n| n.digest()),
                ObjectKind::VnfPackage | ObjectKind::NsPackage => {
                    desired.package(&a.name).map(|p| p.digest.clone())
                }
            };
            let mut w = json!({
                "kind": a.kind.label(),
                "name": a.name,
                "operation": a.operation,
                "reason": a.reason,
                "content": content,
            });
            // Adopting takes ownership (later prunes may delete it) even when nothing is sent.
            if a.adopt {
                w["adopt"] = json!(true);
            }
            // Which KDU, scaling aspect or member: two upgrades of one NS differ only by it.
            if let Some(t) = &a.target {
                w["target"] = json!(t);
            }
            w
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

/// What a reviewer reads in a saved plan and what apply must find again: every action (kind,
/// name, operation with its OSM ids, adoption, and the reason of each write), the rollout
/// batches and the digest. Reasons of actions that send nothing may change between plan and
/// apply (an operation that was running completed) without changing what is written.
fn reviewed_view(plan: &serde_json::Value) -> serde_json::Value {
    let actions: Vec<serde_json::Value> = plan
        .get("actions")
        .and_then(|a| a.as_array())
        .map(|actions| {
            actions
                .iter()
                .map(|a| {
                    let op = a.get("operation").cloned().unwrap_or_default();
                    let writes = !matches!(
                        op.get("type").and_then(|t| t.as_str()),
                        Some("unchanged" | "blocked" | "broken" | "drifted")
                    );
                    json!({
                        "kind": a.get("kind"),
                        "name": a.get("name"),
                        "operation": op,
                        "target": a.get("target"),
                        "adopt": a.get("adopt").and_then(|v| v.as_bool()).unwrap_or(false),
                        "reason": if writes { a.get("reason").cloned() } else { None },
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let batches = plan
        .get("batches")
        .cloned()
        .filter(|b| b.as_array().is_none_or(|a| !a.is_empty()))
        .unwrap_or(serde_json::Value::Null);
    json!({ "actions": actions, "batches": batches, "digest": plan.get("digest") })
}

/// Why a saved plan (`osmops plan --out`: its digest and its readable body) is not the plan
/// computed now, or `None` when it is. Both the digest and the body must match: a body edited
/// to hide a write, a dropped action, an empty body or a digest that names another plan are all
/// refused, also when the plan computed now writes nothing.
pub fn saved_plan_mismatch(digest: &str, body: &serde_json::Value, live: &Plan) -> Option<String> {
    if digest != live.digest {
        return Some(format!(
            "the saved plan's digest {} is not the digest of the plan computed now ({}): OSM or the repository changed since it was saved, or the file was edited",
            short_digest(digest),
            short_digest(&live.digest)
        ));
    }
    let live_view = reviewed_view(&serde_json::to_value(live).expect("plans serialize"));
    let saved_view = reviewed_view(body);
    if saved_view == live_view {
        return None;
    }
    let saved_actions = saved_view["actions"].as_array().map_or(0, Vec::len);
    let live_actions = live_view["actions"].as_array().map_or(0, Vec::len);
    let first = saved_view["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .zip(live_view["actions"].as_array().into_iter().flatten())
        .find(|(s, l)| s != l)
        .map(|(s, l)| {
            format!(
                "; first difference: the file shows {} {} as {}, the plan computed now has {}",
                l["kind"].as_str().unwrap_or("?"),
                l["name"].as_str().unwrap_or("?"),
                s["operation"]["type"].as_str().unwrap_or("nothing"),
                l["operation"]["type"].as_str().unwrap_or("?"),
            )
        })
        .unwrap_or_default();
    Some(format!(
        "the saved plan's readable body does not match its digest: it shows {saved_actions} action(s), the plan with that digest has {live_actions}{first}. The file was edited after `osmops plan --out` wrote it"
    ))
}
