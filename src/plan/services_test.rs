//! Planning network services beyond one KDU: several KDUs of several members, scale levels, and
//! instantiation config OSM cannot change on a running NS.

use serde_json::{json, Value};

use super::tests::{applied, desired, live_base, live_ns, ns, summary};
use super::*;
use crate::osm::OpRecord;
use crate::repo::{Kdu, NsInstance, Scale};

fn kdu(member: &str, name: &str, params: Value) -> Kdu {
    Kdu {
        member: member.into(),
        at: "kdus[0]".into(),
        name: name.into(),
        params: params.as_object().cloned(),
        model: None,
    }
}

/// An NS with KDUs `openldap/ldap` and `openldap/cache`.
fn two_kdus(ldap: Value, cache: Value) -> NsInstance {
    let mut n = ns("a", None);
    n.kdus = vec![
        kdu("openldap", "ldap", ldap),
        kdu("openldap", "cache", cache),
    ];
    n
}

fn record(v: Value) -> OpRecord {
    crate::osm::records::from_value(&v).unwrap()
}

/// The instantiate of NS `ns1`: both KDUs' params, and the config `extra` (vld, ...).
fn instantiate(ldap: Value, cache: Value, extra: Value) -> OpRecord {
    let vnfs = json!([{"member-vnf-index": "openldap", "additionalParamsForKdu": [
        {"kdu_name": "ldap", "additionalParams": ldap},
        {"kdu_name": "cache", "additionalParams": cache}]}]);
    let mut params = json!({"nsName": "a", "nsdId": "nsd-uuid", "vimAccountId": "vim-uuid",
        "additionalParamsForVnf": vnfs.to_string(), "lcmOperationType": "instantiate",
        "nsInstanceId": "ns1", "nsr_id": "ns1"});
    for (k, v) in extra.as_object().unwrap() {
        params[k] = v.clone();
    }
    record(
        json!({"_id": "op-i", "nsInstanceId": "ns1", "lcmOperationType": "instantiate",
        "operationState": "COMPLETED", "startTime": 1.0, "operationParams": params}),
    )
}

/// A scale step of `openldap/web` at time `t`.
fn step(id: &str, out: bool, state: &str, t: f64) -> OpRecord {
    record(
        json!({"_id": id, "nsInstanceId": "ns1", "lcmOperationType": "scale",
        "operationState": state, "startTime": t, "errorMessage": if state == "FAILED" { json!("no capacity") } else { Value::Null },
        "operationParams": {"scaleType": "SCALE_VNF", "scaleVnfData": {
            "scaleVnfType": if out { "SCALE_OUT" } else { "SCALE_IN" },
            "scaleByStepData": {"member-vnf-index": "openldap", "scaling-group-descriptor": "web"}}}}),
    )
}

fn live_with(ops: Vec<OpRecord>) -> LiveState {
    let mut live = live_base();
    live.ns_instances = vec![live_ns("ns1", "a", true)];
    live.operations = Some(ops);
    live
}

fn targets(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .map(|a| format!("{} {}: {}", a.operation.label(), a.subject(), a.reason))
        .collect()
}

#[test]
fn each_kdu_is_upgraded_on_its_own_and_only_when_its_params_change() {
    let live = live_with(vec![instantiate(
        json!({"replicaCount": 2}),
        json!({"auth": "!!yaml enabled: false\n"}),
        json!({}),
    )]);
    let opts = PlanOptions::default();
    let same = two_kdus(
        json!({"replicaCount": 2}),
        json!({"auth": {"enabled": false}}),
    );
    let p = plan(
        &desired(vec![same], vec![]),
        &live,
        &Inventory::default(),
        &opts,
    );
    assert_eq!(
        targets(&p),
        ["unchanged a: openldap/ldap: params match OSM; openldap/cache: params match OSM"]
    );
    let changed = two_kdus(
        json!({"replicaCount": 2}),
        json!({"auth": {"enabled": true}}),
    );
    let p = plan(
        &desired(vec![changed], vec![]),
        &live,
        &Inventory::default(),
        &opts,
    );
    assert_eq!(
        targets(&p),
        [
            "unchanged a [openldap/ldap]: params match OSM",
            "upgrade a [openldap/cache]: auth {\"enabled\":false}→{\"enabled\":true}",
        ]
    );
    assert_eq!(p.writes(), 1);
    assert_eq!(
        p.actions[1].target,
        Some(Target::Kdu {
            member: "openldap".into(),
            kdu: "cache".into()
        })
    );
}

fn scaled(level: u32) -> NsInstance {
    let mut n = ns("a", Some(json!({"replicaCount": 2})));
    n.scale = vec![Scale {
        member: "openldap".into(),
        aspect: "web".into(),
        level,
    }];
    n
}

fn base_ops() -> Vec<OpRecord> {
    vec![instantiate(
        json!({"replicaCount": 2}),
        json!({}),
        json!({}),
    )]
}

#[test]
fn scale_steps_bring_an_aspect_from_the_level_osms_history_shows_to_gits() {
    let opts = PlanOptions::default();
    let mut ops = base_ops();
    ops.push(step("s1", true, "COMPLETED", 2.0));
    let live = live_with(ops.clone());
    let p = plan(
        &desired(vec![scaled(3)], vec![]),
        &live,
        &Inventory::default(),
        &opts,
    );
    assert_eq!(
        targets(&p),
        [
            "unchanged a [openldap/ldap]: params match OSM",
            "scale a [openldap/web]: openldap/web 1→3: scale-out 1 of 2",
            "scale a [openldap/web]: openldap/web 1→3: scale-out 2 of 2",
        ]
    );
    assert!(p.actions[1..].iter().all(|a| a.operation
        == Operation::ScaleNs {
            osm_id: "ns1".into(),
            direction: ScaleDirection::ScaleOut
        }));
    let p = plan(
        &desired(vec![scaled(0)], vec![]),
        &live,
        &Inventory::default(),
        &opts,
    );
    assert_eq!(
        summary(&p)[1..],
        ["scale NsInstance a"],
        "{:?}",
        targets(&p)
    );
    assert!(targets(&p)[1].ends_with("1→0: scale-in 1 of 1"));
    // A step still running counts towards where OSM is heading.
    ops.push(step("s2", true, "PROCESSING", 3.0));
    let live = live_with(ops.clone());
    let p = plan(
        &desired(vec![scaled(2)], vec![]),
        &live,
        &Inventory::default(),
        &opts,
    );
    assert_eq!(p.writes(), 0, "{:?}", targets(&p));
    assert!(
        targets(&p)[0].contains("scale level 1 → 2 (scale s2 in progress)"),
        "{:?}",
        targets(&p)
    );
    // A new instantiate starts again at level 0.
    let mut again = ops.clone();
    let mut i2 = instantiate(json!({"replicaCount": 2}), json!({}), json!({}));
    i2.osm_id = "op-i2".into();
    i2.start_time = Some(crate::model::from_osm_epoch(10.0).unwrap());
    again.retain(|o| o.operation_state.ended_in_osm());
    again.push(i2);
    let p = plan(
        &desired(vec![scaled(1)], vec![]),
        &live_with(again),
        &Inventory::default(),
        &opts,
    );
    assert!(
        targets(&p)[1].ends_with("0→1: scale-out 1 of 1"),
        "{:?}",
        targets(&p)
    );
}

#[test]
fn a_failed_scale_step_is_retried_as_upgrades_are_then_broken() {
    let mut ops = base_ops();
    ops.push(step("s1", true, "FAILED", 2.0));
    let live = live_with(ops);
    let d = desired(vec![scaled(1)], vec![]);
    let p = plan(&d, &live, &Inventory::default(), &PlanOptions::default());
    assert_eq!(
        summary(&p)[1..],
        ["broken NsInstance a"],
        "{:?}",
        targets(&p)
    );
    assert!(
        targets(&p)[1].contains("scale s1 FAILED: no capacity"),
        "{:?}",
        targets(&p)
    );
    let retry = PlanOptions {
        remediation: Remediation {
            upgrade_retries: 1,
            ..Remediation::default()
        },
        ..PlanOptions::default()
    };
    let p = plan(&d, &live, &Inventory::default(), &retry);
    assert_eq!(
        summary(&p)[1..],
        ["scale NsInstance a"],
        "{:?}",
        targets(&p)
    );
}

#[test]
fn a_level_changed_outside_git_is_drift_once_git_s_level_was_reached() {
    let want = scaled(1);
    let inv = applied(&want, "ns1");
    let d = desired(vec![want], vec![]);
    // Created with level 1 and never scaled yet: the level is still to be reached, not drift.
    let p = plan(&d, &live_with(base_ops()), &inv, &PlanOptions::default());
    assert!(p.drift.is_empty(), "{:?}", p.drift);
    assert_eq!(summary(&p)[1..], ["scale NsInstance a"]);
    // Reached, then scaled in by someone else (or OSM's autoscaling).
    let mut ops = base_ops();
    ops.push(step("s1", true, "COMPLETED", 2.0));
    ops.push(step("s2", false, "COMPLETED", 3.0));
    let live = live_with(ops);
    let p = plan(&d, &live, &inv, &PlanOptions::default());
    assert_eq!(p.drift.len(), 1);
    assert!(p.drift[0].corrected);
    assert!(
        targets(&p)[1].contains("scaling back to Git (0→1)"),
        "{:?}",
        targets(&p)
    );
    let warn = PlanOptions {
        drift: DriftPolicy::all(Some(DriftAction::Warn)),
        ..PlanOptions::default()
    };
    let p = plan(&d, &live, &inv, &warn);
    assert_eq!(summary(&p)[1..], ["drifted NsInstance a"]);
    assert_eq!(p.writes(), 0);
}

fn configured(vld_net: &str) -> NsInstance {
    let mut n = ns("a", Some(json!({"replicaCount": 2})));
    n.config = json!({"vld": [{"name": "mgmtnet", "vim-network-name": vld_net}]})
        .as_object()
        .cloned();
    n
}

#[test]
fn config_osm_cannot_change_in_place_is_blocked_unless_recreation_is_allowed() {
    let live = live_with(vec![instantiate(
        json!({"replicaCount": 2}),
        json!({}),
        json!({"vld": [{"name": "mgmtnet", "vim-network-name": "mgmt"}]}),
    )]);
    let opts = PlanOptions::default();
    let p = plan(
        &desired(vec![configured("mgmt")], vec![]),
        &live,
        &Inventory::default(),
        &opts,
    );
    assert_eq!(summary(&p), ["unchanged NsInstance a"], "{:?}", targets(&p));
    let d = desired(vec![configured("mgmt-v2")], vec![]);
    let p = plan(&d, &live, &Inventory::default(), &opts);
    assert_eq!(
        targets(&p),
        ["blocked a: changed since instantiate: config.vld: OSM cannot change it on a running NS; delete and recreate it (allow OSM Ops to with --allow-recreate)"]
    );
    let allow = PlanOptions {
        allow_recreate: true,
        ..PlanOptions::default()
    };
    let p = plan(&d, &live, &Inventory::default(), &allow);
    assert_eq!(summary(&p), ["recreate NsInstance a"]);
    assert!(
        matches!(&p.actions[0].operation, Operation::RecreateNs { osm_id, .. } if osm_id == "ns1")
    );
    // Never an NS this sync cannot prove it owns, even adopted.
    let mut unowned = live.clone();
    unowned.ns_instances[0].description = None;
    let adopt_and_allow = PlanOptions {
        adopt: true,
        ..allow.clone()
    };
    let p = plan(&d, &unowned, &Inventory::default(), &adopt_and_allow);
    assert_eq!(summary(&p), ["blocked NsInstance a"], "{:?}", targets(&p));
    // Another VIM account is a change OSM cannot make either.
    let mut moved = configured("mgmt");
    moved.vim_account_name = "vim2".into();
    let mut two_vims = live.clone();
    two_vims
        .vim_accounts
        .as_mut()
        .unwrap()
        .push(crate::osm::VimAccount {
            osm_id: "vim2-uuid".into(),
            name: "vim2".into(),
        });
    let p = plan(
        &desired(vec![moved], vec![]),
        &two_vims,
        &Inventory::default(),
        &opts,
    );
    assert!(
        targets(&p)[0].contains("vimAccountName (OSM placed it on VIM account vim-uuid)"),
        "{:?}",
        targets(&p)
    );
}

#[test]
fn a_document_this_sync_applied_is_not_compared_with_the_instantiate_again() {
    // The instantiate asked for another network than Git says, but this sync recorded applying
    // exactly this document to this NS: nothing changed in Git since (OSM cannot change it).
    let live = live_with(vec![instantiate(
        json!({"replicaCount": 2}),
        json!({}),
        json!({"vld": [{"name": "mgmtnet", "vim-network-name": "mgmt"}]}),
    )]);
    let want = configured("other");
    let inv = applied(&want, "ns1");
    let p = plan(
        &desired(vec![want], vec![]),
        &live,
        &inv,
        &PlanOptions::default(),
    );
    assert_eq!(summary(&p), ["unchanged NsInstance a"], "{:?}", targets(&p));
}

/// The VNF record of member `openldap` of `ns1`, running `revision` of VNFD `vnfd-uuid`.
fn vnfr(revision: u64) -> crate::osm::VnfRecord {
    crate::osm::records::from_value(&json!({"_id": "vnfr-1", "nsr-id-ref": "ns1",
        "member-vnf-index-ref": "openldap", "vnfd-id": "vnfd-uuid", "vnfd-ref": "ldap_knf",
        "revision": revision}))
    .unwrap()
}

fn update_op(id: &str, state: &str, t: f64) -> OpRecord {
    record(
        json!({"_id": id, "nsInstanceId": "ns1", "lcmOperationType": "update",
        "operationState": state, "startTime": t,
        "errorMessage": if state == "FAILED" { json!("VIM refused") } else { Value::Null },
        "operationParams": {"updateType": "CHANGE_VNFPKG",
            "changeVnfPackageData": {"vnfInstanceId": "vnfr-1", "vnfdId": "vnfd-uuid"}}}),
    )
}

/// A 64-hex digest made of `c`.
fn hex(c: char) -> String {
    c.to_string().repeat(64)
}

/// OSM holds revision `osm` of VNF package `ldap_knf`, uploaded by this sync at time 5 with the
/// content digest `stored`.
fn with_package(mut live: LiveState, osm: u64, member_runs: u64, stored: &str) -> LiveState {
    let uploaded = super::tests::pkg(PackageKind::Vnf, "ldap_knf", &[], stored);
    let zipfile = crate::plan::package_filename(&uploaded, &PlanOptions::default().owner);
    live.vnf_packages = Some(vec![crate::osm::records::from_value(&json!({
        "_id": "vnfd-uuid", "id": "ldap_knf",
        "_admin": {"revision": osm, "modified": 5.0, "storage": {"zipfile": zipfile}}}))
    .unwrap()]);
    live.vnf_instances = Some(vec![vnfr(member_runs)]);
    live
}

fn with_repo_package(n: NsInstance, digest: &str) -> DesiredState {
    let mut pkg = super::tests::pkg(PackageKind::Vnf, "ldap_knf", &[], digest);
    pkg.kdus = vec!["ldap".into()];
    desired(vec![n], vec![pkg])
}

#[test]
fn a_member_behind_its_vnf_package_is_updated_in_place() {
    let want = ns("a", Some(json!({"replicaCount": 2})));
    let same = hex('a');
    let d = with_repo_package(want, &same);
    let inv = Inventory::default();
    let opts = PlanOptions::default();
    // Runs the revision OSM holds: nothing to do.
    let live = with_package(live_with(base_ops()), 2, 2, &same);
    let p = plan(&d, &live, &inv, &opts);
    assert_eq!(p.count("update"), 0, "{:?}", targets(&p));
    // Behind: one update of that member.
    let live = with_package(live_with(base_ops()), 2, 1, &same);
    let p = plan(&d, &live, &inv, &opts);
    let update = p
        .actions
        .iter()
        .find(|a| matches!(a.operation, Operation::UpdateNs { .. }))
        .unwrap_or_else(|| panic!("{:?}", targets(&p)));
    assert_eq!(
        update.operation,
        Operation::UpdateNs {
            osm_id: "ns1".into(),
            vnf_instance_id: "vnfr-1".into(),
            vnfd_osm_id: "vnfd-uuid".into()
        }
    );
    assert_eq!(update.subject(), "a [openldap]");
    assert!(
        update.reason.contains(
            "runs revision 1 of VNF package ldap_knf: updating it in place to revision 2"
        ),
        "{}",
        update.reason
    );
    // An update that completed after the upload counts, even if the record says otherwise.
    let mut ops = base_ops();
    ops.push(update_op("u1", "COMPLETED", 6.0));
    let p = plan(&d, &with_package(live_with(ops), 2, 1, &same), &inv, &opts);
    assert_eq!(p.count("update"), 0, "{:?}", targets(&p));
    // One that completed before the upload does not.
    let mut ops = base_ops();
    ops.push(update_op("u0", "COMPLETED", 4.0));
    let p = plan(&d, &with_package(live_with(ops), 2, 1, &same), &inv, &opts);
    assert_eq!(p.count("update"), 1, "{:?}", targets(&p));
    // Running: followed, not sent again. Failed: broken unless retries are left.
    let mut ops = base_ops();
    ops.push(update_op("u1", "PROCESSING", 6.0));
    let p = plan(&d, &with_package(live_with(ops), 2, 1, &same), &inv, &opts);
    assert_eq!(p.writes(), 0, "{:?}", targets(&p));
    let mut ops = base_ops();
    ops.push(update_op("u1", "FAILED", 6.0));
    let p = plan(&d, &with_package(live_with(ops), 2, 1, &same), &inv, &opts);
    assert_eq!(
        summary(&p),
        [
            "unchanged VnfPackage ldap_knf",
            "unchanged NsInstance a",
            "broken NsInstance a"
        ],
        "{:?}",
        targets(&p)
    );
    assert!(targets(&p)[2].contains("update u1 to VNF package ldap_knf FAILED: VIM refused"));
}

#[test]
fn a_vnf_package_this_plan_uploads_is_rolled_onto_its_members_after_the_upload() {
    let want = ns("a", Some(json!({"replicaCount": 2})));
    // The repository's content differs from what OSM holds: the plan re-uploads it.
    let d = with_repo_package(want, &hex('b'));
    let live = with_package(live_with(base_ops()), 2, 2, &hex('a'));
    let p = plan(&d, &live, &Inventory::default(), &PlanOptions::default());
    let labels: Vec<String> = p
        .actions
        .iter()
        .map(|a| format!("{} {}", a.operation.label(), a.subject()))
        .collect();
    assert_eq!(
        labels,
        [
            "update ldap_knf",
            "unchanged a [openldap/ldap]",
            "update a [openldap]"
        ],
        "{:?}",
        targets(&p)
    );
    assert!(targets(&p)[2].contains("to revision 3 (uploaded by this plan)"));
}

#[test]
fn the_digest_tells_which_kdu_an_upgrade_is_for() {
    // One document, two OSMs: in one the ldap KDU runs 2 replicas, in the other the cache KDU.
    // Each plan is "replicaCount 2→3" for one KDU of NS ns1: only the target tells them apart,
    // and an approval of one must not apply the other.
    let want = two_kdus(json!({"replicaCount": 3}), json!({"replicaCount": 3}));
    let d = desired(vec![want], vec![]);
    let opts = PlanOptions::default();
    let osm = |ldap: u8, cache: u8| {
        live_with(vec![instantiate(
            json!({"replicaCount": ldap}),
            json!({"replicaCount": cache}),
            json!({}),
        )])
    };
    let p1 = plan(&d, &osm(2, 3), &Inventory::default(), &opts);
    let p2 = plan(&d, &osm(3, 2), &Inventory::default(), &opts);
    assert_eq!((p1.writes(), p2.writes()), (1, 1));
    let reasons = |p: &Plan| {
        p.actions
            .iter()
            .filter(|a| a.operation.is_write())
            .map(|a| a.reason.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(reasons(&p1), reasons(&p2));
    assert_ne!(p1.digest, p2.digest);
}
