//! The engine against the NBI simulator over real HTTP.

mod common;

use std::time::Duration;

use common::*;
use osmops::engine::ActionStatus;
use osmops::plan::{Inventory, Operation};
use osmops::sim::{Fault, FaultAction, LcmMode};
use serde_json::json;

#[tokio::test]
async fn lifecycle_create_noop_upgrade_prune() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = repo(&[("ldap", Some("1")), ("ldap2", None)]);
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert!(!o.failed() && !o.incomplete(), "{}", o.summary());
    assert_eq!(
        summary(&o),
        [
            "create VnfPackage openldap_knf",
            "create NsPackage openldap_ns",
            "create NsInstance ldap",
            "create NsInstance ldap2"
        ]
    );
    assert_eq!(o.operations.len(), 2);
    assert!(o.operations.iter().all(|op| op.state == "COMPLETED"));
    assert_eq!(sim.ns_instances().len(), 2);
    assert!(sim.ns_instances().iter().all(|n| n["nsState"] == "READY"));
    let inv = o.inventory.clone();
    assert_eq!(inv.ns_instances.len(), 2);
    assert_eq!(inv.packages.len(), 2);

    // Rerun: a no-op with zero writes.
    sim.clear_log();
    let o = reconcile(&c, dir.path(), &inv, &opts()).await;
    assert_eq!(o.plan.writes(), 0, "{:?}", summary(&o));
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
    assert!(o.results.iter().all(|r| r.status == ActionStatus::NoOp));

    // Change params: exactly one upgrade, with a readable reason.
    write(dir.path(), "ldap.osmops.yaml", &ns_doc("ldap", Some("3")));
    sim.clear_log();
    let o = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    let upgrades: Vec<_> = o
        .plan
        .actions
        .iter()
        .filter(|a| matches!(a.operation, Operation::UpgradeNs { .. }))
        .collect();
    assert_eq!(upgrades.len(), 1);
    assert_eq!(upgrades[0].reason, "replicaCount 1→3");
    assert_eq!(writes(&sim).len(), 1, "{:?}", writes(&sim));
    assert!(writes(&sim)[0].ends_with("/action"));
    let action_op = sim
        .operations()
        .into_iter()
        .find(|op| op["lcmOperationType"] == "action")
        .unwrap();
    assert_eq!(primitive_params(&action_op), json!({"replicaCount": "3"}));
    assert_eq!(action_op["operationState"], "COMPLETED");

    // And again: the completed upgrade makes it a no-op.
    sim.clear_log();
    let o = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    assert_eq!(o.plan.writes(), 0, "{:?}", summary(&o));

    // Remove a file and prune: the NS is terminated and deleted; packages stay (still in Git).
    std::fs::remove_file(dir.path().join("ldap2.osmops.yaml")).unwrap();
    let mut prune = opts();
    prune.prune = true;
    let o = reconcile(&c, dir.path(), &o.inventory, &prune).await;
    assert!(!o.failed(), "{}", o.summary());
    assert_eq!(o.plan.count("delete"), 1);
    let names: Vec<_> = sim
        .ns_instances()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["ldap"]);
    assert!(!o.inventory.ns_instances.contains_key("ldap2"));

    // Remove everything: refused by the prune guard unless allowed; then NS, NSD and VNFD are
    // deleted in one reconcile.
    std::fs::remove_file(dir.path().join("ldap.osmops.yaml")).unwrap();
    std::fs::remove_dir_all(dir.path().join("osm-pkgs")).unwrap();
    let err = osmops::engine::reconcile(&c, &desired(dir.path()), &o.inventory, &prune, &|_, _| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, osmops::engine::EngineError::PruneGuard(_)),
        "{err}"
    );
    assert_eq!(sim.ns_instances().len(), 1, "nothing deleted");
    prune.allow_empty = true;
    let o = reconcile(&c, dir.path(), &o.inventory, &prune).await;
    assert!(!o.failed() && !o.incomplete(), "{}", o.summary());
    assert_eq!(
        summary(&o),
        [
            "delete NsInstance ldap",
            "delete NsPackage openldap_ns",
            "delete VnfPackage openldap_knf"
        ]
    );
    assert!(
        sim.ns_instances().is_empty()
            && sim.ns_packages().is_empty()
            && sim.vnf_packages().is_empty()
    );
    assert!(o.inventory.is_empty());
}

#[tokio::test]
async fn prune_never_touches_what_the_inventory_does_not_own() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = repo(&[("mine", None)]);
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    // Another repository creates an NS with the same NSD.
    let other = repo(&[("theirs", None)]);
    let elsewhere = osmops::engine::EngineOptions {
        owner: osmops::plan::Owner::new("another-repo").unwrap(),
        ..opts()
    };
    reconcile(&c, other.path(), &Inventory::default(), &elsewhere).await;
    std::fs::remove_file(dir.path().join("mine.osmops.yaml")).unwrap();
    std::fs::remove_dir_all(dir.path().join("osm-pkgs")).unwrap();
    let mut prune = opts();
    prune.prune = true;
    prune.allow_empty = true;
    let o = reconcile(&c, dir.path(), &o.inventory, &prune).await;
    assert_eq!(
        summary(&o),
        [
            "delete NsInstance mine",
            "blocked NsPackage openldap_ns",
            "blocked VnfPackage openldap_knf"
        ]
    );
    assert!(o.plan.actions[1].reason.contains("theirs"));
    let names: Vec<_> = sim
        .ns_instances()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["theirs"]);
    assert_eq!(sim.ns_packages().len(), 1);
}

#[tokio::test]
async fn package_create_unchanged_then_content_change_reuploads() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = repo(&[]);
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert_eq!(o.plan.count("create"), 2);
    // Without any inventory the digest in OSM's stored file name still proves "unchanged".
    sim.clear_log();
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert_eq!(o.plan.count("unchanged"), 2, "{:?}", summary(&o));
    assert!(writes(&sim).is_empty());
    // Change a file deep inside the package: the whole package is re-uploaded with PUT package_content.
    write(
        dir.path(),
        "osm-pkgs/openldap_knf/helm-charts/values.yaml",
        "replicaCount: 1\n",
    );
    sim.clear_log();
    let o = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    assert_eq!(
        summary(&o),
        [
            "update VnfPackage openldap_knf",
            "unchanged NsPackage openldap_ns"
        ]
    );
    let w = writes(&sim);
    assert_eq!(w.len(), 1);
    assert!(
        w[0].starts_with("PUT /osm/vnfpkgm/v1/vnf_packages/") && w[0].ends_with("/package_content"),
        "{w:?}"
    );
    let rec = &sim.vnf_packages()[0];
    assert_eq!(rec["_admin"]["revision"], 2);
}

#[tokio::test]
async fn vnf_packages_are_onboarded_before_the_ns_packages_that_need_them() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = tempfile::tempdir().unwrap();
    // Folder names sort the NS package first; content decides the order.
    write(dir.path(), "osm-pkgs/a_ns/nsd.yaml", NSD);
    write(dir.path(), "osm-pkgs/z_knf/vnfd.yaml", VNFD);
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert!(!o.failed(), "{}", o.summary());
    let w = writes(&sim);
    assert_eq!(
        w,
        [
            "POST /osm/vnfpkgm/v1/vnf_packages_content",
            "POST /osm/nsd/v1/ns_descriptors_content"
        ]
    );
}

#[tokio::test]
async fn token_expiry_in_the_middle_of_a_batch_logs_in_once_more() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let names: Vec<String> = (0..6).map(|i| format!("ns{i}")).collect();
    let list: Vec<(&str, Option<&str>)> = names.iter().map(|n| (n.as_str(), Some("1"))).collect();
    let dir = repo(&list);
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert_eq!(c.counters().snapshot().logins, 1);
    // OSM now rejects the token our client still believes fresh; six concurrent upgrades follow.
    sim.expire_tokens();
    write_ns_docs(dir.path(), &names, "2");
    let o = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    assert!(!o.failed(), "{}", o.summary());
    assert_eq!(o.plan.count("upgrade"), 6);
    assert_eq!(
        c.counters().snapshot().logins,
        2,
        "one re-login shared by all concurrent requests"
    );
    let unauthorized = sim.log().iter().filter(|e| e.status == 401).count();
    assert!(unauthorized >= 1);
}

#[tokio::test]
async fn dropped_connection_on_create_is_resolved_by_relisting_without_duplicates() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = repo(&[("ldap", Some("1"))]);
    sim.inject(Fault {
        method: Some(axum::http::Method::POST),
        path_contains: "/nslcm/v1/ns_instances_content".into(),
        action: FaultAction::DropAfterProcessing,
        remaining: 1,
    });
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert!(!o.failed(), "{}", o.summary());
    let r = &o.results[2];
    assert!(
        r.message.contains("confirmed by re-listing"),
        "{}",
        r.message
    );
    assert!(r.nslcmop_id.is_some(), "instantiate op found by re-listing");
    assert_eq!(sim.ns_instances().len(), 1);
    let posts = sim
        .log()
        .iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("ns_instances_content"))
        .count();
    assert_eq!(posts, 1, "the create was never re-sent");
    // A rerun creates nothing new.
    let o = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    assert_eq!(o.plan.writes(), 0, "{:?}", summary(&o));
    assert_eq!(sim.ns_instances().len(), 1);
}

#[tokio::test]
async fn server_error_on_create_fails_then_rerun_creates_exactly_one() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = repo(&[("ldap", None)]);
    // Onboard packages first, then make the NS create fail with 500 (NBI rolls back on errors).
    let o = reconcile(&c, repo(&[]).path(), &Inventory::default(), &opts()).await;
    assert!(!o.failed());
    for (action, what) in [
        (FaultAction::Status(500), "500"),
        (FaultAction::Drop, "dropped"),
    ] {
        sim.inject(Fault {
            method: Some(axum::http::Method::POST),
            path_contains: "ns_instances_content".into(),
            action,
            remaining: 1,
        });
        let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
        assert!(o.failed(), "{what}: {}", o.summary());
        assert!(sim.ns_instances().is_empty(), "{what}");
    }
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert!(!o.failed(), "{}", o.summary());
    assert_eq!(sim.ns_instances().len(), 1);
}

#[tokio::test]
async fn upgrade_while_instantiate_processing_is_blocked_without_a_409_storm() {
    let sim = fast_sim().await;
    sim.set_lcm(LcmMode::None, Duration::ZERO);
    let c = client(&sim);
    let dir = repo(&[("ldap", Some("1"))]);
    let mut no_wait = opts();
    no_wait.wait = false;
    let o = reconcile(&c, dir.path(), &Inventory::default(), &no_wait).await;
    assert_eq!(o.plan.count("create"), 3);
    write(dir.path(), "ldap.osmops.yaml", &ns_doc("ldap", Some("2")));
    sim.clear_log();
    for _ in 0..3 {
        let o = reconcile(&c, dir.path(), &o.inventory, &no_wait).await;
        let a = o.plan.actions.iter().find(|a| a.name == "ldap").unwrap();
        assert_eq!(a.operation, Operation::Blocked);
        assert!(a.reason.contains("still PROCESSING"), "{}", a.reason);
        assert!(o.incomplete());
    }
    assert!(
        writes(&sim).is_empty(),
        "no action sent: {:?}",
        writes(&sim)
    );
    assert!(sim.log().iter().all(|e| e.status != 409));
    // Once LCM finishes, the upgrade goes through.
    sim.complete_pending_ops();
    let o = reconcile(&c, dir.path(), &Inventory::default(), &no_wait).await;
    assert_eq!(o.plan.count("upgrade"), 1, "{:?}", summary(&o));
}

#[tokio::test]
async fn duplicate_live_names_are_reported_not_guessed() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = repo(&[("twin", None)]);
    reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    // Someone creates a second NS with the same name directly in OSM (the NBI allows it).
    let nsd = sim.ns_packages()[0]["_id"].as_str().unwrap().to_owned();
    let vim = sim.vim_id("mylocation1").unwrap();
    c.create_ns_instance(&json!({"nsName": "twin", "nsdId": nsd, "vimAccountId": vim}))
        .await
        .unwrap();
    sim.clear_log();
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    let a = o.plan.actions.iter().find(|a| a.name == "twin").unwrap();
    assert_eq!(a.operation, Operation::Blocked);
    assert!(
        a.reason.contains("2 NS instances in OSM are named 'twin'"),
        "{}",
        a.reason
    );
    assert!(writes(&sim).is_empty());
}

/// Two runs of one sync create NS 'a' at once; the other run created its NS first, checked for
/// duplicates first, and removed this run's NS before this run's own check. This run must keep
/// the other run's NS and not follow the instantiate of the NS that is gone (it used to fail with
/// "operation disappeared from OSM": tests/cli.rs::concurrent_applies_end_with_exactly_one_ns_per_name
/// hit that window about once in fifteen runs).
#[tokio::test]
async fn a_create_whose_ns_a_concurrent_run_removed_keeps_that_runs_ns() {
    let sim = fast_sim().await;
    let c = client(&sim);
    reconcile(&c, repo(&[]).path(), &Inventory::default(), &opts()).await;
    let dir = repo(&[("a", None)]);
    let ids = std::sync::Mutex::new(None::<(String, String)>);
    let concurrent_run = |plan: &osmops::plan::Plan, p: &osmops::engine::Progress| {
        let osmops::engine::Progress::ActionFinished { index, status, .. } = p else {
            return;
        };
        if plan.actions[*index].name != "a" || *status != ActionStatus::Succeeded {
            return;
        }
        let mut ids = ids.lock().unwrap();
        if ids.is_some() {
            return;
        }
        let mine = sim
            .ns_instances()
            .into_iter()
            .find(|n| n["name"] == "a")
            .unwrap();
        let mine_id = mine["_id"].as_str().unwrap().to_owned();
        // The other run's NS: same name and mark, created a second earlier.
        let mut theirs = mine.clone();
        let theirs_id = uuid::Uuid::new_v4().to_string();
        theirs["_id"] = json!(theirs_id);
        theirs["_admin"]["created"] = json!(mine["_admin"]["created"].as_f64().unwrap() - 1.0);
        sim.insert_ns_record(theirs);
        sim.remove_ns_record(&mine_id);
        *ids = Some((mine_id, theirs_id));
    };
    sim.clear_log();
    let o = osmops::engine::reconcile(
        &c,
        &desired(dir.path()),
        &Inventory::default(),
        &opts(),
        &concurrent_run,
    )
    .await
    .expect("reconcile runs");
    let (mine, theirs) = ids.lock().unwrap().clone().expect("the create finished");
    assert!(!o.failed(), "{}", o.summary());
    let i = o.plan.actions.iter().position(|a| a.name == "a").unwrap();
    let r = &o.results[i];
    assert_eq!(r.status, ActionStatus::NoOp, "{}", r.message);
    assert_eq!(r.osm_id.as_deref(), Some(theirs.as_str()));
    assert!(
        r.message.contains(&format!(
            "a concurrent run of this sync had created 'a' first ({theirs}) and removed this run's NS {mine}: using that one"
        )),
        "{}",
        r.message
    );
    assert!(
        o.operations.is_empty(),
        "the removed NS's instantiate is not followed: {:?}",
        o.operations
    );
    assert_eq!(o.inventory.ns_instances["a"].osm_id, theirs);
    assert!(
        !sim.log().iter().any(|e| e.method == "DELETE"),
        "the other run's NS is kept: {:?}",
        writes(&sim)
    );
    let names: Vec<_> = sim
        .ns_instances()
        .iter()
        .map(|n| n["_id"].clone())
        .collect();
    assert_eq!(names, [json!(theirs)]);
}

#[tokio::test]
async fn failing_operation_is_reported_with_osms_message() {
    let sim = fast_sim().await;
    let c = client(&sim);
    sim.fail_next(
        "instantiate",
        Some("ldap"),
        1,
        "Error deploying KDU: helm install failed: timed out waiting for the condition",
    );
    let dir = repo(&[("ldap", None)]);
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert!(o.failed());
    assert_eq!(o.operations[0].state, "FAILED");
    let msg = &o.results[2].message;
    assert!(
        msg.contains("helm install failed: timed out waiting for the condition"),
        "{msg}"
    );
    // The failed NS is still owned, so prune could remove it.
    assert!(o.inventory.ns_instances.contains_key("ldap"));
}

#[tokio::test]
async fn plan_problems_against_osm_stop_everything_before_the_first_write() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = repo(&[("ok", None)]);
    let mut bad = ns_doc("bad", None);
    bad = bad.replace("mylocation1", "nowhere");
    write(dir.path(), "bad.osmops.yaml", &bad);
    let err = osmops::engine::reconcile(
        &c,
        &desired(dir.path()),
        &Inventory::default(),
        &opts(),
        &|_, _| {},
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("vimAccountName 'nowhere'"),
        "{err}"
    );
    assert!(
        writes(&sim).is_empty(),
        "nothing half-applied: {:?}",
        writes(&sim)
    );
}

#[tokio::test]
async fn unchanged_reconcile_costs_at_most_three_requests() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let names: Vec<String> = (0..20).map(|i| format!("knf{i}")).collect();
    let dir = tempfile::tempdir().unwrap();
    // Packages onboarded beforehand; the repository holds only NsInstance documents.
    reconcile(&c, repo(&[]).path(), &Inventory::default(), &opts()).await;
    write_ns_docs(dir.path(), &names, "1");
    let fresh = client(&sim);
    let o = reconcile(&fresh, dir.path(), &Inventory::default(), &opts()).await;
    assert_eq!(o.plan.count("create"), 20);
    let before = fresh.counters().snapshot();
    let o = reconcile(&fresh, dir.path(), &o.inventory, &opts()).await;
    let used = fresh.counters().snapshot().since(&before);
    assert_eq!(o.plan.writes(), 0);
    assert!(used.requests <= 3, "{used:?}");
}

/// OSM's NBI stores a nested KDU param as a `!!yaml` string in the instantiate it records (see
/// tests/simulator.rs): read as LCM deploys it, re-applying the same document changes nothing.
/// On OSM's NBI, before this, re-applying examples/multi-knf upgraded `cache-eu`.
#[tokio::test]
async fn nested_params_applied_once_are_unchanged_on_the_next_run() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = repo(&[]);
    write(
        dir.path(),
        "ldap.osmops.yaml",
        "kind: NsInstance\nname: ldap\nnsdName: openldap_ns\nvnfName: openldap\nvimAccountName: mylocation1\nkdu:\n  name: ldap\n  params:\n    replica:\n      replicaCount: 2\n    hosts: [a, b]\n    flat: \"x\"\n",
    );
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert!(
        !o.failed() && sim.ns_instances().len() == 1,
        "{}",
        o.summary()
    );
    let op = sim.operations().pop().unwrap();
    assert!(
        op["operationParams"]["additionalParamsForVnf"]
            .as_str()
            .unwrap()
            .contains("!!yaml"),
        "stored as OSM stores it: {op}"
    );
    // Twice, the second time without the inventory: OSM's records alone must say "unchanged".
    for inventory in [o.inventory.clone(), Inventory::default()] {
        let again = reconcile(&c, dir.path(), &inventory, &opts()).await;
        assert_eq!(again.plan.writes(), 0, "{:?}", summary(&again));
    }
}

/// A run that prunes nothing reads only the NS records of the names Git declares and the
/// inventory records: creating into an OSM full of other NS downloads none of them, the
/// duplicate check asks only for *other* NS of the created names (none), and what the inventory
/// records outside Git is neither downloaded for nothing nor forgotten.
#[tokio::test]
async fn a_run_without_prune_reads_only_the_ns_it_declares_or_records() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let others = repo(&[]);
    let names: Vec<String> = (0..30).map(|i| format!("other{i}")).collect();
    write_ns_docs(others.path(), &names, "1");
    let elsewhere = osmops::engine::EngineOptions {
        owner: osmops::plan::Owner::new("another-repo").unwrap(),
        ..opts()
    };
    reconcile(&c, others.path(), &Inventory::default(), &elsewhere).await;
    let dir = tempfile::tempdir().unwrap();
    write_ns_docs(dir.path(), &["a", "b"], "1");

    sim.clear_log();
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert!(!o.failed(), "{}", o.summary());
    assert_eq!(o.plan.count("create"), 2);
    let ns_reads: Vec<String> = sim
        .log()
        .iter()
        .filter(|e| e.method == "GET" && e.path.ends_with("/nslcm/v1/ns_instances_content"))
        .map(|e| e.query.clone())
        .collect();
    assert_eq!(
        ns_reads,
        [
            "name=a%2Cb".to_owned(),
            format!(
                "name=a%2Cb&_id.neq={}%2C{}",
                o.inventory.ns_instances["a"].osm_id, o.inventory.ns_instances["b"].osm_id
            )
        ],
        "the names, then only NS of those names other than the created ones"
    );
    let other_record_bytes = sim
        .log()
        .iter()
        .filter(|e| e.method == "GET" && e.path.contains("ns_instances"))
        .map(|e| e.response_bytes)
        .sum::<u64>();
    assert!(
        other_record_bytes < 2_000,
        "no NS record was downloaded to create two: {other_record_bytes} bytes"
    );
    assert!(
        !sim.log()
            .iter()
            .any(|e| e.path.ends_with("/ns_lcm_op_occs")),
        "nothing existed: no operation list is read (only the started ones are followed)"
    );

    // "b" leaves Git while prune is off: it is read by its recorded name and stays recorded.
    std::fs::remove_file(dir.path().join("b.osmops.yaml")).unwrap();
    sim.clear_log();
    let o2 = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    assert_eq!(o2.plan.writes(), 0, "{:?}", summary(&o2));
    assert!(
        o2.inventory.ns_instances.contains_key("b"),
        "still recorded"
    );
    let op_reads: Vec<String> = sim
        .log()
        .iter()
        .filter(|e| e.path.ends_with("/ns_lcm_op_occs"))
        .map(|e| e.query.clone())
        .collect();
    assert_eq!(
        op_reads,
        [format!(
            "nsInstanceId={}",
            o.inventory.ns_instances["a"].osm_id
        )],
        "only the history of the NS Git declares"
    );
    // Prune on: the whole list (marks cannot be filtered in OSM), and "b" goes.
    let mut prune = opts();
    prune.prune = true;
    let o3 = reconcile(&c, dir.path(), &o2.inventory, &prune).await;
    assert_eq!(
        summary(&o3),
        ["unchanged NsInstance a", "delete NsInstance b"]
    );
    assert_eq!(
        sim.ns_instances().len(),
        31,
        "the other repository's 30 and 'a'"
    );
}

// ---- OSM's real behaviour: prune timing, failed and broken NS instances, remediation ---------

fn prune_all() -> osmops::engine::EngineOptions {
    osmops::engine::EngineOptions {
        prune: true,
        allow_empty: true,
        ..opts()
    }
}

/// A simulator where OSM removes a terminated NS as late as measured on OSM (3.7 s after the
/// terminate COMPLETED, the default).
async fn sim_with_slow_autoremove() -> osmops::sim::Simulator {
    osmops::sim::Simulator::start(osmops::sim::SimConfig {
        token_throttle: false,
        lcm_pickup_delay: Duration::from_millis(10),
        lcm_delay: Duration::from_millis(50),
        ..osmops::sim::SimConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn prune_deletes_packages_only_once_osm_has_removed_the_ns_in_one_apply() {
    let sim = sim_with_slow_autoremove().await;
    let c = client(&sim);
    let dir = repo(&[("ldap", None)]);
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert!(!o.failed() && !o.incomplete(), "{}", o.summary());
    std::fs::remove_file(dir.path().join("ldap.osmops.yaml")).unwrap();
    std::fs::remove_dir_all(dir.path().join("osm-pkgs")).unwrap();
    sim.clear_log();
    let o = reconcile(&c, dir.path(), &o.inventory, &prune_all()).await;
    assert!(!o.failed() && !o.incomplete(), "{}", o.summary());
    assert!(
        sim.ns_instances().is_empty()
            && sim.ns_packages().is_empty()
            && sim.vnf_packages().is_empty()
    );
    assert!(o.inventory.is_empty(), "{:?}", o.inventory);
    let log = sim.log();
    assert!(log.iter().all(|e| e.status != 409), "no 'in use' refusal");
    // The NSD was deleted after the NS record answered 404, not when the terminate completed.
    let gone = log
        .iter()
        .position(|e| {
            e.method == "GET" && e.path.contains("/ns_instances_content/") && e.status == 404
        })
        .expect("the engine waited for the NS to be gone");
    let nsd_delete = log
        .iter()
        .position(|e| e.method == "DELETE" && e.path.contains("/ns_descriptors_content/"))
        .unwrap();
    assert!(gone < nsd_delete);
}

#[tokio::test]
async fn a_terminated_ns_osm_never_removes_stays_owned_and_is_deleted_again() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = repo(&[("ldap", None), ("keep", None)]);
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    let ldap_id = o.inventory.ns_instances["ldap"].osm_id.clone();
    std::fs::remove_file(dir.path().join("ldap.osmops.yaml")).unwrap();
    // LCM's "terminated" message is lost: the NS stays, NOT_INSTANTIATED, forever.
    sim.lose_terminated_messages(1);
    let mut prune = prune_all();
    prune.timeout = Duration::from_secs(2);
    let o = reconcile(&c, dir.path(), &o.inventory, &prune).await;
    assert!(o.incomplete(), "{}", o.summary());
    let r = &o.results[o
        .plan
        .actions
        .iter()
        .position(|a| a.name == "ldap")
        .unwrap()];
    assert!(
        r.message.contains("OSM still lists the NS"),
        "{}",
        r.message
    );
    assert_eq!(
        o.inventory.ns_instances["ldap"].osm_id, ldap_id,
        "still owned"
    );
    assert_eq!(sim.ns_instances().len(), 2);
    // The next reconcile deletes it again (at once now: it is NOT_INSTANTIATED).
    let o = reconcile(&c, dir.path(), &o.inventory, &prune).await;
    assert!(!o.failed() && !o.incomplete(), "{}", o.summary());
    assert!(!o.inventory.ns_instances.contains_key("ldap"));
    let names: Vec<_> = sim
        .ns_instances()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["keep"]);
}

#[tokio::test]
async fn re_adding_an_ns_that_was_terminated_but_never_removed_recreates_it() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = repo(&[("ldap", None), ("keep", None)]);
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    std::fs::remove_file(dir.path().join("ldap.osmops.yaml")).unwrap();
    sim.lose_terminated_messages(1);
    let mut prune = prune_all();
    prune.timeout = Duration::from_secs(2);
    let o = reconcile(&c, dir.path(), &o.inventory, &prune).await;
    let old = o.inventory.ns_instances["ldap"].osm_id.clone();
    write(dir.path(), "ldap.osmops.yaml", &ns_doc("ldap", None));
    let o = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    assert!(!o.failed() && !o.incomplete(), "{}", o.summary());
    assert_eq!(o.plan.count("recreate"), 1, "{:?}", summary(&o));
    let ldap: Vec<_> = sim
        .ns_instances()
        .into_iter()
        .filter(|n| n["name"] == "ldap")
        .collect();
    assert_eq!(ldap.len(), 1);
    assert_ne!(ldap[0]["_id"], old.as_str());
    assert_eq!(ldap[0]["nsState"], "READY");
}

#[tokio::test]
async fn a_broken_ns_is_reported_and_recreated_only_with_remediation() {
    let sim = fast_sim().await;
    let c = client(&sim);
    sim.fail_next("instantiate", Some("ldap"), 1, "helm install failed");
    let dir = repo(&[("ldap", None)]);
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert!(o.failed());
    // Without remediation the NS is never "unchanged": broken, reported, nothing sent.
    sim.clear_log();
    let o = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    assert!(o.failed(), "{}", o.summary());
    assert_eq!(summary(&o).last().unwrap(), "broken NsInstance ldap");
    assert!(
        o.results[2].message.contains("helm install failed"),
        "{}",
        o.results[2].message
    );
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
    // With one retry: terminate + delete + create, each step an operation in the outcome.
    let remediate = osmops::engine::EngineOptions {
        remediation: osmops::plan::Remediation {
            instantiate_retries: 1,
            ..Default::default()
        },
        ..opts()
    };
    let o = reconcile(&c, dir.path(), &o.inventory, &remediate).await;
    assert!(!o.failed() && !o.incomplete(), "{}", o.summary());
    assert_eq!(o.plan.count("recreate"), 1);
    let types: Vec<&str> = o.operations.iter().map(|op| op.op_type.as_str()).collect();
    assert_eq!(types, ["terminate", "instantiate"], "{:?}", o.operations);
    assert_eq!(sim.ns_instances().len(), 1);
    assert_eq!(sim.ns_instances()[0]["nsState"], "READY");
    // Attempts are counted: a second failure with the retry used up is left broken.
    assert_eq!(o.inventory.ns_instances["ldap"].instantiate_attempts, 2);
}

#[tokio::test]
async fn a_failed_upgrade_is_retried_then_rolled_back_and_not_tried_again() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = repo(&[("ldap", Some("1"))]);
    let remediate = osmops::engine::EngineOptions {
        remediation: osmops::plan::Remediation {
            upgrade_retries: 1,
            upgrade_rollback: true,
            ..Default::default()
        },
        ..opts()
    };
    let o = reconcile(&c, dir.path(), &Inventory::default(), &remediate).await;
    write(dir.path(), "ldap.osmops.yaml", &ns_doc("ldap", Some("3")));
    sim.fail_next("action", Some("ldap"), 2, "FAILED Executing kdu upgrade");
    let mut steps = Vec::new();
    let mut inv = o.inventory;
    for _ in 0..4 {
        let o = reconcile(&c, dir.path(), &inv, &remediate).await;
        steps.push(summary(&o).last().unwrap().clone());
        inv = o.inventory;
    }
    assert_eq!(
        steps,
        [
            "upgrade NsInstance ldap",
            "upgrade NsInstance ldap",
            "rollback NsInstance ldap",
            "broken NsInstance ldap"
        ]
    );
    let last_action = last_action_op(&sim);
    assert_eq!(primitive_params(&last_action)["replicaCount"], "1");
    assert_eq!(last_action["operationState"], "COMPLETED");
}

#[tokio::test]
async fn summaries_count_what_happened_not_what_was_planned() {
    let sim = fast_sim().await;
    let c = client(&sim);
    sim.fail_next("instantiate", Some("b"), 1, "helm install failed");
    sim.inject(Fault {
        method: Some(axum::http::Method::POST),
        path_contains: "/nslcm/v1/ns_instances_content".into(),
        action: FaultAction::Status(500),
        remaining: 1,
    });
    let dir = repo(&[("a", None), ("b", None), ("c", None)]);
    let mut serial = opts();
    serial.concurrency = 1;
    let o = reconcile(&c, dir.path(), &Inventory::default(), &serial).await;
    assert_eq!(o.plan.count("create"), 5);
    let s = o.summary();
    assert!(s.starts_with("3 created, 2 failed"), "{s}");
    // OSM's message once, not twice.
    let b = &o.results[o.plan.actions.iter().position(|a| a.name == "b").unwrap()];
    assert_eq!(
        b.message.matches("helm install failed").count(),
        1,
        "{}",
        b.message
    );
}

#[tokio::test]
async fn an_operation_osm_cannot_be_asked_about_is_unknown_not_timed_out() {
    let sim = fast_sim().await;
    sim.set_lcm(LcmMode::None, Duration::ZERO);
    let c = client(&sim);
    let dir = repo(&[("ldap", None)]);
    sim.inject(Fault {
        method: Some(axum::http::Method::GET),
        path_contains: "/ns_lcm_op_occs/".into(),
        action: FaultAction::Status(503),
        remaining: 10_000,
    });
    let mut short = opts();
    short.timeout = Duration::from_secs(2);
    let o = reconcile(&c, dir.path(), &Inventory::default(), &short).await;
    let op = &o.operations[0];
    assert_eq!(op.state, "UNKNOWN", "{op:?}");
    let e = op.error.as_deref().unwrap();
    assert!(
        e.starts_with("unknown: the NBI has been unreachable since"),
        "{e}"
    );
}

/// The plan from an incremental read of OSM's operations (the controller's cache) is the plan a
/// full read gives — after creates, while an operation runs, after it changed state, with a lost
/// cursor, and against an OSM restarted with an empty history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_operation_reads_give_the_plans_a_full_read_gives() {
    use osmops::engine::{preview, EngineOptions, LiveView, Osm};
    use std::sync::Arc;
    let sim = fast_sim().await;
    let addr = sim.addr();
    let client = client(&sim);
    // A zero freshness window: every plan reads the NS list, operations come from the cache.
    let view = Arc::new(LiveView::new(Duration::ZERO));
    let shared = |c: &osmops::osm::NbiClient| Osm::shared(c.clone(), view.clone());
    let cached = opts();
    let full = opts();
    let dir = repo(&[("a", Some("1")), ("b", Some("1")), ("c", None)]);
    let applied = osmops::engine::reconcile(
        shared(&client),
        &desired(dir.path()),
        &Default::default(),
        &cached,
        &|_, _| {},
    )
    .await
    .unwrap();
    let inv = applied.inventory.clone();
    let same_plans = |client: &osmops::osm::NbiClient, when: &'static str| {
        let (osm, client, dir, inv, cached, full) = (
            shared(client),
            client.clone(),
            dir.path().to_owned(),
            inv.clone(),
            &cached,
            &full,
        );
        async move {
            let client = &client;
            let d = desired(&dir);
            let with_cache = preview(&osm, &d, &inv, cached).await.unwrap();
            let without = preview(client, &d, &inv, full).await.unwrap();
            let show = |p: &osmops::plan::Plan| {
                p.actions
                    .iter()
                    .map(|a| {
                        format!(
                            "{} {} {}: {}",
                            a.operation.label(),
                            a.kind.label(),
                            a.name,
                            a.reason
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(show(&with_cache), show(&without), "{when}");
            show(&with_cache)
        }
    };
    let unchanged = same_plans(&client, "after the creates").await;
    assert!(
        unchanged.iter().all(|l| l.starts_with("unchanged")),
        "{unchanged:?}"
    );
    // The second read asked only for what changed.
    sim.clear_log();
    same_plans(&client, "nothing changed").await;
    let op_reads: Vec<String> = sim
        .log()
        .iter()
        .filter(|e| e.path.ends_with("/ns_lcm_op_occs"))
        .map(|e| e.query.clone())
        .collect();
    assert!(
        op_reads
            .iter()
            .any(|q| q.contains("statusEnteredTime.gte=")),
        "{op_reads:?}"
    );

    // An upgrade OSM is still running, then the same after it completed.
    sim.set_lcm(osmops::sim::LcmMode::None, Duration::ZERO);
    write(dir.path(), "a.osmops.yaml", &ns_doc("a", Some("2")));
    let no_wait = EngineOptions {
        wait: false,
        ..cached.clone()
    };
    osmops::engine::reconcile(
        shared(&client),
        &desired(dir.path()),
        &inv,
        &no_wait,
        &|_, _| {},
    )
    .await
    .unwrap();
    let running = same_plans(&client, "an upgrade running").await;
    sim.complete_pending_ops();
    let done = same_plans(&client, "the upgrade completed").await;
    assert_ne!(
        running, done,
        "the state change was seen: {running:?} / {done:?}"
    );

    // A lost cursor (a new controller) reads everything once.
    view.ops.clear().await;
    same_plans(&client, "after losing the cursor").await;

    // OSM restarted with an empty history on the same address.
    drop(sim);
    let mut fresh = None;
    for _ in 0..100 {
        let config = osmops::sim::SimConfig {
            token_throttle: false,
            ..osmops::sim::SimConfig::default()
        };
        match osmops::sim::Simulator::start_on(addr, config).await {
            Ok(s) => {
                fresh = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let fresh = fresh.expect("the address is free again");
    assert!(fresh.ns_instances().is_empty());
    // A new session: kept-alive connections may still reach the old process.
    let client = common::client(&fresh);
    let after_restart = same_plans(&client, "OSM restarted empty").await;
    assert!(
        after_restart
            .iter()
            .any(|l| l.starts_with("create NsInstance a")),
        "{after_restart:?}"
    );
}

/// Reconciles sharing one OSM read its NS list once per freshness window, one read at a time,
/// and see their own writes at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_live_view_reads_the_ns_list_once_and_sees_our_writes() {
    use osmops::engine::{preview, LiveView, Osm};
    use std::sync::Arc;
    let sim = fast_sim().await;
    let client = client(&sim);
    let dir = repo(&[("a", Some("1"))]);
    let first = osmops::engine::reconcile(
        &client,
        &desired(dir.path()),
        &Default::default(),
        &opts(),
        &|_, _| {},
    )
    .await
    .unwrap();
    let view = Arc::new(LiveView::new(Duration::from_secs(60)));
    let osm = Osm::shared(client.clone(), view.clone());
    let shared = opts();
    sim.clear_log();
    let d = desired(dir.path());
    let plans =
        futures::future::join_all((0..10).map(|_| preview(&osm, &d, &first.inventory, &shared)))
            .await;
    assert!(plans.iter().all(|p| p.as_ref().unwrap().writes() == 0));
    let ns_reads = |sim: &osmops::sim::Simulator| {
        sim.log()
            .iter()
            .filter(|e| e.method == "GET" && e.path.ends_with("/ns_instances_content"))
            .count()
    };
    assert_eq!(ns_reads(&sim), 1, "ten concurrent plans, one NS list read");
    // A write through the view makes the next plan read again and see it.
    write(dir.path(), "b.osmops.yaml", &ns_doc("b", None));
    let second = osmops::engine::reconcile(
        &osm,
        &desired(dir.path()),
        &first.inventory,
        &shared,
        &|_, _| {},
    )
    .await
    .unwrap();
    assert!(second.plan.writes() > 0);
    sim.clear_log();
    let after = preview(&osm, &desired(dir.path()), &second.inventory, &shared)
        .await
        .unwrap();
    assert_eq!(after.writes(), 0, "the new NS is seen, not created again");
    assert_eq!(ns_reads(&sim), 1);
}

/// Packages with large files (Helm charts, images) are uploaded whole: the simulator takes bodies
/// up to the NBI's limit, as OSM does, instead of refusing them at 2 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_with_megabytes_of_files_is_onboarded() {
    let sim = fast_sim().await;
    let dir = repo(&[]);
    let blob: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    write(dir.path(), "osm-pkgs/openldap_knf/charts/images.bin", "");
    std::fs::write(
        dir.path().join("osm-pkgs/openldap_knf/charts/images.bin"),
        blob,
    )
    .unwrap();
    let out = reconcile(&client(&sim), dir.path(), &Default::default(), &opts()).await;
    assert!(!out.failed(), "{}", out.summary());
    assert_eq!(sim.vnf_packages().len(), 1);
}
