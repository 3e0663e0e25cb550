//! Progressive rollout of NS writes (creates, KDU upgrades, rollbacks, recreates): a canary batch
//! first, then the rest in batches of `maxParallel`. Each batch's operations are followed until
//! they end and its NS instances must be healthy in OSM before the next batch starts (Flagger's
//! and Argo Rollouts' canary steps, applied to OSM network services). The batches are part of the
//! plan, in plan order, so `plan` shows exactly what `apply` will do and the plan digest covers it.

use serde::Serialize;

use super::{Operation, Plan};

pub use crate::model::FailurePolicy;

/// How NS writes are rolled out. The default (no canary, no `max_parallel`) sends them all at
/// once, bounded only by the engine's concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rollout {
    /// NS operations in flight at once (and the size of each batch after the canary).
    pub max_parallel: Option<usize>,
    /// NS writes in the first batch, which must complete and leave healthy NS instances before
    /// any other is sent.
    pub canary: usize,
    pub failure_policy: FailurePolicy,
}

impl Rollout {
    /// Whether NS writes go in batches at all.
    pub fn is_progressive(&self) -> bool {
        self.canary > 0 || self.max_parallel.is_some()
    }
}

/// One step of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    pub canary: bool,
    /// Indexes into the plan's actions, in the order they are sent.
    pub actions: Vec<usize>,
    /// The NS instance names of those actions.
    pub names: Vec<String>,
}

/// Whether an action is an NS write that a rollout batches.
pub fn is_rolled_out(op: &Operation) -> bool {
    matches!(
        op,
        Operation::CreateNs { .. }
            | Operation::UpgradeNs { .. }
            | Operation::RollbackNs { .. }
            | Operation::RecreateNs { .. }
            | Operation::ScaleNs { .. }
            | Operation::UpdateNs { .. }
    )
}

/// The indexes of the plan's NS writes a rollout batches, in plan order.
pub fn rolled_out(plan: &Plan) -> Vec<usize> {
    plan.actions
        .iter()
        .enumerate()
        .filter(|(_, a)| is_rolled_out(&a.operation))
        .map(|(i, _)| i)
        .collect()
}

/// The batches of `plan` under `rollout`, in plan order: empty when the rollout is not
/// progressive or there is nothing to roll out.
pub(super) fn batches(plan: &Plan, rollout: &Rollout) -> Vec<Batch> {
    if !rollout.is_progressive() {
        return Vec::new();
    }
    let writes = rolled_out(plan);
    let batch = |canary: bool, ids: &[usize]| Batch {
        canary,
        actions: ids.to_vec(),
        names: ids.iter().map(|&i| plan.actions[i].name.clone()).collect(),
    };
    let canary = rollout.canary.min(writes.len());
    let mut out = Vec::new();
    if canary > 0 {
        out.push(batch(true, &writes[..canary]));
    }
    let rest = &writes[canary..];
    if !rest.is_empty() {
        let size = rollout.max_parallel.unwrap_or(rest.len()).max(1);
        out.extend(rest.chunks(size).map(|c| batch(false, c)));
    }
    out
}

/// "canary" for the canary batch, else "batch <n>" (1-based, counting the canary).
pub fn batch_label(index: usize, canary: bool) -> String {
    if canary {
        "canary".to_owned()
    } else {
        format!("batch {}", index + 1)
    }
}

/// "canary: a; batch 2: b, c; batch 3: d"
pub fn describe(batches: &[Batch]) -> String {
    batches
        .iter()
        .enumerate()
        .map(|(n, b)| format!("{}: {}", batch_label(n, b.canary), b.names.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, ObjectKind};

    fn plan_of(ops: &[(&str, Operation)]) -> Plan {
        Plan {
            actions: ops
                .iter()
                .map(|(n, op)| Action {
                    kind: ObjectKind::NsInstance,
                    name: (*n).into(),
                    operation: op.clone(),
                    reason: String::new(),
                    adopt: false,
                    target: None,
                })
                .collect(),
            ..Plan::default()
        }
    }

    fn up() -> Operation {
        Operation::UpgradeNs { osm_id: "x".into() }
    }

    #[test]
    fn canary_first_then_batches_of_max_parallel_in_plan_order_skipping_other_actions() {
        let plan = plan_of(&[
            ("a", up()),
            (
                "b",
                Operation::Unchanged {
                    osm_id: None,
                    pending_op: None,
                },
            ),
            ("c", up()),
            ("d", up()),
            ("e", Operation::DeleteNs { osm_id: "y".into() }),
            ("f", up()),
            ("g", up()),
        ]);
        let b = batches(
            &plan,
            &Rollout {
                max_parallel: Some(2),
                canary: 1,
                failure_policy: FailurePolicy::Pause,
            },
        );
        let names: Vec<(bool, Vec<&str>)> = b
            .iter()
            .map(|b| (b.canary, b.names.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            names,
            [
                (true, vec!["a"]),
                (false, vec!["c", "d"]),
                (false, vec!["f", "g"])
            ]
        );
        assert_eq!(b[1].actions, [2, 3]);
        assert_eq!(describe(&b), "canary: a; batch 2: c, d; batch 3: f, g");
    }

    #[test]
    fn no_rollout_means_no_batches_and_a_canary_alone_leaves_one_batch_for_the_rest() {
        let plan = plan_of(&[("a", up()), ("b", up()), ("c", up())]);
        assert!(batches(&plan, &Rollout::default()).is_empty());
        let b = batches(
            &plan,
            &Rollout {
                canary: 1,
                ..Rollout::default()
            },
        );
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].names, ["b", "c"]);
        // A canary larger than the work is all of it.
        let b = batches(
            &plan,
            &Rollout {
                canary: 10,
                ..Rollout::default()
            },
        );
        assert_eq!(b.len(), 1);
        assert!(b[0].canary);
    }
}
