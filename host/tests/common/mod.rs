//! Shared helpers of the host's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// The warm-start cache of the tiny-model tests: every test binary uses the
/// same 30-step recipe, so the model is built once and shared.
pub fn tiny_cache_dir() -> PathBuf {
    bin_dir().join("tz-test-cache")
}

/// `tzhost --task countdown --algo ALGO --curriculum CURRICULUM` on the tiny
/// model with the short warm start, on the CPU, into `out`, without a
/// progress bar, log filters or plugins from the environment, and without
/// the time-based validation (its steps would depend on the machine's speed).
pub fn tiny_train_cmd(out: &Path, algo: &str, curriculum: &str) -> Command {
    tiny_train_cmd_via(Command::new(env!("CARGO_BIN_EXE_tzhost")), out, algo, curriculum)
}

/// [`tiny_train_cmd`]'s arguments after `cmd`'s own: `tzhost` itself,
/// or a launcher such as torchrun whose arguments end with tzhost's path.
pub fn tiny_train_cmd_via(mut cmd: Command, out: &Path, algo: &str, curriculum: &str) -> Command {
    cmd.args(["--task", "countdown", "--algo", algo, "--curriculum", curriculum, "--device", "cpu", "--out"])
        .arg(out)
        .args(["--set", "model.tiny_sft_steps=30", "--set", "logging.progress=false"])
        // Validation by wall time would make runs' metrics depend on the machine's speed.
        .args(["--set", "trainer.test_every_minutes=0"])
        .env("TZ_CACHE_DIR", tiny_cache_dir())
        .env_remove("TZ_PLUGIN_PATH")
        .env_remove("TZ_LOG")
        .env_remove("RUST_LOG");
    cmd
}

/// `--set` arguments of a tiny planned run: `curriculum` over `groups` (a
/// TOML list), `rounds` rounds, one step per stage, 6 test problems a group.
pub fn staged_run_args(curriculum: &str, groups: &str, rounds: u32) -> Vec<String> {
    let mut kv = vec![
        format!("curriculum.plugins.{curriculum}.groups={groups}"),
        format!("curriculum.plugins.{curriculum}.rounds={rounds}"),
        format!("curriculum.plugins.{curriculum}.epochs_per_group=1"),
    ];
    for fixed in [
        "task.train_size=8",
        "rollout.prompts_per_step=8",
        "rollout.n=4",
        "eval.size=8",
        "eval.samples=2",
        "stages.eval_size=6",
    ] {
        kv.push(fixed.to_string());
    }
    kv.into_iter().flat_map(|kv| ["--set".to_string(), kv]).collect()
}

/// The batch and held-out sizes of the few-step runs.
pub const SMALL_RUN: [&str; 8] = [
    "--set",
    "eval.size=16",
    "--set",
    "eval.samples=2",
    "--set",
    "rollout.prompts_per_step=8",
    "--set",
    "rollout.n=4",
];

/// `tzhost resume RUN` with the tiny-model cache, run to its end.
pub fn tiny_resume(run: &Path) -> Output {
    tiny_resume_cmd(run).output().unwrap()
}

/// The command of [`tiny_resume`], to spawn (and signal) it.
pub fn tiny_resume_cmd(run: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tzhost"));
    cmd.arg("resume").arg(run).env("TZ_CACHE_DIR", tiny_cache_dir()).env_remove("TZ_PLUGIN_PATH");
    cmd
}

/// Starts `cmd` and kills it with SIGKILL as soon as `marker` exists (or it
/// exited by itself); asserts that it did not finish its run (`summary.json`).
pub fn kill_once_written(cmd: &mut Command, marker: &Path, run: &Path) {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while !marker.exists() {
        assert!(start.elapsed() < Duration::from_secs(600), "no {} after 10 minutes", marker.display());
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap_or(()); // SIGKILL
    let _ = child.wait();
    assert!(!run.join("summary.json").exists(), "the run finished before it could be killed");
}

/// The lines of a run's metrics.jsonl.
pub fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Panics if any number in `text` (JSON, or JSON lines) is an f32 widened
/// to f64 and written with its f64 digits (0.10000000149011612 for 0.1f32):
/// every f32 must be written as its shortest decimal.
pub fn assert_no_widened_f32(text: &str, what: &str) {
    fn walk(v: &serde_json::Value, what: &str) {
        match v {
            serde_json::Value::Number(n) => {
                let Some(x) = n.as_f64().filter(|x| x.fract() != 0.0) else { return };
                let f = x as f32;
                if f64::from(f) == x && x.to_string() != f.to_string() {
                    panic!("{what}: {x} is the f32 {f} widened; write it as {f}");
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, what)),
            serde_json::Value::Object(o) => o.values().for_each(|v| walk(v, what)),
            _ => {}
        }
    }
    let values: Vec<serde_json::Value> = match serde_json::from_str(text) {
        Ok(v) => vec![v],
        Err(_) => {
            text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
        }
    };
    assert!(!values.is_empty(), "{what} is empty");
    values.iter().for_each(|v| walk(v, what));
}

/// A metrics line without what depends on wall-clock time.
pub fn deterministic(m: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    m.as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.starts_with("timing_s/") && *k != "perf/throughput" && *k != "time/elapsed_s")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The repository's Python (`.venv`, made by scripts/setup.sh), or a clear panic.
pub fn python() -> PathBuf {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run scripts/setup.sh (it creates the PyTorch + transformers venv)",
        py.display()
    );
    py
}

/// Runs a Python script of the repository (path relative to the repository
/// root) with `request` as JSON on stdin, offline, and returns its JSON answer.
pub fn run_python(script: &str, request: &serde_json::Value) -> serde_json::Value {
    use std::io::Write;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(script);
    let mut child = Command::new(python())
        .arg(&script)
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_VERBOSITY", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python().display()));
    child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{} failed:\n{}", script.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `tzhost generate --device cpu --greedy ARGS` offline: its stdout without
/// the trailing newline println adds.
pub fn tzhost_generate(args: &[&str]) -> String {
    let out = tzhost_env(
        &[&["generate", "--device", "cpu", "--greedy"], args].concat(),
        &[("HF_HUB_OFFLINE", "1")],
    );
    assert!(out.status.success(), "tzhost generate {args:?} failed:\n{}", stderr(&out));
    let text = stdout(&out);
    text.strip_suffix('\n').unwrap_or(&text).to_string()
}
