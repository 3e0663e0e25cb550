//! The Helm chart, linted (strict) and rendered with the real Helm library (helm-python-sdk) and
//! validated with kubernetes-validate: tests/helm/test_chart.py, run here so `cargo test` covers it.

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
