//! Helpers for the integration tests that compare with the reference
//! implementation (Python transformers).
//!
//! The reference answers come from Python (`<repo>/.venv/bin/python`, made by
//! `scripts/setup.sh`). A missing venv or fixture is a failure with a message
//! saying what to do, never a silent skip.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The repository root (the workspace that holds `core/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `<repo>/.venv/bin/python`, or a panic that says to run the setup script.
pub fn python() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} not found: run scripts/setup.sh (it creates the PyTorch + transformers venv these tests compare against)",
        python.display()
    );
    python
}

/// A file of the repository's `testdata/`.
pub fn fixture(name: &str) -> PathBuf {
    tz_testkit::testdata(name)
}

/// Runs `core/tests/python/<script>` with `request` as JSON on stdin and
/// returns its JSON answer. Panics with Python's stderr on failure.
pub fn run_python(script: &str, request: &serde_json::Value) -> serde_json::Value {
    let script_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(script);
    let mut child = Command::new(python())
        .arg(&script_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Offline and quiet: the tests never download anything.
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_VERBOSITY", "error")
        .env("TOKENIZERS_PARALLELISM", "false")
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python().display()));
    child.stdin.take().expect("piped").write_all(request.to_string().as_bytes()).expect("write request");
    let out = child.wait_with_output().expect("python ran");
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}",
        script_path.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{} printed no JSON ({e}):\n{}", script_path.display(), String::from_utf8_lossy(&out.stdout))
    })
}

/// A JSON array of ints as `Vec<u32>`.
pub fn ids(value: &serde_json::Value) -> Vec<u32> {
    value.as_array().expect("a list of ids").iter().map(|v| v.as_u64().expect("an id") as u32).collect()
}
