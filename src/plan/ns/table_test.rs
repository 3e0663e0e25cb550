//! The decision table of docs/repository-format.md and the `decide` match have the same rows: every
//! situation is a row of the table, every row a situation, and what `decide` plans for each is
//! one of the decisions the row lists (under the default options and the ones the row names).

use serde_json::json;

use super::decide::decide_kdu;
use super::situation::{Classified, KduSituation, NsSituation};
use super::*;
use crate::model::OperationState;
use crate::osm::OpRecord;
use crate::plan::{DriftAction, DriftPolicy, Remediation};

fn want() -> NsInstance {
    crate::plan::tests::ns("ldap", Some(json!({"replicaCount": 2})))
}

/// This sync's NS (it carries the default owner's mark).
fn record() -> NsRecord {
    let mark = PlanOptions::default().owner.ns_description(None);
    crate::osm::records::from_value(&json!({"_id": "ns-1", "name": "ldap", "nsd-ref": "ldap_ns",
        "description": mark, "_admin": {"nsState": "INSTANTIATED"}, "nsState": "READY"}))
    .unwrap()
}

fn op(state: &str) -> OpRecord {
    crate::osm::records::from_value(&json!({"_id": "op-1", "nsInstanceId": "ns-1",
        "lcmOperationType": "action", "operationState": state}))
    .unwrap()
}

/// One situation of every kind (the match in `row()` makes adding a kind without a row here a
/// test failure: the row counts below differ).
fn every_situation<'a>(
    running: &'a OpRecord,
    failed: &'a OpRecord,
    done: &'a OpRecord,
) -> Vec<NsSituation<'a>> {
    vec![
        NsSituation::Absent,
        NsSituation::DeletedOutsideGit { was: "ns-0".into() },
        NsSituation::Ambiguous {
            ids: vec!["a (unmarked)".into(), "b (unmarked)".into()],
        },
        NsSituation::OtherSync {
            owner: "osmsync/x/y".into(),
        },
        NsSituation::NotProven { legacy: false },
        NsSituation::NsdChanged {
            from: "old_ns".into(),
        },
        NsSituation::TerminateRunning { op: running },
        NsSituation::InstantiateRunning { op: running },
        NsSituation::InstantiateRunningChanged { op: running },
        NsSituation::InstantiateFailed {
            op: failed,
            attempts: 1,
            owned: true,
        },
        NsSituation::TerminatedOutsideGit { op: done },
        NsSituation::TerminatedNotProven { op: done },
        NsSituation::NotInstantiated,
        NsSituation::Broken { detail: None },
        NsSituation::ConfigChanged {
            what: vec!["config.vld".into()],
        },
        NsSituation::Instantiated,
    ]
}

/// One KDU situation of every kind.
fn every_kdu_situation<'a>(running: &'a OpRecord, done: &'a OpRecord) -> Vec<KduSituation<'a>> {
    let params = json!({"replicaCount": 1}).as_object().cloned().unwrap();
    vec![
        KduSituation::NoHistoryApplied,
        KduSituation::NoHistoryChanged,
        KduSituation::NoHistoryUnknown,
        KduSituation::UpgradeRunning { op: running },
        KduSituation::Converged,
        KduSituation::RolledBack {
            rollback: done,
            failed: 1,
        },
        KduSituation::ParamsDrifted {
            op: done,
            live: params.clone(),
        },
        KduSituation::GitChanged {
            from: params.clone(),
        },
        KduSituation::ChangedAfterFailure {
            failure: "upgrade op-1 FAILED: boom".into(),
            base: params.clone(),
        },
        KduSituation::UpgradeFailed {
            failure: "upgrade op-1 FAILED: boom".into(),
            failures: 1,
            last_good: Some((done, params)),
        },
    ]
}

/// The rows of the table under `heading`: situation name → the decisions (backticked action
/// labels) it lists.
fn table(heading: &str) -> Vec<(String, Vec<String>)> {
    let doc = include_str!("../../../docs/repository-format.md");
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("docs/repository-format.md has the table '{heading}'"));
    doc[start..]
        .lines()
        .skip_while(|l| !l.starts_with("| situation"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            let labels = cells[2]
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect();
            (cells[0].to_owned(), labels)
        })
        .collect()
}

/// The option sets every row is decided under: between them they reach every listed decision.
fn option_sets() -> Vec<PlanOptions> {
    vec![
        PlanOptions::default(),
        PlanOptions {
            drift: DriftPolicy::all(Some(DriftAction::Warn)),
            remediation: Remediation {
                instantiate_retries: 0,
                upgrade_retries: 0,
                upgrade_rollback: true,
            },
            ..PlanOptions::default()
        },
        PlanOptions {
            remediation: Remediation {
                instantiate_retries: 2,
                upgrade_retries: 2,
                upgrade_rollback: false,
            },
            allow_recreate: true,
            ..PlanOptions::default()
        },
    ]
}

/// Checks that `decided` (row index → the label planned under one option set) covers exactly
/// what each row lists.
fn check_rows(rows: &[(String, Vec<String>)], names: &[&str], decided: &[Vec<(String, String)>]) {
    let documented: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names, documented,
        "the table's rows, in order, are the situations"
    );
    for ((row, labels), decided) in rows.iter().zip(decided) {
        let mut reached = std::collections::BTreeSet::new();
        for (label, reason) in decided {
            assert!(
                labels.iter().any(|l| l == label),
                "row '{row}': decide plans `{label}` ({reason}), the table lists {labels:?}"
            );
            reached.insert(label.clone());
        }
        // And the table lists no decision that `decide` never takes.
        let listed: std::collections::BTreeSet<String> = labels.iter().cloned().collect();
        assert_eq!(listed, reached, "row '{row}'");
    }
}

#[test]
fn the_decision_tables_in_the_docs_are_the_decide_matches() {
    let running = op("PROCESSING");
    let failed = op("FAILED");
    let done = op("COMPLETED");
    assert_eq!(running.operation_state, OperationState::Processing);
    let desired = DesiredState {
        ns_instances: vec![want()],
        ..Default::default()
    };
    let live = crate::plan::tests::live_base();
    let inventory = Inventory::default();
    let ns = record();
    let ns_rows = table("### NS instance decisions");
    let kdu_rows = table("### KDU decisions");
    let mut ns_decided = vec![Vec::new(); ns_rows.len()];
    let mut kdu_decided = vec![Vec::new(); kdu_rows.len()];
    for opts in &option_sets() {
        let cx = Context {
            desired: &desired,
            live: &live,
            inventory: &inventory,
            opts,
            ops: Default::default(),
        };
        for (i, situation) in every_situation(&running, &failed, &done)
            .into_iter()
            .enumerate()
        {
            let row = situation.row();
            // An instantiated NS is decided per KDU and scaling aspect (the tables below).
            if matches!(situation, NsSituation::Instantiated) {
                continue;
            }
            let mut p = Plan::default();
            let classified = Classified {
                situation,
                adopting: None,
            };
            let actions = decide(&cx, classified, &want(), Some(&ns), &mut p);
            let [a] = actions.as_slice() else {
                panic!(
                    "row '{row}' decides {} actions: {:?}",
                    actions.len(),
                    p.problems
                );
            };
            ns_decided[i].push((a.operation.label().to_owned(), a.reason.clone()));
        }
        let kdu = &want().kdus[0];
        for (i, situation) in every_kdu_situation(&running, &done).into_iter().enumerate() {
            let mut p = Plan::default();
            let a = decide_kdu(&cx, situation, &want(), &ns, kdu, &mut p);
            kdu_decided[i].push((a.operation.label().to_owned(), a.reason.clone()));
        }
    }
    let names: Vec<&str> = every_situation(&running, &failed, &done)
        .iter()
        .map(|s| s.row())
        .collect();
    check_rows(&ns_rows, &names, &ns_decided);
    let names: Vec<&str> = every_kdu_situation(&running, &done)
        .iter()
        .map(|s| s.row())
        .collect();
    check_rows(&kdu_rows, &names, &kdu_decided);
}
