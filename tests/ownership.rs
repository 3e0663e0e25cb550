//! Safety, round two (issue 19): ownership that cannot be borrowed, saved plans that cannot be
//! edited, our own files that cannot exhaust us. Each test runs the `osmops` binary against the
//! simulator, as a user (or an attacker with a second repository) would.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::*;
use osmops::osm::NsCreate;
use osmops::repo::PackageKind;
use osmops::sim::Simulator;
use serde_json::Value;

fn command(args: &[String], env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = osmops_command();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
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

async fn run(args: Vec<String>) -> Output {
    run_env(args, &[]).await
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn against(sim: &Simulator, cmd: &str, dir: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![cmd.into(), dir.display().to_string(), "--osm-url".into()];
    v.push(sim.url());
    for s in [
        "--user",
        "admin",
        "--password",
        "admin",
        "--project",
        "admin",
    ] {
        v.push(s.into());
    }
    v.extend(extra.iter().map(|s| s.to_string()));
    v
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

fn state(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `osm ns-create` by a person: the NBI request without any OSM Ops mark.
async fn create_ns_by_hand(sim: &Simulator, name: &str) -> String {
    let c = client(sim);
    let nsd = c.list_packages(PackageKind::Ns, &[]).await.unwrap()[0]
        .osm_id
        .clone();
    let created = c
        .create_ns_instance(&NsCreate {
            ns_name: name.into(),
            nsd_id: nsd,
            vim_account_id: sim.vim_id("mylocation1").unwrap(),
            ns_description: Some("made by hand".into()),
            additional_params_for_vnf: vec![],
            config: Default::default(),
        })
        .await
        .unwrap();
    settle(sim).await;
    created.osm_id
}

/// Item 1: an NS made by hand whose name Git declares is neither upgraded nor recorded nor, once
/// Git drops it, pruned; only an explicit `--adopt` takes it over, and only then may prune
/// delete it.
#[tokio::test]
async fn a_hand_made_ns_is_blocked_never_adopted_silently_and_pruned_only_after_adoption() {
    let sim = fast_sim().await;
    let dir = repo(&[]);
    let work = tempfile::tempdir().unwrap();
    let st = work.path().join("state.json").display().to_string();
    let o = run(against(&sim, "apply", dir.path(), &["--state", &st])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let hand = create_ns_by_hand(&sim, "ldap").await;
    write(dir.path(), "ldap.osmops.yaml", &ns_doc("ldap", Some("3")));
    sim.clear_log();
    let o = run(against(&sim, "apply", dir.path(), &["--state", &st])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("without this sync's mark"), "{out}");
    assert!(out.contains("--adopt"), "{out}");
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
    assert!(state(&st)["nsInstances"].get("ldap").is_none());
    // Git drops the name: prune does not touch what it never owned.
    std::fs::remove_file(dir.path().join("ldap.osmops.yaml")).unwrap();
    let o = run(against(
        &sim,
        "apply",
        dir.path(),
        &["--state", &st, "--prune"],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
    assert_eq!(ns_names(&sim), ["ldap"]);
    // Adopted explicitly: upgraded, recorded as adopted.
    write(dir.path(), "ldap.osmops.yaml", &ns_doc("ldap", Some("3")));
    let o = run(against(
        &sim,
        "apply",
        dir.path(),
        &["--state", &st, "--adopt"],
    ))
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("adopting"), "{out}");
    let recorded = &state(&st)["nsInstances"]["ldap"];
    assert_eq!(recorded["osmId"], hand.as_str());
    assert_eq!(recorded["adopted"], true, "{recorded}");
    // Now it is this repository's: unchanged without the flag, and prune may delete it.
    let o = run(against(&sim, "plan", dir.path(), &["--state", &st])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("0 change(s) planned"), "{}", text(&o));
    std::fs::remove_file(dir.path().join("ldap.osmops.yaml")).unwrap();
    let o = run(against(
        &sim,
        "apply",
        dir.path(),
        &["--state", &st, "--prune", "--allow-empty"],
    ))
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("adopted by this sync"), "{out}");
    assert!(ns_names(&sim).is_empty());
}

/// Item 1 for packages: one uploaded by hand is not re-uploaded "to take ownership" any more.
#[tokio::test]
async fn a_hand_uploaded_package_is_blocked_unless_adopted_and_adoption_tags_it() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let dir = repo(&[]);
    let desired = desired(dir.path());
    let vnf = desired.package("openldap_knf").unwrap();
    let id = c
        .create_package(
            PackageKind::Vnf,
            vnf.tarball.clone(),
            "mine.tar.gz",
            &vnf.md5,
        )
        .await
        .unwrap();
    let o = run(against(&sim, "apply", dir.path(), &[])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("blocked") && out.contains("openldap_knf") && out.contains("--adopt"),
        "{out}"
    );
    let stored = |sim: &Simulator| {
        sim.vnf_packages()[0]["_admin"]["storage"]["zipfile"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(stored(&sim), "mine.tar.gz");
    let o = run(against(&sim, "apply", dir.path(), &["--adopt"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(sim.vnf_packages()[0]["_id"], id.as_str());
    assert!(stored(&sim).contains("_owner-"), "{}", stored(&sim));
    // From now on it is this repository's by its tag: unchanged, no flag needed.
    let o = run(against(&sim, "plan", dir.path(), &[])).await;
    assert!(text(&o).contains("0 change(s) planned"), "{}", text(&o));
}

/// Item 2: owner ids that differ only in characters the mark cannot show are different owners.
#[tokio::test]
async fn owners_differing_only_in_quotes_or_brackets_never_prune_each_other() {
    let sim = fast_sim().await;
    let work = tempfile::tempdir().unwrap();
    let a = repo(&[("a1", None)]);
    let b = repo(&[("b1", None)]);
    let st_a = work.path().join("a.json").display().to_string();
    let st_b = work.path().join("b.json").display().to_string();
    let o = run(against(
        &sim,
        "apply",
        a.path(),
        &["--state", &st_a, "--owner", "team'x"],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(against(
        &sim,
        "apply",
        b.path(),
        &["--state", &st_b, "--owner", "team_x"],
    ))
    .await;
    // b's repository has the packages too, uploaded by a: shared content, unchanged.
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for (i, owner_b) in ["team_x", "team\"x", "team[x", "team]x"].iter().enumerate() {
        // A fresh state file: only the marks in OSM can say what is whose.
        let fresh = work
            .path()
            .join(format!("fresh-{i}.json"))
            .display()
            .to_string();
        let o = run(against(
            &sim,
            "plan",
            b.path(),
            &[
                "--state",
                &fresh,
                "--owner",
                owner_b,
                "--prune",
                "--allow-empty",
                "--output",
                "json",
            ],
        ))
        .await;
        let plan: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{owner_b}: {e}: {}", text(&o)));
        let deletes: Vec<&Value> = plan["actions"]
            .as_array()
            .unwrap_or_else(|| panic!("{owner_b}: {}", text(&o)))
            .iter()
            .filter(|a| a["operation"]["type"] == "deleteNs")
            .collect();
        assert!(
            deletes.iter().all(|a| a["name"] != "a1"),
            "{owner_b}: {deletes:?}"
        );
    }
    let o = run(against(
        &sim,
        "apply",
        b.path(),
        &["--state", &st_b, "--owner", "team_x", "--prune"],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(ns_names(&sim), ["a1", "b1"]);
}

/// Item 3: an empty or blank owner would be one identity shared by every such repository.
#[tokio::test]
async fn an_empty_or_blank_owner_is_refused_before_anything_is_sent() {
    let sim = fast_sim().await;
    let dir = repo(&[("ldap", None)]);
    for (flag, env) in [
        (Some(""), None),
        (Some("   "), None),
        (None, Some("")),
        (None, Some(" \t")),
    ] {
        let mut extra = vec![];
        if let Some(f) = flag {
            extra.extend(["--owner", f]);
        }
        let env: Vec<(&str, &str)> = env.map(|v| ("OSMOPS_OWNER", v)).into_iter().collect();
        let o = run_env(against(&sim, "apply", dir.path(), &extra), &env).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{flag:?} {env:?}: {out}");
        assert!(out.contains("owner id must not be empty"), "{out}");
    }
    assert!(sim.log().is_empty(), "{:?}", sim.log());
}

/// Item 4: two repositories declaring one NS name, applied at the same moment: the NS created
/// second is removed by its creator, the run that lost does not exit 0, and OSM ends with one.
#[tokio::test]
async fn two_repositories_creating_one_name_at_once_leave_one_ns_and_the_loser_fails() {
    let sim = fast_sim().await;
    // Packages first, so that both runs only create the NS.
    let a = repo(&[]);
    let o = run(against(&sim, "apply", a.path(), &["--owner", "repo-a"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    write(a.path(), "ldap.osmops.yaml", &ns_doc("ldap", None));
    let b = repo(&[("ldap", None)]);
    // Both runs list OSM before either create is answered.
    sim.inject(osmops::sim::Fault {
        method: Some(axum::http::Method::POST),
        path_contains: "/nslcm/v1/ns_instances_content".into(),
        action: osmops::sim::FaultAction::Latency(Duration::from_millis(700)),
        remaining: 2,
    });
    let (oa, ob) = tokio::join!(
        run(against(&sim, "apply", a.path(), &["--owner", "repo-a"])),
        run(against(&sim, "apply", b.path(), &["--owner", "repo-b"]))
    );
    let creates = sim
        .log()
        .iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("/ns_instances_content"))
        .count();
    assert_eq!(creates, 2, "both runs created 'ldap'");
    let until = Instant::now() + Duration::from_secs(10);
    while sim.ns_instances().len() > 1 {
        assert!(Instant::now() < until, "the second NS was never removed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let survivor = sim.ns_instances()[0]["description"]
        .as_str()
        .unwrap()
        .to_owned();
    let (winner, loser) = if survivor.contains("owner=repo-a") {
        (&oa, &ob)
    } else {
        assert!(survivor.contains("owner=repo-b"), "{survivor}");
        (&ob, &oa)
    };
    let lost = text(loser);
    assert_eq!(loser.status.code(), Some(1), "{lost}");
    assert!(lost.contains("conflict"), "{lost}");
    assert!(lost.contains("removed this run's NS"), "{lost}");
    // The winner either saw the conflict (and says so, not exiting 0) or re-listed before the
    // loser's create reached OSM.
    let won = text(winner);
    match winner.status.code() {
        Some(0) => assert!(!won.contains("conflict"), "{won}"),
        Some(1) => assert!(won.contains("conflict"), "{won}"),
        other => panic!("{other:?}: {won}"),
    }
    // The loser's next run is blocked: the NS is the other repository's.
    let loser_dir = if std::ptr::eq(loser, &oa) { &a } else { &b };
    let loser_owner = if std::ptr::eq(loser, &oa) {
        "repo-a"
    } else {
        "repo-b"
    };
    let o = run(against(
        &sim,
        "plan",
        loser_dir.path(),
        &["--owner", loser_owner],
    ))
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("managed by"), "{}", text(&o));
}

/// Items 6 and 7: `apply --plan` applies only a saved plan whose digest and readable body are
/// the plan computed now; any edit or mismatch is exit 2 with nothing sent, even when the plan
/// computed now would write nothing.
#[tokio::test]
async fn an_edited_or_stale_saved_plan_is_refused_whatever_it_would_write() {
    let sim = fast_sim().await;
    let dir = repo(&[("keep", None), ("gone", None)]);
    let work = tempfile::tempdir().unwrap();
    let st = work.path().join("state.json").display().to_string();
    let saved = work.path().join("plan.json");
    let saved_s = saved.display().to_string();
    let o = run(against(&sim, "apply", dir.path(), &["--state", &st])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::remove_file(dir.path().join("gone.osmops.yaml")).unwrap();
    let o = run(against(
        &sim,
        "plan",
        dir.path(),
        &["--state", &st, "--prune", "--out", &saved_s],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let original: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let delete_index = original["plan"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .position(|a| a["operation"]["type"] == "deleteNs")
        .expect("the plan deletes 'gone'");
    let mut shown_unchanged = original.clone();
    shown_unchanged["plan"]["actions"][delete_index]["operation"] =
        serde_json::json!({"type": "unchanged", "osmId": null, "pendingOp": null});
    let mut dropped = original.clone();
    dropped["plan"]["actions"]
        .as_array_mut()
        .unwrap()
        .remove(delete_index);
    let mut emptied = original.clone();
    emptied["plan"] = serde_json::json!({});
    let mut reasons = original.clone();
    reasons["plan"]["actions"][delete_index]["reason"] = "routine cleanup".into();
    for (what, edited) in [
        ("a delete shown as unchanged", shown_unchanged),
        ("an action dropped", dropped),
        ("an empty body", emptied),
        ("another reason", reasons),
    ] {
        std::fs::write(&saved, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
        sim.clear_log();
        let o = run(against(
            &sim,
            "apply",
            dir.path(),
            &["--state", &st, "--prune", "--plan", &saved_s],
        ))
        .await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {out}");
        assert!(out.contains("refusing to apply"), "{what}: {out}");
        assert!(writes(&sim).is_empty(), "{what}: {:?}", writes(&sim));
    }
    assert_eq!(ns_names(&sim), ["gone", "keep"]);
    // A plan that writes nothing now, with a garbage digest or a stale one: still refused.
    let o = run(against(
        &sim,
        "apply",
        dir.path(),
        &["--state", &st, "--prune"],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(against(
        &sim,
        "plan",
        dir.path(),
        &["--state", &st, "--prune", "--out", &saved_s],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let empty: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let mut garbage = empty.clone();
    garbage["digest"] = "not-a-digest".into();
    // Git reverted since: the plan now creates 'gone' again.
    for (what, file, revert) in [
        ("a garbage digest", garbage, false),
        ("a stale plan", empty.clone(), true),
    ] {
        if revert {
            write(dir.path(), "gone.osmops.yaml", &ns_doc("gone", None));
        }
        std::fs::write(&saved, serde_json::to_string_pretty(&file).unwrap()).unwrap();
        sim.clear_log();
        let o = run(against(
            &sim,
            "apply",
            dir.path(),
            &["--state", &st, "--prune", "--plan", &saved_s],
        ))
        .await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {out}");
        assert!(writes(&sim).is_empty(), "{what}: {:?}", writes(&sim));
    }
    // The untouched empty plan, with Git as it was planned: applies (nothing to do).
    std::fs::remove_file(dir.path().join("gone.osmops.yaml")).unwrap();
    std::fs::write(&saved, serde_json::to_string_pretty(&empty).unwrap()).unwrap();
    let o = run(against(
        &sim,
        "apply",
        dir.path(),
        &["--state", &st, "--prune", "--plan", &saved_s],
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// Item 8: `--state` and `--plan` name only regular files of bounded size; a device or FIFO is
/// refused at once (never read without end, never waited on past --timeout, never replaced).
#[tokio::test]
async fn devices_fifos_and_huge_files_are_refused_as_state_or_plan() {
    let sim = fast_sim().await;
    let dir = repo(&[("ldap", None)]);
    let work = tempfile::tempdir().unwrap();
    let fifo = work.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let big = work.path().join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(64 * 1024 * 1024)
        .unwrap();
    let fifo = fifo.display().to_string();
    let big = big.display().to_string();
    for (flag, path, want) in [
        ("--state", "/dev/zero", "not a regular file"),
        ("--plan", "/dev/zero", "not a regular file"),
        ("--state", fifo.as_str(), "not a regular file"),
        ("--plan", fifo.as_str(), "not a regular file"),
        ("--state", big.as_str(), "larger than 32 MiB"),
        ("--plan", big.as_str(), "larger than 32 MiB"),
    ] {
        let started = Instant::now();
        let o = run(against(
            &sim,
            "apply",
            dir.path(),
            &[flag, path, "--timeout", "20s"],
        ))
        .await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{flag} {path}: {out}");
        assert!(out.contains(want), "{flag} {path}: {out}");
        assert!(started.elapsed() < Duration::from_secs(15), "{flag} {path}");
    }
    assert!(writes(&sim).is_empty());
    assert!(std::fs::symlink_metadata(&fifo).is_ok());
    assert!(!std::path::Path::new("/dev/zero.tmp").exists());
}

/// Item 10: a zero or invalid timeout is exit 2; a refusal with `--output json` is a JSON error
/// object on stdout; the plan JSON names each field once (camelCase).
#[tokio::test]
async fn timeouts_json_errors_and_one_name_per_field() {
    let sim = fast_sim().await;
    let dir = repo(&[("ldap", None)]);
    for t in ["0", "0s", "-1s", "soon"] {
        let o = run(against(&sim, "apply", dir.path(), &["--timeout", t])).await;
        assert_eq!(o.status.code(), Some(2), "{t}: {}", text(&o));
    }
    assert!(sim.log().is_empty());
    let o = run(against(
        &sim,
        "apply",
        dir.path(),
        &["--output", "json", "--owner", ""],
    ))
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err: Value = serde_json::from_slice(&o.stdout).expect("a JSON error object on stdout");
    assert_eq!(err["error"]["exitCode"], 2);
    assert_eq!(err["error"]["kind"], "invalidInput");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("owner id must not be empty"));
    let work = tempfile::tempdir().unwrap();
    let st = work.path().join("state.json").display().to_string();
    let o = run(against(&sim, "apply", dir.path(), &["--state", &st])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::remove_file(dir.path().join("ldap.osmops.yaml")).unwrap();
    write(dir.path(), "other.osmops.yaml", &ns_doc("other", Some("2")));
    let o = run(against(
        &sim,
        "plan",
        dir.path(),
        &[
            "--state",
            &st,
            "--prune",
            "--allow-empty",
            "--output",
            "json",
        ],
    ))
    .await;
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("\"osmId\""), "{out}");
    for snake in ["osm_id", "waits_for", "vim_account_id", "pending_op"] {
        assert!(!out.contains(snake), "{snake}: {out}");
    }
}
