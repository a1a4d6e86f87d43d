//! Every bad numeric setting is refused before any work starts (issue 15.6):
//! one line naming the user's key, a non-zero exit, no backtrace, no hang,
//! and no run directory written.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Runs `cmd`, failing the test (instead of hanging it) if it is still
/// running after `limit`: a refused setting must end at once, and a run that
/// went ahead with one would go on for minutes.
fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap_or(());
            panic!("still running after {limit:?}: the setting was not refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `tzhost train` on the tiny model into `out` with `sets` (as `--set`),
/// without info lines (`-q`: warnings and errors only).
fn train_with(out: &Path, sets: &[&str]) -> Output {
    let mut cmd = tiny_train_cmd(out, "grpo", "adaptive");
    cmd.arg("-q");
    for s in sets {
        cmd.args(["--set", s]);
    }
    output_within(cmd, Duration::from_secs(300))
}

/// The one error line of a training run refused with `sets`; the run
/// directory holds no metrics (nothing was trained or evaluated).
fn refused(sets: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let line = assert_one_line_error(&train_with(&run, sets));
    assert!(!run.join("metrics.jsonl").exists(), "{sets:?} was refused after work started: {line}");
    line
}

#[test]
fn non_finite_or_negative_optimizer_settings_are_refused_naming_the_key() {
    for (set, key) in [
        ("trainer.lr=nan", "trainer.lr"),
        ("trainer.lr=inf", "trainer.lr"),
        ("trainer.lr=-1", "trainer.lr"),
        ("trainer.weight_decay=nan", "trainer.weight_decay"),
        ("trainer.betas=[1.5, 2]", "trainer.betas[0]"),
        ("trainer.grad_clip=-inf", "trainer.grad_clip"),
    ] {
        let line = refused(&[set]);
        assert!(line.contains(&format!("key '{key}' must be")), "{set}: {line}");
        assert!(line.contains(&format!("(in flag --set {set})")), "{set}: the flag is named: {line}");
    }
}

#[test]
fn zero_and_absurd_rollout_sizes_are_refused_naming_the_key() {
    for (set, key) in [
        ("rollout.n=0", "rollout.n"),
        ("rollout.n=100000000", "rollout.n"),
        ("rollout.prompts_per_step=0", "rollout.prompts_per_step"),
        ("rollout.prompts_per_step=100000000", "rollout.prompts_per_step"),
        ("rollout.max_response_length=100000000", "rollout.max_response_length"),
        ("rollout.top_p=0", "rollout.top_p"),
        ("rollout.temperature=nan", "rollout.temperature"),
        ("eval.size=100000000", "eval.size"),
        ("eval.samples=0", "eval.samples"),
    ] {
        let line = refused(&[set]);
        assert!(line.contains(&format!("key '{key}' must be")), "{set}: {line}");
    }
}

#[test]
fn a_bad_setting_in_a_config_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[rollout]\nn = 0\n").unwrap();
    let o = tzhost(&["--config", file.to_str().unwrap(), "--out", dir.path().join("run").to_str().unwrap()]);
    let line = assert_one_line_error(&o);
    assert!(line.contains("key 'rollout.n' must be") && line.contains("bad.toml"), "{line}");
}

#[test]
fn a_run_that_clearly_cannot_fit_in_memory_is_refused_before_allocating() {
    // 100 × 100000 rows of 24 tokens: a KV cache of ~500 GB for the tiny model.
    let line = {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = tiny_train_cmd(&dir.path().join("run"), "grpo", "adaptive");
        cmd.args(["-q", "--set", "rollout.prompts_per_step=100", "--set", "rollout.n=100000"]);
        cmd.env("TZ_MEMORY_LIMIT", "8G");
        let o = output_within(cmd, Duration::from_secs(300));
        assert!(!dir.path().join("run").exists(), "refused before the run directory is made");
        assert_one_line_error(&o)
    };
    assert!(line.contains("this run needs at least") && line.contains("GB is available"), "{line}");
    assert!(line.contains("KV cache") && line.contains("rollout.n"), "{line}");
}

#[test]
fn absurd_counts_of_eval_and_generate_are_refused_before_loading_a_model() {
    let e = assert_one_line_error(&tzhost(&["eval", "-k", "100000000", "--device", "cpu"]));
    assert!(e.contains("--samples must be an integer in [1, 16777216], got 100000000"), "{e}");
    let e =
        assert_one_line_error(&tzhost(&["generate", "--model", "tiny", "--prompt", "x", "-n", "100000000"]));
    assert!(e.contains("-n must be an integer in [1, 16777216], got 100000000"), "{e}");
}

#[test]
fn a_config_json_with_absurd_sizes_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({
        "vocab_size": 22, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 100_000_000,
        "num_attention_heads": 2, "num_key_value_heads": 1
    });
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let model = dir.path().to_str().unwrap();
    let o = tzhost(&["generate", "--model", model, "--prompt", "x", "--device", "cpu"]);
    let e = assert_one_line_error(&o);
    assert!(e.contains("config.json") && e.contains("num_hidden_layers 100000000"), "{e}");
}

#[test]
fn an_unwritable_run_directory_names_its_os_error_once() {
    // /proc refuses new directories on every Linux machine.
    let line = assert_one_line_error(&train_with(Path::new("/proc/tzhost-no-such-dir/run"), &[]));
    assert!(line.contains("cannot create /proc/tzhost-no-such-dir/run"), "{line}");
    assert_eq!(line.matches("os error").count(), 1, "the cause is repeated: {line}");
}
