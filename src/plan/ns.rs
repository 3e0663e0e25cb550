//! NS instances: create what is missing, upgrade what changed, remediate what failed (when allowed),
//! converge duplicates this sync created concurrently, prune what this sync owns and Git no longer
//! declares — and never touch an NS that OSM marks as someone else's.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::drift::{drift_action, note_drift, reported};
use super::history::{describe_param_changes, group_ops, KduHistory, OpsByNs};
use super::owner::{Marked, Owner, Proof};
use super::{Action, Inventory, LiveState, NsdRef, ObjectKind, Operation, Plan, PlanOptions};
use crate::osm::{NsRecord, OpRecord};
use crate::repo::{DesiredState, NsInstance, PackageKind};

struct Planner<'a> {
    desired: &'a DesiredState,
    live: &'a LiveState,
    inventory: &'a Inventory,
    opts: &'a PlanOptions,
    ops: OpsByNs<'a>,
}

fn action(want: &NsInstance, operation: Operation, reason: impl Into<String>) -> Action {
    Action {
        kind: ObjectKind::NsInstance,
        name: want.name.clone(),
        operation,
        reason: reason.into(),
        adopt: false,
    }
}

pub(super) fn plan_ns_instances(
    desired: &DesiredState,
    live: &LiveState,
    inventory: &Inventory,
    opts: &PlanOptions,
    p: &mut Plan,
) {
    let planner = Planner {
        desired,
        live,
        inventory,
        opts,
        ops: group_ops(live.operations.as_deref().unwrap_or_default()),
    };
    let mut by_name: HashMap<&str, Vec<&NsRecord>> = HashMap::new();
    for n in &live.ns_instances {
        by_name.entry(n.name.as_str()).or_default().push(n);
    }
    for want in &desired.ns_instances {
        let matches = by_name.get(want.name.as_str()).map(Vec::as_slice);
        match matches.unwrap_or_default() {
            [] => {
                if let Some(a) = planner.missing(want, p) {
                    p.actions.push(a);
                }
            }
            [ns] => {
                let a = planner.existing(want, ns, p);
                p.actions.push(a);
            }
            many => planner.duplicates(want, many, p),
        }
    }
}

impl<'a> Planner<'a> {
    /// The NSD and VIM account an NS is created with, or why it cannot be.
    fn target(&self, want: &NsInstance) -> Result<(NsdRef, String), Vec<String>> {
        let mut problems = Vec::new();
        let nsd = if self
            .desired
            .packages
            .iter()
            .any(|x| x.id == want.nsd_name && x.kind == PackageKind::Ns)
        {
            Some(NsdRef::Repo {
                id: want.nsd_name.clone(),
            })
        } else {
            self.live
                .packages(PackageKind::Ns)
                .iter()
                .find(|x| x.id.as_deref() == Some(want.nsd_name.as_str()))
                .map(|x| NsdRef::Live {
                    osm_id: x.osm_id.clone(),
                })
        };
        if nsd.is_none() {
            problems.push(format!(
                "{}: NS instance '{}': nsdName '{}' is neither an NS package in the repository nor an NSD in OSM",
                want.source, want.name, want.nsd_name
            ));
        }
        let vim = self
            .live
            .vim_accounts
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|v| v.name == want.vim_account_name);
        if vim.is_none() {
            problems.push(format!(
                "{}: NS instance '{}': vimAccountName '{}' does not exist in OSM (in this project)",
                want.source, want.name, want.vim_account_name
            ));
        }
        match (nsd, vim) {
            (Some(nsd), Some(vim)) => Ok((nsd, vim.osm_id.clone())),
            _ => Err(problems),
        }
    }

    /// An NS Git declares and OSM does not have: created, unless it is drift (this sync applied
    /// exactly this document and OSM lost it since) that the policy only reports.
    fn missing(&self, want: &NsInstance, p: &mut Plan) -> Option<Action> {
        let create = |p: &mut Plan, reason: String| match self.target(want) {
            Ok((nsd, vim_account_id)) => Some(action(
                want,
                Operation::CreateNs {
                    nsd,
                    vim_account_id,
                },
                reason,
            )),
            Err(problems) => {
                p.problems.extend(problems);
                None
            }
        };
        let Some(lost) = self
            .inventory
            .ns_instances
            .get(&want.name)
            .filter(|e| e.digest == want.digest())
        else {
            return create(p, "not in OSM".into());
        };
        let (corrected, why) = note_drift(
            p,
            self.opts.drift.ns_instances,
            ObjectKind::NsInstance,
            &want.name,
            format!("deleted in OSM outside Git (was {})", lost.osm_id),
        );
        if corrected {
            create(p, format!("{why}; creating it again"))
        } else {
            Some(reported(ObjectKind::NsInstance, &want.name, None, &why))
        }
    }

    /// Whether this sync last applied exactly `want` to this very NS: then any difference OSM
    /// shows now was made outside Git (drift), not by a change in Git.
    fn applied_unchanged(&self, want: &NsInstance, ns: &NsRecord) -> bool {
        self.inventory
            .ns_instances
            .get(&want.name)
            .is_some_and(|e| e.osm_id == ns.osm_id && e.digest == want.digest())
    }

    fn marked(&self, ns: &NsRecord) -> Marked {
        self.opts.owner.judge_ns(ns.description.as_deref())
    }

    /// Proof that this sync may change or destroy `ns`: its mark, an earlier-format mark with the
    /// inventory's record of it, or an adoption the inventory records (`owner.rs`).
    fn proof(&self, want: &NsInstance, ns: &NsRecord) -> Option<Proof> {
        Owner::owns(
            self.marked(ns),
            self.inventory.ns_record(&want.name, &ns.osm_id),
        )
    }

    fn owns(&self, want: &NsInstance, ns: &NsRecord) -> bool {
        self.proof(want, ns).is_some()
    }

    /// Several NS instances share the desired name. When all carry this sync's mark, they come
    /// from concurrent runs of this sync: the oldest is kept and the others deleted. Otherwise
    /// nothing is guessed.
    fn duplicates(&self, want: &NsInstance, many: &[&'a NsRecord], p: &mut Plan) {
        if many.iter().all(|n| self.marked(n) == Marked::Ours) {
            let mut sorted = many.to_vec();
            sorted.sort_by(|a, b| {
                a.created
                    .cmp(&b.created)
                    .then_with(|| a.osm_id.cmp(&b.osm_id))
            });
            let keep = sorted[0];
            for extra in &sorted[1..] {
                p.actions.push(action(
                    want,
                    Operation::DeleteNs {
                        osm_id: extra.osm_id.clone(),
                    },
                    format!(
                        "duplicate of {} (both carry this sync's mark: created by concurrent runs); the oldest is kept",
                        keep.osm_id
                    ),
                ));
            }
            let a = self.existing(want, keep, p);
            p.actions.push(a);
            return;
        }
        let ids: Vec<String> = many
            .iter()
            .map(|n| {
                let who = match n.description.as_deref().and_then(Owner::of_description) {
                    Some(o) => format!("managed by {o}"),
                    None => "unmarked".to_owned(),
                };
                format!("{} ({who})", n.osm_id)
            })
            .collect();
        p.actions.push(action(
            want,
            Operation::Blocked,
            format!(
                "{} NS instances in OSM are named '{}': {}; OSM Ops will not guess which one is meant",
                many.len(),
                want.name,
                ids.join(", ")
            ),
        ));
    }

    /// An NS Git declares that OSM has. One this sync cannot prove it owns is never taken over
    /// silently: it is blocked, unless the user adopts it (`adopt`), and then every action on it
    /// says so and, once it succeeds, the inventory records the adoption.
    fn existing(&self, want: &NsInstance, ns: &NsRecord, p: &mut Plan) -> Action {
        if self.marked(ns) == Marked::Theirs || self.owns(want, ns) {
            return self.existing_owned(want, ns, p);
        }
        let why = match self.marked(ns) {
            Marked::Legacy => "carries this sync's mark in an earlier format that another sync could share, and this sync has no record of it (a lost state file or status?)",
            _ => "exists in OSM without this sync's mark (created by hand or by another tool)",
        };
        if !self.opts.adopt {
            return action(
                want,
                Operation::Blocked,
                format!(
                    "the NS {why}; OSM Ops does not take it over unless told to: adopt it with {}, or delete it in OSM",
                    self.opts.audience.say("--adopt", "spec.adopt: true")
                ),
            );
        }
        let mut a = self.existing_owned(want, ns, p);
        a.adopt = true;
        a.reason = format!("adopting: the NS {why}; {}", a.reason);
        a
    }

    fn existing_owned(&self, want: &NsInstance, ns: &NsRecord, p: &mut Plan) -> Action {
        if self.marked(ns) == Marked::Theirs {
            let who = ns
                .description
                .as_deref()
                .and_then(Owner::of_description)
                .unwrap_or_default();
            return action(
                want,
                Operation::Blocked,
                format!("the NS in OSM is managed by {who} (the mark in its description); this sync leaves it alone"),
            );
        }
        if let Some(current) = ns.nsd_ref.as_deref().filter(|r| *r != want.nsd_name) {
            return action(
                want,
                Operation::Blocked,
                format!("nsdName changed from '{current}' to '{}': OSM cannot change the NSD of an NS instance; delete and recreate it", want.nsd_name),
            );
        }
        let desired_params = want.requested_params();
        let h = KduHistory::of(&self.ops, ns, want);
        let unchanged = |reason: String, pending: Option<&OpRecord>| {
            action(
                want,
                Operation::Unchanged {
                    osm_id: Some(ns.osm_id.clone()),
                    pending_op: pending.map(|o| o.osm_id.clone()),
                },
                reason,
            )
        };
        let upgrade = |reason: String| {
            action(
                want,
                Operation::UpgradeNs {
                    osm_id: ns.osm_id.clone(),
                },
                reason,
            )
        };
        // An operation is still running.
        if let Some(op) = h.running {
            match op.lcm_operation_type.as_str() {
                "terminate" => {
                    return action(
                        want,
                        Operation::Blocked,
                        format!(
                            "terminate operation {} is still {}: waiting for it to end",
                            op.osm_id, op.operation_state
                        ),
                    )
                }
                "instantiate" => {
                    let same = h
                        .last()
                        .is_some_and(|r| r.op.osm_id == op.osm_id && r.params == desired_params);
                    return if same {
                        unchanged(
                            format!(
                                "instantiate operation {} still {}",
                                op.osm_id, op.operation_state
                            ),
                            Some(op),
                        )
                    } else {
                        action(
                            want,
                            Operation::Blocked,
                            format!(
                                "instantiate operation {} is still {}: OSM answers 409 to an upgrade until it is instantiated; will retry",
                                op.osm_id, op.operation_state
                            ),
                        )
                    };
                }
                // Upgrades and other actions: OSM queues what is sent meanwhile.
                _ => {}
            }
        }
        if !ns.is_instantiated() {
            return match h.instantiate {
                Some(op) if op.is_terminal() && !op.succeeded() => {
                    self.failed_instantiate(want, ns, op, p)
                }
                _ => match h.terminate.filter(|t| t.succeeded()) {
                    // This sync never terminates an NS it keeps: someone did it in OSM.
                    Some(t) if self.owns(want, ns) => drift_action(
                        p,
                        self.opts.drift.ns_instances,
                        ObjectKind::NsInstance,
                        &want.name,
                        Some(ns.osm_id.clone()),
                        format!(
                            "terminated outside Git (terminate {} {}) but still in OSM",
                            t.osm_id, t.operation_state
                        ),
                        |p, why| {
                            self.recreate(
                                want,
                                ns,
                                format!("{why}: deleting it and creating it again"),
                                p,
                            )
                        },
                    ),
                    Some(t) => action(
                        want,
                        Operation::Blocked,
                        format!(
                            "the NS is NOT_INSTANTIATED (terminate {} {}) and this sync cannot prove it owns it: delete it in OSM to let OSM Ops create it",
                            t.osm_id, t.operation_state
                        ),
                    ),
                    None => action(
                        want,
                        Operation::Blocked,
                        "the NS is NOT_INSTANTIATED in OSM and has no instantiate operation in progress: upgrades are refused (409) until it is instantiated",
                    ),
                },
            };
        }
        if let Some(op) = h.instantiate.filter(|o| o.is_terminal() && !o.succeeded()) {
            return self.failed_instantiate(want, ns, op, p);
        }
        if ns.ns_state == "BROKEN" {
            return action(
                want,
                Operation::Broken {
                    osm_id: ns.osm_id.clone(),
                },
                format!(
                    "the NS is BROKEN in OSM: {}",
                    ns.error_detail
                        .as_deref()
                        .unwrap_or("no error detail recorded")
                ),
            );
        }
        let Some(last) = h.last() else {
            // No operation history to compare with: fall back to the digest we recorded.
            return match self
                .inventory
                .ns_instances
                .get(&want.name)
                .filter(|e| e.osm_id == ns.osm_id)
            {
                Some(e) if e.digest == want.digest() => {
                    unchanged("matches the applied digest in the inventory".into(), None)
                }
                Some(_) => upgrade("NsInstance document changed since it was last applied".into()),
                None => upgrade(
                    "no record of the params OSM runs: upgrading to the desired params".into(),
                ),
            };
        };
        if !last.op.is_terminal() {
            // An upgrade in progress (OSM queues another one behind it).
            return if last.params == desired_params {
                unchanged(
                    format!(
                        "params match OSM ({} {} in progress)",
                        last.op.lcm_operation_type, last.op.osm_id
                    ),
                    Some(last.op),
                )
            } else if self.applied_unchanged(want, ns) {
                self.params_drift(want, ns, last.op, &last.params, p)
            } else {
                upgrade(describe_param_changes(&last.params, &desired_params))
            };
        }
        if last.op.succeeded() {
            if last.params == desired_params {
                return unchanged("params match OSM".into(), None);
            }
            if let Some((rollback, failed)) = h.rolled_back_from(&desired_params) {
                return action(
                    want,
                    Operation::Broken {
                        osm_id: ns.osm_id.clone(),
                    },
                    format!(
                        "upgrade to the desired params FAILED {failed} time(s) and was rolled back by {} to the params OSM last completed; change the NsInstance to try again",
                        rollback.op.osm_id
                    ),
                );
            }
            if self.applied_unchanged(want, ns) {
                return self.params_drift(want, ns, last.op, &last.params, p);
            }
            return upgrade(describe_param_changes(&last.params, &desired_params));
        }
        // The newest request failed.
        let failure = format!(
            "upgrade {} FAILED: {}",
            last.op.osm_id,
            last.op.failure_message()
        );
        if last.params != desired_params {
            // Git changed since the failure: try the new params.
            let base = h.last_good().map(|g| &g.params).unwrap_or(&last.params);
            let change = if *base == desired_params {
                "back to the params OSM last completed".to_owned()
            } else {
                describe_param_changes(base, &desired_params)
            };
            return upgrade(format!("{change} (previous {failure})"));
        }
        let r = self.opts.remediation;
        let failures = h.trailing_failures(&desired_params);
        if failures as u64 <= u64::from(r.upgrade_retries) {
            return upgrade(format!(
                "remediation: retry {failures} of {} after {failure}",
                r.upgrade_retries
            ));
        }
        if r.upgrade_rollback {
            if let Some(good) = h.last_good().filter(|g| g.params != desired_params) {
                return action(
                    want,
                    Operation::RollbackNs {
                        osm_id: ns.osm_id.clone(),
                        params: good.params.clone(),
                    },
                    format!(
                        "remediation: {failure} ({failures} attempt(s)); rolling back to the params of {} ({})",
                        good.op.osm_id,
                        describe_param_changes(&desired_params, &good.params)
                    ),
                );
            }
        }
        let hint = if r.upgrade_retries == 0 && !r.upgrade_rollback {
            format!(
                "no remediation configured ({})",
                self.opts.audience.say(
                    "--upgrade-retries, --upgrade-rollback",
                    "spec.remediation.upgrade"
                )
            )
        } else {
            format!("remediation used up ({})", retries_text(r.upgrade_retries))
        };
        action(
            want,
            Operation::Broken {
                osm_id: ns.osm_id.clone(),
            },
            format!("{failure}; {hint}"),
        )
    }

    /// The KDU runs params this sync did not send (an upgrade started in OSM, e.g. with `osm
    /// ns-action`), while Git still declares what this sync last applied.
    fn params_drift(
        &self,
        want: &NsInstance,
        ns: &NsRecord,
        op: &OpRecord,
        live: &serde_json::Map<String, serde_json::Value>,
        p: &mut Plan,
    ) -> Action {
        let desired = want.requested_params();
        drift_action(
            p,
            self.opts.drift.ns_instances,
            ObjectKind::NsInstance,
            &want.name,
            Some(ns.osm_id.clone()),
            format!(
                "KDU params changed outside Git by {} {} ({}): {}",
                op.lcm_operation_type,
                op.osm_id,
                op.operation_state,
                describe_param_changes(&desired, live)
            ),
            |_, why| {
                action(
                    want,
                    Operation::UpgradeNs {
                        osm_id: ns.osm_id.clone(),
                    },
                    format!(
                        "{why}; upgrading back to Git ({})",
                        describe_param_changes(live, &desired)
                    ),
                )
            },
        )
    }

    fn failed_instantiate(
        &self,
        want: &NsInstance,
        ns: &NsRecord,
        op: &OpRecord,
        p: &mut Plan,
    ) -> Action {
        let failure = format!("instantiate {} FAILED: {}", op.osm_id, op.failure_message());
        let retries = self.opts.remediation.instantiate_retries;
        let attempts = self
            .inventory
            .ns_instances
            .get(&want.name)
            .filter(|e| e.osm_id == ns.osm_id && e.digest == want.digest())
            .map(|e| e.instantiate_attempts.max(1))
            .unwrap_or(1);
        let owned = self.owns(want, ns);
        if owned && attempts <= retries {
            return self.recreate(
                want,
                ns,
                format!("remediation: recreate (retry {attempts} of {retries}) after {failure}"),
                p,
            );
        }
        let hint = if !owned {
            "this sync cannot prove it created the NS, so it does not recreate it".to_owned()
        } else if retries == 0 {
            format!(
                "no remediation configured ({})",
                self.opts.audience.say(
                    "--instantiate-retries",
                    "spec.remediation.instantiate.retries"
                )
            )
        } else {
            format!("remediation used up ({})", retries_text(retries))
        };
        action(
            want,
            Operation::Broken {
                osm_id: ns.osm_id.clone(),
            },
            format!("{failure}; {hint}"),
        )
    }

    fn recreate(&self, want: &NsInstance, ns: &NsRecord, reason: String, p: &mut Plan) -> Action {
        match self.target(want) {
            Ok((nsd, vim_account_id)) => action(
                want,
                Operation::RecreateNs {
                    osm_id: ns.osm_id.clone(),
                    nsd,
                    vim_account_id,
                },
                reason,
            ),
            Err(problems) => {
                p.problems.extend(problems);
                action(
                    want,
                    Operation::Blocked,
                    format!("{reason}, but it cannot be created"),
                )
            }
        }
    }
}

/// "1 retry", "3 retries".
fn retries_text(n: u32) -> String {
    if n == 1 {
        "1 retry".into()
    } else {
        format!("{n} retries")
    }
}

/// What prune found: the NS instances it deletes and how many this sync owns in OSM.
pub(super) struct Pruned {
    pub deleted: BTreeSet<String>,
    pub owned: usize,
}

/// Deletes NS instances this sync owns and Git no longer declares. Owned means: marked with this
/// sync's owner in OSM, or recorded in its inventory and not marked as someone else's. An NS whose
/// name Git declares is never deleted here, whatever the inventory says.
pub(super) fn prune_ns_instances(
    desired: &DesiredState,
    live: &LiveState,
    inventory: &Inventory,
    opts: &PlanOptions,
    p: &mut Plan,
) -> Pruned {
    let wanted: HashSet<&str> = desired
        .ns_instances
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    let by_id: HashMap<&str, &NsRecord> = live
        .ns_instances
        .iter()
        .map(|n| (n.osm_id.as_str(), n))
        .collect();
    // By OSM id, with the proof of ownership.
    let mut owned: BTreeMap<&str, (&NsRecord, Proof)> = BTreeMap::new();
    for (name, entry) in &inventory.ns_instances {
        let Some(ns) = by_id.get(entry.osm_id.as_str()) else {
            continue;
        };
        let marked = opts.owner.judge_ns(ns.description.as_deref());
        match Owner::owns(marked, inventory.ns_record(name, &ns.osm_id)) {
            Some(proof) => {
                owned.insert(&ns.osm_id, (ns, proof));
            }
            None if marked == Marked::Theirs => p.notes.push(format!(
                "NsInstance {name} ({}): recorded as owned, but OSM marks it as managed by {}: not deleted, forgotten",
                ns.osm_id,
                ns.description.as_deref().and_then(Owner::of_description).unwrap_or_default()
            )),
            None if wanted.contains(ns.name.as_str()) => {}
            None => p.notes.push(format!(
                "NsInstance {name} ({}): recorded by an earlier version, but OSM has no mark of this sync on it and it was never adopted: not deleted (adopt it with --adopt / spec.adopt while Git declares it, to let prune manage it)",
                ns.osm_id
            )),
        }
    }
    for ns in &live.ns_instances {
        if opts.owner.judge_ns(ns.description.as_deref()) == Marked::Ours {
            owned.insert(&ns.osm_id, (ns, Proof::Mark));
        }
    }
    let mut deleted = BTreeSet::new();
    for (id, (ns, proof)) in &owned {
        if wanted.contains(ns.name.as_str()) {
            continue;
        }
        let proof = proof.describe();
        let reason = if ns.ns_state == "TERMINATING" {
            format!("not in Git; {proof} (already terminating)")
        } else {
            format!("not in Git; {proof}")
        };
        p.actions.push(Action {
            kind: ObjectKind::NsInstance,
            name: ns.name.clone(),
            operation: Operation::DeleteNs {
                osm_id: (*id).to_owned(),
            },
            reason,
            adopt: false,
        });
        deleted.insert((*id).to_owned());
    }
    Pruned {
        deleted,
        owned: owned.len(),
    }
}
