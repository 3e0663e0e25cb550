//! What users apply, checked as the real tools would: the Helm chart, linted (strict) and rendered
//! with the real Helm library (helm-python-sdk) and validated with kubernetes-validate
//! (tests/helm/test_chart.py, run here so `cargo test` covers it), and every OsmSync and Flux
//! source in the docs against the CRDs' schemas with kubectl's strict field validation.

mod common;

#[test]
fn helm_chart_lints_renders_and_validates() {
    let python = common::python::python();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helm/test_chart.py");
    let args_file = tempfile::NamedTempFile::new().unwrap();
    let out = std::process::Command::new(python)
        .arg(script)
        .env("OSMOPS_CHART_ARGS_OUT", args_file.path())
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "chart checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .lines()
            .last()
            .unwrap_or_default()
            .ends_with(" passed, 0 failed"),
        "{stdout}"
    );

    // Every controller command line the chart renders is one the binary accepts.
    use clap::Parser;
    let rendered: Vec<Vec<String>> =
        serde_json::from_slice(&std::fs::read(args_file.path()).unwrap()).unwrap();
    assert_eq!(rendered.len(), 3);
    for args in rendered {
        let argv = std::iter::once("osmops".to_owned()).chain(args.iter().cloned());
        if let Err(e) = osmops::cli::Cli::try_parse_from(argv) {
            panic!("the chart renders arguments the controller refuses: {args:?}\n{e}");
        }
    }
}

/// The YAML blocks of the documentation, by file.
fn doc_yaml_blocks() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.push(root.join("README.md"));
    for ex in [
        "examples/openldap/README.md",
        "examples/multi-knf/README.md",
        "examples/vm-web/README.md",
        "examples/two-kdu-knf/README.md",
    ] {
        files.push(root.join(ex));
    }
    let mut blocks = Vec::new();
    for f in files.into_iter().filter(|f| f.exists()) {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("```yaml\n") {
            let body = &rest[start + 8..];
            let end = body.find("\n```").expect("closed code block");
            blocks.push((f.display().to_string(), body[..end + 1].to_owned()));
            rest = &body[end + 4..];
        }
    }
    blocks
}

/// Every OsmSync and Flux source in the docs is one the API server accepts as written, with
/// kubectl's strict field validation: no unknown field, right types, required fields present.
#[test]
fn every_osmsync_and_flux_source_in_the_docs_is_accepted_by_the_api_server() {
    let osmsync =
        common::schema::crd_schema(include_str!("../crds/osmops.io_osmsyncs.yaml"), "v1alpha1");
    let git = common::schema::crd_schema(
        include_str!("fixtures/flux-crds/source.toolkit.fluxcd.io_gitrepositories.yaml"),
        "v1",
    );
    let oci = common::schema::crd_schema(
        include_str!("fixtures/flux-crds/source.toolkit.fluxcd.io_ocirepositories.yaml"),
        "v1",
    );
    let mut checked = std::collections::BTreeMap::<String, usize>::new();
    for (file, block) in doc_yaml_blocks() {
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&block)
            .unwrap_or_else(|e| panic!("a YAML block of {file} does not parse: {e}\n{block}"));
        for mut doc in docs {
            let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
            let schema = match (
                doc["apiVersion"].as_str().unwrap_or_default(),
                kind.as_str(),
            ) {
                ("osmops.io/v1alpha1", "OsmSync") => &osmsync,
                ("source.toolkit.fluxcd.io/v1", "GitRepository") => &git,
                ("source.toolkit.fluxcd.io/v1", "OCIRepository") => &oci,
                (api, k) if api.starts_with("osmops.io") || k == "OsmSync" => {
                    panic!("{file}: an OsmSync of an unserved version {api}")
                }
                _ => continue,
            };
            let name = doc["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if let Err(e) = common::schema::admit(schema, &mut doc, true, &format!("{kind} {name}"))
            {
                panic!(
                    "{file}: the API server would refuse {kind} {name}: {}",
                    e.message
                );
            }
            *checked.entry(kind).or_default() += 1;
        }
    }
    assert!(
        checked.get("OsmSync").copied().unwrap_or(0) >= 2,
        "{checked:?}"
    );
    assert!(
        checked.get("GitRepository").copied().unwrap_or(0) >= 1,
        "{checked:?}"
    );
}

/// The check above would have caught the field name the docs once had.
#[test]
fn the_docs_check_refuses_a_misspelt_field() {
    let schema =
        common::schema::crd_schema(include_str!("../crds/osmops.io_osmsyncs.yaml"), "v1alpha1");
    let mut doc: serde_json::Value = serde_saphyr::from_str(
        "apiVersion: osmops.io/v1alpha1\nkind: OsmSync\nmetadata: {name: x}\nspec:\n  interval: 5m\n  sourceRef: {kind: GitRepository, name: r}\n  osm:\n    secretRef: {name: s}\n    insecureSkipTLSVerify: true\n",
    )
    .unwrap();
    let e = common::schema::admit(&schema, &mut doc, true, "OsmSync x").unwrap_err();
    assert!(
        e.message
            .contains("unknown field \"spec.osm.insecureSkipTLSVerify\""),
        "{}",
        e.message
    );
}

/// The Argo CD health check, run by a real Lua interpreter (tests/python/test_argocd_health.py).
#[test]
fn the_argocd_health_check_reads_every_osmsync_state() {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/test_argocd_health.py");
    let out = std::process::Command::new(common::python::python())
        .arg(script)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && stdout
                .lines()
                .last()
                .unwrap_or_default()
                .ends_with(" passed, 0 failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
