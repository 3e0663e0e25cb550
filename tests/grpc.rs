//! The gRPC API with a real tonic client, against the server wired to the controller (running
//! against the Kubernetes API emulator), the engine and the NBI simulator.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::world::*;
use common::*;
use osmops::controller::{self, Context};
use osmops::grpc::pb::osm_ops_client::OsmOpsClient;
use osmops::grpc::pb::{self, event::Kind};
use osmops::grpc::{GrpcOptions, TlsFiles};
use serde_json::json;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::Code;

/// The shared controller test world, with the controller running and its context kept for the
/// gRPC server.
struct World {
    base: common::world::World,
    ctx: Arc<Context>,
}

impl std::ops::Deref for World {
    type Target = common::world::World;
    fn deref(&self) -> &Self::Target {
        &self.base
    }
}

impl World {
    async fn new() -> World {
        let base = world().await;
        let ctx = context(&base.client, "ctl");
        tokio::spawn(controller::run(ctx.clone(), std::future::pending::<()>()));
        World { base, ctx }
    }

    /// An OsmSync reading `repo` with the credentials in Secret `secret`; no prune, retries an
    /// hour apart (these tests look at one reconcile at a time).
    async fn create_sync(&self, name: &str, secret: &str) {
        self.base
            .create_sync_with(
                name,
                json!({"retryInterval": "1h", "prune": false, "osm": {"secretRef": {"name": secret}}}),
            )
            .await
    }

    async fn wait_applied(&self, name: &str, rev: &str) {
        self.base
            .wait_for(name, &format!("{rev} applied"), |s| applied(s, rev))
            .await;
    }

    /// Starts the gRPC server on an ephemeral port; returns its address.
    async fn serve(&self, opts: GrpcOptions) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(osmops::grpc::serve(
            self.ctx.clone(),
            listener,
            opts,
            std::future::pending::<()>(),
        ));
        addr
    }
}

async fn plain_client(addr: std::net::SocketAddr) -> OsmOpsClient<Channel> {
    OsmOpsClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

fn sref(name: &str) -> Option<pb::SyncRef> {
    Some(pb::SyncRef {
        namespace: "ops".into(),
        name: name.into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_plans_operations_previews_and_errors() {
    let w = World::new().await;
    let dir = repo(&[("ldap", Some("1")), ("ldap2", None)]);
    w.publish("main@sha1:1111", dir.path()).await;
    w.create_sync("demo", "osm-creds").await;
    w.wait_applied("demo", "main@sha1:1111").await;
    let addr = w.serve(GrpcOptions::default()).await;
    let mut c = plain_client(addr).await;

    // ListSyncs / GetSync: what `flux get` shows.
    let syncs = c
        .list_syncs(pb::ListSyncsRequest {
            namespace: "ops".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .syncs;
    assert_eq!(syncs.len(), 1);
    let s = &syncs[0];
    assert_eq!(
        (s.ready.as_str(), s.reason.as_str()),
        ("True", "ReconciliationSucceeded")
    );
    assert_eq!(s.last_applied_revision, "main@sha1:1111");
    assert_eq!(s.source, "GitRepository/ops/repo");
    assert!(!s.last_reconcile_time.is_empty());
    assert!(c
        .list_syncs(pb::ListSyncsRequest {
            namespace: "other".into()
        })
        .await
        .unwrap()
        .into_inner()
        .syncs
        .is_empty());
    let err = c
        .get_sync(pb::GetSyncRequest {
            r#ref: sref("nope"),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(
        c.get_sync(pb::GetSyncRequest { r#ref: None })
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );

    // GetPlan: the applied plan with outcomes traced to OSM ids.
    let plan = c
        .get_plan(pb::GetPlanRequest {
            r#ref: sref("demo"),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(plan.applied);
    assert_eq!(plan.revision, "main@sha1:1111"); // The last plan computed: the creating one, or a later no-op reconcile of the same revision
                                                 // (a source watch event may trigger one).
    let names: Vec<String> = plan
        .actions
        .iter()
        .map(|a| format!("{} {}", a.kind, a.name))
        .collect();
    assert_eq!(
        names,
        [
            "VnfPackage openldap_knf",
            "NsPackage openldap_ns",
            "NsInstance ldap",
            "NsInstance ldap2"
        ]
    );
    for a in &plan.actions {
        match (a.operation.as_str(), a.outcome.as_str()) {
            ("create", "Succeeded") => assert!(!a.osm_id.is_empty()),
            ("unchanged", "NoOp") => assert!(
                !a.osm_id.is_empty(),
                "unchanged objects still name their OSM id"
            ),
            other => panic!("unexpected action {other:?}"),
        }
        if a.kind == "NsInstance" && a.operation == "create" {
            assert_eq!(a.nslcmop_id.len(), 36);
        }
    }

    // ListOperations / GetOperation, paging and filters; every op traces to a revision.
    let all = c
        .list_operations(pb::ListOperationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.operations.len(), 2);
    assert!(all.next_page_token.is_empty());
    assert!(all.operations.iter().all(|o| o.state == "COMPLETED"
        && o.r#type == "instantiate"
        && o.revision == "main@sha1:1111"));
    let p1 = c
        .list_operations(pb::ListOperationsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p1.operations.len(), 1);
    assert!(!p1.next_page_token.is_empty());
    let p2 = c
        .list_operations(pb::ListOperationsRequest {
            page_size: 1,
            page_token: p1.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p2.operations.len(), 1);
    assert_ne!(p1.operations[0].nslcmop_id, p2.operations[0].nslcmop_id);
    assert!(p2.next_page_token.is_empty());
    let by_ns = c
        .list_operations(pb::ListOperationsRequest {
            ns_name: "ldap2".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_ns.operations.len(), 1);
    assert_eq!(by_ns.operations[0].ns_name, "ldap2");
    let failed = c
        .list_operations(pb::ListOperationsRequest {
            state: "FAILED".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(failed.operations.is_empty());
    let future = c
        .list_operations(pb::ListOperationsRequest {
            start_after: "2999-01-01T00:00:00Z".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(future.operations.is_empty());
    for bad in [
        pb::ListOperationsRequest {
            page_token: "garbage".into(),
            ..Default::default()
        },
        pb::ListOperationsRequest {
            page_size: 5000,
            ..Default::default()
        },
        pb::ListOperationsRequest {
            start_after: "yesterday".into(),
            ..Default::default()
        },
    ] {
        assert_eq!(
            c.list_operations(bad).await.unwrap_err().code(),
            Code::InvalidArgument
        );
    }
    let one = c
        .get_operation(pb::GetOperationRequest {
            nslcmop_id: p1.operations[0].nslcmop_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.nslcmop_id, p1.operations[0].nslcmop_id);
    assert!(!one.start_time.is_empty() && !one.end_time.is_empty());
    assert_eq!(
        c.get_operation(pb::GetOperationRequest {
            nslcmop_id: "nope".into()
        })
        .await
        .unwrap_err()
        .code(),
        Code::NotFound
    );

    // PreviewPlan: a new revision previewed against live OSM with zero writes. The OsmSync is
    // suspended first (and the controller seen to know it), so that only the preview looks at
    // the new revision until it is resumed.
    w.patch_spec("demo", json!({"suspend": true})).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !c
        .get_sync(pb::GetSyncRequest {
            r#ref: sref("demo"),
        })
        .await
        .unwrap()
        .into_inner()
        .suspended
    {
        assert!(Instant::now() < deadline, "suspension not observed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    write(dir.path(), "ldap.osmops.yaml", &ns_doc("ldap", Some("5")));
    let writes_before = writes(&w.sim).len();
    w.publish("main@sha1:2222", dir.path()).await;
    let preview = c
        .preview_plan(pb::PreviewPlanRequest {
            r#ref: sref("demo"),
            revision: "main@sha1:2222".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!preview.applied);
    assert_eq!(preview.revision, "main@sha1:2222");
    let up = preview.actions.iter().find(|a| a.name == "ldap").unwrap();
    assert_eq!(
        (up.operation.as_str(), up.reason.as_str()),
        ("upgrade", "replicaCount 1→5")
    );
    // Which KDU of the NS the upgrade is for.
    assert_eq!(
        (up.target.as_str(), up.target_kind.as_str()),
        ("openldap/ldap", "kdu")
    );
    let err = c
        .preview_plan(pb::PreviewPlanRequest {
            r#ref: sref("demo"),
            revision: "main@sha1:0000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    assert!(
        err.message().contains("no longer served"),
        "{}",
        err.message()
    );
    assert_eq!(writes(&w.sim).len(), writes_before, "previews never write");
    // Resumed, the controller applies the revision: exactly the one upgrade the preview showed.
    w.patch_spec("demo", json!({"suspend": false})).await;
    w.wait_applied("demo", "main@sha1:2222").await;
    let new_writes: Vec<String> = writes(&w.sim)[writes_before..].to_vec();
    assert_eq!(
        new_writes.len(),
        1,
        "only the controller's upgrade, no preview writes: {new_writes:?}"
    );
    // The operation history says which KDU it upgraded.
    let ops = c
        .list_operations(pb::ListOperationsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .operations;
    let upgrade = ops
        .iter()
        .find(|o| o.r#type == "action")
        .expect("the upgrade");
    assert_eq!(upgrade.target, "openldap/ldap");

    // OSM down → UNAVAILABLE; credentials never echoed.
    create_secret(
        &w.client,
        "osm-down",
        "http://127.0.0.1:9/osm",
        "gitops-user",
        "hunter2-pw",
    )
    .await;
    w.create_sync("down", "osm-down").await;
    let err = c
        .preview_plan(pb::PreviewPlanRequest {
            r#ref: sref("down"),
            revision: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(!err.message().contains("hunter2-pw"), "{}", err.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_follows_a_reconcile_and_resumes() {
    let w = World::new().await;
    let dir = repo(&[("ldap", Some("1"))]);
    w.publish("main@sha1:aaaa", dir.path()).await;
    let addr = w.serve(GrpcOptions::default()).await;
    let mut c = plain_client(addr).await;
    let mut stream = c
        .watch_events(pb::WatchEventsRequest {
            after_sequence: None,
            namespace: "ops".into(),
        })
        .await
        .unwrap()
        .into_inner();
    w.create_sync("demo", "osm-creds").await;
    let mut seen = vec![];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen
        .iter()
        .any(|(_, k): &(u64, String)| k.starts_with("finished True"))
    {
        let ev = tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            stream.message(),
        )
        .await
        .expect("events arrive")
        .unwrap()
        .unwrap();
        let k = match ev.kind.unwrap() {
            Kind::ReconcileStarted(s) => format!("started {}", s.revision),
            Kind::PlanComputed(p) => format!("plan {}", p.actions.len()),
            Kind::OperationChanged(o) => format!("op {} {}", o.r#type, o.state),
            Kind::ReconcileFinished(f) => format!("finished {} {}", f.ready, f.reason),
        };
        seen.push((ev.sequence, k));
    }
    let kinds: Vec<&str> = seen.iter().map(|(_, k)| k.as_str()).collect();
    assert!(kinds.contains(&"started main@sha1:aaaa"), "{kinds:?}");
    assert!(kinds.contains(&"plan 3"), "{kinds:?}");
    assert!(kinds.contains(&"op instantiate COMPLETED"), "{kinds:?}");
    assert_eq!(
        *kinds.last().unwrap(),
        "finished True ReconciliationSucceeded"
    );
    assert!(
        seen.windows(2).all(|p| p[0].0 < p[1].0),
        "sequence numbers increase"
    );
    // Resume from the first event: everything after it is replayed, in order.
    let first = seen[0].0;
    let mut resumed = c
        .watch_events(pb::WatchEventsRequest {
            after_sequence: Some(first),
            namespace: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    for (seq, _) in &seen[1..] {
        let ev = tokio::time::timeout(Duration::from_secs(5), resumed.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(ev.sequence, *seq);
    }
    // `after_sequence: 0` replays from the very first retained event (event 1 included), and
    // the CLI does the same with `--after 0` and an address without a scheme.
    let mut all = c
        .watch_events(pb::WatchEventsRequest {
            after_sequence: Some(0),
            namespace: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let ev = tokio::time::timeout(Duration::from_secs(5), all.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(ev.sequence, 1);
    let mut cli = std::process::Command::new(common::bin())
        .args([
            "events",
            "--after",
            "0",
            "--output",
            "json",
            "--grpc",
            &addr.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = cli.stdout.take().unwrap();
    let first_line = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
                .map(|_| line)
        }),
    )
    .await
    .expect("the CLI prints the replayed events")
    .unwrap()
    .unwrap();
    cli.kill().unwrap();
    let _ = cli.wait();
    let first_event: serde_json::Value = serde_json::from_str(&first_line).unwrap();
    assert_eq!(first_event["sequence"], 1, "{first_line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_and_health_and_reflection() {
    let w = World::new().await;
    let addr = w
        .serve(GrpcOptions {
            tls: None,
            token: Some("s3cret-token".into()),
        })
        .await;
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut anon = OsmOpsClient::new(channel.clone());
    let err = anon
        .list_syncs(pb::ListSyncsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let mut wrong = OsmOpsClient::with_interceptor(channel.clone(), |mut r: tonic::Request<()>| {
        r.metadata_mut()
            .insert("authorization", "Bearer nope".parse().unwrap());
        Ok(r)
    });
    assert_eq!(
        wrong
            .list_syncs(pb::ListSyncsRequest::default())
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let mut authed = OsmOpsClient::with_interceptor(channel.clone(), |mut r: tonic::Request<()>| {
        r.metadata_mut()
            .insert("authorization", "Bearer s3cret-token".parse().unwrap());
        Ok(r)
    });
    authed
        .list_syncs(pb::ListSyncsRequest::default())
        .await
        .unwrap();
    // Health stays open for probes.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let h = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "osmops.v1.OsmOps".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        h.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    // Reflection (v1) lists the services.
    use tonic_reflection::pb::v1::{
        server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        ServerReflectionRequest,
    };
    let mut refl = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut resp = refl
        .server_reflection_info(futures::stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let msg = resp.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else {
        panic!("unexpected reflection answer")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"osmops.v1.OsmOps".to_owned())
            && names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_mutual_tls() {
    let w = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let server = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let client_id = rcgen::generate_simple_self_signed(vec!["osmops-dashboard".into()]).unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("server.crt"), server.cert.pem()).unwrap();
    std::fs::write(p("server.key"), server.signing_key.serialize_pem()).unwrap();
    std::fs::write(p("client.crt"), client_id.cert.pem()).unwrap();
    let tls_only = w
        .serve(GrpcOptions {
            tls: Some(TlsFiles {
                cert: p("server.crt"),
                key: p("server.key"),
                client_ca: None,
            }),
            token: None,
        })
        .await;
    let ca = Certificate::from_pem(server.cert.pem());
    let tls = ClientTlsConfig::new()
        .ca_certificate(ca.clone())
        .domain_name("localhost");
    let ch = Channel::from_shared(format!("https://{tls_only}"))
        .unwrap()
        .tls_config(tls.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    OsmOpsClient::new(ch)
        .list_syncs(pb::ListSyncsRequest::default())
        .await
        .unwrap();
    // A plaintext client cannot talk to the TLS server.
    let plain = Channel::from_shared(format!("http://{tls_only}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(ch) = plain {
        assert!(OsmOpsClient::new(ch)
            .list_syncs(pb::ListSyncsRequest::default())
            .await
            .is_err());
    }
    // Mutual TLS: without a client certificate the call fails; with one signed by the CA it works.
    let mtls = w
        .serve(GrpcOptions {
            tls: Some(TlsFiles {
                cert: p("server.crt"),
                key: p("server.key"),
                client_ca: Some(p("client.crt")),
            }),
            token: None,
        })
        .await;
    let no_cert = Channel::from_shared(format!("https://{mtls}"))
        .unwrap()
        .tls_config(tls.clone())
        .unwrap()
        .connect()
        .await;
    if let Ok(ch) = no_cert {
        assert!(
            OsmOpsClient::new(ch)
                .list_syncs(pb::ListSyncsRequest::default())
                .await
                .is_err(),
            "client certificate required"
        );
    }
    let with_cert = tls.identity(Identity::from_pem(
        client_id.cert.pem(),
        client_id.signing_key.serialize_pem(),
    ));
    let ch = Channel::from_shared(format!("https://{mtls}"))
        .unwrap()
        .tls_config(with_cert)
        .unwrap()
        .connect()
        .await
        .unwrap();
    OsmOpsClient::new(ch)
        .list_syncs(pb::ListSyncsRequest::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_python_client_discovers_and_calls_the_api() {
    let python = tokio::task::spawn_blocking(common::python::python)
        .await
        .unwrap();
    let w = World::new().await;
    let dir = repo(&[("ldap", Some("1"))]);
    w.publish("main@sha1:pypy", dir.path()).await;
    w.create_sync("demo", "osm-creds").await;
    w.wait_applied("demo", "main@sha1:pypy").await;
    let addr = w.serve(GrpcOptions::default()).await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/grpc_client_test.py");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .args([addr.to_string().as_str(), "ops", "demo"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "python client failed:\n{stdout}\n{stderr}"
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(seen["syncs"][0]["revision"], "main@sha1:pypy");
    assert_eq!(seen["operations"][0]["type"], "instantiate");
    assert_eq!(seen["operations"][0]["revision"], "main@sha1:pypy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_replica_refuses_calls_instead_of_answering_with_an_empty_journal() {
    let w = World::new().await;
    let addr = w.serve(GrpcOptions::default()).await;
    let mut c = plain_client(addr).await;
    w.ctx
        .leading
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let err = c
        .list_syncs(pb::ListSyncsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(err.message().contains("standby"), "{}", err.message());
    // Once it leads, it answers.
    w.ctx
        .leading
        .store(true, std::sync::atomic::Ordering::SeqCst);
    c.list_syncs(pb::ListSyncsRequest::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_plan_needs_authentication_and_the_pending_digest_and_records_the_approver() {
    let w = World::new().await;
    let dir = repo(&[("ldap", Some("1"))]);
    let rev = "main@sha1:a990";
    w.publish(rev, dir.path()).await;
    w.base
        .create_sync_with(
            "gated",
            json!({"retryInterval": "1h", "prune": false, "approval": "manual"}),
        )
        .await;
    let (st, _) = w.wait_for_reason("gated", "AwaitingApproval").await;
    let digest = st.pending_plan.unwrap().digest;

    // Without authentication anyone who reaches the port could approve: refused.
    let open = w.serve(GrpcOptions::default()).await;
    let err = plain_client(open)
        .await
        .approve_plan(pb::ApprovePlanRequest {
            r#ref: sref("gated"),
            digest: digest.clone(),
            approver: "mallory".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    let addr = w
        .serve(GrpcOptions {
            tls: None,
            token: Some("approver-token".into()),
        })
        .await;
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = OsmOpsClient::with_interceptor(channel, |mut r: tonic::Request<()>| {
        r.metadata_mut()
            .insert("authorization", "Bearer approver-token".parse().unwrap());
        Ok(r)
    });
    // The pending plan, with its digest, through GetPlan.
    let plan = c
        .get_plan(pb::GetPlanRequest {
            r#ref: sref("gated"),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(plan.awaiting_approval && !plan.applied);
    assert_eq!(plan.digest, digest);
    assert_eq!(plan.actions.last().unwrap().operation, "create");
    // Another digest is refused, naming the pending one.
    let err = c
        .approve_plan(pb::ApprovePlanRequest {
            r#ref: sref("gated"),
            digest: format!("sha256:{}", "0".repeat(64)),
            approver: "bob".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains(&digest), "{}", err.message());
    assert!(writes(&w.sim).is_empty());

    // `osmops approve` shows the pending plan and approves its digest.
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), "approver-token\n").unwrap();
    let out = std::process::Command::new(common::bin())
        .args([
            "approve",
            "gated",
            "-n",
            "ops",
            "--approver",
            "carol",
            "--grpc",
        ])
        .arg(addr.to_string())
        .arg("--grpc-token-file")
        .arg(token_file.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Plan AWAITING APPROVAL"), "{stdout}");
    assert!(stdout.contains(&format!("digest: {digest}")), "{stdout}");
    assert!(
        stdout.contains("recorded approver: carol via gRPC (bearer token)"),
        "{stdout}"
    );
    let s = w
        .base
        .wait_for("gated", "the approved plan applied", |s| applied(s, rev))
        .await;
    assert_eq!(
        s.status.unwrap().last_approved_plan.unwrap().approved_by,
        "carol via gRPC (bearer token)"
    );
    assert_eq!(w.sim.ns_instances().len(), 1);
    // Nothing awaits approval any more.
    let err = c
        .approve_plan(pb::ApprovePlanRequest {
            r#ref: sref("gated"),
            digest,
            approver: "bob".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
}
