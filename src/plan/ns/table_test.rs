//! The decision table of docs/repository-format.md and the `decide` match have the same rows: every
//! situation is a row of the table, every row a situation, and what `decide` plans for each is
//! one of the decisions the row lists (under the default options and the ones the row names).

use serde_json::json;

use super::situation::{Classified, NsSituation};
use super::*;
use crate::model::OperationState;
use crate::osm::OpRecord;
use crate::plan::{DriftAction, DriftPolicy, Remediation};

fn want() -> NsInstance {
    crate::plan::tests::ns("ldap", Some(json!({"replicaCount": 2})))
}

fn record() -> NsRecord {
    crate::osm::records::from_value(&json!({"_id": "ns-1", "name": "ldap", "nsd-ref": "ldap_ns",
        "_admin": {"nsState": "INSTANTIATED"}, "nsState": "READY"}))
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
    let params = json!({"replicaCount": 1}).as_object().cloned().unwrap();
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
        NsSituation::NoHistoryApplied,
        NsSituation::NoHistoryChanged,
        NsSituation::NoHistoryUnknown,
        NsSituation::UpgradeRunning { op: running },
        NsSituation::Converged,
        NsSituation::RolledBack {
            rollback: done,
            failed: 1,
        },
        NsSituation::ParamsDrifted {
            op: done,
            live: params.clone(),
        },
        NsSituation::GitChanged {
            from: params.clone(),
        },
        NsSituation::ChangedAfterFailure {
            failure: "upgrade op-1 FAILED: boom".into(),
            base: params.clone(),
        },
        NsSituation::UpgradeFailed {
            failure: "upgrade op-1 FAILED: boom".into(),
            failures: 1,
            last_good: Some((done, params)),
        },
    ]
}

/// The table's rows: situation name → the decisions (backticked action labels) it lists.
fn table() -> Vec<(String, Vec<String>)> {
    let doc = include_str!("../../../docs/repository-format.md");
    let start = doc
        .find("### NS instance decisions")
        .expect("docs/repository-format.md has the NS decision table");
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

#[test]
fn the_decision_table_in_the_docs_is_the_decide_match() {
    let running = op("PROCESSING");
    let failed = op("FAILED");
    let done = op("COMPLETED");
    assert_eq!(running.operation_state, OperationState::Processing);
    let rows = table();
    let situations = every_situation(&running, &failed, &done);
    let names: Vec<&str> = situations.iter().map(|s| s.row()).collect();
    let documented: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names, documented,
        "the table's rows, in order, are the situations"
    );

    let desired = DesiredState {
        ns_instances: vec![want()],
        ..Default::default()
    };
    let live = crate::plan::tests::live_base();
    let inventory = Inventory::default();
    let ns = record();
    let option_sets = [
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
            ..PlanOptions::default()
        },
    ];
    let mut reached: Vec<std::collections::BTreeSet<String>> = vec![Default::default(); rows.len()];
    for opts in &option_sets {
        let cx = Context {
            desired: &desired,
            live: &live,
            inventory: &inventory,
            opts,
            ops: Default::default(),
        };
        for (i, (situation, (row, labels))) in every_situation(&running, &failed, &done)
            .into_iter()
            .zip(&rows)
            .enumerate()
        {
            let mut p = Plan::default();
            let classified = Classified {
                situation,
                adopting: None,
            };
            let a = decide(&cx, classified, &want(), Some(&ns), &mut p)
                .unwrap_or_else(|| panic!("row '{row}' decides nothing: {:?}", p.problems));
            let label = a.operation.label();
            assert!(
                labels.iter().any(|l| l == label),
                "row '{row}': decide plans `{label}` ({}), the table lists {labels:?}",
                a.reason
            );
            reached[i].insert(label.to_owned());
        }
    }
    // And the table lists no decision that `decide` never takes.
    for ((row, labels), reached) in rows.iter().zip(&reached) {
        let listed: std::collections::BTreeSet<String> = labels.iter().cloned().collect();
        assert_eq!(&listed, reached, "row '{row}'");
    }
}
