//! Building the OsmSync status the way Flux controllers do: Ready / Reconciling / Stalled
//! conditions with stable transition times, the inventory, and a bounded history.

use std::collections::BTreeMap;

use crate::api::{
    condition, Condition, HistoryEntry, NsInventoryEntry, OperationEntry, OsmSyncStatus,
    PackageInventoryEntry, SyncInventory,
};
use crate::engine::Outcome;
use crate::model::now_rfc3339;
use crate::plan::{Inventory, NsEntry, PackageEntry};
use crate::repo::PackageKind;

pub const MAX_HISTORY: usize = 10;

/// Sets a condition; the transition time only changes when the status does.
pub fn set_condition(
    conds: &mut Vec<Condition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) {
    let now = now_rfc3339();
    match conds.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = now;
            }
            c.status = status.into();
            c.reason = reason.into();
            c.message = message.into();
            c.observed_generation = generation;
        }
        None => conds.push(Condition {
            type_: type_.into(),
            status: status.into(),
            observed_generation: generation,
            last_transition_time: now,
            reason: reason.into(),
            message: message.into(),
        }),
    }
    // Ready first, like Flux's summarize helper, so `kubectl describe` reads naturally.
    conds.sort_by_key(|c| match c.type_.as_str() {
        condition::READY => 0,
        condition::RECONCILING => 1,
        condition::STALLED => 2,
        _ => 3,
    });
}

pub fn remove_condition(conds: &mut Vec<Condition>, type_: &str) {
    conds.retain(|c| c.type_ != type_);
}

/// Ready=True: the end of a successful reconcile.
pub fn mark_ready(s: &mut OsmSyncStatus, generation: Option<i64>, reason: &str, message: &str) {
    set_condition(
        &mut s.conditions,
        condition::READY,
        "True",
        reason,
        message,
        generation,
    );
    remove_condition(&mut s.conditions, condition::RECONCILING);
    remove_condition(&mut s.conditions, condition::STALLED);
    s.observed_generation = generation;
}

/// Ready=False with a reason; `stalled` when only a spec change can fix it.
pub fn mark_failed(
    s: &mut OsmSyncStatus,
    generation: Option<i64>,
    reason: &str,
    message: &str,
    stalled: bool,
) {
    set_condition(
        &mut s.conditions,
        condition::READY,
        "False",
        reason,
        message,
        generation,
    );
    remove_condition(&mut s.conditions, condition::RECONCILING);
    if stalled {
        set_condition(
            &mut s.conditions,
            condition::STALLED,
            "True",
            reason,
            message,
            generation,
        );
    } else {
        remove_condition(&mut s.conditions, condition::STALLED);
    }
    s.observed_generation = generation;
}

/// Work in progress: Reconciling=True and Ready=Unknown (kstatus "InProgress").
pub fn mark_progressing(
    s: &mut OsmSyncStatus,
    generation: Option<i64>,
    reason: &str,
    message: &str,
) {
    set_condition(
        &mut s.conditions,
        condition::RECONCILING,
        "True",
        reason,
        message,
        generation,
    );
    set_condition(
        &mut s.conditions,
        condition::READY,
        "Unknown",
        reason,
        message,
        generation,
    );
    remove_condition(&mut s.conditions, condition::STALLED);
}

/// The inventory as the status keeps it, with the OSM (URL without user-info) and project it
/// belongs to.
pub fn inventory_to_status(inv: &Inventory, osm_url: &str, project: &str) -> SyncInventory {
    SyncInventory {
        osm_url: Some(osm_url.to_owned()),
        project: Some(project.to_owned()),
        ns_instances: inv
            .ns_instances
            .iter()
            .map(|(name, e)| NsInventoryEntry {
                name: name.clone(),
                osm_id: e.osm_id.clone(),
                digest: e.digest.clone(),
                instantiate_attempts: Some(e.instantiate_attempts).filter(|n| *n > 0),
            })
            .collect(),
        packages: inv
            .packages
            .iter()
            .map(|(id, e)| PackageInventoryEntry {
                id: id.clone(),
                kind: e.kind.label().into(),
                osm_id: e.osm_id.clone(),
                digest: e.digest.clone(),
            })
            .collect(),
    }
}

/// The inventory recorded in the status for the OSM and project a session talks to. When the
/// status records another OSM or project (the Secret was changed), its entries are ids in another
/// OSM: they are dropped (`Err` names what was recorded) and ownership rests on OSM's marks.
pub fn inventory_for(
    s: Option<&SyncInventory>,
    osm_url: &str,
    project: &str,
) -> Result<Inventory, String> {
    let inv = inventory_from_status(s);
    let Some(s) = s else {
        return Ok(inv);
    };
    let differs =
        |recorded: &Option<String>, now: &str| recorded.as_deref().is_some_and(|r| r != now);
    if !inv.is_empty() && (differs(&s.osm_url, osm_url) || differs(&s.project, project)) {
        return Err(format!(
            "the inventory recorded OSM {} project {}",
            s.osm_url.as_deref().unwrap_or("?"),
            s.project.as_deref().unwrap_or("?")
        ));
    }
    Ok(inv)
}

pub fn inventory_from_status(s: Option<&SyncInventory>) -> Inventory {
    let Some(s) = s else {
        return Inventory::default();
    };
    Inventory {
        ns_instances: s
            .ns_instances
            .iter()
            .map(|e| {
                (
                    e.name.clone(),
                    NsEntry {
                        osm_id: e.osm_id.clone(),
                        digest: e.digest.clone(),
                        instantiate_attempts: e.instantiate_attempts.unwrap_or(0),
                    },
                )
            })
            .collect(),
        packages: s
            .packages
            .iter()
            .map(|e| {
                let kind = if e.kind == PackageKind::Ns.label() {
                    PackageKind::Ns
                } else {
                    PackageKind::Vnf
                };
                (
                    e.id.clone(),
                    PackageEntry {
                        kind,
                        osm_id: e.osm_id.clone(),
                        digest: e.digest.clone(),
                    },
                )
            })
            .collect(),
    }
}

pub fn history_entry(revision: &str, start: String, outcome: &Outcome) -> HistoryEntry {
    let result = if outcome.failed() {
        "Failed"
    } else if outcome.incomplete() {
        "Incomplete"
    } else {
        "Succeeded"
    };
    HistoryEntry {
        revision: revision.to_owned(),
        start_time: start,
        end_time: now_rfc3339(),
        result: result.into(),
        counts: outcome
            .counts()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v as u32))
            .collect::<BTreeMap<_, _>>(),
        operations: outcome
            .operations
            .iter()
            .map(|o| OperationEntry {
                nslcmop_id: o.nslcmop_id.clone(),
                ns_name: o.ns_name.clone(),
                type_: o.op_type.clone(),
                state: o.state.to_string(),
                error: o.error.clone(),
            })
            .collect(),
    }
}

/// Newest first, at most [`MAX_HISTORY`] entries.
pub fn push_history(s: &mut OsmSyncStatus, entry: HistoryEntry) {
    s.history.insert(0, entry);
    s.history.truncate(MAX_HISTORY);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let mut c = vec![];
        set_condition(&mut c, "Ready", "False", "A", "a", Some(1));
        c[0].last_transition_time = "2000-01-01T00:00:00Z".into();
        set_condition(&mut c, "Ready", "False", "B", "b", Some(2));
        assert_eq!(c[0].last_transition_time, "2000-01-01T00:00:00Z");
        assert_eq!(
            (c[0].reason.as_str(), c[0].observed_generation),
            ("B", Some(2))
        );
        set_condition(&mut c, "Ready", "True", "C", "c", Some(2));
        assert_ne!(c[0].last_transition_time, "2000-01-01T00:00:00Z");
    }

    #[test]
    fn ready_clears_reconciling_and_stalled() {
        let mut s = OsmSyncStatus::default();
        mark_failed(&mut s, Some(1), "InvalidSpec", "bad", true);
        assert!(s.condition("Stalled").is_some());
        mark_progressing(&mut s, Some(2), "Progressing", "working");
        assert_eq!(s.condition("Ready").unwrap().status, "Unknown");
        assert!(s.condition("Stalled").is_none());
        mark_ready(
            &mut s,
            Some(2),
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:x",
        );
        let types: Vec<&str> = s.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["Ready"]);
        assert_eq!(s.observed_generation, Some(2));
    }

    #[test]
    fn inventory_round_trips_through_the_status() {
        let mut inv = Inventory::default();
        inv.ns_instances.insert(
            "a".into(),
            NsEntry {
                osm_id: "1".into(),
                digest: "d".into(),
                instantiate_attempts: 0,
            },
        );
        inv.packages.insert(
            "p".into(),
            PackageEntry {
                kind: PackageKind::Ns,
                osm_id: "2".into(),
                digest: "e".into(),
            },
        );
        assert_eq!(
            inventory_from_status(Some(&inventory_to_status(&inv, "http://osm", "admin"))),
            inv
        );
    }

    #[test]
    fn history_is_bounded_and_newest_first() {
        let mut s = OsmSyncStatus::default();
        for i in 0..15 {
            push_history(
                &mut s,
                HistoryEntry {
                    revision: format!("r{i}"),
                    start_time: String::new(),
                    end_time: String::new(),
                    result: "Succeeded".into(),
                    counts: BTreeMap::new(),
                    operations: vec![],
                },
            );
        }
        assert_eq!(s.history.len(), 10);
        assert_eq!(s.history[0].revision, "r14");
    }
}
