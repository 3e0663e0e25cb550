//! NBI client behaviour: token reuse and re-login, which requests are retried, typed errors.

mod common;

use axum::http::Method;
use common::*;
use osmops::osm::{ClientOptions, Credentials, NbiClient, NbiError, Secret};
use osmops::repo::PackageKind;
use osmops::sim::{Fault, FaultAction};
use serde_json::json;

#[tokio::test]
async fn token_is_reused_and_renewed_once_after_revocation() {
    let sim = fast_sim().await;
    let c = client(&sim);
    for _ in 0..5 {
        c.list_vim_accounts().await.unwrap();
    }
    assert_eq!(c.counters().snapshot().logins, 1);
    sim.revoke_tokens();
    c.list_vim_accounts().await.unwrap();
    assert_eq!(c.counters().snapshot().logins, 2);
    let statuses: Vec<u16> = sim.log().iter().map(|e| e.status).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 401, 200, 200]);
}

#[tokio::test]
async fn a_second_401_is_an_error_not_a_loop() {
    let sim = fast_sim().await;
    let c = client(&sim);
    sim.inject(Fault {
        method: Some(Method::GET),
        path_contains: "vim_accounts".into(),
        action: FaultAction::Status(401),
        remaining: 10,
    });
    let err = c.list_vim_accounts().await.unwrap_err();
    assert!(err.is_status(401), "{err}");
    assert_eq!(
        c.counters().snapshot().logins,
        2,
        "one re-login, then give up"
    );
}

#[tokio::test]
async fn reads_are_retried_on_503_but_writes_are_not() {
    let sim = fast_sim().await;
    let c = client(&sim);
    sim.inject(Fault {
        method: Some(Method::GET),
        path_contains: "vim_accounts".into(),
        action: FaultAction::Status(503),
        remaining: 2,
    });
    assert_eq!(c.list_vim_accounts().await.unwrap().len(), 1);
    assert_eq!(c.counters().snapshot().retries, 2);
    sim.inject(Fault {
        method: Some(Method::POST),
        path_contains: "ns_instances_content".into(),
        action: FaultAction::Status(503),
        remaining: 1,
    });
    let err = c
        .create_ns_instance(&json!({"nsName": "x"}))
        .await
        .unwrap_err();
    match &err {
        NbiError::Api { body, route, .. } => {
            assert_eq!(body.status, 503);
            assert_eq!(body.code, "SERVICE_UNAVAILABLE");
            assert_eq!(route, "nslcm/v1/ns_instances_content");
        }
        other => panic!("{other}"),
    }
    let posts = sim
        .log()
        .iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("ns_instances_content"))
        .count();
    assert_eq!(posts, 1);
}

#[tokio::test]
async fn gateway_errors_and_dropped_answers_on_writes_are_unknown_outcomes() {
    let sim = fast_sim().await;
    let c = client(&sim);
    for action in [FaultAction::Status(502), FaultAction::DropAfterProcessing] {
        sim.inject(Fault {
            method: Some(Method::DELETE),
            path_contains: "vnf_packages_content".into(),
            action,
            remaining: 1,
        });
        let err = c
            .delete_package(PackageKind::Vnf, "00000000-0000-4000-8000-000000000000")
            .await
            .unwrap_err();
        assert!(matches!(err, NbiError::OutcomeUnknown { .. }), "{err}");
    }
}

#[tokio::test]
async fn nbi_errors_carry_status_code_and_detail() {
    let sim = fast_sim().await;
    let c = client(&sim);
    let err = c
        .ns_action(
            "00000000-0000-4000-8000-000000000000",
            &json!({"primitive": "upgrade", "primitive_params": {}}),
        )
        .await
        .unwrap_err();
    let NbiError::Api { body, .. } = err else {
        panic!("{err}")
    };
    assert_eq!((body.status, body.code.as_str()), (404, "NOT_FOUND"));
    assert!(
        body.detail
            .starts_with("database exception Not found entry with filter="),
        "{}",
        body.detail
    );
}

#[tokio::test]
async fn unreachable_osm_is_reported_as_such() {
    let mut opts = ClientOptions::new("http://127.0.0.1:9/osm");
    opts.retry_base_delay = std::time::Duration::from_millis(1);
    let c = NbiClient::new(
        opts,
        Credentials {
            user: "u".into(),
            password: Secret::new("p"),
            project: "admin".into(),
        },
    )
    .unwrap();
    let err = c.list_vim_accounts().await.unwrap_err();
    assert!(
        matches!(err, NbiError::Unreachable { .. }) && err.is_unavailable(),
        "{err}"
    );
}

#[test]
fn tls_configuration_errors_are_clear() {
    let creds = Credentials {
        user: "u".into(),
        password: Secret::new("p"),
        project: "admin".into(),
    };
    let mut opts = ClientOptions::new("https://osm.example:9999/osm");
    opts.ca_pem = Some(b"not a certificate".to_vec());
    let err = NbiClient::new(opts, creds.clone()).unwrap_err();
    assert!(
        err.to_string().contains("CA PEM contains no certificate")
            || err.to_string().contains("invalid CA certificate"),
        "{err}"
    );
    let err = NbiClient::new(ClientOptions::new("osm.example:9999"), creds.clone()).unwrap_err();
    assert!(err.to_string().contains("must start with http"), "{err}");
    assert!(
        !format!("{creds:?}").contains("\"p\""),
        "passwords are redacted in Debug output"
    );
}
