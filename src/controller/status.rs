//! Building the OsmSync status the way Flux controllers do: Ready / Reconciling / Stalled
//! conditions with stable transition times, the inventory, and a bounded history.

use std::collections::BTreeMap;

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::api::{
    condition, reason, Condition, NsInventoryEntry, OperationEntry, OsmSyncStatus,
    PackageInventoryEntry, Snapshot, SyncInventory,
};
use crate::engine::OperationReport;
use crate::model::{now_rfc3339, OperationState};
use crate::plan::{Inventory, NsEntry, PackageEntry};
use crate::repo::DesiredState;
use crate::repo::PackageKind;

/// Snapshots kept (Flux keeps 5).
pub const MAX_HISTORY: usize = 5;
/// Finished operations kept in the status (running ones are always kept).
pub const MAX_OPERATIONS: usize = 20;

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

/// Ready=False with a reason, and what Flux's controllers set beside it so that kstatus (and
/// `flux`, Kustomization health checks, Argo CD) never read a failing object as Current:
/// `Stalled=True` with the same reason when only a person can fix it, else `Reconciling=True`
/// with reason `ProgressingWithRetry` (fluxcd/pkg `runtime/conditions`, kustomize-controller's
/// `finalizeStatus`).
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
    if stalled {
        remove_condition(&mut s.conditions, condition::RECONCILING);
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
        set_condition(
            &mut s.conditions,
            condition::RECONCILING,
            "True",
            reason::PROGRESSING_WITH_RETRY,
            message,
            generation,
        );
    }
    s.observed_generation = generation;
}

/// kstatus' reading of an object with Flux-style conditions (`sigs.k8s.io/cli-utils`
/// `pkg/kstatus/status`, generic conditions): an observed generation behind the object's, or
/// `Reconciling=True`, is "InProgress"; `Stalled=True` is "Failed"; anything else is "Current".
/// `Ready` itself is not read — hence the conditions [`mark_failed`] sets.
pub fn kstatus(generation: Option<i64>, s: &OsmSyncStatus) -> &'static str {
    if s.observed_generation.is_none() || s.observed_generation < generation {
        return "InProgress";
    }
    let is_true = |t: &str| s.condition(t).is_some_and(|c| c.status == "True");
    if is_true(condition::RECONCILING) {
        "InProgress"
    } else if is_true(condition::STALLED) {
        "Failed"
    } else {
        "Current"
    }
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
                adopted: e.adopted,
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
                tagged: e.tagged,
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
                        adopted: e.adopted,
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
                        tagged: e.tagged,
                    },
                )
            })
            .collect(),
    }
}

/// `sha256:<hex>` of a desired state: every NsInstance and package digest, so two revisions
/// that declare the same things have the same digest.
pub fn desired_digest(d: &DesiredState) -> String {
    d.digest()
}

/// `sha256:<hex>` of a revision, for results reached before the repository was read.
pub fn revision_digest(revision: &str) -> String {
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(revision.as_bytes()))
    )
}

/// Records one reconcile result as Flux's `History.Upsert` does: the snapshot with the same digest
/// and result is updated (latest time, duration, count, metadata), otherwise a new one is added;
/// newest first, at most [`MAX_HISTORY`].
pub fn upsert_history(
    s: &mut OsmSyncStatus,
    digest: &str,
    result: &str,
    duration: Duration,
    metadata: BTreeMap<String, String>,
) {
    let now = now_rfc3339();
    let duration = format!("{:.3}s", duration.as_secs_f64());
    // A reconcile that handed its operations off recorded this digest as in progress: the one
    // that sees them end concludes it (one snapshot, with what both did).
    let mut metadata = metadata;
    let mut folded = None;
    if result != crate::api::reason::PROGRESSING {
        if let Some(i) = s.history.iter().position(|h| {
            h.digest == digest && h.last_reconciled_status == crate::api::reason::PROGRESSING
        }) {
            let started = s.history.remove(i);
            for (k, v) in &started.metadata {
                metadata.entry(k.clone()).or_insert_with(|| v.clone());
            }
            folded = Some(started);
        }
    }
    let snapshot = match s
        .history
        .iter()
        .position(|h| h.digest == digest && h.last_reconciled_status == result)
    {
        Some(i) => {
            let mut h = s.history.remove(i);
            h.last_reconciled = now;
            h.last_reconciled_duration = duration;
            h.total_reconciliations += 1;
            h.metadata = metadata;
            h
        }
        None => Snapshot {
            digest: digest.to_owned(),
            first_reconciled: folded
                .as_ref()
                .map_or_else(|| now.clone(), |f| f.first_reconciled.clone()),
            last_reconciled: now,
            last_reconciled_duration: duration,
            last_reconciled_status: result.to_owned(),
            total_reconciliations: 1,
            metadata,
        },
    };
    // The latest first; times are to the second, so within one second the one just recorded
    // stays in front (stable sort).
    s.history.insert(0, snapshot);
    s.history
        .sort_by(|a, b| b.last_reconciled.cmp(&a.last_reconciled));
    s.history.truncate(MAX_HISTORY);
}

/// An OSM operation as the status records it, with the revision whose apply started it.
pub fn operation_entry(revision: &str, r: &OperationReport) -> OperationEntry {
    let mut entry = OperationEntry::of(r);
    if entry.revision.is_empty() {
        entry.revision = revision.to_owned();
    }
    entry
}

/// Records operations (new or with a new state), newest first: at most [`MAX_OPERATIONS`], but
/// never dropping one that is still running.
pub fn record_operations<'a>(
    s: &mut OsmSyncStatus,
    revision: &str,
    reports: impl IntoIterator<Item = &'a OperationReport>,
) {
    for r in reports {
        let entry = operation_entry(revision, r);
        match s
            .operations
            .iter_mut()
            .find(|o| o.nslcmop_id == r.nslcmop_id)
        {
            // A resumed operation keeps the revision that started it.
            Some(o) => {
                let revision = std::mem::take(&mut o.revision);
                *o = entry;
                if !revision.is_empty() {
                    o.revision = revision;
                }
            }
            None => s.operations.push(entry),
        }
    }
    let start = |o: &OperationEntry| crate::model::parse_rfc3339(&o.start_time);
    s.operations.sort_by_key(|o| std::cmp::Reverse(start(o)));
    let mut kept = 0;
    s.operations.retain(|o| {
        kept += 1;
        kept <= MAX_OPERATIONS || OperationState::from(o.state.as_str()).running()
    });
}

/// Operations the status records as still running (to be followed after a restart).
pub fn running_operations(s: &OsmSyncStatus) -> Vec<OperationReport> {
    s.operations
        .iter()
        .filter(|o| {
            let st = OperationState::from(o.state.as_str());
            st.running() && st != OperationState::NotFollowed
        })
        .map(|o| {
            // Followed afresh: what OSM says now is all that counts.
            let mut r = o.report();
            r.state = OperationState::Processing;
            r.error = None;
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::failure::stalls;
    use crate::api::reason;
    use crate::model::LcmOperationType;

    /// Every reason a failed reconcile can end with, as kstatus reads the status it leaves.
    #[test]
    fn no_failure_reads_as_current_and_each_reason_is_in_progress_or_failed() {
        let every = [
            (reason::RECONCILIATION_FAILED, "InProgress"),
            (reason::DEPENDENCY_NOT_READY, "InProgress"),
            (reason::ARTIFACT_FAILED, "InProgress"),
            (reason::ACCESS_DENIED, "Failed"),
            (reason::PRUNE_FAILED, "InProgress"),
            (reason::VALIDATION_FAILED, "Failed"),
            (reason::SECRET_NOT_FOUND, "InProgress"),
            (reason::SUBSTITUTE_FAILED, "InProgress"),
            (reason::INVALID_SECRET, "Failed"),
            (reason::OSM_UNREACHABLE, "InProgress"),
            (reason::OPERATION_FAILED, "InProgress"),
            (reason::OPERATION_TIMEOUT, "InProgress"),
            (reason::INVALID_SPEC, "Failed"),
            (reason::PRUNE_GUARD, "Failed"),
            (reason::AWAITING_APPROVAL, "Failed"),
            (reason::ROLLOUT_PAUSED, "Failed"),
        ];
        for (r, want) in every {
            let mut s = OsmSyncStatus::default();
            // From Ready=True, as a failure after a success finds it.
            mark_ready(&mut s, Some(3), reason::RECONCILIATION_SUCCEEDED, "ok");
            assert_eq!(kstatus(Some(3), &s), "Current");
            mark_failed(&mut s, Some(3), r, "boom", stalls(r));
            assert_eq!(kstatus(Some(3), &s), want, "{r}: {:?}", s.conditions);
            assert_eq!(s.condition("Ready").unwrap().status, "False");
        }
        // Broken NS instances without remediation: stalled whatever the reason says.
        let mut s = OsmSyncStatus::default();
        mark_failed(&mut s, Some(1), reason::OPERATION_FAILED, "broken", true);
        assert_eq!(kstatus(Some(1), &s), "Failed");
        // A newer generation not yet observed is in progress.
        mark_ready(&mut s, Some(1), reason::RECONCILIATION_SUCCEEDED, "ok");
        assert_eq!(kstatus(Some(2), &s), "InProgress");
    }

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
                adopted: true,
            },
        );
        inv.packages.insert(
            "p".into(),
            PackageEntry {
                kind: PackageKind::Ns,
                osm_id: "2".into(),
                digest: "e".into(),
                tagged: true,
            },
        );
        assert_eq!(
            inventory_from_status(Some(&inventory_to_status(&inv, "http://osm", "admin"))),
            inv
        );
    }

    #[test]
    fn history_is_upserted_by_digest_and_result_so_failures_never_push_successes_out() {
        let mut s = OsmSyncStatus::default();
        let meta = |rev: &str| BTreeMap::from([("revision".to_owned(), rev.to_owned())]);
        upsert_history(
            &mut s,
            "sha256:a",
            "ReconciliationSucceeded",
            Duration::from_millis(1200),
            meta("r1"),
        );
        // The same failure retried many times is one snapshot with a count.
        for _ in 0..12 {
            upsert_history(
                &mut s,
                "sha256:b",
                "OperationFailed",
                Duration::from_secs(2),
                meta("r2"),
            );
        }
        // A new revision that changes nothing is the same snapshot again.
        upsert_history(
            &mut s,
            "sha256:a",
            "ReconciliationSucceeded",
            Duration::from_millis(900),
            meta("r3"),
        );
        assert_eq!(s.history.len(), 2);
        let ok = s.history.iter().find(|h| h.digest == "sha256:a").unwrap();
        assert_eq!(
            (ok.total_reconciliations, ok.metadata["revision"].as_str()),
            (2, "r3")
        );
        assert_eq!(ok.last_reconciled_duration, "0.900s");
        let failed = s.history.iter().find(|h| h.digest == "sha256:b").unwrap();
        assert_eq!(failed.total_reconciliations, 12);
        for i in 0..10 {
            upsert_history(
                &mut s,
                &format!("sha256:{i}"),
                "ReconciliationSucceeded",
                Duration::ZERO,
                meta("x"),
            );
        }
        assert_eq!(s.history.len(), MAX_HISTORY);
    }

    #[test]
    fn running_operations_are_kept_and_resumable_finished_ones_bounded() {
        let mut s = OsmSyncStatus::default();
        let mut running = OperationReport::new("op-run", "ldap", "ns-1", LcmOperationType::Action);
        running.start_time = crate::model::Timestamp::from_second(1_000).ok();
        record_operations(&mut s, "r1", [&running]);
        for i in 0..30 {
            let mut done =
                OperationReport::new(&format!("op-{i}"), "ldap", "ns-1", LcmOperationType::Action);
            done.state = OperationState::Completed;
            done.start_time = crate::model::Timestamp::from_second(2_000 + i).ok();
            record_operations(&mut s, "r2", [&done]);
        }
        assert_eq!(s.operations.len(), MAX_OPERATIONS + 1);
        let resumed = running_operations(&s);
        assert_eq!(resumed.len(), 1);
        assert_eq!(resumed[0].nslcmop_id, "op-run");
        assert_eq!(resumed[0].start_time.map(|t| t.as_second()), Some(1_000));
        // Its end keeps the revision that started it; ended, it is the oldest and goes.
        running.state = OperationState::Completed;
        let mut one = OsmSyncStatus::default();
        record_operations(
            &mut one,
            "r1",
            [&OperationReport::new(
                "op-run",
                "ldap",
                "ns-1",
                LcmOperationType::Action,
            )],
        );
        record_operations(&mut one, "r3", [&running]);
        let e = &one.operations[0];
        assert_eq!((e.state.as_str(), e.revision.as_str()), ("COMPLETED", "r1"));
        record_operations(&mut s, "r3", [&running]);
        assert!(running_operations(&s).is_empty());
        assert_eq!(s.operations.len(), MAX_OPERATIONS);
    }
}
