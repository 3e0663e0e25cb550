use serde_json::{json, Value};

use super::*;
use crate::osm::PackageRecord;
use crate::plan::{Owner, Remediation};
use crate::repo::{Kdu, NsInstance, Package};

pub(in crate::plan) fn ns(name: &str, params: Option<Value>) -> NsInstance {
    NsInstance {
        name: name.into(),
        description: None,
        nsd_name: "ldap_ns".into(),
        vim_account_name: "vim1".into(),
        kdus: vec![Kdu {
            member: "openldap".into(),
            at: "kdu".into(),
            name: "ldap".into(),
            params: params.and_then(|p| p.as_object().cloned()),
            model: None,
        }],
        scale: Vec::new(),
        config: None,
        source: format!("{name}.ops.yaml"),
    }
}

pub(in crate::plan) fn pkg(kind: PackageKind, id: &str, refs: &[&str], digest: &str) -> Package {
    Package {
        kind,
        id: id.into(),
        folder: id.into(),
        source: format!("osm-pkgs/{id}"),
        vnfd_refs: refs.iter().map(|s| s.to_string()).collect(),
        vnf_profiles: Vec::new(),
        kdus: Vec::new(),
        vdus: vec![],
        scaling_aspects: vec![],
        virtual_links: vec![],
        tarball: bytes::Bytes::new(),
        md5: String::new(),
        digest: format!("sha256:{digest}"),
    }
}

pub(in crate::plan) fn live_ns(id: &str, name: &str, instantiated: bool) -> NsRecord {
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
        // Created by the sync of the default options; `unmarked` and `marked` change it.
        description: Some(PlanOptions::default().owner.ns_description(None)),
        created: None,
        error_detail: None,
        vnf_profiles: vec![crate::repo::VnfProfile {
            member: "openldap".into(),
            vnfd_id: "ldap_knf".into(),
        }],
        deployed_kdus: vec![("openldap".into(), "ldap".into())],
    }
}

/// An NS made by hand: no owner's mark.
fn unmarked(mut n: NsRecord) -> NsRecord {
    n.description = None;
    n
}

fn op(id: &str, ns: &str, kind: &str, state: &str, t: f64, params: Value) -> OpRecord {
    let operation_params = if kind == "instantiate" {
        json!({"additionalParamsForVnf": [{"member-vnf-index": "openldap", "additionalParamsForKdu": [{"kdu_name": "ldap", "additionalParams": params}]}]})
    } else {
        json!({"member_vnf_index": "openldap", "kdu_name": "ldap", "primitive": "upgrade", "primitive_params": params})
    };
    crate::osm::records::from_value::<OpRecord>(&json!({"_id": id, "nsInstanceId": ns, "lcmOperationType": kind, "operationState": state,
        "startTime": t, "errorMessage": if state == "FAILED" { json!("helm failed") } else { Value::Null },
        "operationParams": operation_params}))
    .unwrap()
}

pub(in crate::plan) fn live_base() -> LiveState {
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
            vdus: vec![],
            scaling_aspects: vec![],
            revision: None,
            modified: None,
        }]),
        ns_instances: vec![],
        operations: Some(vec![]),
        vnf_instances: None,
    }
}

pub(in crate::plan) fn desired(
    mut ns_list: Vec<NsInstance>,
    packages: Vec<Package>,
) -> DesiredState {
    // As the repository reader leaves them: sorted by name.
    ns_list.sort_by(|a, b| a.name.cmp(&b.name));
    DesiredState {
        ns_instances: ns_list,
        packages,
        ..Default::default()
    }
}

pub(in crate::plan) fn summary(p: &Plan) -> Vec<String> {
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
            "create NsInstance a",
            "create NsInstance b"
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
    live.ns_instances = vec![
        unmarked(live_ns("ns1", "a", true)),
        unmarked(live_ns("ns2", "a", true)),
    ];
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
            adopted: false,
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
        vdus: vec![],
        scaling_aspects: vec![],
        revision: None,
        modified: None,
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
        unmarked(live_ns("ns9", "foreign", true)),
    ];
    live.vnf_packages = Some(vec![PackageRecord {
        osm_id: "vnfd-uuid".into(),
        id: Some("ldap_knf".into()),
        name: None,
        zipfile: None,
        vnfd_refs: vec![],
        vnf_profiles: vec![],
        kdus: vec![],
        vdus: vec![],
        scaling_aspects: vec![],
        revision: None,
        modified: None,
    }]);
    live.ns_packages = Some(vec![PackageRecord {
        osm_id: "nsd-uuid".into(),
        id: Some("ldap_ns".into()),
        name: None,
        zipfile: None,
        vnfd_refs: vec!["ldap_knf".into()],
        vnf_profiles: vec![],
        kdus: vec![],
        vdus: vec![],
        scaling_aspects: vec![],
        revision: None,
        modified: None,
    }]);
    let mut inv = Inventory::default();
    inv.ns_instances.insert(
        "gone".into(),
        NsEntry {
            osm_id: "ns1".into(),
            digest: "d".into(),
            instantiate_attempts: 0,
            adopted: false,
        },
    );
    inv.packages.insert(
        "ldap_knf".into(),
        PackageEntry {
            kind: PackageKind::Vnf,
            osm_id: "vnfd-uuid".into(),
            digest: "d".into(),
            tagged: true,
        },
    );
    inv.packages.insert(
        "ldap_ns".into(),
        PackageEntry {
            kind: PackageKind::Ns,
            osm_id: "nsd-uuid".into(),
            digest: "d".into(),
            tagged: true,
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
        vdus: vec![],
        scaling_aspects: vec![],
        revision: None,
        modified: None,
    }]);
    let mut bad_member = ns("a", None);
    bad_member.kdus[0].member = "openldpa".into();
    let mut bad_kdu = ns("b", None);
    bad_kdu.kdus[0].name = "lda".into();
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
    bad_kdu.kdus[0].name = "lda".into();
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

// ---- Ownership, prune guard, duplicates ------------------------------------------------------

fn owner() -> Owner {
    Owner::new("repo-a").unwrap()
}

fn opts_prune() -> PlanOptions {
    PlanOptions {
        prune: true,
        owner: owner(),
        ..PlanOptions::default()
    }
}

fn marked(mut n: NsRecord, by: &str) -> NsRecord {
    n.description = Some(Owner::new(by).unwrap().ns_description(Some("test")));
    n
}

fn entry(id: &str) -> NsEntry {
    NsEntry {
        osm_id: id.into(),
        digest: "d".into(),
        instantiate_attempts: 0,
        adopted: false,
    }
}

#[test]
fn prune_never_deletes_an_ns_whose_name_git_declares_whatever_the_inventory_says() {
    let mut live = live_base();
    live.ns_instances = vec![
        marked(live_ns("ns1", "ldap", true), "repo-a"),
        marked(live_ns("ns2", "other", true), "repo-a"),
    ];
    let mut inv = Inventory::default();
    // A stale entry under an old name holds the id of the NS Git declares as "ldap".
    inv.ns_instances.insert("old-name".into(), entry("ns1"));
    inv.ns_instances.insert("other".into(), entry("ns2"));
    let p = plan(
        &desired(vec![ns("ldap", None)], vec![]),
        &live,
        &inv,
        &opts_prune(),
    );
    let deletes: Vec<&Action> = p
        .actions
        .iter()
        .filter(|a| matches!(a.operation, Operation::DeleteNs { .. }))
        .collect();
    assert_eq!(deletes.len(), 1, "{:?}", p.actions);
    assert_eq!(deletes[0].name, "other");
}

#[test]
fn ownership_is_a_mark_a_legacy_mark_with_its_record_or_an_adoption_never_a_bare_record() {
    let mut live = live_base();
    let legacy = |mut n: NsRecord| {
        // What versions before injective marks wrote.
        n.description = Some("test [osmops owner=repo-a]".into());
        n
    };
    live.ns_instances = vec![
        marked(live_ns("ns1", "mine-lost", true), "repo-a"),
        marked(live_ns("ns2", "theirs", true), "repo-b"),
        unmarked(live_ns("ns3", "unmarked-recorded", true)),
        unmarked(live_ns("ns4", "unmarked-unknown", true)),
        marked(live_ns("ns5", "keep", true), "repo-a"),
        unmarked(live_ns("ns6", "unmarked-adopted", true)),
        legacy(live_ns("ns7", "legacy-recorded", true)),
        legacy(live_ns("ns8", "legacy-unrecorded", true)),
    ];
    let mut inv = Inventory::default();
    // "theirs" is recorded as ours (another repository's state file, say): OSM's mark wins.
    inv.ns_instances.insert("theirs".into(), entry("ns2"));
    // Recorded by an earlier version, which also recorded NS it had only upgraded (adopted
    // silently): not proof.
    inv.ns_instances
        .insert("unmarked-recorded".into(), entry("ns3"));
    inv.ns_instances.insert(
        "unmarked-adopted".into(),
        NsEntry {
            adopted: true,
            ..entry("ns6")
        },
    );
    inv.ns_instances
        .insert("legacy-recorded".into(), entry("ns7"));
    let p = plan(
        &desired(vec![ns("keep", None)], vec![]),
        &live,
        &inv,
        &opts_prune(),
    );
    let mut deleted: Vec<&str> = p
        .actions
        .iter()
        .filter(|a| matches!(a.operation, Operation::DeleteNs { .. }))
        .map(|a| a.name.as_str())
        .collect();
    deleted.sort();
    // The lost-from-state NS is found again by its mark, the adopted one and the one with an
    // earlier-format mark by the inventory. Neither theirs, nor an unmarked NS with a bare
    // record, nor an earlier-format mark without a record (another owner may share it) is touched.
    assert_eq!(
        deleted,
        ["legacy-recorded", "mine-lost", "unmarked-adopted"]
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("theirs") && n.contains("repo-b")),
        "{:?}",
        p.notes
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("unmarked-recorded") && n.contains("never adopted")),
        "{:?}",
        p.notes
    );
    let reason = |name: &str| {
        p.actions
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.reason.clone())
            .unwrap_or_default()
    };
    assert!(reason("mine-lost").contains("carries this sync's mark"));
    assert!(reason("unmarked-adopted").contains("adopted"));
    assert!(reason("legacy-recorded").contains("earlier format"));
}

#[test]
fn an_ns_made_by_hand_is_blocked_unless_adopted_and_then_recorded_as_adopted() {
    let mut live = live_base();
    live.ns_instances = vec![unmarked(live_ns("ns1", "ldap", true))];
    let want = desired(vec![ns("ldap", Some(json!({"replicaCount": "2"})))], vec![]);
    let p = plan(&want, &live, &Inventory::default(), &opts_prune());
    assert_eq!(summary(&p), ["blocked NsInstance ldap"]);
    assert!(
        p.actions[0].reason.contains("without this sync's mark")
            && p.actions[0].reason.contains("--adopt"),
        "{}",
        p.actions[0].reason
    );
    assert!(!p.actions[0].adopt);
    // A bare record of an earlier version (it adopted silently) is not proof either.
    let mut inv = Inventory::default();
    inv.ns_instances.insert("ldap".into(), entry("ns1"));
    let p = plan(&want, &live, &inv, &opts_prune());
    assert_eq!(summary(&p), ["blocked NsInstance ldap"]);
    // Adopted explicitly: planned as usual, and the action says it adopts.
    let adopt = PlanOptions {
        adopt: true,
        ..opts_prune()
    };
    let p = plan(&want, &live, &Inventory::default(), &adopt);
    assert_eq!(summary(&p), ["upgrade NsInstance ldap"]);
    assert!(p.actions[0].adopt);
    assert!(
        p.actions[0].reason.starts_with("adopting:"),
        "{}",
        p.actions[0].reason
    );
    // Adoption changes what may later be deleted, so it changes the digest.
    let mut not_adopting = p.clone();
    not_adopting.actions[0].adopt = false;
    assert_ne!(
        digest::plan_digest(&p, &want),
        digest::plan_digest(&not_adopting, &want)
    );
    // Never another sync's NS, whatever the flag.
    live.ns_instances = vec![marked(live_ns("ns1", "ldap", true), "repo-b")];
    let p = plan(&want, &live, &Inventory::default(), &adopt);
    assert_eq!(summary(&p), ["blocked NsInstance ldap"]);
    assert!(!p.actions[0].adopt);
}

#[test]
fn the_prune_guard_refuses_deleting_everything_unless_allowed() {
    let mut live = live_base();
    live.ns_instances = vec![
        marked(live_ns("ns1", "a", true), "repo-a"),
        marked(live_ns("ns2", "b", true), "repo-a"),
    ];
    // Empty desired state.
    let p = plan(
        &desired(vec![], vec![]),
        &live,
        &Inventory::default(),
        &opts_prune(),
    );
    assert!(
        p.prune_guard
            .as_deref()
            .is_some_and(|g| g.contains("the desired state is empty")),
        "{:?}",
        p.prune_guard
    );
    // Git declares another NS, none of the owned ones: still everything owned would go.
    let p = plan(
        &desired(vec![ns("c", None)], vec![]),
        &live,
        &Inventory::default(),
        &opts_prune(),
    );
    assert!(p.prune_guard.is_some());
    // Part of what is owned: fine.
    let p = plan(
        &desired(vec![ns("a", None)], vec![]),
        &live,
        &Inventory::default(),
        &opts_prune(),
    );
    assert!(p.prune_guard.is_none(), "{:?}", p.prune_guard);
    assert_eq!(p.count("delete"), 1);
    // Allowed explicitly.
    let allowed = PlanOptions {
        allow_empty: true,
        ..opts_prune()
    };
    let p = plan(
        &desired(vec![], vec![]),
        &live,
        &Inventory::default(),
        &allowed,
    );
    assert!(p.prune_guard.is_none());
    assert_eq!(p.count("delete"), 2);
}

#[test]
fn duplicates_this_sync_created_keep_the_oldest_others_are_never_guessed() {
    let mut live = live_base();
    let mut older = marked(live_ns("ns-b", "a", true), "repo-a");
    older.created = crate::model::from_osm_epoch(10.0);
    let mut newer = marked(live_ns("ns-a", "a", true), "repo-a");
    newer.created = crate::model::from_osm_epoch(20.0);
    live.ns_instances = vec![newer, older];
    let p = plan(
        &desired(vec![ns("a", None)], vec![]),
        &live,
        &Inventory::default(),
        &PlanOptions {
            owner: owner(),
            ..PlanOptions::default()
        },
    );
    assert_eq!(summary(&p), ["delete NsInstance a", "upgrade NsInstance a"]);
    assert_eq!(
        p.actions[0].operation,
        Operation::DeleteNs {
            osm_id: "ns-a".into()
        }
    );
    assert!(p.actions[0].reason.contains("duplicate of ns-b"));
    // One of them is not ours: nothing is deleted, the name is blocked.
    live.ns_instances[0] = marked(live_ns("ns-a", "a", true), "repo-b");
    let p = plan(
        &desired(vec![ns("a", None)], vec![]),
        &live,
        &Inventory::default(),
        &PlanOptions {
            owner: owner(),
            ..PlanOptions::default()
        },
    );
    assert_eq!(summary(&p), ["blocked NsInstance a"]);
    assert!(
        p.actions[0].reason.contains("managed by repo-b"),
        "{}",
        p.actions[0].reason
    );
}

#[test]
fn an_ns_marked_by_another_sync_is_left_alone_even_when_git_declares_it() {
    let mut live = live_base();
    live.ns_instances = vec![marked(live_ns("ns1", "a", true), "repo-b")];
    let p = plan(
        &desired(vec![ns("a", Some(json!({"replicaCount": "9"})))], vec![]),
        &live,
        &Inventory::default(),
        &PlanOptions {
            owner: owner(),
            ..PlanOptions::default()
        },
    );
    assert_eq!(summary(&p), ["blocked NsInstance a"]);
    assert!(p.actions[0].reason.contains("managed by repo-b"));
}

#[test]
fn packages_tagged_by_another_sync_are_neither_replaced_nor_pruned() {
    let other = Owner::new("repo-b").unwrap();
    let pk = pkg(PackageKind::Vnf, "ldap_knf", &[], &"ab".repeat(32));
    let mut live = live_base();
    live.vnf_packages = Some(vec![PackageRecord {
        osm_id: "vnfd-uuid".into(),
        id: Some("ldap_knf".into()),
        name: None,
        zipfile: Some(package_filename(&pk, &other)),
        vnfd_refs: vec![],
        vnf_profiles: vec![],
        kdus: vec![],
        vdus: vec![],
        scaling_aspects: vec![],
        revision: None,
        modified: None,
    }]);
    let opts = PlanOptions {
        owner: owner(),
        ..PlanOptions::default()
    };
    // Same content: unchanged. Other content: blocked, not re-uploaded.
    let p = plan(
        &desired(vec![], vec![pk.clone()]),
        &live,
        &Inventory::default(),
        &opts,
    );
    assert_eq!(summary(&p), ["unchanged VnfPackage ldap_knf"]);
    let mut changed = pk.clone();
    changed.digest = format!("sha256:{}", "cd".repeat(32));
    let p = plan(
        &desired(vec![], vec![changed]),
        &live,
        &Inventory::default(),
        &opts,
    );
    assert_eq!(summary(&p), ["blocked VnfPackage ldap_knf"]);
    // Recorded in the inventory, but tagged by another sync: forgotten, not deleted.
    let mut inv = Inventory::default();
    inv.packages.insert(
        "ldap_knf".into(),
        PackageEntry {
            kind: PackageKind::Vnf,
            osm_id: "vnfd-uuid".into(),
            digest: pk.digest.clone(),
            tagged: false,
        },
    );
    live.ns_packages = Some(vec![]);
    let p = plan(
        &desired(vec![ns("keep", None)], vec![]),
        &live,
        &inv,
        &PlanOptions {
            allow_empty: true,
            ..opts_prune()
        },
    );
    assert!(
        p.actions.iter().all(|a| a.kind != ObjectKind::VnfPackage),
        "{:?}",
        p.actions
    );
    assert!(p.notes.iter().any(|n| n.contains("ldap_knf")));
    // Tagged by this sync and lost from the inventory: found again and pruned.
    live.vnf_packages.as_mut().unwrap()[0].zipfile = Some(package_filename(&pk, &owner()));
    let p = plan(
        &desired(vec![ns("keep", None)], vec![]),
        &live,
        &Inventory::default(),
        &PlanOptions {
            allow_empty: true,
            ..opts_prune()
        },
    );
    assert!(
        summary(&p).contains(&"delete VnfPackage ldap_knf".to_owned()),
        "{:?}",
        summary(&p)
    );
}

// ---- Failed, broken and terminated NS instances; remediation ---------------------------------

fn remediation(instantiate: u32, upgrade: u32, rollback: bool) -> PlanOptions {
    PlanOptions {
        owner: owner(),
        remediation: Remediation {
            instantiate_retries: instantiate,
            upgrade_retries: upgrade,
            upgrade_rollback: rollback,
        },
        ..PlanOptions::default()
    }
}

fn broken_after_failed_instantiate() -> LiveState {
    let mut live = live_base();
    let mut n = marked(live_ns("ns1", "a", true), "repo-a");
    n.ns_state = "BROKEN".into();
    live.ns_instances = vec![n];
    live.operations = Some(vec![op(
        "op1",
        "ns1",
        "instantiate",
        "FAILED",
        1.0,
        json!({"replicaCount": "1"}),
    )]);
    live
}

#[test]
fn a_failed_instantiate_is_never_unchanged() {
    let live = broken_after_failed_instantiate();
    let d = desired(vec![ns("a", Some(json!({"replicaCount": "1"})))], vec![]);
    let p = plan(&d, &live, &Inventory::default(), &remediation(0, 0, false));
    assert_eq!(summary(&p), ["broken NsInstance a"]);
    assert!(
        p.actions[0]
            .reason
            .contains("instantiate op1 FAILED: helm failed")
            && p.actions[0].reason.contains("no remediation configured"),
        "{}",
        p.actions[0].reason
    );
    // With retries it is recreated, counting attempts in the inventory.
    let p = plan(&d, &live, &Inventory::default(), &remediation(1, 0, false));
    assert_eq!(summary(&p), ["recreate NsInstance a"]);
    assert!(
        p.actions[0].reason.contains("retry 1 of 1"),
        "{}",
        p.actions[0].reason
    );
    let mut inv = Inventory::default();
    inv.ns_instances.insert(
        "a".into(),
        NsEntry {
            osm_id: "ns1".into(),
            digest: d.ns_instances[0].digest(),
            instantiate_attempts: 2,
            adopted: false,
        },
    );
    let p = plan(&d, &live, &inv, &remediation(1, 0, false));
    assert_eq!(summary(&p), ["broken NsInstance a"]);
    assert!(p.actions[0].reason.contains("remediation used up"));
    // An NS this sync cannot prove it owns is never recreated.
    let mut theirs = live.clone();
    theirs.ns_instances[0].description = None;
    let p = plan(
        &d,
        &theirs,
        &Inventory::default(),
        &remediation(3, 0, false),
    );
    assert_eq!(summary(&p), ["blocked NsInstance a"]);
    assert!(
        p.actions[0].reason.contains("without this sync's mark"),
        "{}",
        p.actions[0].reason
    );
}

#[test]
fn a_terminated_ns_still_in_osm_is_recreated_when_owned() {
    let mut live = live_base();
    live.ns_instances = vec![marked(live_ns("ns1", "a", false), "repo-a")];
    live.operations = Some(vec![
        op("op1", "ns1", "instantiate", "COMPLETED", 1.0, json!({})),
        op("op2", "ns1", "terminate", "COMPLETED", 2.0, json!({})),
    ]);
    let d = desired(vec![ns("a", None)], vec![]);
    let p = plan(&d, &live, &Inventory::default(), &remediation(0, 0, false));
    assert_eq!(summary(&p), ["recreate NsInstance a"]);
    assert!(
        p.actions[0]
            .reason
            .contains("drift: terminated outside Git"),
        "{}",
        p.actions[0].reason
    );
    assert_eq!(p.drift.len(), 1);
    assert!(p.drift[0].corrected);
    live.ns_instances[0].description = None;
    let p = plan(&d, &live, &Inventory::default(), &remediation(0, 0, false));
    assert_eq!(summary(&p), ["blocked NsInstance a"]);
}

fn upgrade_history(states: &[(&str, &str)]) -> LiveState {
    let mut live = live_base();
    live.ns_instances = vec![marked(live_ns("ns1", "a", true), "repo-a")];
    let mut ops = vec![op(
        "op0",
        "ns1",
        "instantiate",
        "COMPLETED",
        0.0,
        json!({"replicaCount": "1"}),
    )];
    for (i, (state, replicas)) in states.iter().enumerate() {
        ops.push(op(
            &format!("up{}", i + 1),
            "ns1",
            "action",
            state,
            1.0 + i as f64,
            json!({ "replicaCount": replicas }),
        ));
    }
    live.operations = Some(ops);
    live
}

#[test]
fn a_failed_upgrade_is_reported_retried_or_rolled_back_as_configured() {
    let d = desired(vec![ns("a", Some(json!({"replicaCount": "3"})))], vec![]);
    let live = upgrade_history(&[("FAILED", "3")]);
    let p = plan(&d, &live, &Inventory::default(), &remediation(0, 0, false));
    assert_eq!(summary(&p), ["broken NsInstance a"]);
    assert!(p.actions[0]
        .reason
        .contains("upgrade up1 FAILED: helm failed"));
    let p = plan(&d, &live, &Inventory::default(), &remediation(0, 1, false));
    assert_eq!(summary(&p), ["upgrade NsInstance a"]);
    assert!(
        p.actions[0].reason.contains("retry 1 of 1"),
        "{}",
        p.actions[0].reason
    );
    // Retries used up: roll back to what OSM last completed.
    let live = upgrade_history(&[("FAILED", "3"), ("FAILED", "3")]);
    let p = plan(&d, &live, &Inventory::default(), &remediation(0, 1, true));
    assert_eq!(summary(&p), ["rollback NsInstance a"]);
    assert_eq!(
        p.actions[0].operation,
        Operation::RollbackNs {
            osm_id: "ns1".into(),
            params: json!({"replicaCount": "1"}).as_object().unwrap().clone()
        }
    );
    // After the rollback completed, the same desired params are not tried again.
    let live = upgrade_history(&[("FAILED", "3"), ("FAILED", "3"), ("COMPLETED", "1")]);
    let p = plan(&d, &live, &Inventory::default(), &remediation(0, 1, true));
    assert_eq!(summary(&p), ["broken NsInstance a"]);
    assert!(
        p.actions[0].reason.contains("rolled back by up3"),
        "{}",
        p.actions[0].reason
    );
    // A new change in Git is tried again.
    let d4 = desired(vec![ns("a", Some(json!({"replicaCount": "4"})))], vec![]);
    let p = plan(&d4, &live, &Inventory::default(), &remediation(0, 1, true));
    assert_eq!(summary(&p), ["upgrade NsInstance a"]);
}

/// A desired state whose one NS takes `replicaCount` from a Secret holding `value`.
fn with_secret(value: &str) -> DesiredState {
    let mut book = crate::repo::SecretBook::new(crate::repo::SealKey::from_password("osm"));
    let seal = book.seal(value.into());
    let mut d = desired(vec![ns("a", Some(json!({ "replicaCount": seal })))], vec![]);
    d.secrets = book;
    d
}

#[test]
fn secret_params_compare_as_their_values_and_never_show() {
    let shown = |p: &Plan| serde_json::to_string(p).unwrap();
    // OSM runs the value the Secret holds: nothing to do.
    let live = upgrade_history(&[("COMPLETED", "pw-1")]);
    let p = plan(
        &with_secret("pw-1"),
        &live,
        &Inventory::default(),
        &remediation(0, 0, false),
    );
    assert_eq!(summary(&p), ["unchanged NsInstance a"]);
    assert_eq!(p.actions[0].reason, "params match OSM");
    // Rotated: an upgrade that says which param, never how.
    let p = plan(
        &with_secret("pw-2"),
        &live,
        &Inventory::default(),
        &remediation(0, 0, false),
    );
    assert_eq!(summary(&p), ["upgrade NsInstance a"]);
    assert!(
        p.actions[0]
            .reason
            .contains("replicaCount (secret) changed"),
        "{}",
        p.actions[0].reason
    );
    assert!(!shown(&p).contains("pw-"), "{}", shown(&p));
    // The upgrade to the new value failed and retries are used up: the params OSM last
    // completed hold the earlier value, which no Secret holds any more: no blind rollback.
    let live = upgrade_history(&[
        ("COMPLETED", "pw-1"),
        ("FAILED", "pw-2"),
        ("FAILED", "pw-2"),
    ]);
    let d = with_secret("pw-2");
    let p = plan(&d, &live, &Inventory::default(), &remediation(0, 1, true));
    assert_eq!(summary(&p), ["broken NsInstance a"]);
    assert!(
        p.actions[0]
            .reason
            .contains("cannot roll back to the params of up1"),
        "{}",
        p.actions[0].reason
    );
    assert!(!shown(&p).contains("pw-"), "{}", shown(&p));
    // The earlier value is known now: scrubbed from any text, sealed in what is written down.
    assert_eq!(
        d.secrets.scrub("helm: bad password pw-1"),
        "helm: bad password (secret)"
    );
    // A rollback to a value the Secret still holds is planned, sealed.
    let live = upgrade_history(&[("COMPLETED", "pw-1"), ("FAILED", "3"), ("FAILED", "3")]);
    let mut d = with_secret("pw-1");
    d.ns_instances[0].kdus[0].params =
        Some(json!({"replicaCount": "3"}).as_object().unwrap().clone());
    let p = plan(&d, &live, &Inventory::default(), &remediation(0, 1, true));
    assert_eq!(summary(&p), ["rollback NsInstance a"]);
    let Operation::RollbackNs { params, .. } = &p.actions[0].operation else {
        unreachable!()
    };
    assert_eq!(
        d.secrets.reveal_map(params).unwrap()["replicaCount"],
        "pw-1"
    );
    assert!(!shown(&p).contains("pw-"), "{}", shown(&p));
}

#[test]
fn param_change_descriptions_say_secret_never_the_value() {
    let book = crate::repo::SecretBook::new(crate::repo::SealKey::default());
    let (s1, s2) = (book.seal_of("a"), book.seal_of("b"));
    let m = |v: Value| v.as_object().unwrap().clone();
    assert_eq!(
        describe_param_changes(&m(json!({"pw": s1, "n": 1})), &m(json!({"pw": s2, "n": 2}))),
        "n 1→2, pw (secret) changed"
    );
    assert_eq!(
        describe_param_changes(
            &m(json!({"auth": {"pw": s1, "u": "x"}})),
            &m(json!({"auth": {"pw": s2, "u": "x"}}))
        ),
        "auth (secret) changed"
    );
    assert_eq!(
        describe_param_changes(&m(json!({})), &m(json!({"pw": s1}))),
        "+pw=(secret)"
    );
}

/// An inventory saying this sync last applied `want` to NS `id`.
pub(in crate::plan) fn applied(want: &NsInstance, id: &str) -> Inventory {
    let mut inv = Inventory::default();
    inv.ns_instances.insert(
        want.name.clone(),
        NsEntry {
            osm_id: id.into(),
            digest: want.digest(),
            instantiate_attempts: 0,
            adopted: false,
        },
    );
    inv
}

fn with_drift(ns: DriftAction, packages: DriftAction) -> PlanOptions {
    PlanOptions {
        drift: DriftPolicy {
            ns_instances: ns,
            packages,
        },
        ..PlanOptions::default()
    }
}

#[test]
fn an_ns_deleted_by_hand_is_drift_recreated_under_correct_and_only_reported_under_warn() {
    let want = ns("a", Some(json!({"replicaCount": "2"})));
    let d = desired(vec![want.clone()], vec![]);
    let inv = applied(&want, "gone-id");
    let p = plan(&d, &live_base(), &inv, &PlanOptions::default());
    assert_eq!(summary(&p), ["create NsInstance a"]);
    assert!(
        p.actions[0]
            .reason
            .starts_with("drift: deleted in OSM outside Git (was gone-id)"),
        "{}",
        p.actions[0].reason
    );
    assert_eq!(p.drift.len(), 1);
    assert!(p.drift[0].corrected);
    let p = plan(
        &d,
        &live_base(),
        &inv,
        &with_drift(DriftAction::Warn, DriftAction::Warn),
    );
    assert_eq!(summary(&p), ["drifted NsInstance a"]);
    assert_eq!(p.writes(), 0);
    assert!(!p.drift[0].corrected);
    // A changed document is Git's change, not drift: created as usual.
    let mut changed = want.clone();
    changed.kdus[0].params = Some(json!({"replicaCount": "3"}).as_object().unwrap().clone());
    let p = plan(
        &desired(vec![changed], vec![]),
        &live_base(),
        &inv,
        &with_drift(DriftAction::Warn, DriftAction::Warn),
    );
    assert_eq!(summary(&p), ["create NsInstance a"]);
    assert_eq!(p.actions[0].reason, "not in OSM");
    assert!(p.drift.is_empty());
}

#[test]
fn params_changed_by_an_operation_this_sync_did_not_start_are_drift() {
    let want = ns("a", Some(json!({"replicaCount": "2"})));
    let d = desired(vec![want.clone()], vec![]);
    let mut live = live_base();
    live.ns_instances = vec![live_ns("ns1", "a", true)];
    live.operations = Some(vec![
        op(
            "op1",
            "ns1",
            "instantiate",
            "COMPLETED",
            1.0,
            json!({"replicaCount": "2"}),
        ),
        op(
            "op2",
            "ns1",
            "action",
            "COMPLETED",
            2.0,
            json!({"replicaCount": "5"}),
        ),
    ]);
    let inv = applied(&want, "ns1");
    let p = plan(&d, &live, &inv, &PlanOptions::default());
    assert_eq!(summary(&p), ["upgrade NsInstance a"]);
    let r = &p.actions[0].reason;
    assert!(
        r.starts_with("drift: KDU params changed outside Git by action op2 (COMPLETED): replicaCount 2→5; upgrading back to Git (replicaCount 5→2)"),
        "{r}"
    );
    let p = plan(
        &d,
        &live,
        &inv,
        &with_drift(DriftAction::Warn, DriftAction::Warn),
    );
    assert_eq!(summary(&p), ["drifted NsInstance a"]);
    assert_eq!(
        p.actions[0].operation,
        Operation::Drifted {
            osm_id: Some("ns1".into())
        }
    );
    // Without the record of what this sync applied, the difference is an ordinary upgrade.
    let p = plan(&d, &live, &Inventory::default(), &PlanOptions::default());
    assert_eq!(summary(&p), ["upgrade NsInstance a"]);
    assert!(p.drift.is_empty());
    // Nor is it drift when Git changed since this sync applied.
    let mut inv_old = inv.clone();
    inv_old.ns_instances.get_mut("a").unwrap().digest = "sha256:older".into();
    assert!(plan(&d, &live, &inv_old, &PlanOptions::default())
        .drift
        .is_empty());
}

#[test]
fn a_package_replaced_or_deleted_in_osm_is_drift_reported_by_default_and_corrected_on_request() {
    let pk = pkg(PackageKind::Vnf, "ldap_knf", &[], &"ab".repeat(32));
    let mut inv = Inventory::default();
    inv.packages.insert(
        "ldap_knf".into(),
        PackageEntry {
            kind: PackageKind::Vnf,
            osm_id: "vnfd-uuid".into(),
            digest: pk.digest.clone(),
            tagged: true,
        },
    );
    let record = |zipfile: Option<String>| PackageRecord {
        osm_id: "vnfd-uuid".into(),
        id: Some("ldap_knf".into()),
        name: None,
        zipfile,
        vnfd_refs: vec![],
        vnf_profiles: vec![],
        kdus: vec![],
        vdus: vec![],
        scaling_aspects: vec![],
        revision: None,
        modified: None,
    };
    let d = desired(vec![], vec![pk.clone()]);
    let mut live = live_base();
    // Our own upload: unchanged.
    live.vnf_packages = Some(vec![record(Some(package_filename(
        &pk,
        &PlanOptions::default().owner,
    )))]);
    let p = plan(&d, &live, &inv, &PlanOptions::default());
    assert_eq!(summary(&p), ["unchanged VnfPackage ldap_knf"]);
    // Replaced by hand (`osm vnfpkg-update` with another file): reported, not replaced.
    live.vnf_packages = Some(vec![record(Some("hotfix.tar.gz".into()))]);
    let p = plan(&d, &live, &inv, &PlanOptions::default());
    assert_eq!(summary(&p), ["drifted VnfPackage ldap_knf"]);
    assert_eq!(
        p.drift[0].what,
        "replaced in OSM outside Git (uploaded as 'hotfix.tar.gz')"
    );
    let p = plan(
        &d,
        &live,
        &inv,
        &with_drift(DriftAction::Correct, DriftAction::Correct),
    );
    assert_eq!(summary(&p), ["update VnfPackage ldap_knf"]);
    assert!(p.actions[0].reason.ends_with("re-uploading Git's content"));
    // Deleted by hand.
    live.vnf_packages = Some(vec![]);
    let p = plan(&d, &live, &inv, &PlanOptions::default());
    assert_eq!(summary(&p), ["drifted VnfPackage ldap_knf"]);
    let p = plan(
        &d,
        &live,
        &inv,
        &with_drift(DriftAction::Correct, DriftAction::Correct),
    );
    assert_eq!(summary(&p), ["create VnfPackage ldap_knf"]);
}

#[test]
fn a_package_uploaded_by_hand_is_blocked_unless_adopted_and_adoption_re_uploads_it_tagged() {
    let pk = pkg(PackageKind::Vnf, "ldap_knf", &[], &"ab".repeat(32));
    let d = desired(vec![], vec![pk.clone()]);
    let mut live = live_base();
    for zipfile in [None, Some("ldap_knf.tar.gz".to_owned())] {
        live.vnf_packages = Some(vec![PackageRecord {
            osm_id: "vnfd-uuid".into(),
            id: Some("ldap_knf".into()),
            name: None,
            zipfile: zipfile.clone(),
            vnfd_refs: vec![],
            vnf_profiles: vec![],
            kdus: vec![],
            vdus: vec![],
            scaling_aspects: vec![],
            revision: None,
            modified: None,
        }]);
        let p = plan(&d, &live, &Inventory::default(), &opts_prune());
        assert_eq!(summary(&p), ["blocked VnfPackage ldap_knf"], "{zipfile:?}");
        assert!(
            p.actions[0].reason.contains("--adopt"),
            "{}",
            p.actions[0].reason
        );
        let adopt = PlanOptions {
            adopt: true,
            ..opts_prune()
        };
        let p = plan(&d, &live, &Inventory::default(), &adopt);
        assert_eq!(summary(&p), ["update VnfPackage ldap_knf"], "{zipfile:?}");
        assert!(p.actions[0].adopt);
        assert!(p.actions[0].reason.starts_with("adopting:"));
    }
}

#[test]
fn a_stored_name_that_does_not_parse_proves_neither_content_nor_owner() {
    // Uploaded by hand with a name that only looks like OSM Ops' (a digest that is not 64 hex,
    // another sync's tag): never "unchanged", whatever the inventory says was uploaded.
    let pk = pkg(PackageKind::Vnf, "ldap_knf", &[], &"ab".repeat(32));
    let other_tag = Owner::new("repo-b").unwrap().package_tag();
    let d = desired(vec![], vec![pk.clone()]);
    let mut inv = Inventory::default();
    inv.packages.insert(
        "ldap_knf".into(),
        PackageEntry {
            kind: PackageKind::Vnf,
            osm_id: "vnfd-uuid".into(),
            digest: pk.digest.clone(),
            tagged: true,
        },
    );
    for name in [
        format!("ldap_knf_sha256-abc_owner-{other_tag}.tar.gz"),
        format!("ldap_knf_sha256-{}_owner-xyz.tar.gz", "ab".repeat(32)),
        format!(
            "other_knf_sha256-{}_owner-{}.tar.gz",
            "ab".repeat(32),
            owner().package_tag()
        ),
        format!("ldap_knf_sha256-{}.tar.gz.bak", "ab".repeat(32)),
    ] {
        let mut live = live_base();
        live.vnf_packages = Some(vec![PackageRecord {
            osm_id: "vnfd-uuid".into(),
            id: Some("ldap_knf".into()),
            name: None,
            zipfile: Some(name.clone()),
            vnfd_refs: vec![],
            vnf_profiles: vec![],
            kdus: vec![],
            vdus: vec![],
            scaling_aspects: vec![],
            revision: None,
            modified: None,
        }]);
        for inventory in [&inv, &Inventory::default()] {
            let p = plan(&d, &live, inventory, &opts_prune());
            let label = p.actions[0].operation.label();
            assert!(
                matches!(label, "blocked" | "drifted"),
                "{name}: {label}: {}",
                p.actions[0].reason
            );
        }
        // The recorded upload makes it drift (ours, replaced outside Git), reported by default.
        let p = plan(&d, &live, &inv, &opts_prune());
        assert_eq!(summary(&p), ["drifted VnfPackage ldap_knf"], "{name}");
        assert!(p.drift[0].what.contains(&name), "{:?}", p.drift);
    }
    assert_eq!(digest_from_filename("ldap_knf_sha256-abc.tar.gz"), None);
    assert_eq!(
        owner_tag_from_filename(&format!("ldap_knf_sha256-abc_owner-{other_tag}.tar.gz")),
        None
    );
}

#[test]
fn the_plan_digest_covers_what_is_written_and_nothing_else() {
    let want = ns("a", Some(json!({"replicaCount": "2"})));
    let mut live = live_base();
    live.ns_instances = vec![live_ns("ns1", "a", true)];
    live.operations = Some(vec![op(
        "op1",
        "ns1",
        "instantiate",
        "COMPLETED",
        1.0,
        json!({"replicaCount": "1"}),
    )]);
    let opts = PlanOptions::default();
    let d = desired(vec![want.clone()], vec![]);
    let first = plan(&d, &live, &Inventory::default(), &opts);
    assert_eq!(summary(&first), ["upgrade NsInstance a"]);
    assert!(first.digest.starts_with("sha256:") && first.digest.len() == 71);
    // Deterministic.
    assert_eq!(
        plan(&d, &live, &Inventory::default(), &opts).digest,
        first.digest
    );
    // Another desired value: another digest.
    let mut other = want.clone();
    other.kdus[0].params = Some(json!({"replicaCount": "3"}).as_object().unwrap().clone());
    let changed_git = plan(
        &desired(vec![other], vec![]),
        &live,
        &Inventory::default(),
        &opts,
    );
    assert_ne!(changed_git.digest, first.digest);
    // Live OSM changed (someone else upgraded to 4 meanwhile): the same upgrade, another digest.
    let mut live2 = live.clone();
    live2.operations.as_mut().unwrap().push(op(
        "op2",
        "ns1",
        "action",
        "COMPLETED",
        2.0,
        json!({"replicaCount": "4"}),
    ));
    let changed_live = plan(&d, &live2, &Inventory::default(), &opts);
    assert_eq!(summary(&changed_live), ["upgrade NsInstance a"]);
    assert_ne!(changed_live.digest, first.digest);
    // Another rollout: another digest.
    let rolled = plan(
        &d,
        &live,
        &Inventory::default(),
        &PlanOptions {
            rollout: Rollout {
                canary: 1,
                ..Rollout::default()
            },
            ..PlanOptions::default()
        },
    );
    assert_ne!(rolled.digest, first.digest);
    // Unchanged objects do not enter it: an extra unchanged NS keeps the digest.
    let mut live3 = live.clone();
    live3.ns_instances.push(live_ns("ns2", "b", true));
    live3.operations.as_mut().unwrap().push(op(
        "op3",
        "ns2",
        "instantiate",
        "COMPLETED",
        1.0,
        json!({}),
    ));
    let with_unchanged = plan(
        &desired(vec![want, ns("b", Some(json!({})))], vec![]),
        &live3,
        &Inventory::default(),
        &opts,
    );
    assert_eq!(
        summary(&with_unchanged),
        ["upgrade NsInstance a", "unchanged NsInstance b"]
    );
    assert_eq!(with_unchanged.digest, first.digest);
}
