//! Artifact download and extraction against a local server serving real tar.gz with digests.

mod common;

use std::time::Duration;

use common::artifacts::{raw_tar, tar_dir, ArtifactServer};
use common::*;
use osmops::repo::{read_repository, ReadOptions};
use osmops::source::{fetch, ExtractLimits, FetchOptions, SourceError};
use tar::EntryType;

fn opts() -> FetchOptions {
    FetchOptions {
        retry_delay: Duration::from_millis(10),
        localhost_override: None,
        ..FetchOptions::default()
    }
}

#[tokio::test]
async fn a_git_artifact_becomes_a_repository_snapshot() {
    let server = ArtifactServer::start().await;
    let dir = repo(&[("ldap", Some("2"))]);
    let (url, digest) = server.publish("abc.tar.gz", tar_dir(dir.path()));
    let http = reqwest::Client::new();
    let snap = fetch(&http, &url, "main@sha1:abc", &digest, &opts())
        .await
        .unwrap();
    assert_eq!(snap.revision, "main@sha1:abc");
    let desired = read_repository(snap.root(), &ReadOptions::default()).unwrap();
    assert_eq!(desired.ns_instances[0].name, "ldap");
    assert_eq!(desired.packages.len(), 2);
    // The original demo layout works from an artifact too.
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/openldap");
    let (url, digest) = server.publish("demo.tar.gz", tar_dir(&demo));
    let snap = fetch(&http, &url, "v1@sha1:def", &digest, &opts())
        .await
        .unwrap();
    let desired = read_repository(snap.root(), &ReadOptions::default()).unwrap();
    assert_eq!(desired.ns_instances.len(), 1);
    let root = snap.root().to_path_buf();
    drop(snap);
    assert!(
        !root.exists(),
        "the snapshot directory is removed with the snapshot"
    );
}

#[tokio::test]
async fn wrong_digest_is_refused() {
    let server = ArtifactServer::start().await;
    let (url, _) = server.publish("a.tar.gz", tar_dir(repo(&[]).path()));
    let err = fetch(
        &reqwest::Client::new(),
        &url,
        "r",
        &format!("sha256:{}", "0".repeat(64)),
        &opts(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SourceError::DigestMismatch { .. }), "{err}");
    let err = fetch(&reqwest::Client::new(), &url, "r", "md5:abc", &opts())
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::UnsupportedDigest(_)), "{err}");
}

#[tokio::test]
async fn oversized_artifacts_are_refused_while_streaming() {
    let server = ArtifactServer::start().await;
    let (url, digest) = server.publish("big.tar.gz", vec![7u8; 300_000]);
    let small = FetchOptions {
        max_download_bytes: 100_000,
        ..opts()
    };
    let err = fetch(&reqwest::Client::new(), &url, "r", &digest, &small)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::TooLarge { limit: 100_000, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_and_missing_artifacts_are_not() {
    let server = ArtifactServer::start().await;
    let (url, digest) = server.publish("a.tar.gz", tar_dir(repo(&[]).path()));
    server.fail_next(2);
    fetch(&reqwest::Client::new(), &url, "r", &digest, &opts())
        .await
        .unwrap();
    assert_eq!(server.hits(), 3);
    let err = fetch(
        &reqwest::Client::new(),
        &format!("{}/gone.tar.gz", server.base),
        "r",
        &digest,
        &opts(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    assert_eq!(server.hits(), 4, "a 404 is not retried");
}

#[tokio::test]
async fn source_controller_localhost_is_honoured() {
    let server = ArtifactServer::start().await;
    let (_, digest) = server.publish("a.tar.gz", tar_dir(repo(&[]).path()));
    let in_cluster = "http://source-controller.flux-system.svc.cluster.local./a.tar.gz";
    let o = FetchOptions {
        localhost_override: Some(server.base.trim_start_matches("http://").to_owned()),
        ..opts()
    };
    fetch(&reqwest::Client::new(), in_cluster, "r", &digest, &o)
        .await
        .unwrap();
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn hostile_tarballs_are_refused_or_defused() {
    let server = ArtifactServer::start().await;
    let http = reqwest::Client::new();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            raw_tar(&[("../evil.txt", EntryType::Regular, "x")]),
            "leaves the archive root",
        ),
        (
            "abs",
            raw_tar(&[("/etc/evil", EntryType::Regular, "x")]),
            "absolute",
        ),
        (
            "dev",
            raw_tar(&[("dev0", EntryType::Char, "")]),
            "not a regular file",
        ),
        (
            "fifo",
            raw_tar(&[("pipe", EntryType::Fifo, "")]),
            "not a regular file",
        ),
        ("garbage", b"this is not gzip".to_vec(), "cannot extract"),
    ];
    for (name, bytes, expected) in cases {
        let (url, digest) = server.publish(&format!("{name}.tar.gz"), bytes);
        let err = fetch(&http, &url, "r", &digest, &opts()).await.unwrap_err();
        assert!(err.to_string().contains(expected), "{name}: {err}");
    }
    // Links are skipped, never followed: nothing outside the snapshot can be read or written.
    let (url, digest) = server.publish(
        "links.tar.gz",
        raw_tar(&[
            ("ok.osmops.yaml", EntryType::Regular, ""),
            ("passwd", EntryType::Symlink, "/etc/passwd"),
            ("up", EntryType::Symlink, "../.."),
        ]),
    );
    let snap = fetch(&http, &url, "r", &digest, &opts()).await.unwrap();
    assert!(snap.root().join("ok.osmops.yaml").exists());
    assert!(!snap.root().join("passwd").exists() && !snap.root().join("up").exists());
    // Limits on file count and total size.
    let many: Vec<(String, EntryType, &str)> = (0..20)
        .map(|i| (format!("f{i}"), EntryType::Regular, "data"))
        .collect();
    let refs: Vec<(&str, EntryType, &str)> =
        many.iter().map(|(n, k, c)| (n.as_str(), *k, *c)).collect();
    let (url, digest) = server.publish("many.tar.gz", raw_tar(&refs));
    let tight = FetchOptions {
        limits: ExtractLimits {
            max_files: 10,
            max_total_bytes: 1 << 20,
        },
        ..opts()
    };
    let err = fetch(&http, &url, "r", &digest, &tight).await.unwrap_err();
    assert!(err.to_string().contains("more than 10 files"), "{err}");
    let tight = FetchOptions {
        limits: ExtractLimits {
            max_files: 100,
            max_total_bytes: 50,
        },
        ..opts()
    };
    let err = fetch(&http, &url, "r", &digest, &tight).await.unwrap_err();
    assert!(
        err.to_string().contains("extracted size exceeds 50 bytes"),
        "{err}"
    );
}
