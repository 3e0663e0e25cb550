//! Pure hot paths (a bench binary, not a timed test): `plan()` on 10,000 NS instances and reading
//! a repository of 1,000 NsInstance files, each also with values from Secrets.
//!
//!     cargo bench --bench plan_scale

use std::hint::black_box;
use std::time::{Duration, Instant};

use osmops::osm::{NsRecord, OpRecord, PackageRecord, VimAccount};
use osmops::plan::{plan, Inventory, LiveState, PlanOptions};
use osmops::repo::{
    read_repository, DesiredState, Kdu, NsInstance, ReadOptions, SealKey, SecretBook,
    Substitutions, Variable,
};
use serde_json::json;

fn measure<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[0], times[runs / 2])
}

fn main() {
    let n = 10_000;
    let desired = DesiredState {
        ns_instances: (0..n)
            .map(|i| NsInstance {
                name: format!("knf{i:05}"),
                description: None,
                nsd_name: "openldap_ns".into(),
                vim_account_name: "vim1".into(),
                kdus: vec![Kdu {
                    member: "openldap".into(),
                    at: "kdu".into(),
                    name: "ldap".into(),
                    params: json!({"replicaCount": if i % 10 == 0 { "3" } else { "2" }})
                        .as_object()
                        .cloned(),
                    model: None,
                }],
                scale: Vec::new(),
                config: None,
                source: format!("knf{i:05}.osmops.yaml"),
            })
            .collect(),
        ..Default::default()
    };
    let live = LiveState {
        vim_accounts: Some(vec![VimAccount { osm_id: "vim".into(), name: "vim1".into() }]),
        vnf_packages: None,
        vnf_instances: None,
        ns_packages: Some(vec![PackageRecord { osm_id: "nsd".into(), id: Some("openldap_ns".into()), name: None, zipfile: None, vnfd_refs: vec![], vnf_profiles: vec![], kdus: vec![], vdus: vec![], scaling_aspects: vec![], revision: None, modified: None }]),
        ns_instances: (0..n)
            .map(|i| {
                // Created by the sync that plans (its mark in the description).
                serde_json::from_value::<NsRecord>(json!({"_id": format!("id{i}"), "name": format!("knf{i:05}"), "nsd-ref": "openldap_ns",
                    "nsd-id": "nsd", "nsState": "READY", "_admin": {"nsState": "INSTANTIATED"},
                    "description": PlanOptions::default().owner.ns_description(None)}))
                .unwrap()
            })
            .collect(),
        operations: Some(
            (0..n)
                .map(|i| {
                    serde_json::from_value::<OpRecord>(json!({"_id": format!("op{i}"), "nsInstanceId": format!("id{i}"), "lcmOperationType": "instantiate",
                        "operationState": "COMPLETED", "startTime": i as f64,
                        "operationParams": {"additionalParamsForVnf": [{"member-vnf-index": "openldap",
                            "additionalParamsForKdu": [{"kdu_name": "ldap", "additionalParams": {"replicaCount": "2"}}]}]}}))
                    .unwrap()
                })
                .collect(),
        ),
    };
    let inv = Inventory::default();
    let p = plan(&desired, &live, &inv, &PlanOptions::default());
    assert_eq!(p.count("upgrade"), n / 10);
    assert_eq!(p.count("unchanged"), n - n / 10);
    let prune = PlanOptions {
        prune: true,
        ..PlanOptions::default()
    };
    let (min, median) = measure(21, || plan(&desired, &live, &inv, &prune));
    println!("## Pure hot paths\n");
    println!("| what | min | median |");
    println!("|---|---|---|");
    println!("| plan() on {n} NS instances ({} upgrades, {} unchanged, prune on) | {:.1} ms | {:.1} ms |", n / 10, n - n / 10, min.as_secs_f64() * 1e3, median.as_secs_f64() * 1e3);

    // The same, each NS with an admin password from a Secret (docs/secrets.md): the documents
    // hold seals, OSM's history the values; every 10th password was rotated.
    let mut book = SecretBook::new(SealKey::from_password("osm"));
    let mut secret = desired.clone();
    for (i, ns) in secret.ns_instances.iter_mut().enumerate() {
        let seal = book.seal(format!(
            "pw-{i}-{}",
            if i % 10 == 0 { "new" } else { "old" }
        ));
        let params = ns.kdus[0].params.as_mut().unwrap();
        params.insert("replicaCount".into(), json!("2"));
        params.insert("adminPassword".into(), json!(seal));
    }
    secret.secrets = book;
    let mut secret_live = live.clone();
    for (i, op) in secret_live
        .operations
        .as_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        op.operation_params["additionalParamsForVnf"][0]["additionalParamsForKdu"][0]
            ["additionalParams"]["adminPassword"] = json!(format!("pw-{i}-old"));
    }
    let p = plan(&secret, &secret_live, &inv, &PlanOptions::default());
    assert_eq!(p.count("upgrade"), n / 10);
    let (min, median) = measure(21, || plan(&secret, &secret_live, &inv, &prune));
    println!(
        "| the same, each NS with a password from a Secret ({} rotated) | {:.1} ms | {:.1} ms |",
        n / 10,
        min.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3
    );

    let dir = tempfile::tempdir().unwrap();
    for i in 0..1000 {
        std::fs::write(
            dir.path().join(format!("knf{i:04}.osmops.yaml")),
            format!("kind: NsInstance\nname: knf{i:04}\nnsdName: openldap_ns\nvnfName: openldap\nvimAccountName: vim1\nkdu:\n  name: ldap\n  params:\n    replicaCount: \"2\"\n"),
        )
        .unwrap();
    }
    let (min, median) = measure(11, || {
        read_repository(dir.path(), &ReadOptions::default()).unwrap()
    });
    println!(
        "| read + validate a repository of 1000 NsInstance files | {:.1} ms | {:.1} ms |",
        min.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3
    );
    for i in 0..1000 {
        std::fs::write(
            dir.path().join(format!("knf{i:04}.osmops.yaml")),
            format!("kind: NsInstance\nname: knf{i:04}\nnsdName: openldap_ns\nvnfName: openldap\nvimAccountName: vim1\nkdu:\n  name: ldap\n  params:\n    replicaCount: \"${{REPLICAS}}\"\n    adminPassword: ${{PASSWORD_{}}}\n", i % 100),
        )
        .unwrap();
    }
    let mut subs = Substitutions::enabled(SealKey::from_password("osm"));
    let var = |value: String, secret: bool| Variable {
        value,
        secret,
        origin: "bench".into(),
    };
    subs.define("REPLICAS", var("2".into(), false)).unwrap();
    for k in 0..100 {
        subs.define(&format!("PASSWORD_{k}"), var(format!("password-{k}"), true))
            .unwrap();
    }
    let opts = ReadOptions {
        substitutions: subs,
        ..ReadOptions::default()
    };
    let (min, median) = measure(11, || read_repository(dir.path(), &opts).unwrap());
    println!(
        "| the same, each file with 2 variables (one from a Secret, sealed) | {:.1} ms | {:.1} ms |",
        min.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3
    );
}
