//! Shared helpers of the host's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The directory that holds `tzhost` and the plugin libraries built beside it.
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_tzhost")).parent().unwrap().to_path_buf()
}

/// A library built by this workspace, e.g. `fixture_test_plugins`. The test
/// command builds the whole workspace first (`scripts/test.sh`).
pub fn library(stem: &str) -> PathBuf {
    let p = bin_dir().join(format!("lib{stem}{}", std::env::consts::DLL_SUFFIX));
    assert!(
        p.exists(),
        "{} is missing: build the workspace first (cargo build --release --workspace)",
        p.display()
    );
    p
}

/// Copies libraries into a fresh temporary directory (a plugin directory).
pub fn plugin_dir(stems: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for s in stems {
        let src = library(s);
        std::fs::copy(&src, dir.path().join(src.file_name().unwrap())).unwrap();
    }
    dir
}

/// Runs tzhost with `args` and no inherited TZ_PLUGIN_PATH.
pub fn tzhost(args: &[&str]) -> Output {
    tzhost_env(args, &[])
}

pub fn tzhost_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tzhost"));
    cmd.args(args).env_remove("TZ_PLUGIN_PATH").env_remove("LD_LIBRARY_PATH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The error output is exactly one line starting with `error:` (no panic trace).
pub fn assert_one_line_error(o: &Output) -> String {
    assert!(!o.status.success(), "expected failure, got success; stdout: {}", stdout(o));
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{err}");
    assert!(lines[0].starts_with("error: "), "unexpected error line: {}", lines[0]);
    assert!(!err.contains("panicked at") && !err.contains("RUST_BACKTRACE"), "panic trace leaked:\n{err}");
    lines[0].to_string()
}
