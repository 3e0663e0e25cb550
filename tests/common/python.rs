//! A Python interpreter with the test requirements (grpcio, grpcio-tools, helm-python-sdk,
//! kubernetes-validate): `OSMOPS_TEST_PYTHON` (set by .ci/run), or a venv created once under the
//! target directory and refreshed whenever tests/python/requirements.txt changes.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static SETUP: Mutex<()> = Mutex::new(());

pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("OSMOPS_TEST_PYTHON") {
        return p.into();
    }
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let reqs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/requirements.txt");
    let wanted = std::fs::read_to_string(&reqs).expect("requirements file");
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let venv = tmp.join("osmops-pyvenv");
    let python = venv.join("bin/python");
    let marker = tmp.join("osmops-pyvenv.requirements");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
        let ok = std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 is installed")
            .success();
        assert!(ok, "cannot create a Python venv");
        let ok = std::process::Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&reqs)
            .status()
            .unwrap()
            .success();
        assert!(ok, "cannot install the Python test requirements from PyPI");
        std::fs::write(&marker, wanted).unwrap();
    }
    python
}
