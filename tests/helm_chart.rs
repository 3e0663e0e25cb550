//! The Helm chart, linted (strict) and rendered with the real Helm library (helm-python-sdk) and
//! validated with kubernetes-validate: tests/helm/test_chart.py, run here so `cargo test` covers it.

mod common;

#[test]
fn helm_chart_lints_renders_and_validates() {
    let python = common::python::python();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helm/test_chart.py");
    let out = std::process::Command::new(python)
        .arg(script)
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
}
