//! The `osmops` binary: output, exit codes, credentials, state file.

mod common;

use std::process::Output;

use common::*;
use osmops::sim::Simulator;

/// The binary, with no `OSMOPS_*` variable from the environment the tests run in.
fn command(args: &[String], env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = osmops_command();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

async fn run(args: Vec<String>) -> Output {
    run_env(args, &[]).await
}

async fn run_env(args: Vec<String>, env: &[(&str, &str)]) -> Output {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        command(&args, &env).output().unwrap()
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

fn ns_names(sim: &Simulator) -> Vec<String> {
    let mut names: Vec<String> = sim
        .ns_instances()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn another_repositorys_state_file_is_refused_and_nothing_is_pruned() {
    let sim = fast_sim().await;
    let a = repo(&[("a1", None), ("a2", None)]);
    let state_dir = tempfile::tempdir().unwrap();
    let st = state_dir.path().join("a.state.json").display().to_string();
    let o = run(against(&sim, "apply", a.path(), &["--state", &st])).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&st).unwrap()).unwrap();
    assert!(
        saved["owner"].as_str().unwrap().starts_with("dir:"),
        "{saved}"
    );
    assert_eq!(saved["osmUrl"], sim.url());
    assert_eq!(saved["project"], "admin");
    // Repository B (which declares nothing A has) is run with A's state file and --prune.
    let b = repo(&[("b1", None)]);
    sim.clear_log();
    let o = run(against(
        &sim,
        "apply",
        b.path(),
        &["--state", &st, "--prune", "--allow-empty"],
    ))
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(err.contains("belongs to another sync"), "{err}");
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
    assert_eq!(ns_names(&sim), ["a1", "a2"]);
}

#[tokio::test]
async fn a_typo_in_file_extensions_does_not_delete_everything() {
    let sim = fast_sim().await;
    let dir = repo(&[("a", None), ("b", None)]);
    let st = dir.path().join("osmops.state.json").display().to_string();
    let o = run(against(&sim, "apply", dir.path(), &["--state", &st])).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    write(
        dir.path(),
        "osm_ops_config.yaml",
        "fileExtensions: [.osmops.yml]\n",
    );
    sim.clear_log();
    for cmd in ["plan", "apply"] {
        let o = run(against(&sim, cmd, dir.path(), &["--state", &st, "--prune"])).await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {out}\n{err}");
        assert!(
            err.contains("refusing to prune") && err.contains("--allow-empty"),
            "{cmd}: {err}"
        );
    }
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
    assert_eq!(ns_names(&sim), ["a", "b"]);
    // Meant: allowed explicitly.
    let o = run(against(
        &sim,
        "apply",
        dir.path(),
        &["--state", &st, "--prune", "--allow-empty"],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(ns_names(&sim).is_empty());
}

#[tokio::test]
async fn an_unwritable_state_path_stops_the_run_before_any_write() {
    let sim = fast_sim().await;
    let dir = repo(&[("ldap", None)]);
    let st = dir.path().join("nodir/st.json").display().to_string();
    let o = run(against(&sim, "apply", dir.path(), &["--state", &st])).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(err.contains("nothing was sent to OSM"), "{err}");
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
}

#[tokio::test]
async fn credentials_without_a_url_never_fall_back_to_the_simulator() {
    let dir = repo(&[("ldap", None)]);
    let o = run_env(
        vec![
            "apply".into(),
            dir.path().display().to_string(),
            "--output".into(),
            "json".into(),
        ],
        &[
            ("OSMOPS_USER", "ops"),
            ("OSMOPS_PASSWORD", "s3cr3t"),
            ("OSMOPS_OSM_URL", "https://osm.example/osm"),
        ],
    )
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(
        err.contains("missing an OSM URL") && err.contains("--user/OSMOPS_USER"),
        "{err}"
    );
    assert!(
        err.contains("OSMOPS_OSM_URL is not one osmops reads"),
        "the typo is pointed out: {err}"
    );
    assert!(!err.contains("s3cr3t") && !out.contains("s3cr3t"));
    // With --output json the refusal is a JSON error object on stdout, never a plan.
    let refusal: serde_json::Value = serde_json::from_str(&out).expect("a JSON error object");
    assert_eq!(refusal["error"]["exitCode"], 2, "{out}");
    assert!(refusal.get("actions").is_none(), "{out}");
    // With no OSM setting at all the simulator is used, and says so in every format.
    let o = run(vec![
        "plan".into(),
        dir.path().display().to_string(),
        "--output".into(),
        "json".into(),
    ])
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(err.contains("embedded OSM NBI simulator"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["target"], "embedded-simulator");
}

#[tokio::test]
async fn passwords_never_show_in_help_errors_or_trace_logs() {
    let pw = "pw-Zq9s3cret";
    // --help with the variables set shows names, never values.
    let o = run_env(
        vec!["apply".into(), "--help".into()],
        &[
            ("OSMOPS_URL", &format!("http://u:{pw}@osm.example/osm")),
            ("OSMOPS_PASSWORD", pw),
        ],
    )
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains("OSMOPS_PASSWORD"), "{out}");
    assert!(!out.contains(pw) && !err.contains(pw), "{out}");
    // User-info in the URL, an unreachable NBI, trace logs, both output formats.
    let dir = repo(&[("ldap", None)]);
    for format in ["text", "json"] {
        let o = run_env(
            vec![
                "apply".into(),
                dir.path().display().to_string(),
                "--osm-url".into(),
                format!("http://admin:{pw}@127.0.0.1:9/osm"),
                "--user".into(),
                "admin".into(),
                "--password".into(),
                pw.into(),
                "--timeout".into(),
                "5s".into(),
                "--output".into(),
                format.into(),
            ],
            &[("OSMOPS_LOG", "trace")],
        )
        .await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
        assert!(
            err.contains("cannot reach OSM NBI at http://127.0.0.1:9/osm"),
            "{err}"
        );
        assert!(
            !out.contains(pw) && !err.contains(pw),
            "{format}:\n{out}\n{err}"
        );
    }
    // Against a working NBI, at trace level: the password is sent, never shown.
    let sim = fast_sim().await;
    let o = run_env(
        against(&sim, "apply", dir.path(), &["--output", "json"]),
        &[("OSMOPS_LOG", "trace")],
    )
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        err.len() > 1000,
        "trace logs were written: {} bytes",
        err.len()
    );
    assert!(!err.contains("\"password\""), "no login body in the logs");
}

#[tokio::test]
async fn plan_gives_applys_verdict_in_every_format() {
    let sim = fast_sim().await;
    let dir = repo(&[]);
    write(
        dir.path(),
        "x.osmops.yaml",
        &ns_doc("x", None).replace("mylocation1", "atlantis"),
    );
    for format in ["text", "json"] {
        for cmd in ["plan", "apply"] {
            let o = run(against(&sim, cmd, dir.path(), &["--output", format])).await;
            let (out, err) = text(&o);
            assert_eq!(o.status.code(), Some(2), "{cmd} {format}: {out}\n{err}");
            assert!(
                err.contains("vimAccountName 'atlantis' does not exist in OSM"),
                "{cmd} {format}: {err}"
            );
        }
    }
    assert!(writes(&sim).is_empty());
}

#[tokio::test]
async fn timeout_bounds_the_whole_run() {
    // Polling an operation answers only after 30 s: the run ends at its 3 s timeout.
    let sim = fast_sim().await;
    sim.set_lcm(osmops::sim::LcmMode::None, std::time::Duration::ZERO);
    sim.inject(osmops::sim::Fault {
        method: Some(axum::http::Method::GET),
        path_contains: "/ns_lcm_op_occs/".into(),
        action: osmops::sim::FaultAction::Latency(std::time::Duration::from_secs(30)),
        remaining: 100,
    });
    let dir = repo(&[("ldap", None)]);
    let started = std::time::Instant::now();
    let o = run(against(&sim, "apply", dir.path(), &["--timeout", "3s"])).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "ran {:?} with --timeout 3s",
        started.elapsed()
    );
    // A server that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let started = std::time::Instant::now();
    let o = run(vec![
        "apply".into(),
        dir.path().display().to_string(),
        "--osm-url".into(),
        format!("http://{addr}/osm"),
        "--user".into(),
        "admin".into(),
        "--password".into(),
        "admin".into(),
        "--timeout".into(),
        "3s".into(),
    ])
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "ran {:?} against a silent server with --timeout 3s",
        started.elapsed()
    );
    drop(silent);
}

#[tokio::test]
async fn concurrent_applies_end_with_exactly_one_ns_per_name() {
    let sim = fast_sim().await;
    // Both runs list OSM before either create is answered: without convergence they would both
    // create every NS.
    sim.inject(osmops::sim::Fault {
        method: Some(axum::http::Method::POST),
        path_contains: "/nslcm/v1/ns_instances_content".into(),
        action: osmops::sim::FaultAction::Latency(std::time::Duration::from_millis(700)),
        remaining: 4,
    });
    let dir = repo(&[("a", None), ("b", None)]);
    let args = against(&sim, "apply", dir.path(), &[]);
    let (o1, o2) = tokio::join!(run(args.clone()), run(args));
    for (o, other) in [(&o1, &o2), (&o2, &o1)] {
        let (out, err) = text(o);
        let (other_out, _) = text(other);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{out}\n{err}\nthe concurrent run:\n{other_out}"
        );
    }
    let creates = sim
        .log()
        .iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("/ns_instances_content"))
        .count();
    assert_eq!(creates, 4, "both runs created both NS");
    // Wait for duplicate removals (and their terminates) to settle.
    for _ in 0..100 {
        if sim.ns_instances().len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(ns_names(&sim), ["a", "b"]);
    // A later run sees nothing to do.
    let o = run(against(&sim, "plan", dir.path(), &[])).await;
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("0 change(s) planned"), "{out}");
}

#[tokio::test]
async fn runs_sharing_a_state_file_take_turns_and_both_are_recorded() {
    let sim = fast_sim().await;
    let dir = repo(&[("a", None), ("b", None)]);
    let st = dir.path().join("osmops.state.json").display().to_string();
    let args = against(&sim, "apply", dir.path(), &["--state", &st]);
    let (o1, o2) = tokio::join!(run(args.clone()), run(args));
    for o in [&o1, &o2] {
        assert_eq!(o.status.code(), Some(0), "{:?}", text(o));
    }
    assert_eq!(ns_names(&sim), ["a", "b"]);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&st).unwrap()).unwrap();
    let recorded: Vec<&String> = saved["nsInstances"].as_object().unwrap().keys().collect();
    assert_eq!(recorded, ["a", "b"]);
}

#[cfg(unix)]
#[tokio::test]
async fn a_kill_after_any_write_loses_nothing_and_duplicates_nothing() {
    let dir = repo(&[("a", Some("1")), ("b", None)]);
    // VNF package, NS package, two NS creates.
    for k in 1..=4 {
        let sim = fast_sim().await;
        let state_dir = tempfile::tempdir().unwrap();
        let st = state_dir.path().join("st.json").display().to_string();
        let args = against(&sim, "apply", dir.path(), &["--state", &st]);
        let mut child = command(&args, &[])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..400 {
            if writes(&sim).len() >= k {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        child.kill().unwrap();
        let _ = child.wait();
        assert!(
            writes(&sim).len() >= k,
            "write {k} happened before the kill"
        );
        // The rerun finishes the job.
        let o = run(against(&sim, "apply", dir.path(), &["--state", &st])).await;
        assert_eq!(
            o.status.code(),
            Some(0),
            "after a kill at write {k}: {:?}",
            text(&o)
        );
        assert_eq!(ns_names(&sim), ["a", "b"], "kill at write {k}");
        assert_eq!(sim.vnf_packages().len(), 1);
        assert_eq!(sim.ns_packages().len(), 1);
        // Nothing lost: everything in OSM is recorded as owned.
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&st).unwrap()).unwrap();
        let ns_ids: Vec<&str> = saved["nsInstances"]
            .as_object()
            .unwrap()
            .values()
            .map(|e| e["osmId"].as_str().unwrap())
            .collect();
        for n in sim.ns_instances() {
            assert!(
                ns_ids.contains(&n["_id"].as_str().unwrap()),
                "kill at write {k}: {saved}"
            );
        }
        assert_eq!(saved["packages"].as_object().unwrap().len(), 2, "{saved}");
    }
}

#[tokio::test]
async fn failures_can_be_rehearsed_with_osmops_sim_flags_and_its_control_endpoint() {
    use std::io::BufRead;
    let mut child = command(
        &[
            "sim".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--no-token-throttle".into(),
            "--lcm-delay".into(),
            "100ms".into(),
            "--fail-next".into(),
            "instantiate:ldap helm says no".into(),
        ],
        &[],
    )
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.ends_with("/osm"))
        .expect("the listening URL is printed")
        .to_owned();
    let args = |dir: &std::path::Path| -> Vec<String> {
        [
            "apply",
            &dir.display().to_string(),
            "--osm-url",
            &url,
            "--user",
            "admin",
            "--password",
            "admin",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // The --fail-next flag: the instantiate of 'ldap' fails with the given message.
    let dir = repo(&[("ldap", None)]);
    let o = run(args(dir.path())).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(out.contains("helm says no"), "{out}");
    // The control endpoint: a 500 on the next NS create, added at run time.
    let control = url.replace("/osm", "/sim/v1/faults");
    let r = reqwest::Client::new()
        .post(&control)
        .body("POST /ns_instances_content status=500")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let other = repo(&[("other", None)]);
    let o = run(args(other.path())).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(out.contains("injected fault: 500"), "{out}");
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test]
async fn blocked_work_is_not_success() {
    let sim = fast_sim().await;
    sim.set_lcm(osmops::sim::LcmMode::None, std::time::Duration::ZERO);
    let dir = repo(&[("ldap", Some("1"))]);
    let o = run(against(&sim, "apply", dir.path(), &["--wait=false"])).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    write(dir.path(), "ldap.osmops.yaml", &ns_doc("ldap", Some("2")));
    for cmd in ["plan", "apply"] {
        let o = run(against(
            &sim,
            cmd,
            dir.path(),
            &["--wait=false"][..usize::from(cmd == "apply")],
        ))
        .await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {out}\n{err}");
        assert!(out.contains("blocked"), "{cmd}: {out}");
    }
}

/// `osmops controller` with `args` and a kubeconfig for an API server that is not there.
fn controller_without_api(args: &[&str]) -> Output {
    let tmp = tempfile::tempdir().unwrap();
    let kc = tmp.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: http://127.0.0.1:1\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: u\ncurrent-context: gone\nusers:\n- name: u\n  user: {}\n",
    )
    .unwrap();
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("controller").args(args);
    for flag in ["--metrics-addr", "--health-addr", "--grpc-addr"] {
        if !args.contains(&flag) {
            cmd.args([flag, "127.0.0.1:0"]);
        }
    }
    cmd.env("KUBECONFIG", &kc)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap()
}

#[test]
fn the_controller_refuses_bad_flags_and_stops_at_once_on_fatal_start_up_problems() {
    // Values that would misbehave later are refused by the flag parser (exit 2, nothing starts).
    for (flag, value) in [
        ("--concurrent", "0"),
        ("--operation-poll-interval", "0s"),
        ("--requeue-dependency", "0s"),
        ("--log-level", "garbage"),
        ("--interval-jitter-percentage", "100"),
        ("--kube-api-qps", "0"),
        ("--metrics-addr", "not-an-address"),
        ("--watch-label-selector", "a in ("),
        ("--watch-label-selector", "!!!"),
        ("--watch-namespace", "Bad_NS"),
        ("--events-addr", "ftp://x"),
        ("--max-artifact-size", "0"),
        ("--startup-timeout", "0s"),
    ] {
        let out = controller_without_api(&[flag, value]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(flag), "{flag} {value}: {err}");
    }
    // Leader election timings must leave the leader time to stop before its lease can be taken.
    let out = controller_without_api(&[
        "--leader-election-lease-duration",
        "10s",
        "--leader-election-renew-deadline",
        "15s",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains("cannot list OsmSyncs") || err.contains("renew deadline"),
        "{err}"
    );

    // Missing gRPC TLS files: refused before anything listens, naming the file.
    let out = controller_without_api(&[
        "--grpc-tls-cert",
        "/nonexistent/tls.crt",
        "--grpc-tls-key",
        "/nonexistent/tls.key",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/nonexistent/tls.crt"), "{err}");

    // A port in use: refused, naming the address and the flag.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = controller_without_api(&["--metrics-addr", &addr]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&addr) && err.contains("--metrics-addr"),
        "{err}"
    );

    // A flag given twice keeps its last value (pflag's rule): a patch appending an argument to
    // the Deployment does not crash-loop the pod. `--metrics-addr=0` turns metrics off.
    let out = controller_without_api(&[
        "--concurrent=4",
        "--concurrent=8",
        "--log-level",
        "info",
        "--log-level",
        "debug",
        "--metrics-addr=0",
        "--startup-timeout",
        "1s",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("Kubernetes API at http://127.0.0.1:1"),
        "{err}"
    );
    assert!(!err.contains("cannot be used multiple times"), "{err}");
    // An unreachable API server: retried until --startup-timeout, then refused, naming the server.
    let out = controller_without_api(&["--startup-timeout", "2s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("Kubernetes API at http://127.0.0.1:1"),
        "{err}"
    );
}

#[tokio::test]
async fn a_saved_plan_applies_only_while_osm_and_the_repository_are_as_planned() {
    let sim = fast_sim().await;
    let dir = repo(&[("a", Some("1")), ("b", Some("1"))]);
    let work = tempfile::tempdir().unwrap();
    let st = work.path().join("state.json").display().to_string();
    let saved = work.path().join("plan.json").display().to_string();
    let o = run(against(
        &sim,
        "plan",
        dir.path(),
        &["--state", &st, "--out", &saved],
    ))
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let digest = file["digest"].as_str().unwrap().to_owned();
    assert!(out.contains(&format!("plan digest: {digest}")), "{out}");
    assert!(err.contains("osmops apply --plan"), "{err}");
    assert!(writes(&sim).is_empty());
    let o = run(against(
        &sim,
        "apply",
        dir.path(),
        &["--state", &st, "--plan", &saved],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(sim.ns_instances().len(), 2);

    // Git changes, a plan is saved; someone upgrades `a` in OSM before it is applied.
    write(dir.path(), "a.osmops.yaml", &ns_doc("a", Some("2")));
    let o = run(against(
        &sim,
        "plan",
        dir.path(),
        &["--state", &st, "--out", &saved],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    upgrade_by_hand(&sim, "a", "9").await;
    let before = writes(&sim).len();
    let o = run(against(
        &sim,
        "apply",
        dir.path(),
        &["--state", &st, "--plan", &saved],
    ))
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(err.contains("refusing to apply"), "{err}");
    assert!(err.contains("Nothing was sent to OSM"), "{err}");
    assert_eq!(writes(&sim).len(), before, "a stale plan sends nothing");
    // A plan file for another owner is refused before anything is read from OSM.
    let o = run(against(
        &sim,
        "apply",
        dir.path(),
        &[
            "--state",
            &st,
            "--plan",
            &saved,
            "--owner",
            "someone-else",
            "--adopt-state",
        ],
    ))
    .await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
}

#[tokio::test]
async fn plan_shows_drift_and_the_rollout_order() {
    let sim = fast_sim().await;
    let dir = repo(&[("a", Some("1")), ("b", Some("1")), ("c", Some("1"))]);
    let work = tempfile::tempdir().unwrap();
    let st = work.path().join("state.json").display().to_string();
    let o = run(against(&sim, "apply", dir.path(), &["--state", &st])).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let c = client(&sim);
    let a = c.list_ns_instances(&[("name", "a")]).await.unwrap();
    c.delete_ns_instance(&a[0].osm_id).await.unwrap();
    wait_ns_gone(&c, "a").await;
    let o = run(against(
        &sim,
        "plan",
        dir.path(),
        &["--state", &st, "--drift-policy", "warn"],
    ))
    .await;
    let (out, _) = text(&o);
    assert!(
        out.lines()
            .any(|l| l.starts_with("drifted ") && l.contains("NsInstance  a ")),
        "{out}"
    );
    assert!(
        out.contains("drift: NsInstance a: deleted in OSM outside Git")
            && out.contains("[reported only (drift policy warn)]"),
        "{out}"
    );
    write_ns_docs(dir.path(), &["a", "b", "c"], "2");
    let o = run(against(
        &sim,
        "plan",
        dir.path(),
        &["--state", &st, "--canary", "1", "--max-parallel", "1"],
    ))
    .await;
    let (out, _) = text(&o);
    assert!(
        out.contains("rollout: canary: a; batch 2: b; batch 3: c"),
        "{out}"
    );
    let o = run(against(
        &sim,
        "plan",
        dir.path(),
        &["--failure-policy", "sometimes"],
    ))
    .await;
    assert_eq!(o.status.code(), Some(2));
}

// ---- The CLI tells the truth (issue 18, items 6-10) ---------------------------------------------

/// Item 6: a failed upgrade that remediation rolled back leaves OSM without Git's params: the
/// run is not a success, whatever remediation did.
#[tokio::test]
async fn a_rolled_back_upgrade_is_a_failed_apply() {
    let sim = fast_sim().await;
    let dir = repo(&[("ldap", Some("1"))]);
    let work = tempfile::tempdir().unwrap();
    let st = work.path().join("st.json").display().to_string();
    let o = run(against(&sim, "apply", dir.path(), &["--state", &st])).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    write(dir.path(), "ldap.osmops.yaml", &ns_doc("ldap", Some("2")));
    sim.fail_next(
        "action",
        Some("ldap"),
        1,
        "helm upgrade failed: ImagePullBackOff",
    );
    let o = run(against(&sim, "apply", dir.path(), &["--state", &st])).await;
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let o = run(against(
        &sim,
        "apply",
        dir.path(),
        &["--state", &st, "--upgrade-rollback"],
    ))
    .await;
    let (out, err) = text(&o);
    assert!(out.contains("rollback"), "{out}");
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(out.contains("Apply FAILED"), "{out}");
    assert!(out.contains("Git's params are not in OSM"), "{out}");
    assert!(!out.contains("Apply succeeded"), "{out}");
}

/// Item 7: the summary counts outcomes: a broken NS with nothing sent is "broken", a terminate
/// only requested (`--wait=false`) is "requested", not "deleted".
#[tokio::test]
async fn summary_counts_match_outcomes() {
    let sim = fast_sim().await;
    let dir = repo(&[("a", None), ("b", None)]);
    let work = tempfile::tempdir().unwrap();
    let st = work.path().join("st.json").display().to_string();
    sim.fail_next("instantiate", Some("b"), 1, "no capacity");
    let o = run(against(&sim, "apply", dir.path(), &["--state", &st])).await;
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    // b is broken now: nothing is sent for it, and it is counted as broken.
    let o = run(against(&sim, "apply", dir.path(), &["--state", &st])).await;
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("1 broken") && !out.contains("failed,"),
        "{out}"
    );
    // a leaves Git; the terminate is only requested.
    std::fs::remove_file(dir.path().join("a.osmops.yaml")).unwrap();
    let o = run(against(
        &sim,
        "apply",
        dir.path(),
        &["--state", &st, "--prune", "--wait=false"],
    ))
    .await;
    let (out, _) = text(&o);
    assert!(
        out.contains("1 requested") && !out.contains("deleted"),
        "{out}"
    );
}

/// Item 8: a rollout paused by a failed batch stays paused for the same repository content, as
/// in the controller; `--resume-rollout` resumes it; new content starts a new rollout.
#[tokio::test]
async fn a_paused_rollout_stays_paused_across_runs() {
    let sim = fast_sim().await;
    let names = ["a", "b", "c"];
    let dir = repo(&names.iter().map(|n| (*n, Some("1"))).collect::<Vec<_>>());
    let work = tempfile::tempdir().unwrap();
    let st = work.path().join("st.json").display().to_string();
    let o = run(against(&sim, "apply", dir.path(), &["--state", &st])).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    write_ns_docs(dir.path(), &names, "2");
    sim.fail_next("action", Some("a"), 1, "canary broke");
    let rollout = [
        "--state",
        st.as_str(),
        "--canary",
        "1",
        "--max-parallel",
        "1",
    ];
    let o = run(against(&sim, "apply", dir.path(), &rollout)).await;
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let sent = action_ops(&sim).len();
    assert_eq!(sent, 1, "the canary only");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&st).unwrap()).unwrap();
    assert!(saved["rolloutPaused"]["digest"].is_string(), "{saved}");
    // The same content again: nothing is sent.
    sim.clear_log();
    for cmd in ["plan", "apply"] {
        let o = run(against(&sim, cmd, dir.path(), &rollout)).await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {out}\n{err}");
        assert!(err.contains("rollout paused since"), "{cmd}: {err}");
        assert!(err.contains("--resume-rollout"), "{cmd}: {err}");
    }
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
    // Resumed: the rollout goes on (the canary is retried by the next batches' plan).
    let mut resume = rollout.to_vec();
    resume.push("--resume-rollout");
    let o = run(against(&sim, "apply", dir.path(), &resume)).await;
    assert!(!writes(&sim).is_empty(), "{:?}", text(&o));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&st).unwrap()).unwrap();
    if o.status.code() == Some(0) {
        assert!(saved.get("rolloutPaused").is_none(), "{saved}");
    }
}

/// Item 9: the same OSM through another URL: refused with a hint that names the way, which checks
/// that the OSM there holds what the state file records before recording the new URL.
#[tokio::test]
async fn a_state_file_moves_to_another_url_of_the_same_osm_only() {
    let sim = fast_sim().await;
    let dir = repo(&[("ldap", None)]);
    let work = tempfile::tempdir().unwrap();
    let st = work.path().join("st.json").display().to_string();
    let o = run(against(&sim, "apply", dir.path(), &["--state", &st])).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let other_url = sim.url().replace("127.0.0.1", "localhost");
    let with_url = |url: &str, extra: &[&str]| {
        let mut v = against(&sim, "plan", dir.path(), &["--state", &st]);
        let i = v.iter().position(|a| a == "--osm-url").unwrap();
        v[i + 1] = url.to_owned();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let o = run(with_url(&other_url, &[])).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--rebind-state-url"), "{err}");
    // Another OSM at a new URL holds none of what the file records: refused, file untouched.
    let elsewhere = fast_sim().await;
    let o = run(with_url(&elsewhere.url(), &["--rebind-state-url"])).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("it is not the same OSM"), "{err}");
    let saved = std::fs::read_to_string(&st).unwrap();
    assert!(saved.contains(&sim.url()), "{saved}");
    // The same OSM: the new URL is recorded (apply holds the lock and writes it).
    let mut args = with_url(&other_url, &["--rebind-state-url"]);
    args[0] = "apply".into();
    let o = run(args).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let saved = std::fs::read_to_string(&st).unwrap();
    assert!(saved.contains(&other_url), "{saved}");
    let o = run(with_url(&other_url, &[])).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
}

/// Item 10: a recreate's terminate is reported once started and once ended; logs carry no colour
/// codes when stderr is not a terminal; "1 retry".
#[tokio::test]
async fn a_recreate_reports_its_terminate_once_and_logs_are_plain() {
    let sim = fast_sim().await;
    let dir = repo(&[("ldap", None)]);
    let work = tempfile::tempdir().unwrap();
    let st = work.path().join("st.json").display().to_string();
    sim.fail_next("instantiate", Some("ldap"), 2, "no capacity");
    let o = run_env(
        against(
            &sim,
            "apply",
            dir.path(),
            &["--state", &st, "--instantiate-retries", "1"],
        ),
        &[("OSMOPS_LOG", "debug")],
    )
    .await;
    let (out, err) = text(&o);
    assert!(!err.contains('\u{1b}'), "colour codes in a pipe: {err}");
    // Second run: the recreate (retry 1 of 1), whose create fails again.
    let o = run(against(
        &sim,
        "apply",
        dir.path(),
        &["--state", &st, "--instantiate-retries", "1"],
    ))
    .await;
    let (out2, _) = text(&o);
    let terminate: Vec<&str> = out2
        .lines()
        .filter(|l| l.contains("(terminate of NS ldap)"))
        .collect();
    assert_eq!(terminate.len(), 2, "{out}\n{out2}");
    assert!(terminate[0].ends_with("PROCESSING"), "{terminate:?}");
    assert!(terminate[1].contains("COMPLETED"), "{terminate:?}");
    // Used up now.
    let o = run(against(
        &sim,
        "plan",
        dir.path(),
        &["--state", &st, "--instantiate-retries", "1"],
    ))
    .await;
    let (out3, _) = text(&o);
    assert!(out3.contains("(1 retry)"), "{out3}");
}

/// Against an API server that accepts connections and never answers, the controller says what it
/// waits for, its probes answer (`/readyz` 503), and it exits 1 naming the server once
/// `--startup-timeout` has passed (issue 20, item 3).
#[test]
fn the_controller_waits_visibly_for_a_silent_api_server_and_gives_up_in_time() {
    use std::io::{Read, Write};
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("http://{}", silent.local_addr().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let kc = tmp.path().join("kubeconfig");
    std::fs::write(
        &kc,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: s\n  cluster:\n    server: {server}\ncontexts:\n- name: s\n  context:\n    cluster: s\n    user: u\ncurrent-context: s\nusers:\n- name: u\n  user: {{}}\n"),
    )
    .unwrap();
    let health = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let started = std::time::Instant::now();
    let mut child = std::process::Command::new(bin())
        .args([
            "controller",
            "--startup-timeout",
            "6s",
            "--metrics-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
        ])
        .args(["--health-addr", &health.to_string()])
        .env("KUBECONFIG", &kc)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let get = |path: &str| -> Option<String> {
        let mut c = std::net::TcpStream::connect(health).ok()?;
        c.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .ok()?;
        write!(
            c,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut out = String::new();
        c.read_to_string(&mut out).ok()?;
        Some(out)
    };
    let mut readyz = None;
    while started.elapsed() < std::time::Duration::from_secs(4) {
        if let Some(r) = get("/readyz") {
            readyz = Some(r);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let readyz = readyz.expect("/readyz answers while the controller waits for the API");
    assert!(readyz.starts_with("HTTP/1.1 503"), "{readyz}");
    assert!(get("/healthz").unwrap().starts_with("HTTP/1.1 200"));
    let status = child.wait().unwrap();
    let elapsed = started.elapsed();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        elapsed >= std::time::Duration::from_secs(5)
            && elapsed < std::time::Duration::from_secs(30),
        "{elapsed:?}"
    );
    assert!(err.contains("waiting for the Kubernetes API"), "{err}");
    assert!(
        err.contains(&server) && err.contains("--startup-timeout"),
        "{err}"
    );
    drop(silent);
}

/// The state file keeps where OSM's operation history was read up to (and, compacted, what the
/// plan needs of it): an unchanged run reads only what changed since. It reads the whole history
/// again when the cursor is lost, when the history it kept cannot explain an NS (an OSM restored
/// from a backup), and when OSM's clock is behind the cursor (its clock went back) — and in each
/// case plans exactly what a full read does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_file_keeps_the_operation_cursor_and_reads_everything_when_it_cannot_be_trusted()
{
    let sim = fast_sim().await;
    let dir = repo(&[("a", Some("1")), ("b", Some("1"))]);
    let state = dir.path().join("osmops.state.json");
    let st = state.display().to_string();
    let apply = || {
        run(against(
            &sim,
            "apply",
            dir.path(),
            &["--state", &st, "--output", "json"],
        ))
    };
    let o = apply().await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let saved = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap()
    };
    // Which reads of the operation history a run made, and what it planned.
    let op_reads = |sim: &Simulator| -> Vec<String> {
        sim.log()
            .iter()
            .filter(|e| e.path.ends_with("/ns_lcm_op_occs"))
            .map(|e| e.query.clone())
            .collect()
    };
    let planned = |o: &Output| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["plan"]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == "NsInstance")
            .map(|a| {
                format!(
                    "{} {}",
                    a["name"].as_str().unwrap(),
                    a["operation"]["type"].as_str().unwrap()
                )
            })
            .collect()
    };

    // The creates read no history (none of the NS existed); the first unchanged run reads it
    // all and keeps the cursor and the two instantiates.
    sim.clear_log();
    let o = apply().await;
    assert_eq!(op_reads(&sim), [""], "a full read");
    assert_eq!(planned(&o), ["a unchanged", "b unchanged"]);
    let kept = saved();
    assert!(kept["osmOperations"]["cursor"].is_f64(), "{kept}");
    assert_eq!(
        kept["osmOperations"]["operations"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "the two instantiates: {kept}"
    );

    // Unchanged: one incremental read.
    sim.clear_log();
    let o = apply().await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let reads = op_reads(&sim);
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert!(reads[0].contains("statusEnteredTime.gte="), "{reads:?}");
    assert_eq!(planned(&o), ["a unchanged", "b unchanged"]);

    // A hand upgrade after the last run is seen through the increment, and corrected.
    upgrade_by_hand(&sim, "a", "5").await;
    sim.clear_log();
    let o = apply().await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(op_reads(&sim)[0].contains("statusEnteredTime.gte="));
    assert_eq!(planned(&o), ["a upgradeNs", "b unchanged"]);

    // Lost cursor: everything is read, the same plan follows.
    let mut lost = saved();
    lost.as_object_mut().unwrap().remove("osmOperations");
    std::fs::write(&state, lost.to_string()).unwrap();
    sim.clear_log();
    let o = apply().await;
    assert_eq!(op_reads(&sim), [""], "a full read");
    assert_eq!(planned(&o), ["a unchanged", "b unchanged"]);

    // An OSM restored from a backup: the history kept no longer explains NS b.
    let mut restored = saved();
    let ops = restored["osmOperations"]["operations"]
        .as_array_mut()
        .unwrap();
    let b_id = sim
        .ns_instances()
        .iter()
        .find(|n| n["name"] == "b")
        .unwrap()["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ops.retain(|o| o["nsInstanceId"] != b_id.as_str());
    std::fs::write(&state, restored.to_string()).unwrap();
    sim.clear_log();
    let o = apply().await;
    let reads = op_reads(&sim);
    assert_eq!(reads.len(), 2, "an increment, then everything: {reads:?}");
    assert_eq!(reads[1], "");
    assert_eq!(planned(&o), ["a unchanged", "b unchanged"]);

    // OSM's clock went back: a cursor a day ahead of OSM's Date. A hand upgrade OSM stamps
    // before the cursor must still be seen.
    upgrade_by_hand(&sim, "b", "7").await;
    let mut ahead = saved();
    let cursor = ahead["osmOperations"]["cursor"].as_f64().unwrap();
    ahead["osmOperations"]["cursor"] = serde_json::json!(cursor + 86_400.0);
    std::fs::write(&state, ahead.to_string()).unwrap();
    sim.clear_log();
    let o = apply().await;
    let reads = op_reads(&sim);
    assert_eq!(
        reads.last().map(String::as_str),
        Some(""),
        "a full read: {reads:?}"
    );
    assert_eq!(planned(&o), ["a unchanged", "b upgradeNs"]);
    assert!(saved()["osmOperations"]["cursor"].as_f64().unwrap() < cursor + 86_400.0);
}
