//! The conformance suite: one scenario a user runs as `osmops` would be run, step by step,
//! against the built-in simulator (in CI) or against any OSM by URL:
//!
//! ```bash
//! OSMOPS_CONFORMANCE_URL=http://127.0.0.1:9989/osm \
//! OSMOPS_CONFORMANCE_FAIL_CMD='echo "fail conformance: no capacity" > /tmp/nbi-bed/run/lcm_mode' \
//! OSMOPS_CONFORMANCE_RESTORE_CMD='echo complete > /tmp/nbi-bed/run/lcm_mode' \
//!   cargo test --test conformance -- --nocapture
//! ```
//!
//! Optional: `OSMOPS_CONFORMANCE_USER`/`_PASSWORD`/`_PROJECT` (default admin/admin/admin),
//! `OSMOPS_CONFORMANCE_VIM` (default `mylocation1`, a VIM account with a K8s cluster). The
//! failed-instantiate step needs a way to make the next instantiate fail: the simulator's
//! failure rules, or `OSMOPS_CONFORMANCE_FAIL_CMD` (and `_RESTORE_CMD`) for a real OSM, without
//! which it is reported as skipped. Every name it creates carries a random suffix, and the last
//! step prunes all of it. docs/testing.md describes it; docs/osm-nbi.md has the result against
//! OSM's own NBI.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use osmops::osm::{ClientOptions, Credentials, KduUpgrade, NbiClient, Secret};
use serde_json::Value;

struct Target {
    url: String,
    user: String,
    password: String,
    project: String,
    vim: String,
    /// The in-process simulator, when no URL was given.
    sim: Option<osmops::sim::Simulator>,
}

impl Target {
    async fn from_env() -> Target {
        let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
        match std::env::var("OSMOPS_CONFORMANCE_URL") {
            Ok(url) if !url.is_empty() => Target {
                url,
                user: env("OSMOPS_CONFORMANCE_USER", "admin"),
                password: env("OSMOPS_CONFORMANCE_PASSWORD", "admin"),
                project: env("OSMOPS_CONFORMANCE_PROJECT", "admin"),
                vim: env("OSMOPS_CONFORMANCE_VIM", "mylocation1"),
                sim: None,
            },
            _ => {
                let sim = common::fast_sim().await;
                Target {
                    url: sim.url(),
                    user: "admin".into(),
                    password: "admin".into(),
                    project: "admin".into(),
                    vim: "mylocation1".into(),
                    sim: Some(sim),
                }
            }
        }
    }

    fn client(&self) -> NbiClient {
        NbiClient::new(
            ClientOptions::new(self.url.clone()),
            Credentials {
                user: self.user.clone(),
                password: Secret::new(&self.password),
                project: self.project.clone(),
            },
        )
        .unwrap()
    }

    /// `osmops CMD DIR` against this OSM, with a state file and JSON output.
    async fn osmops(&self, cmd: &str, dir: &Path, state: &Path, extra: &[&str]) -> Output {
        let mut args: Vec<String> = vec![
            cmd.into(),
            dir.display().to_string(),
            "--osm-url".into(),
            self.url.clone(),
            "--user".into(),
            self.user.clone(),
            "--project".into(),
            self.project.clone(),
            "--state".into(),
            state.display().to_string(),
            "--output".into(),
            "json".into(),
            "--timeout".into(),
            "3m".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let password = self.password.clone();
        tokio::task::spawn_blocking(move || {
            common::osmops_command()
                .args(&args)
                .env("OSMOPS_PASSWORD", password)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    }

    /// Makes the next instantiate fail; false when this OSM offers no way to.
    fn fail_next_instantiate(&self, ns: &str) -> bool {
        match &self.sim {
            Some(sim) => {
                sim.fail_next("instantiate", Some(ns), 1, "conformance: no capacity");
                true
            }
            None => match std::env::var("OSMOPS_CONFORMANCE_FAIL_CMD") {
                Ok(cmd) if !cmd.is_empty() => shell(&cmd),
                _ => false,
            },
        }
    }

    fn restore(&self) {
        if self.sim.is_none() {
            if let Ok(cmd) = std::env::var("OSMOPS_CONFORMANCE_RESTORE_CMD") {
                shell(&cmd);
            }
        }
    }
}

fn shell(cmd: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", cmd])
        .status()
        .is_ok_and(|s| s.success())
}

/// A VNFD; `software_version` changes with each new version of the package (OSM refuses other
/// changes to a VNFD its VNF instances use).
fn vnfd(id: &str, software_version: &str) -> String {
    format!("vnfd:\n  id: {id}\n  product-name: {id}\n  provider: OSM Ops conformance\n  version: '1.0'\n  software-version: '{software_version}'\n  description: version {software_version}\n  df:\n  - id: default-df\n  ext-cpd:\n  - id: mgmt-ext\n    k8s-cluster-net: mgmtnet\n  k8s-cluster:\n    nets:\n    - id: mgmtnet\n  kdu:\n  - name: ldap\n    helm-chart: stable/openldap\n  - name: cache\n    helm-chart: bitnami/redis\n  mgmt-cp: mgmt-ext\n")
}

/// The NsInstance with both KDUs declared (`kdus`), each with its params.
fn ns_two(name: &str, nsd: &str, vim: &str, replicas: &str, architecture: &str) -> String {
    format!("kind: NsInstance\nname: {name}\ndescription: conformance\nnsdName: {nsd}\nvimAccountName: {vim}\nkdus:\n- vnfName: openldap\n  name: ldap\n  model: stable/openldap:1.2.7\n  params:\n    replicaCount: \"{replicas}\"\n    persistence:\n      enabled: false\n- vnfName: openldap\n  name: cache\n  model: bitnami/redis:17.11.3\n  params:\n    architecture: {architecture}\n")
}

/// A VM-based VNFD (examples/vm-web's, with id `id`): one VDU, a scaling aspect of 2 levels.
fn vm_vnfd(id: &str) -> String {
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/vm-web/osm-pkgs");
    std::fs::read_to_string(ex.join("web_vnf/web_vnfd.yaml"))
        .unwrap()
        .replace("id: web-vnf", &format!("id: {id}"))
        .replace("product-name: web-vnf", &format!("product-name: {id}"))
}

fn vm_cloud_init() -> String {
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/vm-web/osm-pkgs");
    std::fs::read_to_string(ex.join("web_vnf/cloud_init/cloud-config.txt")).unwrap()
}

fn vm_nsd(id: &str, vnfd: &str) -> String {
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/vm-web/osm-pkgs");
    std::fs::read_to_string(ex.join("web_ns/web_nsd.yaml"))
        .unwrap()
        .replace("web-vnf", vnfd)
        .replace("id: web-ns", &format!("id: {id}"))
        .replace("name: web-ns", &format!("name: {id}"))
}

/// A VM-based NS with instantiation config and scale level `level`.
fn vm_ns(name: &str, nsd: &str, vim: &str, level: u32) -> String {
    format!("kind: NsInstance\nname: {name}\ndescription: conformance\nnsdName: {nsd}\nvimAccountName: {vim}\nconfig:\n  vld:\n  - name: mgmtnet\n    vim-network-name: mgmt\n  additionalParamsForVnf:\n  - member-vnf-index: vnf1\n    additionalParamsForVdu:\n    - vdu_id: webserver\n      additionalParams:\n        motd: conformance\nscale:\n- vnfName: vnf1\n  aspect: web-aspect\n  level: {level}\n")
}

fn nsd(id: &str, vnfd: &str) -> String {
    format!("nsd:\n  nsd:\n  - id: {id}\n    name: {id}\n    designer: OSM Ops conformance\n    version: '1.0'\n    df:\n    - id: default-df\n      vnf-profile:\n      - id: openldap\n        vnfd-id: {vnfd}\n        virtual-link-connectivity:\n        - constituent-cpd-id:\n          - constituent-base-element-id: openldap\n            constituent-cpd-id: mgmt-ext\n          virtual-link-profile-id: mgmtnet\n    virtual-link-desc:\n    - id: mgmtnet\n      mgmt-network: 'true'\n    vnfd-id:\n    - {vnfd}\n")
}

/// An NsInstance; `persistence` is a nested param, which OSM's NBI stores as a `!!yaml` string:
/// the unchanged steps check that it is read back as LCM deploys it.
fn ns(name: &str, nsd: &str, vim: &str, replicas: &str) -> String {
    format!("kind: NsInstance\nname: {name}\ndescription: conformance\nnsdName: {nsd}\nvnfName: openldap\nvimAccountName: {vim}\nkdu:\n  name: ldap\n  model: stable/openldap:1.2.7\n  params:\n    replicaCount: \"{replicas}\"\n    persistence:\n      enabled: false\n")
}

/// Step 6b: values from a Secret against this OSM.
async fn secret_steps(t: &Target, suffix: &str, r: &mut Report) {
    let (p1, p2) = (
        format!("conf-pw1-{suffix}-x"),
        format!("conf-pw2-{suffix}-y"),
    );
    let repo = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = repo.path();
    let st = work.path().join("state.json");
    let secret = work.path().join("secret.yaml");
    let (knf, nsd_id, name) = (
        format!("conf{suffix}s_knf"),
        format!("conf{suffix}s_ns"),
        format!("conf-{suffix}-s"),
    );
    common::write(
        dir,
        &format!("osm-pkgs/{knf}/vnfd.yaml"),
        &vnfd(&knf, "1.0"),
    );
    common::write(
        dir,
        &format!("osm-pkgs/{nsd_id}/nsd.yaml"),
        &nsd(&nsd_id, &knf),
    );
    common::write(
        dir,
        "s.osmops.yaml",
        &ns(&name, &nsd_id, &t.vim, "1").replace(
            "    persistence:",
            "    adminPassword: ${CONF_PASSWORD}\n    persistence:",
        ),
    );
    let put = |v: &str| {
        std::fs::write(
            &secret,
            format!("kind: Secret\nstringData:\n  CONF_PASSWORD: \"{v}\"\n"),
        )
        .unwrap()
    };
    let from = secret.display().to_string();
    let flags = ["--substitute-from", from.as_str()];
    let mut seen = String::new();
    let mut shown = |o: &Output| seen.push_str(&outcome_text(o));
    let sent = |ops: &[osmops::osm::OpRecord]| -> Vec<String> {
        ops.iter()
            .filter_map(|o| o.kdu_params("openldap", "ldap"))
            .filter_map(|p| {
                p.get("adminPassword")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            })
            .collect()
    };
    let ops_of = |name: String| async move {
        let nbi = t.client();
        let ns = nbi.list_ns_instances(&[("name", name.as_str())]).await?;
        let ids: Vec<&str> = ns.iter().map(|n| n.osm_id.as_str()).collect();
        nbi.list_ns_lcm_op_occs_of(&ids).await
    };

    put(&p1);
    let o = t.osmops("apply", dir, &st, &flags).await;
    shown(&o);
    let ops = ops_of(name.clone()).await;
    r.step(
        "6b a KDU param from a Secret reaches OSM",
        (|| {
            check(o.status.code() == Some(0), || outcome_text(&o))?;
            let ops = ops.map_err(|e| e.to_string())?;
            check(sent(&ops) == [p1.clone()], || {
                format!("{:?}", sent(&ops).len())
            })?;
            Ok(String::new())
        })(),
    );
    let o = t.osmops("apply", dir, &st, &flags).await;
    shown(&o);
    let v = json(&o);
    r.step(
        "6c the same secret again sends 0 writes",
        (|| {
            succeeded_without_writes(&o, &v)?;
            Ok(String::new())
        })(),
    );
    put(&p2);
    let o = t.osmops("apply", dir, &st, &flags).await;
    shown(&o);
    let v = json(&o);
    let ops = ops_of(name.clone()).await;
    let state = std::fs::read_to_string(&st).unwrap_or_default();
    r.step(
        "6d a rotated secret is one KDU upgrade, and no value shows",
        (|| {
            check(o.status.code() == Some(0), || outcome_text(&o))?;
            let reasons: Vec<String> = v["plan"]["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["operation"]["type"] == "upgradeNs")
                .map(|a| a["reason"].as_str().unwrap_or_default().to_owned())
                .collect();
            check(reasons == ["adminPassword (secret) changed"], || {
                format!("{reasons:?}")
            })?;
            let ops = ops.map_err(|e| e.to_string())?;
            check(sent(&ops).last() == Some(&p2), || {
                "OSM did not get the new value".into()
            })?;
            for p in [&p1, &p2] {
                check(
                    !seen.contains(p.as_str()) && !state.contains(p.as_str()),
                    || "a value shows in the output or the state file".into(),
                )?;
            }
            Ok(String::new())
        })(),
    );
    std::fs::remove_file(dir.join("s.osmops.yaml")).unwrap();
    std::fs::remove_dir_all(dir.join("osm-pkgs")).unwrap();
    let o = t
        .osmops("apply", dir, &st, &["--prune", "--allow-empty"])
        .await;
    r.step(
        "6e the secret repository is pruned",
        check(o.status.code() == Some(0), || outcome_text(&o)).map(|()| String::new()),
    );
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// "create", "upgrade", ... per action of an apply's plan, with the result's status.
fn actions(v: &Value) -> Vec<(String, String, String)> {
    let plan = &v["plan"];
    plan["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .zip(v["results"].as_array().into_iter().flatten())
        .map(|(a, r)| {
            (
                a["operation"]["type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                a["name"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

struct Report {
    lines: Vec<String>,
    failed: usize,
}

impl Report {
    fn step(&mut self, name: &str, result: Result<String, String>) {
        let line = match result {
            Ok(note) => format!(
                "PASS  {name}{}",
                if note.is_empty() {
                    String::new()
                } else {
                    format!(": {note}")
                }
            ),
            Err(why) => {
                self.failed += 1;
                format!("FAIL  {name}: {why}")
            }
        };
        println!("conformance: {line}");
        self.lines.push(line);
    }
}

/// An apply that succeeded and sent OSM nothing (`v`: its JSON output).
fn succeeded_without_writes(o: &Output, v: &Value) -> Result<(), String> {
    check(o.status.code() == Some(0), || outcome_text(o))?;
    let writes = v["requests"]["writes"].as_u64().unwrap_or(u64::MAX);
    check(writes == 0, || format!("{writes} writes: {:?}", actions(v)))
}

fn check(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(why())
    }
}

fn outcome_text(o: &Output) -> String {
    let failures: Vec<String> = serde_json::from_slice::<Value>(&o.stdout)
        .ok()
        .map(|v| {
            actions(&v)
                .into_iter()
                .zip(v["results"].as_array().cloned().unwrap_or_default())
                .filter(|(a, _)| a.2 != "Succeeded" && a.2 != "NoOp")
                .map(|(a, r)| {
                    format!(
                        "{} {}: {}",
                        a.0,
                        a.1,
                        r["message"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "exit {:?}; {}; {}",
        o.status.code(),
        failures.join("; "),
        String::from_utf8_lossy(&o.stderr)
            .lines()
            .filter(|l| !l.starts_with("warning"))
            .collect::<Vec<_>>()
            .join(" | ")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_scenario() {
    let t = Target::from_env().await;
    let suffix: String = format!("{:06x}", rand::random::<u32>() & 0xffffff);
    let knf = format!("conf{suffix}_knf");
    let nsd_id = format!("conf{suffix}_ns");
    let (a, b) = (format!("conf-{suffix}-a"), format!("conf-{suffix}-b"));
    let repo = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let st = work.path().join("state.json");
    let dir = repo.path();
    common::write(
        dir,
        &format!("osm-pkgs/{knf}/vnfd.yaml"),
        &vnfd(&knf, "1.0"),
    );
    common::write(
        dir,
        &format!("osm-pkgs/{nsd_id}/nsd.yaml"),
        &nsd(&nsd_id, &knf),
    );
    common::write(dir, "a.osmops.yaml", &ns(&a, &nsd_id, &t.vim, "1"));
    let mut r = Report {
        lines: vec![],
        failed: 0,
    };
    println!("conformance: against {}", t.url);

    // 1. Packages and an NS created from nothing.
    let o = t.osmops("apply", dir, &st, &[]).await;
    let v = json(&o);
    r.step(
        "1 packages + NS create",
        (|| {
            check(o.status.code() == Some(0), || outcome_text(&o))?;
            let acts = actions(&v);
            check(
                acts.iter()
                    .filter(|x| x.0 == "createPackage" && x.2 == "Succeeded")
                    .count()
                    == 2
                    && acts
                        .iter()
                        .any(|x| x.0 == "createNs" && x.1 == a && x.2 == "Succeeded"),
                || format!("{acts:?}"),
            )?;
            let ops = v["operations"].as_array().cloned().unwrap_or_default();
            check(ops.iter().any(|op| op["state"] == "COMPLETED"), || {
                format!("instantiate not COMPLETED: {ops:?}")
            })?;
            Ok(String::new())
        })(),
    );

    // 2. The same repository again: nothing written.
    let o = t.osmops("apply", dir, &st, &[]).await;
    let v = json(&o);
    r.step(
        "2 unchanged re-apply sends 0 writes",
        (|| {
            succeeded_without_writes(&o, &v)?;
            Ok(format!("{} requests", v["requests"]["requests"]))
        })(),
    );

    // 3. A KDU upgrade.
    common::write(dir, "a.osmops.yaml", &ns(&a, &nsd_id, &t.vim, "2"));
    let o = t.osmops("apply", dir, &st, &[]).await;
    let v = json(&o);
    r.step(
        "3 KDU upgrade",
        (|| {
            check(o.status.code() == Some(0), || outcome_text(&o))?;
            let acts = actions(&v);
            check(
                acts.iter()
                    .any(|x| x.0 == "upgradeNs" && x.1 == a && x.2 == "Succeeded"),
                || format!("{acts:?}"),
            )?;
            Ok(String::new())
        })(),
    );

    // 3b. Several KDUs of one NS: one upgrade each, in one run.
    common::write(
        dir,
        "a.osmops.yaml",
        &ns_two(&a, &nsd_id, &t.vim, "3", "standalone"),
    );
    let o = t.osmops("apply", dir, &st, &[]).await;
    let v = json(&o);
    r.step(
        "3b two KDUs of one NS upgraded, one operation each",
        (|| {
            check(o.status.code() == Some(0), || outcome_text(&o))?;
            let upgrades: Vec<String> = v["plan"]["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .zip(v["results"].as_array().into_iter().flatten())
                .filter(|(a, r)| {
                    a["operation"]["type"] == "upgradeNs" && r["status"] == "Succeeded"
                })
                .map(|(a, _)| {
                    format!(
                        "{}/{}",
                        a["target"]["member"].as_str().unwrap_or_default(),
                        a["target"]["kdu"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            check(
                upgrades.len() == 2 && upgrades.contains(&"openldap/cache".to_owned()),
                || format!("{upgrades:?} {:?}", actions(&v)),
            )?;
            let ops = v["operations"].as_array().cloned().unwrap_or_default();
            check(
                ops.iter().filter(|op| op["state"] == "COMPLETED").count() == 2,
                || format!("{ops:?}"),
            )?;
            Ok(upgrades.join(", "))
        })(),
    );

    // 4. A package update (new content of the VNFD).
    common::write(
        dir,
        &format!("osm-pkgs/{knf}/vnfd.yaml"),
        &vnfd(&knf, "second"),
    );
    let o = t.osmops("apply", dir, &st, &[]).await;
    let v = json(&o);
    r.step(
        "4 package update, rolled onto the running NS in place (CHANGE_VNFPKG)",
        (|| {
            check(o.status.code() == Some(0), || outcome_text(&o))?;
            let acts = actions(&v);
            check(
                acts.iter()
                    .any(|x| x.0 == "updatePackage" && x.1 == knf && x.2 == "Succeeded")
                    && acts
                        .iter()
                        .any(|x| x.0 == "updateNs" && x.1 == a && x.2 == "Succeeded"),
                || format!("{acts:?}"),
            )?;
            let ops = v["operations"].as_array().cloned().unwrap_or_default();
            check(
                ops.iter()
                    .any(|op| op["opType"] == "update" && op["state"] == "COMPLETED")
                    || ops.iter().any(|op| op["state"] == "COMPLETED"),
                || format!("update not COMPLETED: {ops:?}"),
            )?;
            Ok(String::new())
        })(),
    );

    let o = t.osmops("apply", dir, &st, &[]).await;
    let v = json(&o);
    r.step(
        "4b the updated NS is unchanged on the next run",
        (|| {
            succeeded_without_writes(&o, &v)?;
            Ok(String::new())
        })(),
    );

    // 5. Drift: someone upgrades the KDU by hand; plan reports it, apply corrects it.
    let nbi = t.client();
    let hand = async {
        let found = nbi.list_ns_instances(&[("name", a.as_str())]).await?;
        let id = found.first().map(|n| n.osm_id.clone()).unwrap_or_default();
        let body = KduUpgrade::new(
            "openldap",
            "ldap",
            serde_json::json!({"replicaCount": "9", "kdu_model": "stable/openldap:1.2.7"})
                .as_object()
                .unwrap()
                .clone(),
        );
        let op = nbi.ns_action(&id, &body).await?;
        let until = Instant::now() + Duration::from_secs(120);
        loop {
            let ops = nbi
                .list_ns_lcm_op_occs(&[("nsInstanceId", id.as_str())])
                .await?;
            if ops.iter().any(|o| o.osm_id == op && o.is_terminal()) || Instant::now() > until {
                return Ok::<_, osmops::osm::NbiError>(op);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    .await;
    let plan = t.osmops("plan", dir, &st, &[]).await;
    let pv = json(&plan);
    let o = t.osmops("apply", dir, &st, &[]).await;
    let v = json(&o);
    r.step(
        "5 drift after a hand upgrade is seen and corrected",
        (|| {
            let op = hand.map_err(|e| format!("the hand upgrade failed: {e}"))?;
            let drift = pv["drift"].as_array().cloned().unwrap_or_default();
            check(drift.iter().any(|d| d["name"] == a.as_str()), || {
                format!("plan shows no drift for {a} after {op}: {pv}")
            })?;
            check(o.status.code() == Some(0), || outcome_text(&o))?;
            let acts = actions(&v);
            check(
                acts.iter()
                    .any(|x| x.0 == "upgradeNs" && x.1 == a && x.2 == "Succeeded"),
                || format!("{acts:?}"),
            )?;
            Ok(String::new())
        })(),
    );

    // 5b. A VM-based NS with instantiation config, then scaled to its level (OSM scales an
    // instantiated NS only: the run after the create), out and back in.
    let (vm_vnf, vm_ns_pkg, c) = (
        format!("conf{suffix}_vm"),
        format!("conf{suffix}_vmns"),
        format!("conf-{suffix}-c"),
    );
    common::write(
        dir,
        &format!("osm-pkgs/{vm_vnf}/vnfd.yaml"),
        &vm_vnfd(&vm_vnf),
    );
    common::write(
        dir,
        &format!("osm-pkgs/{vm_vnf}/cloud_init/cloud-config.txt"),
        &vm_cloud_init(),
    );
    common::write(
        dir,
        &format!("osm-pkgs/{vm_ns_pkg}/nsd.yaml"),
        &vm_nsd(&vm_ns_pkg, &vm_vnf),
    );
    common::write(dir, "c.osmops.yaml", &vm_ns(&c, &vm_ns_pkg, &t.vim, 1));
    let created = t.osmops("apply", dir, &st, &[]).await;
    let scaled = t.osmops("apply", dir, &st, &[]).await;
    common::write(dir, "c.osmops.yaml", &vm_ns(&c, &vm_ns_pkg, &t.vim, 2));
    let out = t.osmops("apply", dir, &st, &[]).await;
    common::write(dir, "c.osmops.yaml", &vm_ns(&c, &vm_ns_pkg, &t.vim, 0));
    let back = t.osmops("apply", dir, &st, &[]).await;
    let again = t.osmops("apply", dir, &st, &[]).await;
    r.step(
        "5b VM NS with instantiation config, scaled 0→1→2→0 by one scale operation per step",
        (|| {
            let scale_steps = |o: &Output| -> Result<Vec<String>, String> {
                check(o.status.code() == Some(0), || outcome_text(o))?;
                let v = json(o);
                let ops = v["operations"].as_array().cloned().unwrap_or_default();
                check(ops.iter().all(|op| op["state"] == "COMPLETED"), || {
                    format!("{ops:?}")
                })?;
                Ok(v["plan"]["actions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|a| a["operation"]["type"] == "scaleNs")
                    .map(|a| {
                        a["operation"]["direction"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned()
                    })
                    .collect())
            };
            let c_created = actions(&json(&created));
            check(
                created.status.code() == Some(0)
                    && c_created
                        .iter()
                        .any(|x| x.0 == "createNs" && x.1 == c && x.2 == "Succeeded"),
                || outcome_text(&created),
            )?;
            let steps = [
                scale_steps(&scaled)?,
                scale_steps(&out)?,
                scale_steps(&back)?,
            ];
            check(
                steps
                    == [
                        vec!["SCALE_OUT".to_owned()],
                        vec!["SCALE_OUT".to_owned()],
                        vec!["SCALE_IN".to_owned(), "SCALE_IN".to_owned()],
                    ],
                || format!("{steps:?}"),
            )?;
            let v = json(&again);
            let writes = v["requests"]["writes"].as_u64().unwrap_or(u64::MAX);
            check(writes == 0, || {
                format!(
                    "{writes} writes after reaching the level: {:?}",
                    actions(&v)
                )
            })?;
            Ok(String::new())
        })(),
    );

    // 6. A failed instantiate: the run fails with OSM's error; nothing else is disturbed.
    common::write(dir, "b.osmops.yaml", &ns(&b, &nsd_id, &t.vim, "1"));
    if t.fail_next_instantiate(&b) {
        let o = t.osmops("apply", dir, &st, &[]).await;
        t.restore();
        let v = json(&o);
        r.step(
            "6 failed instantiate is a failed run with OSM's error",
            (|| {
                check(o.status.code() == Some(1), || outcome_text(&o))?;
                let ops = v["operations"].as_array().cloned().unwrap_or_default();
                let failed: Vec<&Value> = ops.iter().filter(|op| op["state"] == "FAILED").collect();
                check(
                    failed.iter().any(|op| {
                        op["error"]
                            .as_str()
                            .unwrap_or_default()
                            .contains("conformance")
                            || op["error"].as_str().is_some_and(|e| !e.is_empty())
                    }),
                    || format!("no FAILED instantiate with OSM's error: {ops:?}"),
                )?;
                Ok(failed
                    .first()
                    .map(|op| op["error"].as_str().unwrap_or_default().to_owned())
                    .unwrap_or_default())
            })(),
        );
    } else {
        r.lines
            .push("SKIP  6 failed instantiate: no OSMOPS_CONFORMANCE_FAIL_CMD".into());
        println!("conformance: SKIP  6 failed instantiate: no OSMOPS_CONFORMANCE_FAIL_CMD");
    }

    // 6b. A KDU param from a Secret (docs/secrets.md), in a repository of its own: OSM gets
    // the value; the same value is no change; a rotated one is one upgrade; neither value shows
    // in the output or the state file. Then that repository is pruned.
    secret_steps(&t, &suffix, &mut r).await;

    // 7. Git drops everything: NS instances and packages are pruned in one run.
    for f in ["a.osmops.yaml", "b.osmops.yaml", "c.osmops.yaml"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    std::fs::remove_dir_all(dir.join("osm-pkgs")).unwrap();
    let o = t
        .osmops("apply", dir, &st, &["--prune", "--allow-empty"])
        .await;
    let v = json(&o);
    let left = async {
        let ns = nbi.list_ns_instances(&[]).await?;
        let vnfds = nbi
            .list_packages(osmops::repo::PackageKind::Vnf, &[])
            .await?;
        let nsds = nbi
            .list_packages(osmops::repo::PackageKind::Ns, &[])
            .await?;
        Ok::<_, osmops::osm::NbiError>(
            ns.iter()
                .map(|n| n.name.clone())
                .chain(vnfds.iter().chain(&nsds).filter_map(|p| p.id.clone()))
                .filter(|n| n.contains(&suffix))
                .collect::<Vec<_>>(),
        )
    }
    .await;
    r.step(
        "7 prune of NS and packages in one run",
        (|| {
            check(o.status.code() == Some(0), || outcome_text(&o))?;
            let acts = actions(&v);
            let deletes = acts
                .iter()
                .filter(|x| x.0.starts_with("delete") && x.2 == "Succeeded")
                .count();
            check(deletes >= 6, || format!("{acts:?}"))?;
            let left = left.map_err(|e| e.to_string())?;
            check(left.is_empty(), || format!("still in OSM: {left:?}"))?;
            Ok(format!("{deletes} deleted"))
        })(),
    );

    println!("conformance: {} step(s) failed", r.failed);
    assert_eq!(r.failed, 0, "\n{}", r.lines.join("\n"));
}
