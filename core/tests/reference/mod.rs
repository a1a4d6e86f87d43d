//! Helpers for the integration tests that compare with the reference
//! implementation (Python transformers).
//!
//! The reference answers come from Python (`<repo>/.venv/bin/python`, made by
//! `scripts/setup.sh`). A missing venv or fixture is a failure with a message
//! saying what to do, never a silent skip.
//!
//! A test binary carried to another machine (scripts/device_check.sh) finds
//! its files through `TZ_TEST_REPO` (the repository root there) and
//! `TZ_TEST_PYTHON` (an interpreter with torch + transformers), and runs on
//! `TZ_TEST_DEVICE` (`cpu`, the default, or `cuda`).
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The repository root (the workspace that holds `core/`): `TZ_TEST_REPO`,
/// else where this test was built.
pub fn repo_root() -> PathBuf {
    match std::env::var_os("TZ_TEST_REPO") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."),
    }
}

/// The device the parity tests run on: `TZ_TEST_DEVICE` (`cpu` or `cuda`).
pub fn test_device() -> tch::Device {
    match std::env::var("TZ_TEST_DEVICE").as_deref() {
        Err(_) | Ok("cpu") => tch::Device::Cpu,
        Ok("cuda") => {
            assert!(tch::Cuda::is_available(), "TZ_TEST_DEVICE=cuda but libtorch sees no CUDA device");
            tch::Device::Cuda(0)
        }
        Ok(other) => panic!("TZ_TEST_DEVICE='{other}' is not cpu or cuda"),
    }
}

/// The device's name as Python's torch spells it.
pub fn torch_device_name(device: tch::Device) -> &'static str {
    if device.is_cuda() {
        "cuda"
    } else {
        "cpu"
    }
}

/// `TZ_TEST_PYTHON`, else `<repo>/.venv/bin/python`, or a panic that says
/// to run the setup script.
pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("TZ_TEST_PYTHON") {
        return PathBuf::from(python);
    }
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
    let script_path = repo_root().join("core/tests/python").join(script);
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
