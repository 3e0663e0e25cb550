//! Network services beyond one KDU, end to end at engine level against the simulator: the
//! VM-based example (instantiation config, VDU records, scale levels), the two-KDU example (one
//! upgrade per changed KDU), and a config change OSM cannot make in place (blocked, or recreated
//! when allowed).

mod common;

use std::path::Path;

use common::*;
use osmops::engine::EngineOptions;
use osmops::plan::Inventory;
use serde_json::Value;

fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let p = root.join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{file} has no '{from}'");
    std::fs::write(p, text.replace(from, to)).unwrap();
}

/// The web server VDU records of member vnf1, as the simulator's LCM leaves them.
fn webservers(sim: &osmops::sim::Simulator) -> usize {
    sim.vnf_instances()
        .iter()
        .filter(|v| v["member-vnf-index-ref"] == "vnf1")
        .flat_map(|v| v["vdur"].as_array().cloned().unwrap_or_default())
        .filter(|d| d["vdu-id-ref"] == "webserver")
        .count()
}

fn scale_ops(sim: &osmops::sim::Simulator) -> Vec<Value> {
    sim.operations()
        .into_iter()
        .filter(|o| o["lcmOperationType"] == "scale")
        .collect()
}

fn labels(o: &osmops::engine::Outcome) -> Vec<String> {
    o.plan
        .actions
        .iter()
        .map(|a| format!("{} {}", a.operation.label(), a.subject()))
        .collect()
}

#[tokio::test]
async fn the_vm_example_is_instantiated_with_its_config_and_scaled_to_each_declared_level() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = example_copy("vm-web");
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert!(!o.failed(), "{}", o.summary());
    // The instantiate carried the config as OSM's NBI takes it.
    let inst = sim
        .operations()
        .into_iter()
        .find(|o| o["lcmOperationType"] == "instantiate")
        .unwrap();
    let params = &inst["operationParams"];
    assert_eq!(params["vld"][0]["vim-network-name"], "mgmt");
    assert_eq!(params["timeout_ns_deploy"], 1800);
    assert!(
        params["additionalParamsForVnf"]
            .as_str()
            .unwrap()
            .contains("Served by OSM Ops"),
        "{params}"
    );
    assert_eq!(webservers(&sim), 1, "one VM per the instantiation level");
    // Level 1 follows once OSM has the NS instantiated.
    let o = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    assert_eq!(labels(&o)[2..], ["scale web [vnf1/web-aspect]"]);
    assert!(!o.failed(), "{}", o.summary());
    assert_eq!(webservers(&sim), 2);
    // To 2, then back to 0: one step out, then two steps in, each one scale operation.
    edit(dir.path(), "web.osmops.yaml", "level: 1", "level: 2");
    let o = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    assert_eq!(o.plan.count("scale"), 1);
    assert_eq!(webservers(&sim), 3);
    edit(dir.path(), "web.osmops.yaml", "level: 2", "level: 0");
    let o = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    assert_eq!(o.plan.count("scale"), 2, "{:?}", labels(&o));
    assert!(!o.failed(), "{}", o.summary());
    assert_eq!(webservers(&sim), 1);
    let steps: Vec<String> = scale_ops(&sim)
        .iter()
        .map(|o| o["operationParams"]["scaleVnfData"]["scaleVnfType"].to_string())
        .collect();
    assert_eq!(
        steps,
        [
            "\"SCALE_OUT\"",
            "\"SCALE_OUT\"",
            "\"SCALE_IN\"",
            "\"SCALE_IN\""
        ]
    );
    // Nothing more to do, with or without the inventory.
    for inv in [o.inventory.clone(), Inventory::default()] {
        let again = reconcile(&c, dir.path(), &inv, &opts()).await;
        assert_eq!(again.plan.writes(), 0, "{:?}", labels(&again));
    }
}

#[tokio::test]
async fn a_config_change_is_blocked_and_recreated_only_when_allowed() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = example_copy("vm-web");
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    let old_id = sim.ns_instances()[0]["_id"].clone();
    edit(
        dir.path(),
        "web.osmops.yaml",
        "vim-network-name: mgmt",
        "vim-network-name: mgmt-v2",
    );
    let blocked = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    assert_eq!(labels(&blocked)[2..], ["blocked web"]);
    assert!(
        blocked.plan.actions[2].reason.contains("config.vld"),
        "{}",
        blocked.plan.actions[2].reason
    );
    assert!(
        writes(&sim).iter().all(|w| !w.contains("DELETE")),
        "{:?}",
        writes(&sim)
    );
    // Still blocked on the next run: a blocked change is not recorded as applied.
    let again = reconcile(&c, dir.path(), &blocked.inventory, &opts()).await;
    assert_eq!(labels(&again)[2..], ["blocked web"]);
    let allow = EngineOptions {
        allow_recreate: true,
        ..opts()
    };
    let o = reconcile(&c, dir.path(), &again.inventory, &allow).await;
    assert_eq!(labels(&o)[2..], ["recreate web"]);
    assert!(!o.failed(), "{}", o.summary());
    let ns = sim.ns_instances();
    assert_eq!(ns.len(), 1);
    assert_ne!(ns[0]["_id"], old_id);
    assert_eq!(
        ns[0]["instantiate_params"]["vld"][0]["vim-network-name"],
        "mgmt-v2"
    );
}

#[tokio::test]
async fn each_changed_kdu_gets_its_own_upgrade_and_the_others_none() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = example_copy("two-kdu-knf");
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert!(!o.failed(), "{}", o.summary());
    let kdus: Vec<String> = sim.vnf_instances()[0]["kdur"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| format!("{} {}", k["kdu-name"], k["helm-chart"]))
        .collect();
    assert_eq!(
        kdus,
        [
            "\"ldap\" \"stable/openldap:1.2.7\"",
            "\"cache\" \"bitnami/redis:17.11.3\""
        ]
    );
    assert_eq!(
        sim.ns_instances()[0]["instantiate_params"]["k8s-namespace"],
        "directory"
    );
    edit(
        dir.path(),
        "directory.osmops.yaml",
        "architecture: standalone",
        "architecture: replication",
    );
    let o = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    assert_eq!(
        labels(&o)[2..],
        [
            "unchanged directory [directory/ldap]",
            "upgrade directory [directory/cache]"
        ]
    );
    let op = last_action_op(&sim);
    assert_eq!(op["operationParams"]["kdu_name"], "cache");
    assert_eq!(primitive_params(&op)["architecture"], "replication");
    assert_eq!(primitive_params(&op)["kdu_model"], "bitnami/redis:17.11.3");
    // Both changed: two upgrades, one per KDU, each followed to its end.
    edit(
        dir.path(),
        "directory.osmops.yaml",
        "replicaCount: \"2\"",
        "replicaCount: \"3\"",
    );
    edit(
        dir.path(),
        "directory.osmops.yaml",
        "architecture: replication",
        "architecture: standalone",
    );
    let o = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    assert_eq!(o.plan.count("upgrade"), 2, "{:?}", labels(&o));
    assert!(!o.failed(), "{}", o.summary());
    assert_eq!(o.operations.len(), 2);
    let again = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    assert_eq!(again.plan.writes(), 0, "{:?}", labels(&again));
}

/// When one KDU's upgrade of an NS fails to be sent, the document is not recorded as applied:
/// the next run still sees Git's change (not drift) for the KDU whose upgrade was not sent.
#[tokio::test]
async fn an_ns_is_recorded_as_applied_only_when_every_write_for_it_was_sent() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = example_copy("two-kdu-knf");
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    let applied_digest = o.inventory.ns_instances["directory"].digest.clone();
    edit(
        dir.path(),
        "directory.osmops.yaml",
        "replicaCount: \"2\"",
        "replicaCount: \"3\"",
    );
    edit(
        dir.path(),
        "directory.osmops.yaml",
        "architecture: standalone",
        "architecture: replication",
    );
    sim.inject(osmops::sim::Fault::parse("POST /action status=500 x1").unwrap());
    let o = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    assert!(o.failed(), "{}", o.summary());
    assert_eq!(
        o.inventory.ns_instances["directory"].digest, applied_digest,
        "one upgrade failed: the earlier document stays recorded"
    );
    sim.clear_faults();
    let o = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    assert!(o.plan.drift.is_empty(), "{:?}", o.plan.drift);
    assert_eq!(o.plan.count("upgrade"), 1, "{:?}", labels(&o));
    assert!(!o.failed(), "{}", o.summary());
    assert_ne!(o.inventory.ns_instances["directory"].digest, applied_digest);
}

/// A new VNF package version in Git goes onto the running NS in place: the package is
/// re-uploaded and the member updated (`CHANGE_VNFPKG`), once. A package OSM refuses to replace
/// is not rolled onto anything.
#[tokio::test]
async fn a_new_vnf_package_version_is_rolled_onto_the_running_ns_in_place() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = example_copy("vm-web");
    let o = reconcile(&c, dir.path(), &Inventory::default(), &opts()).await;
    let o = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    let ns_id = sim.ns_instances()[0]["_id"].clone();
    let revision = || sim.vnf_instances()[0]["revision"].clone();
    assert_eq!(revision(), 1);
    // OSM refuses to replace a package in use when only its version changed (not its
    // software-version): nothing is rolled onto the NS.
    edit(
        dir.path(),
        "osm-pkgs/web_vnf/web_vnfd.yaml",
        "version: '1.0'",
        "version: '1.1'",
    );
    let refused = reconcile(&c, dir.path(), &o.inventory, &opts()).await;
    assert_eq!(
        labels(&refused)[..1],
        ["update web-vnf"],
        "{:?}",
        labels(&refused)
    );
    assert!(refused.failed());
    let skipped = refused
        .plan
        .actions
        .iter()
        .zip(&refused.results)
        .find(|(a, _)| matches!(a.operation, osmops::plan::Operation::UpdateNs { .. }))
        .map(|(_, r)| r.message.clone());
    assert_eq!(
        skipped.as_deref(),
        Some("skipped: VNF package 'web-vnf' was not uploaded")
    );
    assert!(sim
        .operations()
        .iter()
        .all(|o| o["lcmOperationType"] != "update"));
    // A new software version: uploaded, then the member is updated to the new revision.
    edit(
        dir.path(),
        "osm-pkgs/web_vnf/web_vnfd.yaml",
        "version: '1.1'",
        "version: '1.1'\n  software-version: '1.1'",
    );
    let o = reconcile(&c, dir.path(), &refused.inventory, &opts()).await;
    assert_eq!(
        labels(&o),
        [
            "update web-vnf",
            "unchanged web-ns",
            "unchanged web [vnf1/web-aspect]",
            "update web [vnf1]"
        ]
    );
    assert!(!o.failed(), "{}", o.summary());
    assert!(o.summary().starts_with("2 updated"), "{}", o.summary());
    assert_eq!(revision(), 2);
    let update = sim
        .operations()
        .into_iter()
        .find(|o| o["lcmOperationType"] == "update")
        .unwrap();
    assert_eq!(update["nsInstanceId"], ns_id, "in place: the same NS");
    assert_eq!(
        update["operationParams"]["changeVnfPackageData"]["vnfInstanceId"],
        sim.vnf_instances()[0]["_id"]
    );
    for inv in [o.inventory.clone(), Inventory::default()] {
        let again = reconcile(&c, dir.path(), &inv, &opts()).await;
        assert_eq!(again.plan.writes(), 0, "{:?}", labels(&again));
    }
}
