use serde_json::{json, Value};

use super::*;
use crate::osm::PackageRecord;
use crate::repo::{Kdu, NsInstance, Package};

fn ns(name: &str, params: Option<Value>) -> NsInstance {
    NsInstance {
        name: name.into(),
        description: None,
        nsd_name: "ldap_ns".into(),
        vnf_name: "openldap".into(),
        vim_account_name: "vim1".into(),
        kdu: Kdu {
            name: "ldap".into(),
            params: params.and_then(|p| p.as_object().cloned()),
        },
        source: format!("{name}.ops.yaml"),
    }
}

fn pkg(kind: PackageKind, id: &str, refs: &[&str], digest: &str) -> Package {
    Package {
        kind,
        id: id.into(),
        folder: id.into(),
        source: format!("osm-pkgs/{id}"),
        vnfd_refs: refs.iter().map(|s| s.to_string()).collect(),
        vnf_profiles: Vec::new(),
        kdus: Vec::new(),
        tarball: bytes::Bytes::new(),
        md5: String::new(),
        digest: format!("sha256:{digest}"),
    }
}

fn live_ns(id: &str, name: &str, instantiated: bool) -> NsRecord {
    NsRecord {
        osm_id: id.into(),
        name: name.into(),
        nsd_osm_id: Some("nsd-uuid".into()),
        nsd_ref: Some("ldap_ns".into()),
        vim_account_id: Some("vim-uuid".into()),
        admin_ns_state: if instantiated {
            "INSTANTIATED"
        } else {
            "NOT_INSTANTIATED"
        }
        .into(),
        ns_state: if instantiated { "READY" } else { "BUILDING" }.into(),
        current_operation: None,
        vnfd_osm_ids: vec!["vnfd-uuid".into()],
        description: None,
        created: 0.0,
        error_detail: None,
        vnf_profiles: vec![crate::repo::VnfProfile {
            member: "openldap".into(),
            vnfd_id: "ldap_knf".into(),
        }],
        deployed_kdus: vec![("openldap".into(), "ldap".into())],
    }
}

fn op(id: &str, ns: &str, kind: &str, state: &str, t: f64, params: Value) -> OpRecord {
    let operation_params = if kind == "instantiate" {
        json!({"additionalParamsForVnf": [{"member-vnf-index": "openldap", "additionalParamsForKdu": [{"kdu_name": "ldap", "additionalParams": params}]}]})
    } else {
        json!({"member_vnf_index": "openldap", "kdu_name": "ldap", "primitive": "upgrade", "primitive_params": params})
    };
    OpRecord::from_value(&json!({"_id": id, "nsInstanceId": ns, "lcmOperationType": kind, "operationState": state,
        "startTime": t, "errorMessage": if state == "FAILED" { json!("helm failed") } else { Value::Null },
        "operationParams": operation_params}))
    .unwrap()
}

fn live_base() -> LiveState {
    LiveState {
        vim_accounts: Some(vec![VimAccount {
            osm_id: "vim-uuid".into(),
            name: "vim1".into(),
        }]),
        vnf_packages: Some(vec![]),
        ns_packages: Some(vec![PackageRecord {
            osm_id: "nsd-uuid".into(),
            id: Some("ldap_ns".into()),
            name: None,
            zipfile: None,
            vnfd_refs: vec![],
            vnf_profiles: vec![crate::repo::VnfProfile {
                member: "openldap".into(),
                vnfd_id: "ldap_knf".into(),
            }],
            kdus: vec![],
        }]),
        ns_instances: vec![],
        operations: Some(vec![]),
    }
}

fn desired(ns_list: Vec<NsInstance>, packages: Vec<Package>) -> DesiredState {
    DesiredState {
        ns_instances: ns_list,
        packages,
        ..Default::default()
    }
}

fn summary(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .map(|a| format!("{} {} {}", a.operation.label(), a.kind.label(), a.name))
        .collect()
}

#[test]
fn empty_osm_gets_packages_first_then_instances() {
    let d = desired(
        vec![ns("b", None), ns("a", Some(json!({"replicaCount": "1"})))],
        vec![
            pkg(PackageKind::Vnf, "ldap_knf", &[], "aa"),
            pkg(PackageKind::Ns, "ldap_ns", &["ldap_knf"], "bb"),
        ],
    );
    let mut live = live_base();
    live.ns_packages = Some(vec![]);
    let p = plan(&d, &live, &Inventory::default(), &PlanOptions::default());
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    assert_eq!(
        summary(&p),
        [
            "create VnfPackage ldap_knf",
            "create NsPackage ldap_ns",
            "create NsInstance b",
            "create NsInstance a"
        ]
    );
    assert_eq!(
        p.actions[2].operation,
        Operation::CreateNs {
            nsd: NsdRef::Repo {
                id: "ldap_ns".into()
            },
            vim_account_id: "vim-uuid".into()
        }
    );
}

#[test]
fn unknown_vim_nsd_and_vnfd_references_are_problems_not_actions() {
    let mut bad = ns("a", None);
    bad.vim_account_name = "nowhere".into();
    bad.nsd_name = "missing_ns".into();
    let d = desired(
        vec![bad],
        vec![pkg(PackageKind::Ns, "other_ns", &["ghost_knf"], "cc")],
    );
    let p = plan(
        &d,
        &live_base(),
        &Inventory::default(),
        &PlanOptions::default(),
    );
    assert_eq!(p.problems.len(), 3, "{:?}", p.problems);
    assert!(p
        .problems
        .iter()
        .any(|m| m.contains("vimAccountName 'nowhere'")));
    assert!(p
        .problems
        .iter()
        .any(|m| m.contains("nsdName 'missing_ns'")));
    assert!(p.problems.iter().any(|m| m.contains("VNFD 'ghost_knf'")));
}

#[test]
fn matching_instantiate_params_are_unchanged_and_changed_params_upgrade_with_a_reason() {
    let mut live = live_base();
    live.ns_instances = vec![live_ns("ns1", "a", true)];
    live.operations = Some(vec![op(
        "op1",
        "ns1",
        "instantiate",
        "COMPLETED",
        1.0,
        json!({"replicaCount": "2"}),
    )]);
    let same = desired(vec![ns("a", Some(json!({"replicaCount": "2"})))], vec![]);
    let p = plan(&same, &live, &Inventory::default(), &PlanOptions::default());
    assert_eq!(summary(&p), ["unchanged NsInstance a"]);
    assert_eq!(p.writes(), 0);
    let changed = desired(vec![ns("a", Some(json!({"replicaCount": "3"})))], vec![]);
    let p = plan(
        &changed,
        &live,
        &Inventory::default(),
        &PlanOptions::default(),
    );
    assert_eq!(
        p.actions[0].operation,
        Operation::UpgradeNs {
            osm_id: "ns1".into()
        }
    );
    assert_eq!(p.actions[0].reason, "replicaCount 2→3");
}

#[test]
fn completed_upgrade_counts_and_failed_upgrade_is_retried_with_its_error() {
    let mut live = live_base();
    live.ns_instances = vec![live_ns("ns1", "a", true)];
    live.operations = Some(vec![
        op(
            "op1",
            "ns1",
            "instantiate",
            "COMPLETED",
            1.0,
            json!({"replicaCount": "1"}),
        ),
        op(
            "op2",
            "ns1",
            "action",
            "COMPLETED",
            2.0,
            json!({"replicaCount": "2"}),
        ),
        op(
            "op3",
            "ns1",
            "action",
            "FAILED",
            3.0,
            json!({"replicaCount": "3"}),
        ),
    ]);
    let d = desired(vec![ns("a", Some(json!({"replicaCount": "2"})))], vec![]);
    let p = plan(&d, &live, &Inventory::default(), &PlanOptions::default());
    assert_eq!(summary(&p), ["upgrade NsInstance a"], "{:?}", p.actions);
    assert!(
        p.actions[0]
            .reason
            .contains("previous upgrade op3 FAILED: helm failed"),
        "{}",
        p.actions[0].reason
    );
    live.operations.as_mut().unwrap().pop();
    assert_eq!(
        summary(&plan(
            &d,
            &live,
            &Inventory::default(),
            &PlanOptions::default()
        )),
        ["unchanged NsInstance a"]
    );
}

#[test]
fn upgrade_while_instantiate_processing_is_blocked() {
    let mut live = live_base();
    live.ns_instances = vec![live_ns("ns1", "a", false)];
    live.operations = Some(vec![op(
        "op1",
        "ns1",
        "instantiate",
        "PROCESSING",
        1.0,
        json!({"replicaCount": "1"}),
    )]);
    let d = desired(vec![ns("a", Some(json!({"replicaCount": "5"})))], vec![]);
    let p = plan(&d, &live, &Inventory::default(), &PlanOptions::default());
    assert_eq!(p.actions[0].operation, Operation::Blocked);
    assert!(
        p.actions[0].reason.contains("still PROCESSING"),
        "{}",
        p.actions[0].reason
    );
    let same = desired(vec![ns("a", Some(json!({"replicaCount": "1"})))], vec![]);
    let p = plan(&same, &live, &Inventory::default(), &PlanOptions::default());
    assert_eq!(
        p.actions[0].operation,
        Operation::Unchanged {
            osm_id: Some("ns1".into()),
            pending_op: Some("op1".into())
        }
    );
}

#[test]
fn duplicate_live_names_are_blocked_not_guessed() {
    let mut live = live_base();
    live.ns_instances = vec![live_ns("ns1", "a", true), live_ns("ns2", "a", true)];
    let p = plan(
        &desired(vec![ns("a", None)], vec![]),
        &live,
        &Inventory::default(),
        &PlanOptions::default(),
    );
    assert_eq!(p.actions[0].operation, Operation::Blocked);
    assert!(
        p.actions[0]
            .reason
            .contains("ns1 (unmarked), ns2 (unmarked)"),
        "{}",
        p.actions[0].reason
    );
}

#[test]
fn inventory_digest_is_the_fallback_without_operation_history() {
    let mut live = live_base();
    live.ns_instances = vec![live_ns("ns1", "a", true)];
    let want = ns("a", Some(json!({"x": 1})));
    let mut inv = Inventory::default();
    inv.ns_instances.insert(
        "a".into(),
        NsEntry {
            osm_id: "ns1".into(),
            digest: want.digest(),
            instantiate_attempts: 0,
        },
    );
    let p = plan(
        &desired(vec![want.clone()], vec![]),
        &live,
        &inv,
        &PlanOptions::default(),
    );
    assert_eq!(summary(&p), ["unchanged NsInstance a"]);
    inv.ns_instances.get_mut("a").unwrap().digest = "sha256:old".into();
    assert_eq!(
        summary(&plan(
            &desired(vec![want], vec![]),
            &live,
            &inv,
            &PlanOptions::default()
        )),
        ["upgrade NsInstance a"]
    );
}

#[test]
fn package_digest_from_inventory_or_osm_filename_decides_upload() {
    let pk = pkg(PackageKind::Vnf, "ldap_knf", &[], &"ab".repeat(32));
    let mut live = live_base();
    live.vnf_packages = Some(vec![PackageRecord {
        osm_id: "vnfd-uuid".into(),
        id: Some("ldap_knf".into()),
        name: None,
        zipfile: Some(package_filename(&pk, &PlanOptions::default().owner)),
        vnfd_refs: vec![],
        vnf_profiles: vec![],
        kdus: vec![],
    }]);
    assert_eq!(
        digest_from_filename(&package_filename(&pk, &PlanOptions::default().owner)).as_deref(),
        Some(pk.digest.as_str())
    );
    let p = plan(
        &desired(vec![], vec![pk.clone()]),
        &live,
        &Inventory::default(),
        &PlanOptions::default(),
    );
    assert_eq!(summary(&p), ["unchanged VnfPackage ldap_knf"]);
    let mut changed = pk.clone();
    changed.digest = format!("sha256:{}", "cd".repeat(32));
    let p = plan(
        &desired(vec![], vec![changed]),
        &live,
        &Inventory::default(),
        &PlanOptions::default(),
    );
    assert_eq!(
        p.actions[0].operation,
        Operation::UpdatePackage {
            osm_id: "vnfd-uuid".into()
        }
    );
    assert!(
        p.actions[0].reason.starts_with("content digest changed"),
        "{}",
        p.actions[0].reason
    );
}

#[test]
fn prune_deletes_owned_objects_only_and_waits_for_users() {
    let mut live = live_base();
    live.ns_instances = vec![
        live_ns("ns1", "gone", true),
        live_ns("ns9", "foreign", true),
    ];
    live.vnf_packages = Some(vec![PackageRecord {
        osm_id: "vnfd-uuid".into(),
        id: Some("ldap_knf".into()),
        name: None,
        zipfile: None,
        vnfd_refs: vec![],
        vnf_profiles: vec![],
        kdus: vec![],
    }]);
    live.ns_packages = Some(vec![PackageRecord {
        osm_id: "nsd-uuid".into(),
        id: Some("ldap_ns".into()),
        name: None,
        zipfile: None,
        vnfd_refs: vec!["ldap_knf".into()],
        vnf_profiles: vec![],
        kdus: vec![],
    }]);
    let mut inv = Inventory::default();
    inv.ns_instances.insert(
        "gone".into(),
        NsEntry {
            osm_id: "ns1".into(),
            digest: "d".into(),
            instantiate_attempts: 0,
        },
    );
    inv.packages.insert(
        "ldap_knf".into(),
        PackageEntry {
            kind: PackageKind::Vnf,
            osm_id: "vnfd-uuid".into(),
            digest: "d".into(),
        },
    );
    inv.packages.insert(
        "ldap_ns".into(),
        PackageEntry {
            kind: PackageKind::Ns,
            osm_id: "nsd-uuid".into(),
            digest: "d".into(),
        },
    );
    let d = desired(vec![], vec![]);
    assert!(
        plan(&d, &live, &inv, &PlanOptions::default())
            .actions
            .is_empty(),
        "no prune without the option"
    );
    let p = plan(
        &d,
        &live,
        &inv,
        &PlanOptions {
            prune: true,
            ..PlanOptions::default()
        },
    );
    // 'foreign' shares the NSD and is not ours: it blocks the package deletes.
    assert_eq!(
        summary(&p),
        [
            "delete NsInstance gone",
            "blocked NsPackage ldap_ns",
            "blocked VnfPackage ldap_knf"
        ]
    );
    assert!(p.actions[1].reason.contains("foreign"));
    live.ns_instances.pop();
    let p = plan(
        &d,
        &live,
        &inv,
        &PlanOptions {
            prune: true,
            ..PlanOptions::default()
        },
    );
    assert_eq!(
        summary(&p),
        [
            "delete NsInstance gone",
            "delete NsPackage ldap_ns",
            "delete VnfPackage ldap_knf"
        ]
    );
    assert_eq!(
        p.actions[1].operation,
        Operation::DeletePackage {
            osm_id: "nsd-uuid".into(),
            waits_for: vec!["ns1".into()]
        }
    );
}

#[test]
fn param_change_descriptions_are_readable() {
    let old = json!({"a": "1", "b": 2, "c": true})
        .as_object()
        .unwrap()
        .clone();
    let new = json!({"a": "2", "b": 2, "d": "x"})
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(describe_param_changes(&old, &new), "a 1→2, -c, +d=x");
}

#[test]
fn vnf_and_kdu_names_are_checked_against_osms_descriptors_when_not_in_git() {
    let mut live = live_base();
    live.vnf_packages = Some(vec![PackageRecord {
        osm_id: "vnfd-uuid".into(),
        id: Some("ldap_knf".into()),
        name: None,
        zipfile: None,
        vnfd_refs: vec![],
        vnf_profiles: vec![],
        kdus: vec!["ldap".into()],
    }]);
    let mut bad_member = ns("a", None);
    bad_member.vnf_name = "openldpa".into();
    let mut bad_kdu = ns("b", None);
    bad_kdu.kdu.name = "lda".into();
    let p = plan(
        &desired(vec![bad_member, bad_kdu, ns("c", None)], vec![]),
        &live,
        &Inventory::default(),
        &PlanOptions::default(),
    );
    assert_eq!(p.problems.len(), 2, "{:?}", p.problems);
    assert!(
        p.problems[0].contains("field 'vnfName': 'openldpa' is not a member VNF of NSD 'ldap_ns'")
            && p.problems[0].contains("checked against OSM"),
        "{}",
        p.problems[0]
    );
    assert!(
        p.problems[1].contains("field 'kdu.name': 'lda' is not a KDU of VNFD 'ldap_knf'"),
        "{}",
        p.problems[1]
    );

    // An existing NS is checked against its own record, without reading OSM's descriptors.
    let mut live = live_base();
    live.vnf_packages = None;
    live.ns_packages = None;
    live.ns_instances = vec![live_ns("ns1", "b", true)];
    let mut bad_kdu = ns("b", None);
    bad_kdu.kdu.name = "lda".into();
    let p = plan(
        &desired(vec![bad_kdu], vec![]),
        &live,
        &Inventory::default(),
        &PlanOptions::default(),
    );
    assert!(
        p.problems.len() == 1 && p.problems[0].contains("'lda' is not a KDU of VNFD 'ldap_knf'"),
        "{:?}",
        p.problems
    );
}
