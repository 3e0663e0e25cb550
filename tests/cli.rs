//! The `osmops` binary: output, exit codes, credentials, state file.

mod common;

use std::process::Output;

use common::*;
use osmops::sim::Simulator;

async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin())
            .args(args)
            .env_remove("OSMOPS_URL")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn against(sim: &Simulator, cmd: &str, dir: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        cmd.into(),
        dir.display().to_string(),
        "--osm-url".into(),
        sim.url(),
    ];
    v.extend(
        [
            "--user",
            "admin",
            "--password",
            "admin",
            "--project",
            "admin",
        ]
        .map(String::from),
    );
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

#[tokio::test]
async fn embedded_default_applies_the_example_and_says_so_first() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/openldap");
    let o = run(vec!["apply".into(), root.display().to_string()]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        err.lines()
            .next()
            .unwrap()
            .contains("embedded OSM NBI simulator"),
        "the simulator is announced on stderr first: {err}"
    );
    assert!(out.contains("create  VnfPackage  openldap_knf"), "{out}");
    assert!(out.contains("(instantiate of NS ldap): COMPLETED"), "{out}");
    assert!(out.contains("Apply succeeded"), "{out}");
    assert!(
        err.contains("connectionFile"),
        "the original connectionFile is reported as ignored: {err}"
    );
}

#[tokio::test]
async fn plan_writes_nothing() {
    let sim = fast_sim().await;
    let dir = repo(&[("ldap", Some("1"))]);
    let o = run(against(&sim, "plan", dir.path(), &[])).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains("ACTION  KIND        NAME          REASON"),
        "{out}"
    );
    assert!(out.contains("3 change(s) planned"), "{out}");
    assert!(writes(&sim).is_empty());
}

#[tokio::test]
async fn every_kind_of_invalid_repo_exits_2_and_sends_nothing() {
    let sim = fast_sim().await;
    let dir = repo(&[("good", None)]);
    write(
        dir.path(),
        "kind.osmops.yaml",
        "kind: NsInstances\nname: x\n",
    );
    write(
        dir.path(),
        "missing.osmops.yaml",
        "kind: NsInstance\nname: m\nnsdName: openldap_ns\nvnfName: openldap\nkdu:\n  name: ldap\n",
    );
    write(
        dir.path(),
        "badname.osmops.yaml",
        &ns_doc("bad;name", None).replace("name: bad;name", "name: \"bad;name\""),
    );
    write(dir.path(), "dup.osmops.yaml", &ns_doc("good", None));
    write(
        dir.path(),
        "typo.osmops.yaml",
        &format!("{}replicas: 3\n", ns_doc("typo", None)),
    );
    write(
        dir.path(),
        "broken.osmops.yaml",
        "kind: NsInstance\nname: [unclosed\n",
    );
    write(dir.path(), "osm-pkgs/two_knf/a.yaml", "vnfd: {id: a}\n");
    write(dir.path(), "osm-pkgs/two_knf/b.yaml", "vnfd: {id: b}\n");
    write(dir.path(), "osm-pkgs/none_knf/README.md", "no descriptor\n");
    let o = run(against(&sim, "apply", dir.path(), &[])).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    for expected in [
        "kind.osmops.yaml (document 1): field 'kind': unknown kind 'NsInstances'",
        "missing.osmops.yaml (document 1): field 'vimAccountName': missing required field",
        "badname.osmops.yaml (document 1): field 'name': contains ';'",
        "dup.osmops.yaml: field 'name': NS instance name 'good' is declared 2 times",
        "typo.osmops.yaml (document 1): field 'replicas': unknown field",
        "broken.osmops.yaml: invalid YAML: unclosed bracket '[' at line 2, column 7",
        "osm-pkgs/two_knf: 2 descriptor files",
        "osm-pkgs/none_knf: no descriptor file",
        "Nothing was sent to OSM",
    ] {
        assert!(err.contains(expected), "missing '{expected}' in:\n{err}");
    }
    assert!(sim.log().is_empty(), "zero requests: {:?}", sim.log());
}

#[tokio::test]
async fn desired_state_that_does_not_fit_osm_exits_2_without_writes() {
    let sim = fast_sim().await;
    let dir = repo(&[]);
    write(
        dir.path(),
        "x.osmops.yaml",
        &ns_doc("x", None).replace("mylocation1", "atlantis"),
    );
    let o = run(against(&sim, "apply", dir.path(), &[])).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("vimAccountName 'atlantis' does not exist in OSM"),
        "{err}"
    );
    assert!(writes(&sim).is_empty());
}

#[tokio::test]
async fn failed_operation_exits_1_with_osms_message() {
    let sim = fast_sim().await;
    sim.fail_next(
        "instantiate",
        None,
        1,
        "FAILED Executing kdu instantiate: helm failed",
    );
    let dir = repo(&[("ldap", None)]);
    let o = run(against(&sim, "apply", dir.path(), &[])).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(out.contains("Apply FAILED"), "{out}");
    assert!(
        out.contains("FAILED Executing kdu instantiate: helm failed"),
        "{out}"
    );
}

#[tokio::test]
async fn unreachable_nbi_and_bad_credentials_exit_1_without_leaking_the_password() {
    let dir = repo(&[("ldap", None)]);
    let o = run(vec![
        "apply".into(),
        dir.path().display().to_string(),
        "--osm-url".into(),
        "http://127.0.0.1:9/osm".into(),
        "--user".into(),
        "admin".into(),
        "--password".into(),
        "s3cr3t-pw".into(),
    ])
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(
        err.contains("cannot reach OSM NBI at http://127.0.0.1:9/osm"),
        "{err}"
    );
    let sim = fast_sim().await;
    let mut args = against(&sim, "apply", dir.path(), &[]);
    let pw = args.iter().position(|a| a == "--password").unwrap() + 1;
    args[pw] = "s3cr3t-pw".into();
    let o = run(args).await;
    let (out2, err2) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err2.contains("OSM login failed for user 'admin'")
            && err2.contains("Invalid username/password"),
        "{err2}"
    );
    for s in [out, err, out2, err2] {
        assert!(!s.contains("s3cr3t-pw"));
    }
}

#[tokio::test]
async fn state_file_makes_reruns_noops_and_enables_prune() {
    let sim = fast_sim().await;
    let dir = repo(&[("a", Some("1")), ("b", None)]);
    let state = dir.path().join("osmops.state.json");
    let st = state.display().to_string();
    let o = run(against(&sim, "apply", dir.path(), &["--state", &st])).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(saved["nsInstances"]["a"]["osmId"].is_string(), "{saved}");
    let o = run(against(&sim, "apply", dir.path(), &["--state", &st])).await;
    let (out, _) = text(&o);
    assert!(
        out.contains("4 unchanged") && out.contains("(0 writes)"),
        "{out}"
    );
    std::fs::remove_file(dir.path().join("b.osmops.yaml")).unwrap();
    let o = run(against(&sim, "apply", dir.path(), &["--prune"])).await;
    assert_eq!(
        o.status.code(),
        Some(2),
        "--prune without --state is refused"
    );
    let o = run(against(
        &sim,
        "apply",
        dir.path(),
        &["--state", &st, "--prune", "--output", "json"],
    ))
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let outcome: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
    let deletes: Vec<_> = outcome["plan"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["operation"]["type"] == "deleteNs")
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(sim.ns_instances().len(), 1);
}

#[tokio::test]
async fn original_connection_file_format_is_accepted() {
    let sim = fast_sim().await;
    let dir = repo(&[("ldap", None)]);
    let conn = dir.path().join("nbi-connection.yaml");
    std::fs::write(
        &conn,
        format!(
            "hostname: {}\nproject: admin\nuser: admin\npassword: admin\n",
            sim.addr()
        ),
    )
    .unwrap();
    let o = run(vec![
        "plan".into(),
        dir.path().display().to_string(),
        "--connection-file".into(),
        conn.display().to_string(),
    ])
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("3 change(s) planned"), "{out}");
    assert!(
        err.contains("plain http://"),
        "plain HTTP is called out: {err}"
    );
}

#[tokio::test]
async fn multi_knf_example_applies_and_reruns_as_a_noop() {
    let sim = fast_sim().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/multi-knf");
    let o = run(against(&sim, "apply", &root, &[])).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("8 created"), "{out}");
    assert_eq!(sim.ns_instances().len(), 4);
    let o = run(against(&sim, "plan", &root, &[])).await;
    let (out, _) = text(&o);
    assert!(out.contains("0 change(s) planned"), "{out}");
}

#[tokio::test]
async fn absurd_timeouts_are_refused_before_anything_is_sent() {
    let sim = fast_sim().await;
    let dir = repo(&[("ldap", None)]);
    for t in ["10000000000000000000s", "18446744073709551615s", "8761h"] {
        let o = run(against(&sim, "apply", dir.path(), &["--timeout", t])).await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{t}: {out}\n{err}");
        assert!(err.contains("8760h"), "{t}: {err}");
    }
    assert!(sim.log().is_empty(), "nothing sent: {:?}", sim.log());
}

/// Runs `apply` and expects exit 2 with nothing sent to OSM and every `expected` text in stderr.
async fn refused(sim: &Simulator, dir: &std::path::Path, extra: &[&str], expected: &[&str]) {
    let o = run(against(sim, "apply", dir, extra)).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    for e in expected {
        assert!(err.contains(e), "missing '{e}' in:\n{err}");
    }
    assert!(sim.log().is_empty(), "nothing sent: {:?}", sim.log());
}

#[cfg(unix)]
#[tokio::test]
async fn links_leaving_the_repository_are_refused_and_nothing_is_sent() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "stolen_knf/vnfd.yaml", VNFD);
    write(outside.path(), "extra.osmops.yaml", &ns_doc("stolen", None));
    write(outside.path(), "deploy/x.osmops.yaml", &ns_doc("x", None));
    let sim = fast_sim().await;

    // A package folder that is a link to a folder outside the repository.
    let dir = repo(&[("ldap", None)]);
    std::fs::remove_dir_all(dir.path().join("osm-pkgs/openldap_knf")).unwrap();
    symlink(
        outside.path().join("stolen_knf"),
        dir.path().join("osm-pkgs/openldap_knf"),
    )
    .unwrap();
    refused(
        &sim,
        dir.path(),
        &[],
        &[
            "osm-pkgs/openldap_knf: is a symbolic link to '",
            "outside the repository",
        ],
    )
    .await;

    // An NsInstance file that is a link to a file outside.
    let dir = repo(&[("ldap", None)]);
    symlink(
        outside.path().join("extra.osmops.yaml"),
        dir.path().join("extra.osmops.yaml"),
    )
    .unwrap();
    refused(
        &sim,
        dir.path(),
        &[],
        &[
            "extra.osmops.yaml: is a symbolic link to '",
            "outside the repository",
        ],
    )
    .await;

    // A targetDir that is a link to a folder outside.
    let dir = repo(&[]);
    symlink(outside.path().join("deploy"), dir.path().join("deploy")).unwrap();
    write(dir.path(), "osm_ops_config.yaml", "targetDir: deploy\n");
    refused(
        &sim,
        dir.path(),
        &[],
        &[
            "targetDir",
            "'deploy' is a symbolic link to '",
            "outside the repository",
        ],
    )
    .await;
}

#[cfg(unix)]
#[tokio::test]
async fn links_inside_the_repository_are_followed_not_ignored() {
    use std::os::unix::fs::symlink;
    let sim = fast_sim().await;
    let dir = repo(&[]);
    write(dir.path(), "osm_ops_config.yaml", "targetDir: deploy\n");
    std::fs::create_dir(dir.path().join("deploy")).unwrap();
    std::fs::rename(
        dir.path().join("osm-pkgs"),
        dir.path().join("deploy/osm-pkgs"),
    )
    .unwrap();
    // Documents kept elsewhere in the repository, reached through a linked file and a linked folder.
    write(dir.path(), "library/one.yaml", &ns_doc("one", None));
    write(
        dir.path(),
        "library/more/two.osmops.yaml",
        &ns_doc("two", None),
    );
    symlink(
        "../library/one.yaml",
        dir.path().join("deploy/one.osmops.yaml"),
    )
    .unwrap();
    symlink("../library/more", dir.path().join("deploy/linked")).unwrap();
    let o = run(against(&sim, "plan", dir.path(), &["--output", "json"])).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut ns: Vec<&str> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "NsInstance")
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    ns.sort();
    assert_eq!(ns, ["one", "two"], "{out}");

    // A link back to a folder already read is reported, not followed forever.
    symlink("..", dir.path().join("deploy/loop")).unwrap();
    let o = run(against(&sim, "plan", dir.path(), &[])).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(
        err.contains(
            "deploy/loop/deploy: reaches, through a symbolic link, a folder that is already read"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn oversized_and_hostile_input_is_refused_early() {
    let sim = fast_sim().await;
    // 100k-deep YAML nesting.
    let dir = repo(&[]);
    write(
        dir.path(),
        "deep.osmops.yaml",
        &format!("{}x\n", "- ".repeat(100_000)),
    );
    refused(
        &sim,
        dir.path(),
        &[],
        &["deep.osmops.yaml: invalid YAML: YAML exceeds the reader's limits"],
    )
    .await;
    // A YAML file larger than allowed (checked from its size, not by reading it).
    let dir = repo(&[]);
    let f = std::fs::File::create(dir.path().join("big.osmops.yaml")).unwrap();
    f.set_len(50 * 1024 * 1024).unwrap();
    refused(
        &sim,
        dir.path(),
        &[],
        &["big.osmops.yaml: is 52428800 bytes, more than the 4194304 bytes allowed"],
    )
    .await;
    // A 1 GiB sparse file inside a package.
    let dir = repo(&[]);
    let f = std::fs::File::create(dir.path().join("osm-pkgs/openldap_knf/disk.img")).unwrap();
    f.set_len(1 << 30).unwrap();
    refused(
        &sim,
        dir.path(),
        &[],
        &["osm-pkgs/openldap_knf: the package is larger than allowed (at 'disk.img'"],
    )
    .await;
    // Limits are flags: a smaller package limit refuses the ordinary packages too.
    let dir = repo(&[]);
    refused(
        &sim,
        dir.path(),
        &["--max-package-bytes", "100"],
        &["osm-pkgs/openldap_ns: the package is larger than allowed"],
    )
    .await;
}

#[tokio::test]
async fn vnf_and_kdu_names_are_checked_against_the_repositorys_descriptors() {
    let sim = fast_sim().await;
    let dir = repo(&[]);
    write(
        dir.path(),
        "a.osmops.yaml",
        &ns_doc("a", None).replace("vnfName: openldap", "vnfName: openldpa"),
    );
    write(
        dir.path(),
        "b.osmops.yaml",
        &ns_doc("b", None).replace("name: ldap\n", "name: lda\n"),
    );
    refused(
        &sim,
        dir.path(),
        &[],
        &[
            "a.osmops.yaml: field 'vnfName': 'openldpa' is not a member VNF of NSD 'openldap_ns' (its vnf-profile ids: openldap)",
            "b.osmops.yaml: field 'kdu.name': 'lda' is not a KDU of VNFD 'openldap_knf'",
        ],
    )
    .await;
}
