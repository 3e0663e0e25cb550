//! Prune: deletes NS instances this sync owns and Git no longer declares.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::super::owner::{Marked, Owner, Proof};
use super::super::{Action, Inventory, LiveState, ObjectKind, Operation, Plan, PlanOptions};
use crate::model::NsState;
use crate::osm::NsRecord;
use crate::repo::DesiredState;

/// What prune found: the NS instances it deletes and how many this sync owns in OSM.
pub(in crate::plan) struct Pruned {
    pub deleted: BTreeSet<String>,
    pub owned: usize,
}

/// Deletes NS instances this sync owns and Git no longer declares. Owned means: marked with this
/// sync's owner in OSM, or recorded in its inventory and not marked as someone else's. An NS whose
/// name Git declares is never deleted here, whatever the inventory says.
pub(in crate::plan) fn prune_ns_instances(
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
        let reason = if ns.ns_state == NsState::Terminating {
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
            target: None,
        });
        deleted.insert((*id).to_owned());
    }
    Pruned {
        deleted,
        owned: owned.len(),
    }
}
