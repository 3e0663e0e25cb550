//! NS instances: create what is missing, upgrade what changed, remediate what failed (when allowed),
//! converge duplicates this sync created concurrently, prune what this sync owns and Git no longer
//! declares — and never touch an NS that OSM marks as someone else's.
//!
//! Each desired NS is first classified (`situation.rs`: what OSM's records and history say), then
//! decided (`decide.rs`: one match, the decision table of docs/repository-format.md).

mod decide;
mod prune;
mod situation;
#[cfg(test)]
mod table_test;

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::history::{group_ops, OpsByNs};
use super::owner::{Marked, Owner, Proof};
use super::{Action, Inventory, LiveState, NsdRef, ObjectKind, Operation, Plan, PlanOptions};
use crate::osm::{instantiation_config, NsRecord, OpRecord, VimAccount};
use crate::repo::{DesiredState, NsInstance, PackageKind, VNF_VIM_ACCOUNT_NAME};
use decide::decide;
pub(super) use prune::{prune_ns_instances, Pruned};
use situation::{classify, classify_missing, Classified, NsSituation};

/// What the NS planner reads: Git, OSM, the inventory and the options.
pub(super) struct Context<'a> {
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
        target: None,
    }
}

pub(super) fn plan_ns_instances(
    desired: &DesiredState,
    live: &LiveState,
    inventory: &Inventory,
    opts: &PlanOptions,
    p: &mut Plan,
) {
    let cx = Context {
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
        let (classified, ns) = match matches.unwrap_or_default() {
            [] => (unadopted(classify_missing(&cx, want)), None),
            [ns] => (classify(&cx, want, ns), Some(*ns)),
            many => match cx.duplicates(want, many, p) {
                Some(keep) => (classify(&cx, want, keep), Some(keep)),
                None => (unadopted(ambiguous(many)), None),
            },
        };
        let actions = decide(&cx, classified, want, ns, p);
        p.actions.extend(actions);
    }
}

/// The NsInstance's instantiation config as OSM takes it: each `vnf[].vimAccountName` replaced
/// by that VIM account's `vimAccountId`. Names OSM does not have are the errors.
pub fn resolved_config(
    want: &NsInstance,
    vims: &[VimAccount],
) -> Result<Map<String, Value>, Vec<String>> {
    let mut config = want.config_or_empty();
    let mut unknown = Vec::new();
    if let Some(Value::Array(vnfs)) = config.get_mut("vnf") {
        for (i, vnf) in vnfs.iter_mut().enumerate() {
            let Some(m) = vnf.as_object_mut() else {
                continue;
            };
            let Some(Value::String(name)) = m.remove(VNF_VIM_ACCOUNT_NAME) else {
                continue;
            };
            match vims.iter().find(|v| v.name == name) {
                Some(v) => {
                    m.insert("vimAccountId".into(), Value::String(v.osm_id.clone()));
                }
                None => unknown.push(format!(
                    "{}: NS instance '{}': config.vnf[{i}].{VNF_VIM_ACCOUNT_NAME} '{name}' does not exist in OSM (in this project)",
                    want.source, want.name
                )),
            }
        }
    }
    if unknown.is_empty() {
        Ok(config)
    } else {
        Err(unknown)
    }
}

fn unadopted(situation: NsSituation) -> Classified {
    Classified {
        situation,
        adopting: None,
    }
}

/// Several NS instances with one name, not all this sync's: who each one is managed by.
fn ambiguous<'a>(many: &[&NsRecord]) -> NsSituation<'a> {
    NsSituation::Ambiguous {
        ids: many
            .iter()
            .map(|n| {
                let who = match n.description.as_deref().and_then(Owner::of_description) {
                    Some(o) => format!("managed by {o}"),
                    None => "unmarked".to_owned(),
                };
                format!("{} ({who})", n.osm_id)
            })
            .collect(),
    }
}

impl<'a> Context<'a> {
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
        let vims = self.live.vim_accounts.as_deref().unwrap_or_default();
        let vim = vims.iter().find(|v| v.name == want.vim_account_name);
        if vim.is_none() {
            problems.push(format!(
                "{}: NS instance '{}': vimAccountName '{}' does not exist in OSM (in this project)",
                want.source, want.name, want.vim_account_name
            ));
        }
        if let Err(unknown) = resolved_config(want, vims) {
            problems.extend(unknown);
        }
        match (nsd, vim) {
            (Some(nsd), Some(vim)) if problems.is_empty() => Ok((nsd, vim.osm_id.clone())),
            _ => Err(problems),
        }
    }

    /// What Git changed that OSM only takes at instantiate: the VIM account, or any part of the
    /// instantiation config, compared with the NS's instantiate operation `op`. Only looked at
    /// when the document changed since this sync last applied it to this NS (OSM cannot change
    /// these afterwards, so an unchanged document has nothing new here).
    fn config_changes(&self, want: &NsInstance, ns: &NsRecord, op: &OpRecord) -> Vec<String> {
        if self.applied_unchanged(want, ns) {
            return Vec::new();
        }
        let mut what = Vec::new();
        let Some(vims) = self.live.vim_accounts.as_deref() else {
            return what;
        };
        let vim = vims.iter().find(|v| v.name == want.vim_account_name);
        if let (Some(vim), Some(live)) = (vim, ns.vim_account_id.as_deref()) {
            if vim.osm_id != live {
                what.push(format!(
                    "vimAccountName (OSM placed it on VIM account {live})"
                ));
            }
        }
        let (Ok(desired), Some(live)) = (resolved_config(want, vims), op.instantiate_config())
        else {
            return what;
        };
        let desired = instantiation_config(desired);
        let live = self.desired.secrets.seal_map_like(&live, &desired);
        let keys: std::collections::BTreeSet<&String> = desired.keys().chain(live.keys()).collect();
        for k in keys {
            if desired.get(k) != live.get(k) {
                what.push(format!("config.{k}"));
            }
        }
        what
    }

    /// A create, or nothing (with the problems in the plan) when it cannot be made.
    fn create(&self, want: &NsInstance, reason: String, p: &mut Plan) -> Option<Action> {
        // OSM scales an instantiated NS only: the levels follow on a later reconcile.
        let reason = match want.scale.iter().filter(|s| s.level > 0).count() {
            0 => reason,
            n => {
                format!("{reason}; {n} scaling aspect(s) go to their level once it is instantiated")
            }
        };
        match self.target(want) {
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
        }
    }

    /// Delete `osm_id`, wait until OSM has removed it, create it again — or blocked (with the
    /// problems in the plan) when it cannot be created.
    fn recreate(
        &self,
        want: &NsInstance,
        osm_id: &str,
        reason: String,
        p: &mut Plan,
    ) -> Option<Action> {
        Some(match self.target(want) {
            Ok((nsd, vim_account_id)) => action(
                want,
                Operation::RecreateNs {
                    osm_id: osm_id.to_owned(),
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
        })
    }

    /// Whether this sync last applied exactly `want` to this very NS: then any difference OSM
    /// shows now was made outside Git (drift), not by a change in Git.
    fn applied_unchanged(&self, want: &NsInstance, ns: &NsRecord) -> bool {
        self.inventory
            .ns_instances
            .get(&want.name)
            .is_some_and(|e| e.osm_id == ns.osm_id && e.digest == want.digest())
    }

    /// How many times this sync instantiated this document as this NS (at least the one OSM shows).
    fn instantiate_attempts(&self, want: &NsInstance, ns: &NsRecord) -> u32 {
        self.inventory
            .ns_instances
            .get(&want.name)
            .filter(|e| e.osm_id == ns.osm_id && e.digest == want.digest())
            .map(|e| e.instantiate_attempts.max(1))
            .unwrap_or(1)
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
    /// from concurrent runs of this sync: the oldest is kept (returned) and the others deleted.
    /// Otherwise nothing is guessed (`None`).
    fn duplicates(
        &self,
        want: &NsInstance,
        many: &[&'a NsRecord],
        p: &mut Plan,
    ) -> Option<&'a NsRecord> {
        if !many.iter().all(|n| self.marked(n) == Marked::Ours) {
            return None;
        }
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
        Some(keep)
    }
}
