//! Shared helpers of the tz-data integration tests.
//!
//! Each test binary links exactly one plugin crate: every plugin library
//! exports the same root-module symbol, so two cannot share a binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The repository's `testdata/`: among others, the parquet files written by
/// Python that the project must read.
pub fn fixtures_dir() -> PathBuf {
    tz_testkit::testdata("")
}

/// Every `*.parquet` fixture, sorted.
pub fn fixture_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no parquet fixtures in {}", fixtures_dir().display());
    files
}

/// `<repo>/.venv/bin/python`, made by `scripts/setup.sh`.
pub fn python() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh (it makes the Python venv with pyarrow)",
        path.display()
    );
    path
}

/// Runs a Python snippet with `args` in `sys.argv[1:]`; returns its stdout.
pub fn run_python(code: &str, args: &[&str]) -> String {
    let out = Command::new(python()).arg("-c").arg(code).args(args).output().expect("run python");
    assert!(out.status.success(), "python failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A task of the plugin crate linked into this test binary.
pub fn task(name: &str, config: &str) -> tz_sdk::handle::Task {
    let (host, _) = tz_sdk::testing::recording_host();
    tz_sdk::export::in_process::task(name, config, host).unwrap()
}
