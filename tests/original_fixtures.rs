//! The original Go project's fixtures (vendored under tests/fixtures/original-fixtures, provenance in tests/fixtures/README.md), read by this
//! implementation. Where results differ from the Go version, docs/migration.md says why.

use std::path::{Path, PathBuf};

use osmops::repo::{read_repository, PackageKind, ReadOptions, RepoError};

fn fixtures() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original-fixtures");
    assert!(
        p.is_dir(),
        "the vendored fixtures are missing: {}",
        p.display()
    );
    p
}

fn read(rel: &str) -> Result<osmops::repo::DesiredState, RepoError> {
    read_repository(&fixtures().join(rel), &ReadOptions::default())
}

fn problems(rel: &str) -> Vec<String> {
    read(rel)
        .unwrap_err()
        .problems
        .iter()
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn cfg_store_fixtures() {
    // test_1: valid config, target holds only the (ignored) secret.
    let s = read("cfg/store_test_dir/test_1").unwrap();
    assert!(s.ns_instances.is_empty() && s.packages.is_empty());
    // test_2: config in the wrong file name: defaults apply (root, .osmops.yaml) and nothing matches.
    let s = read("cfg/store_test_dir/test_2").unwrap();
    assert!(s.ns_instances.is_empty());
    // test_3: targetDir missing.
    assert_eq!(
        problems("cfg/store_test_dir/test_3"),
        ["osm_ops_config.yaml: field 'targetDir': directory 'deploy.me' does not exist"]
    );
    // test_4: connectionFile missing: credentials come from elsewhere, so it does not matter.
    assert!(read("cfg/store_test_dir/test_4").is_ok());
    // test_5: no fileExtensions: defaults; a file directly under osm-pkgs/ is not a package.
    let s = read("cfg/store_test_dir/test_5").unwrap();
    assert!(s.packages.is_empty());
    // test_6: a bad kind and two empty package descriptors are all reported together.
    let p = problems("cfg/store_test_dir/test_6");
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(
        p[0].contains("deploy.me/k1.ops.yaml (document 1): field 'kind': unknown kind 'invalid'"),
        "{p:?}"
    );
    assert!(
        p[1].starts_with("deploy.me/osm-pkgs/p1/dummy.yaml"),
        "{p:?}"
    );
    assert!(
        p[2].starts_with("deploy.me/osm-pkgs/p2/dummy.yaml"),
        "{p:?}"
    );
}

#[test]
fn engine_reconcile_fixtures() {
    assert!(read("engine/reconcile_test_dir/test_1").is_ok());
    assert!(read("engine/reconcile_test_dir/test_2").is_ok());
    // The Go engine skipped k1 and processed k2/k3; OSM Ops refuses the whole repository.
    assert_eq!(problems("engine/reconcile_test_dir/test_3").len(), 1);
    assert_eq!(problems("engine/reconcile_test_dir/test_4").len(), 3);
    assert_eq!(problems("engine/reconcile_test_dir/test_5").len(), 3);
}

fn package_repo(folders: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in folders {
        let src = fixtures().join(f);
        let dst = dir.path().join("osm-pkgs").join(src.file_name().unwrap());
        copy_dir(&src, &dst);
    }
    dir
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}

/// The one problem of the original packages on current OSM: a chart version in `helm-chart`.
fn chart_version_refused(err: &str) {
    assert!(
        err.contains("helm-chart 'stable/openldap:1.2.7' is not valid in current OSM")
            && err.contains("valid_helm_chart_re")
            && err.contains("kdu.model: stable/openldap:1.2.7"),
        "{err}"
    );
}

#[test]
fn nbic_and_pkgr_package_fixtures() {
    let dir = package_repo(&[
        "pkgr/build_pkg_test_dir/openldap_knf",
        "pkgr/build_pkg_test_dir/openldap_nested",
    ]);
    // The VNFD names its chart with a version, which current OSM refuses (the Go version
    // uploaded it; OSM Release 10 accepted it).
    let err = read_repository(dir.path(), &ReadOptions::default()).unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    chart_version_refused(&err.to_string());
    // Without the version the same folders read as before.
    let vnfd = dir.path().join("osm-pkgs/openldap_knf/openldap_vnfd.yaml");
    let text = std::fs::read_to_string(&vnfd).unwrap();
    std::fs::write(
        &vnfd,
        text.replace("stable/openldap:1.2.7", "stable/openldap"),
    )
    .unwrap();
    let s = read_repository(dir.path(), &ReadOptions::default()).unwrap();
    let got: Vec<_> = s
        .packages
        .iter()
        .map(|p| (p.kind, p.id.as_str(), p.folder.as_str()))
        .collect();
    // openldap_nested keeps its VNFD one level down, which is not a descriptor for OSM: it is the
    // NS package openldap_ns, ordered after the VNF package it references.
    assert_eq!(
        got,
        [
            (PackageKind::Vnf, "openldap_knf", "openldap_knf"),
            (PackageKind::Ns, "openldap_ns", "openldap_nested")
        ]
    );

    // "unsupported" (no _knf suffix) is a SOL006 VNFD: the descriptor decides its kind, and its
    // one problem is the chart version.
    let dir = package_repo(&["nbic/packages_test_dir/unsupported"]);
    let err = read_repository(dir.path(), &ReadOptions::default()).unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    chart_version_refused(&err.to_string());

    for (folder, expected) in [
        (
            "nbic/packages_test_dir/create_knf",
            "descriptor has no 'id'",
        ),
        (
            "nbic/packages_test_dir/update_many_desc/openldap_knf",
            "2 descriptor files",
        ),
        (
            "nbic/packages_test_dir/update_no_desc/openldap_ns",
            "no descriptor file",
        ),
    ] {
        let dir = package_repo(&[folder]);
        let err = read_repository(dir.path(), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{folder}: {err}");
    }
}

#[test]
fn original_demo() {
    // The original demo repository, byte for byte: current OSM refuses its VNFD's chart version.
    let err = read("original-demo").unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    chart_version_refused(&err.to_string());
    // examples/openldap is the same repository with the version moved to the NsInstance.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/openldap");
    let s = read_repository(&root, &ReadOptions::default()).unwrap();
    assert_eq!(s.ns_instances.len(), 1);
    assert_eq!(s.packages.len(), 2);
    assert_eq!(
        s.ns_instances[0].kdus[0].model.as_deref(),
        Some("stable/openldap:1.2.7")
    );
}
