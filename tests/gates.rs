//! Drift, the approval gate and progressive rollout at engine level, against the NBI simulator
//! over real HTTP. "By hand" changes are sent the way the `osm` CLI sends them (the same NBI
//! requests), from outside the engine.

mod common;

use common::*;
use osmops::engine::{self, Approval, EngineError, EngineOptions};
use osmops::osm::NbiClient;
use osmops::plan::{DriftAction, DriftPolicy, FailurePolicy, Inventory, Rollout};
use osmops::sim::Simulator;
use serde_json::Value;
use std::time::Duration;

fn drift(ns: DriftAction) -> EngineOptions {
    EngineOptions {
        drift: DriftPolicy {
            ns_instances: ns,
            packages: DriftAction::Warn,
        },
        ..opts()
    }
}

#[tokio::test]
async fn kdu_params_changed_by_hand_are_corrected_or_only_reported_as_the_policy_says() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = repo(&[("ldap", Some("2"))]);
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert!(!o.failed(), "{}", o.summary());
    upgrade_by_hand(&sim, "ldap", "5").await;

    // warn: reported, nothing sent, the inventory still records what Git declares.
    let before = writes(&sim).len();
    let warned = reconcile(&c, dir.path(), &o.inventory, &drift(DriftAction::Warn)).await;
    assert_eq!(summary(&warned).last().unwrap(), "drifted NsInstance ldap");
    assert_eq!(writes(&sim).len(), before, "warn must send nothing");
    assert_eq!(warned.plan.drift.len(), 1);
    assert!(
        warned.plan.drift[0]
            .what
            .contains("KDU params changed outside Git by action"),
        "{}",
        warned.plan.drift[0].what
    );
    assert!(
        warned.summary().contains("1 drifted"),
        "{}",
        warned.summary()
    );

    // correct: upgraded back to Git's params, with the drift as the reason.
    let corrected = reconcile(
        &c,
        dir.path(),
        &warned.inventory,
        &drift(DriftAction::Correct),
    )
    .await;
    let a = corrected.plan.actions.last().unwrap();
    assert_eq!(a.operation.label(), "upgrade");
    assert!(a.reason.starts_with("drift: "), "{}", a.reason);
    assert!(!corrected.failed(), "{}", corrected.summary());
    let last_action = last_action_op(&sim);
    assert_eq!(primitive_params(&last_action)["replicaCount"], "2");
    // Back in line with Git: no drift, nothing to do.
    let after = reconcile(&c, dir.path(), &corrected.inventory, &opts()).await;
    assert!(after.plan.drift.is_empty());
    assert_eq!(after.plan.writes(), 0);
}

#[tokio::test]
async fn an_ns_deleted_by_hand_is_created_again_by_default() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = repo(&[("ldap", Some("2"))]);
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    let old_id = o.inventory.ns_instances["ldap"].osm_id.clone();
    c.delete_ns_instance(&old_id).await.unwrap();
    wait_ns_gone(&c, "ldap").await;
    let again = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    let a = again.plan.actions.last().unwrap();
    assert_eq!(a.operation.label(), "create");
    assert_eq!(
        a.reason,
        format!("drift: deleted in OSM outside Git (was {old_id}); creating it again")
    );
    assert!(!again.failed(), "{}", again.summary());
    assert_ne!(again.inventory.ns_instances["ldap"].osm_id, old_id);
}

fn manual(approved: Option<&str>) -> EngineOptions {
    EngineOptions {
        approval: Approval::Manual {
            approved: approved.map(str::to_owned),
        },
        ..opts()
    }
}

async fn pending(
    c: &NbiClient,
    root: &std::path::Path,
    inv: &Inventory,
    o: &EngineOptions,
) -> Box<engine::PendingPlan> {
    match engine::reconcile(c, &desired(root), inv, o, &|_, _| {}).await {
        Err(EngineError::AwaitingApproval(p)) => p,
        Err(e) => panic!("expected a plan awaiting approval, got {e}"),
        Ok(o) => panic!("expected a plan awaiting approval, got {}", o.summary()),
    }
}

#[tokio::test]
async fn nothing_is_written_before_approval_and_a_stale_approval_is_refused() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = repo(&[("ldap", Some("1"))]);
    let first = pending(&c, dir.path(), &Inventory::default(), &manual(None)).await;
    assert!(first.void_approval.is_none());
    assert_eq!(
        writes(&sim),
        Vec::<String>::new(),
        "no write before approval"
    );
    // An approval of another plan does not approve this one.
    let wrong = pending(
        &c,
        dir.path(),
        &Inventory::default(),
        &manual(Some("sha256:0000")),
    )
    .await;
    assert_eq!(wrong.plan.digest, first.plan.digest);
    assert_eq!(wrong.void_approval.as_deref(), Some("sha256:0000"));
    assert!(writes(&sim).is_empty());
    // The exact digest applies exactly that plan.
    let applied = reconcile(
        &c,
        dir.path(),
        &Inventory::default(),
        &manual(Some(&first.plan.digest)),
    )
    .await;
    assert_eq!(applied.plan.digest, first.plan.digest);
    assert!(!applied.failed(), "{}", applied.summary());
    let inv = applied.inventory;

    // Git changes: a new plan awaits approval; then OSM changes (someone upgrades by hand)
    // before the approval arrives: the approval is void and nothing is sent.
    write(dir.path(), "ldap.osmops.yaml", &ns_doc("ldap", Some("3")));
    let upgrade = pending(&c, dir.path(), &inv, &manual(None)).await;
    upgrade_by_hand(&sim, "ldap", "7").await;
    let before = writes(&sim).len();
    let stale = pending(&c, dir.path(), &inv, &manual(Some(&upgrade.plan.digest))).await;
    assert_eq!(
        stale.void_approval.as_deref(),
        Some(upgrade.plan.digest.as_str())
    );
    assert_ne!(stale.plan.digest, upgrade.plan.digest);
    assert!(
        stale.to_string().contains("is void"),
        "{}",
        stale.to_string()
    );
    assert_eq!(
        writes(&sim).len(),
        before,
        "a stale approval must send nothing"
    );
    // A plan that writes nothing needs no approval.
    let dir2 = repo(&[]);
    let none = reconcile(&c, dir2.path(), &Inventory::default(), &manual(None)).await;
    assert_eq!(none.plan.writes(), 0);
}

fn rollout(canary: usize, max_parallel: usize, policy: FailurePolicy) -> EngineOptions {
    EngineOptions {
        rollout: Rollout {
            max_parallel: Some(max_parallel),
            canary,
            failure_policy: policy,
        },
        ..opts()
    }
}

/// The NS name of an operation, from the simulator's NS records.
fn ns_name_of(sim: &Simulator, op: &Value) -> String {
    let id = op["nsInstanceId"].as_str().unwrap();
    sim.ns_instances()
        .into_iter()
        .find(|n| n["_id"] == id)
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .unwrap()
}

#[tokio::test]
async fn a_rollout_upgrades_the_canary_then_batches_each_after_the_last_completed() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let names = ["a", "b", "c", "d", "e"];
    let one: Vec<(&str, Option<&str>)> = names.iter().map(|n| (*n, Some("1"))).collect();
    let dir = repo(&one);
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert!(!o.failed(), "{}", o.summary());
    write_ns_docs(dir.path(), &names, "2");
    let opts = rollout(1, 2, FailurePolicy::Pause);
    let preview = engine::preview(&c, &desired(dir.path()), &o.inventory, &opts)
        .await
        .unwrap();
    assert_eq!(
        osmops::plan::describe_batches(&preview.batches),
        "canary: a; batch 2: b, c; batch 3: d, e"
    );
    let up = reconcile(&c, dir.path(), &o.inventory, &opts).await;
    assert!(!up.failed(), "{}", up.summary());
    assert!(up.rollout_paused.is_none());
    // Batch k's upgrades start only after batch k-1's completed.
    let ops = action_ops(&sim);
    assert_eq!(ops.len(), 5);
    let time = |n: &str, field: &str| {
        ops.iter()
            .find(|op| ns_name_of(&sim, op) == n)
            .map(|op| op[field].as_f64().unwrap())
            .unwrap()
    };
    for (earlier, later) in [
        ("a", "b"),
        ("a", "c"),
        ("b", "d"),
        ("c", "d"),
        ("b", "e"),
        ("c", "e"),
    ] {
        assert!(
            time(later, "startTime") >= time(earlier, "statusEnteredTime"),
            "{later} started before {earlier} completed"
        );
    }
    assert!(ops.iter().all(|op| op["operationState"] == "COMPLETED"));
}

#[tokio::test]
async fn a_failed_canary_pauses_the_rollout_and_continue_goes_on() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let names = ["a", "b", "c"];
    let one: Vec<(&str, Option<&str>)> = names.iter().map(|n| (*n, Some("1"))).collect();
    let dir = repo(&one);
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    write_ns_docs(dir.path(), &names, "2");
    sim.fail_next("action", Some("a"), 1, "helm upgrade failed");
    let paused = reconcile(
        &c,
        dir.path(),
        &o.inventory,
        &rollout(1, 1, FailurePolicy::Pause),
    )
    .await;
    let why = paused.rollout_paused.clone().expect("paused");
    assert!(why.contains("the canary batch failed (a)"), "{why}");
    // Only the canary's upgrade was sent.
    let ops = action_ops(&sim);
    assert_eq!(ops.len(), 1, "{ops:?}");
    assert_eq!(ns_name_of(&sim, &ops[0]), "a");
    let statuses: Vec<(String, String)> = paused
        .plan
        .actions
        .iter()
        .zip(&paused.results)
        .filter(|(a, _)| a.kind == osmops::plan::ObjectKind::NsInstance)
        .map(|(a, r)| (a.name.clone(), r.status.label().to_owned()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("a".to_owned(), "Failed".to_owned()),
            ("b".to_owned(), "Skipped".to_owned()),
            ("c".to_owned(), "Skipped".to_owned())
        ]
    );
    assert!(paused
        .results
        .iter()
        .any(|r| r.message.starts_with("not started: rollout paused")));

    // failurePolicy continue: the failure is reported and the other batches run. Git moves on
    // (replicas 3), so the canary is `a` again, and fails again.
    write_ns_docs(dir.path(), &names, "3");
    sim.fail_next("action", Some("a"), 1, "helm upgrade failed");
    let went_on = reconcile(
        &c,
        dir.path(),
        &paused.inventory,
        &rollout(1, 1, FailurePolicy::Continue),
    )
    .await;
    assert_eq!(
        osmops::plan::describe_batches(&went_on.plan.batches),
        "canary: a; batch 2: b; batch 3: c"
    );
    assert!(went_on.rollout_paused.is_none());
    assert!(went_on.failed());
    let upgraded_to_3: Vec<String> = action_ops(&sim)
        .iter()
        .filter(|op| {
            op["operationState"] == "COMPLETED" && primitive_params(op)["replicaCount"] == "3"
        })
        .map(|op| ns_name_of(&sim, op))
        .collect();
    assert_eq!(upgraded_to_3.len(), 2, "{upgraded_to_3:?}");
    assert!(
        upgraded_to_3.contains(&"b".to_owned()) && upgraded_to_3.contains(&"c".to_owned()),
        "{upgraded_to_3:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_that_completes_on_an_unhealthy_ns_fails_its_batch() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let names = ["a", "b"];
    let one: Vec<(&str, Option<&str>)> = names.iter().map(|n| (*n, Some("1"))).collect();
    let dir = repo(&one);
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert!(!o.failed(), "{}", o.summary());
    write_ns_docs(dir.path(), &names, "2");
    // LCM held: the canary's upgrade stays PROCESSING until the test completes it, after the
    // NS went BROKEN (its pods crash after the new chart rolled out).
    sim.set_lcm(osmops::sim::LcmMode::None, Duration::from_millis(50));
    let run = {
        let c = c.clone();
        let desired = desired(dir.path());
        let inv = o.inventory.clone();
        tokio::spawn(async move {
            engine::reconcile(
                &c,
                &desired,
                &inv,
                &rollout(1, 1, FailurePolicy::Pause),
                &|_, _| {},
            )
            .await
        })
    };
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while action_ops(&sim).is_empty() {
        assert!(
            std::time::Instant::now() < until,
            "the canary was never sent"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sim.complete_pending_ops_leaving("a", "BROKEN", Some("CrashLoopBackOff: ldap-0"));
    let out = run.await.unwrap().unwrap();
    let a = out.plan.actions.iter().position(|x| x.name == "a").unwrap();
    let msg = &out.results[a].message;
    assert!(
        msg.contains(
            "completed but the NS is not healthy: nsState BROKEN (CrashLoopBackOff: ldap-0)"
        ),
        "{msg}"
    );
    assert!(out.rollout_paused.is_some());
    assert_eq!(action_ops(&sim).len(), 1, "b was not upgraded");
}
