//! Secrets kept out of Git (docs/secrets.md): `${VAR}` substitution in NsInstance files from
//! Secrets and ConfigMaps (controller) or manifest files (CLI). The values reach OSM, a rotated
//! value upgrades the KDU, and no value ever shows on any surface: CLI text and JSON, the saved
//! plan, the state file, the OsmSync status, events, gRPC answers and trace logs.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::world::*;
use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::ByteString;
use kube::api::{Api, Patch, PatchParams, PostParams};
use osmops::sim::Simulator;
use serde_json::json;

const FIRST: &str = "Zx-first-s3cret-41";
const SECOND: &str = "Zx-second-s3cret-42";
const THIRD: &str = "Zx-third-s3cret-43";

/// An NsInstance whose admin password comes from a Secret and whose replica count from a
/// ConfigMap (or `--substitute`).
fn secret_doc(name: &str) -> String {
    format!(
        "kind: NsInstance\nname: {name}\ndescription: test NS {name}\nnsdName: openldap_ns\nvnfName: openldap\nvimAccountName: mylocation1\nkdu:\n  name: ldap\n  params:\n    replicaCount: \"${{REPLICAS:=1}}\"\n    adminPassword: ${{LDAP_PASSWORD}}\n    ldapDsn: \"cn=admin:${{LDAP_PASSWORD}}@ldap\"\n"
    )
}

fn secret_repo() -> tempfile::TempDir {
    let dir = repo(&[]);
    write(dir.path(), "ldap.osmops.yaml", &secret_doc("ldap"));
    dir
}

/// The KDU params OSM last received for `ns` (instantiate or upgrade).
fn sent_params(sim: &Simulator, ns: &str) -> serde_json::Value {
    let ns_id = sim
        .ns_instances()
        .into_iter()
        .find(|n| n["name"] == ns)
        .map(|n| n["_id"].clone())
        .expect("the NS exists");
    let mut ops: Vec<serde_json::Value> = sim
        .operations()
        .into_iter()
        .filter(|o| o["nsInstanceId"] == ns_id)
        .collect();
    ops.sort_by(|a, b| {
        a["startTime"]
            .as_f64()
            .partial_cmp(&b["startTime"].as_f64())
            .unwrap()
    });
    let last = ops.last().expect("an operation");
    if last["lcmOperationType"] == "action" {
        return primitive_params(last);
    }
    let vnfs = &last["operationParams"]["additionalParamsForVnf"];
    let vnfs = match vnfs {
        serde_json::Value::String(s) => serde_json::from_str(s).unwrap(),
        v => v.clone(),
    };
    vnfs[0]["additionalParamsForKdu"][0]["additionalParams"].clone()
}

/// The CLI against `sim` as admin, with trace logs (the redaction scans read them).
fn cli(sim: &Simulator, cmd: &str, dir: &Path, extra: &[&str]) -> Output {
    cli_as(sim, ("admin", "admin"), cmd, dir, extra)
        .env("OSMOPS_LOG", "trace")
        .output()
        .unwrap()
}

/// The CLI against `sim` in project admin as `(user, password)`.
fn cli_as(
    sim: &Simulator,
    login: (&str, &str),
    cmd: &str,
    dir: &Path,
    extra: &[&str],
) -> std::process::Command {
    let mut c = osmops_command();
    c.arg(cmd).arg(dir);
    c.args([
        "--osm-url",
        &sim.url(),
        "--user",
        login.0,
        "--password",
        login.1,
    ]);
    c.args(["--project", "admin"]).args(extra);
    c
}

fn both(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn secret_manifest(password: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ldap-secrets\ntype: Opaque\nstringData:\n  LDAP_PASSWORD: \"{password}\"\n"
    )
}

/// Runs the CLI, adds everything it printed to `seen` (for the redaction scan) and checks that
/// it succeeded; returns what it printed.
fn cli_ok(sim: &Simulator, cmd: &str, dir: &Path, extra: &[&str], seen: &mut String) -> String {
    let o = cli(sim, cmd, dir, extra);
    let text = both(&o);
    seen.push_str(&text);
    assert_eq!(o.status.code(), Some(0), "{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_substitutes_secrets_sends_them_to_osm_and_shows_them_nowhere() {
    let sim = fast_sim().await;
    let dir = secret_repo();
    let files = tempfile::tempdir().unwrap();
    let secret_file = files.path().join("secret.yaml");
    let state = files.path().join("state.json");
    let saved = files.path().join("plan.json");
    std::fs::write(&secret_file, secret_manifest(FIRST)).unwrap();
    let from = secret_file.display().to_string();
    let st = state.display().to_string();
    let saved_path = saved.display().to_string();
    // The variables, then the state file.
    let stateful = [
        "--substitute-from",
        &from,
        "--substitute",
        "REPLICAS=2",
        "--state",
        &st,
    ];
    let stateless = &stateful[..4];
    let mut seen = String::new();

    // plan --out, then apply exactly that plan.
    let flags = [&stateful[..], &["--out", &saved_path]].concat();
    cli_ok(&sim, "plan", dir.path(), &flags, &mut seen);
    let flags = [&stateful[..], &["--plan", &saved_path, "--output", "json"]].concat();
    cli_ok(&sim, "apply", dir.path(), &flags, &mut seen);
    let sent = sent_params(&sim, "ldap");
    assert_eq!(sent["adminPassword"], FIRST, "OSM gets the value: {sent}");
    assert_eq!(sent["ldapDsn"], format!("cn=admin:{FIRST}@ldap"));
    assert_eq!(sent["replicaCount"], "2");

    // Unchanged: a no-op that says nothing about the value.
    cli_ok(&sim, "apply", dir.path(), &stateful, &mut seen);
    let upgrades = action_ops(&sim).len();
    assert_eq!(upgrades, 0, "an unchanged secret sends nothing");

    // Rotated: the plan says which param changed, never how; apply upgrades the KDU.
    std::fs::write(&secret_file, secret_manifest(SECOND)).unwrap();
    let o = cli(&sim, "plan", dir.path(), &stateful);
    let text = both(&o);
    seen.push_str(&text);
    assert!(
        text.contains("adminPassword (secret) changed")
            && text.contains("ldapDsn (secret) changed"),
        "{text}"
    );
    for format in ["json", "text"] {
        let flags = [stateless, &["--output", format]].concat();
        let o = cli(&sim, "plan", dir.path(), &flags);
        seen.push_str(&both(&o));
    }
    let flags = [&stateful[..], &["--output", "json"]].concat();
    cli_ok(&sim, "apply", dir.path(), &flags, &mut seen);
    assert_eq!(sent_params(&sim, "ldap")["adminPassword"], SECOND);

    // Missing file, a secret where it would show: exit 2, nothing sent.
    let writes_before = writes(&sim).len();
    let o = cli(
        &sim,
        "apply",
        dir.path(),
        &["--substitute-from", "/nonexistent/secret.yaml"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", both(&o));
    assert!(
        both(&o).contains("/nonexistent/secret.yaml"),
        "{}",
        both(&o)
    );
    write(
        dir.path(),
        "bad.osmops.yaml",
        "kind: NsInstance\nname: web-${LDAP_PASSWORD}\nnsdName: openldap_ns\nvnfName: openldap\nvimAccountName: mylocation1\nkdu:\n  name: ldap\n",
    );
    let o = cli(&sim, "apply", dir.path(), &["--substitute-from", &from]);
    let text = both(&o);
    seen.push_str(&text);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(
        text.contains("field 'name': variable ${LDAP_PASSWORD} from a Secret may only be used in params or config values"),
        "{text}"
    );
    std::fs::remove_file(dir.path().join("bad.osmops.yaml")).unwrap();
    // Strict mode: an undefined variable without a default is an error.
    let o = cli(
        &sim,
        "plan",
        dir.path(),
        &["--substitute-strict", "--substitute", "REPLICAS=2"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", both(&o));
    assert!(
        both(&o).contains("variable 'LDAP_PASSWORD' is not defined"),
        "{}",
        both(&o)
    );
    assert_eq!(
        writes(&sim).len(),
        writes_before,
        "refused runs send nothing"
    );

    seen.push_str(&std::fs::read_to_string(&saved).unwrap());
    seen.push_str(&std::fs::read_to_string(&state).unwrap());
    assert!(seen.len() > 10_000, "trace logs were read: {}", seen.len());
    for value in [FIRST, SECOND] {
        if let Some(at) = seen.find(value) {
            let from = seen[..at]
                .char_indices()
                .rev()
                .nth(300)
                .map_or(0, |(i, _)| i);
            panic!(
                "{value} shows up in CLI output or files: ...{}",
                &seen[from..(at + 100).min(seen.len())]
            );
        }
    }
    // The state file keeps what it needs to compare: a rerun is still a no-op.
    let o = cli(&sim, "apply", dir.path(), &stateful);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert_eq!(action_ops(&sim).len(), 1, "only the rotation upgraded");
}

async fn put_secret(client: &kube::Client, name: &str, pairs: &[(&str, &str)], watched: bool) {
    let data: BTreeMap<String, ByteString> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
        .collect();
    let api = Api::<Secret>::namespaced(client.clone(), "ops");
    let mut labels = BTreeMap::new();
    if watched {
        labels.insert("reconcile.fluxcd.io/watch".to_owned(), "Enabled".to_owned());
    }
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels),
            ..Default::default()
        },
        data: Some(data.clone()),
        ..Default::default()
    };
    if api.get_opt(name).await.unwrap().is_some() {
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"data": data})),
        )
        .await
        .unwrap();
    } else {
        api.create(&PostParams::default(), &secret).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_substitutes_from_secrets_upgrades_on_rotation_and_shows_them_nowhere() {
    let w = world().await;
    put_secret(&w.client, "ldap-secrets", &[("LDAP_PASSWORD", FIRST)], true).await;
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("ldap-config".into()),
            ..Default::default()
        },
        data: Some([("REPLICAS".to_owned(), "2".to_owned())].into()),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(w.client.clone(), "ops")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let dir = secret_repo();
    w.publish("main@sha1:5ec1", dir.path()).await;
    let tmp = tempfile::tempdir().unwrap();
    let controller = common::process::TracedController::spawn(&w.emu.kubeconfig(tmp.path()));
    let from = json!([
        {"kind": "ConfigMap", "name": "ldap-config"},
        {"kind": "Secret", "name": "ldap-secrets"},
        {"kind": "Secret", "name": "absent-but-optional", "optional": true}
    ]);
    w.create_sync_with("demo", json!({"substituteFrom": from}))
        .await;
    w.create_sync_with(
        "missing",
        json!({"substituteFrom": [{"kind": "Secret", "name": "nope"}], "suspend": false}),
    )
    .await;
    put_secret(&w.client, "partial", &[("OTHER", "x")], true).await;
    w.create_sync_with(
        "lacking",
        json!({"substituteFrom": [{"kind": "Secret", "name": "partial"}]}),
    )
    .await;
    w.wait_for("demo", "applied", |s| applied(s, "main@sha1:5ec1"))
        .await;
    let sent = sent_params(&w.sim, "ldap");
    assert_eq!(sent["adminPassword"], FIRST, "{sent}");
    assert_eq!(sent["replicaCount"], "2", "{sent}");
    let (_, msg) = w.wait_for_reason("missing", "SubstituteFailed").await;
    assert!(
        msg.contains("substituteFrom Secret 'ops/nope' not found"),
        "{msg}"
    );
    // A key the file uses is missing: strict by default, retried (the Secret may get it), and
    // nothing is sent.
    let (status, msg) = w.wait_for_reason("lacking", "SubstituteFailed").await;
    assert!(
        msg.contains("variable 'LDAP_PASSWORD' is not defined (looked in Secret 'ops/partial')"),
        "{msg}"
    );
    assert!(
        status.condition("Stalled").is_none(),
        "{:?}",
        status.conditions
    );

    // Rotating the password once the sync is at rest (Ready, interval 1h, operations done):
    // only the watch on the labelled Secret can bring it back.
    w.wait_for_reason("demo", "ReconciliationSucceeded").await;
    settle(&w.sim).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(action_ops(&w.sim).is_empty(), "nothing upgraded yet");
    put_secret(
        &w.client,
        "ldap-secrets",
        &[("LDAP_PASSWORD", SECOND)],
        true,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let ops = action_ops(&w.sim);
        if ops
            .iter()
            .any(|o| primitive_params(o)["adminPassword"] == SECOND)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no upgrade with the rotated password: {ops:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    settle(&w.sim).await;

    // Everything a user can read.
    let mut seen = String::new();
    for name in ["demo", "missing", "lacking"] {
        seen.push_str(&serde_json::to_string(&w.syncs().get(name).await.unwrap()).unwrap());
    }
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(w.client.clone(), "ops");
    seen.push_str(
        &serde_json::to_string(&events.list(&Default::default()).await.unwrap()).unwrap(),
    );
    let grpc = controller.grpc.clone();
    for what in [
        vec!["get", "syncs"],
        vec!["get", "plan", "demo", "-n", "ops"],
        vec!["get", "plan", "demo", "-n", "ops", "--preview"],
        vec!["get", "operations"],
    ] {
        let out = std::process::Command::new(bin())
            .args(&what)
            .args(["--grpc", &grpc, "--output", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{what:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        seen.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    // A third value, previewed while suspended: the plan says which param changes, never how.
    w.patch_spec("demo", json!({"suspend": true})).await;
    put_secret(&w.client, "ldap-secrets", &[("LDAP_PASSWORD", THIRD)], true).await;
    let out = std::process::Command::new(bin())
        .args(["get", "plan", "demo", "-n", "ops", "--preview"])
        .args(["--grpc", &grpc, "--output", "json"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("adminPassword (secret) changed, ldapDsn (secret) changed"),
        "{said}"
    );
    seen.push_str(&said);
    let logs = controller.stop().await;
    assert!(logs.len() > 10_000, "trace logs ({} bytes)", logs.len());
    seen.push_str(&logs);
    for value in [FIRST, SECOND, THIRD] {
        if let Some(at) = seen.find(value) {
            let from = seen[..at]
                .char_indices()
                .rev()
                .nth(300)
                .map_or(0, |(i, _)| i);
            panic!(
                "{value} shows up: ...{}",
                &seen[from..(at + 100).min(seen.len())]
            );
        }
    }
}

/// examples/ldap-secret as its README and docs/secrets.md run it: the CLI with the Secret and
/// ConfigMap manifests as files; its OsmSync is one the CRD admits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ldap_secret_example_applies_with_its_secret_file() {
    let sim = fast_sim().await;
    let dir = example_copy("ldap-secret");
    let cluster = dir.path().join("cluster");
    let o = cli(
        &sim,
        "apply",
        dir.path(),
        &[
            "--substitute-from",
            &cluster.join("ldap-credentials.yaml").display().to_string(),
            "--substitute-from",
            &cluster.join("ldap-settings.yaml").display().to_string(),
        ],
    );
    let text = both(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    let password = "example-only-not-a-real-password";
    assert!(!text.contains(password), "{text}");
    let sent = sent_params(&sim, "ldap");
    assert_eq!(sent["adminPassword"], password, "{sent}");
    assert_eq!(sent["replicaCount"], "2", "{sent}");

    let schema =
        common::schema::crd_schema(include_str!("../crds/osmops.io_osmsyncs.yaml"), "v1alpha1");
    let text = std::fs::read_to_string(cluster.join("osmsync.yaml")).unwrap();
    let mut sync: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    common::schema::admit(&schema, &mut sync, true, "OsmSync ldap")
        .map_err(|e| e.message)
        .unwrap();
    let sync: osmops::api::OsmSync = serde_json::from_value(sync).unwrap();
    assert_eq!(sync.spec.substitute_from.len(), 2);
}

/// A VM VNF's day-1 param (rendered into its cloud-init) from a Secret: OSM gets it with the
/// instantiate; an unchanged value is no change; a rotated one is a `config` change, which OSM
/// cannot make on a running NS, reported by key only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_day1_param_from_a_secret_reaches_osm_and_a_rotation_is_a_config_change() {
    let sim = fast_sim().await;
    let dir = example_copy("vm-web");
    let doc = std::fs::read_to_string(dir.path().join("web.osmops.yaml"))
        .unwrap()
        .replace(
            "motd: Served by OSM Ops",
            "motd: Served by OSM Ops\n        admin_password: ${WEB_PASSWORD}",
        );
    write(dir.path(), "web.osmops.yaml", &doc);
    let files = tempfile::tempdir().unwrap();
    let secret = files.path().join("s.yaml");
    let state = files.path().join("st.json").display().to_string();
    let put = |v: &str| {
        std::fs::write(
            &secret,
            format!("kind: Secret\ndata:\n  WEB_PASSWORD: {}\n", b64(v)),
        )
        .unwrap()
    };
    let from = secret.display().to_string();
    let flags = ["--substitute-from", &from, "--state", &state];
    let mut seen = String::new();
    put(FIRST);
    cli_ok(&sim, "apply", dir.path(), &flags, &mut seen);
    let inst = sim
        .operations()
        .into_iter()
        .find(|o| o["lcmOperationType"] == "instantiate")
        .unwrap();
    assert!(
        inst["operationParams"].to_string().contains(FIRST),
        "OSM gets the day-1 param: {}",
        inst["operationParams"]
    );
    let text = cli_ok(&sim, "plan", dir.path(), &flags, &mut seen);
    assert!(
        !text.contains("config.additionalParamsForVnf"),
        "an unchanged secret is no config change: {text}"
    );
    // Another change of the document makes the plan compare config with what OSM was
    // instantiated with: the same secret compares equal.
    write(
        dir.path(),
        "web.osmops.yaml",
        &doc.replace(
            "description: Web front end",
            "description: Web front end, v2",
        ),
    );
    let text = cli_ok(&sim, "plan", dir.path(), &flags, &mut seen);
    assert!(
        !text.contains("config.additionalParamsForVnf"),
        "the same secret in config is no change: {text}"
    );
    put(SECOND);
    let o = cli(
        &sim,
        "plan",
        dir.path(),
        &[&flags[..], &["--output", "json"]].concat(),
    );
    let text = both(&o);
    seen.push_str(&text);
    assert!(text.contains("config.additionalParamsForVnf"), "{text}");
    seen.push_str(&std::fs::read_to_string(&state).unwrap());
    for value in [FIRST, SECOND] {
        assert!(!seen.contains(value), "{value} shows up: {seen}");
    }
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The seals in a state file are keyed with the OSM password they were made with: after a
/// password change the state file's operation history is read again from OSM instead of every
/// secret param looking changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_osm_password_does_not_make_secret_params_look_changed() {
    let mut seed = osmops::sim::Seed::default();
    seed.users.push(osmops::sim::SeedUser {
        name: "second".into(),
        password: "another-osm-password".into(),
        projects: vec!["admin".into()],
    });
    let sim = Simulator::start(osmops::sim::SimConfig {
        token_throttle: false,
        lcm_pickup_delay: Duration::from_millis(10),
        lcm_delay: Duration::from_millis(50),
        seed,
        ..osmops::sim::SimConfig::default()
    })
    .await
    .unwrap();
    let dir = secret_repo();
    let files = tempfile::tempdir().unwrap();
    let secret = files.path().join("s.yaml");
    std::fs::write(&secret, secret_manifest(FIRST)).unwrap();
    let state = files.path().join("st.json").display().to_string();
    let from = secret.display().to_string();
    let flags = [
        "--substitute-from",
        &from,
        "--state",
        &state,
        "--owner",
        "repo-1",
    ];
    // The second run reads OSM's history and keeps it, sealed, in the state file.
    for _ in 0..2 {
        let o = cli(&sim, "apply", dir.path(), &flags);
        assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    }
    let kept = std::fs::read_to_string(&state).unwrap();
    assert!(
        kept.contains("\"instantiate\"") && kept.contains("(secret:"),
        "{kept}"
    );
    let o = cli(&sim, "plan", dir.path(), &flags);
    assert!(both(&o).contains("params match OSM"), "{}", both(&o));
    // As if the history had been read a while after the operation ended: the next run reads
    // only what OSM changed since (nothing), so the plan compares with the state file's seals,
    // not with the values OSM has.
    let mut file: serde_json::Value = serde_json::from_str(&kept).unwrap();
    let cursor = file["osmOperations"]["cursor"].as_f64().unwrap();
    file["osmOperations"]["cursor"] = json!(cursor + 1.0);
    std::fs::write(&state, file.to_string()).unwrap();
    // The same OSM and project, reached with another password: other seals.
    let o = cli_as(
        &sim,
        ("second", "another-osm-password"),
        "plan",
        dir.path(),
        &flags,
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert!(both(&o).contains("params match OSM"), "{}", both(&o));
    assert!(!both(&o).contains("(secret) changed"), "{}", both(&o));
}

/// OSM's own words may quote a value it was sent (a Helm error echoing a bad password): the
/// failure is reported with OSM's message, the value replaced by `(secret)`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_osm_error_that_quotes_a_secret_is_reported_scrubbed() {
    let sim = fast_sim().await;
    sim.fail_next(
        "instantiate",
        Some("ldap"),
        1,
        &format!("helm install failed: password '{FIRST}' rejected by slapd"),
    );
    let dir = secret_repo();
    let files = tempfile::tempdir().unwrap();
    let secret = files.path().join("s.yaml");
    std::fs::write(&secret, secret_manifest(FIRST)).unwrap();
    let from = secret.display().to_string();
    for format in ["text", "json"] {
        let o = cli(
            &sim,
            "apply",
            dir.path(),
            &["--substitute-from", &from, "--output", format],
        );
        let text = both(&o);
        assert!(!text.contains(FIRST), "{text}");
        if format == "text" {
            assert_eq!(o.status.code(), Some(1), "{text}");
            assert!(
                text.contains("password '(secret)' rejected by slapd"),
                "{text}"
            );
        } else {
            // The NS is broken now: the plan's reason carries OSM's error, scrubbed.
            assert!(text.contains("'(secret)' rejected by slapd"), "{text}");
        }
    }
}

/// The same in the controller: the failed instantiate, handed off to the follower and recorded
/// by the next reconcile, is reported in the status and the events with OSM's words, the value
/// scrubbed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_reports_an_osm_error_quoting_a_secret_scrubbed() {
    let w = world().await;
    w.sim.fail_next(
        "instantiate",
        Some("ldap"),
        1,
        &format!("helm install failed: password '{FIRST}' rejected by slapd"),
    );
    put_secret(&w.client, "ldap-secrets", &[("LDAP_PASSWORD", FIRST)], true).await;
    let dir = secret_repo();
    w.publish("main@sha1:5ec2", dir.path()).await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let ctl = tokio::spawn(osmops::controller::run(
        context(&w.client, "ctl-1"),
        async move {
            let _ = stop_rx.await;
        },
    ));
    w.create_sync_with(
        "demo",
        json!({"substituteFrom": [{"kind": "Secret", "name": "ldap-secrets"}]}),
    )
    .await;
    let (_, msg) = w.wait_for_reason("demo", "OperationFailed").await;
    assert!(
        msg.contains("password '(secret)' rejected by slapd"),
        "{msg}"
    );
    let mut seen = serde_json::to_string(&w.syncs().get("demo").await.unwrap()).unwrap();
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(w.client.clone(), "ops");
    seen.push_str(
        &serde_json::to_string(&events.list(&Default::default()).await.unwrap()).unwrap(),
    );
    assert!(seen.contains("'(secret)' rejected"), "{seen}");
    assert!(!seen.contains(FIRST), "{seen}");
    let _ = stop_tx.send(());
    let _ = ctl.await;
    // Each reconcile reads the credentials Secret once, though both the seal key and the NBI
    // session come from it.
    let requests = w.emu.requests();
    let created = requests
        .iter()
        .position(|r| r.starts_with("POST ") && r.contains("/osmsyncs"))
        .unwrap();
    let gets = |path: &str| {
        requests[created..]
            .iter()
            .filter(|r| r.starts_with("GET ") && r.ends_with(path))
            .count()
    };
    let reconciles = gets("/secrets/ldap-secrets");
    assert!(reconciles >= 2, "{requests:?}");
    assert_eq!(gets("/secrets/osm-creds"), reconciles, "{requests:?}");
}
