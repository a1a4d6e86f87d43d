//! What a signal, a second process, a leftover directory and a damaged
//! checkpoint can cost a run (issue 15): each test is named after what it guards.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A tiny GRPO run that would go on for a long time unless stopped.
fn long_run(out: &Path, extra: &[&str]) -> Command {
    let mut cmd = tiny_train_cmd(out, "grpo", "adaptive");
    cmd.args(SMALL_RUN)
        .args([
            "--set",
            "trainer.total_steps=100000",
            "--set",
            "trainer.max_minutes=0",
            "--set",
            "eval.greedy=false",
        ])
        .args(extra);
    cmd
}

/// Steps logged so far (lines with a step and a training metric).
fn training_steps(run: &Path) -> Vec<u64> {
    let Ok(text) = std::fs::read_to_string(run.join("metrics.jsonl")) else { return vec![] };
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m.get("actor/pg_loss").is_some() || m.get("critic/score/mean").is_some())
        .filter_map(|m| m["step"].as_u64())
        .collect()
}

/// Waits until `ready` holds (or the child exited).
fn wait_for(child: &mut Child, what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(child.try_wait().unwrap().is_none(), "the run exited before {what}");
        assert!(start.elapsed() < Duration::from_secs(600), "no {what} after 10 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill").args([name, &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill {name} failed");
}

fn finish(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

fn checkpoints(run: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// SIGTERM twice in one run's life and a resume after each: every stop saves
/// a complete checkpoint (tokenizer included, even once the checkpoint the
/// run resumed from is pruned), says how to resume, and exits non-zero;
/// metrics stay contiguous.
#[test]
fn sigterm_saves_a_complete_checkpoint_and_the_run_resumes_twice() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let keep_one = ["--set", "trainer.save_freq=0", "--set", "trainer.keep_checkpoints=1"];
    let mut child = spawn(long_run(&run, &keep_one));
    for round in 0..3 {
        let before = training_steps(&run).len();
        wait_for(&mut child, "two more steps", || training_steps(&run).len() >= before + 2);
        signal(&child, "-TERM");
        let o = finish(child);
        assert!(!o.status.success(), "round {round}: a stopped run exits non-zero");
        let err = stderr(&o);
        assert!(err.contains("continue with `tzhost resume"), "round {round}: {err}");
        let saved = checkpoints(&run);
        assert_eq!(saved.len(), 1, "round {round}: keep_checkpoints=1 prunes the older ones: {saved:?}");
        let ckpt = run.join("checkpoints").join(&saved[0]);
        for f in ["tokenizer.json", "config.json", "model.safetensors", "optimizer.safetensors"] {
            assert!(ckpt.join(f).is_file(), "round {round}: {f} missing in {}", ckpt.display());
        }
        let summary: Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["finished"], false, "round {round}");
        let steps = training_steps(&run);
        let last = *steps.last().unwrap();
        assert_eq!(steps, (1..=last).collect::<Vec<_>>(), "round {round}: contiguous steps");
        assert_eq!(saved[0], format!("step_{last:06}"), "round {round}: the last finished step is saved");
        child = spawn(tiny_resume_cmd(&run));
    }
    signal(&child, "-KILL");
    let _ = finish(child);
}

/// A second SIGINT does not wait for the step: the process exits at once.
#[test]
fn a_second_sigint_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // Big steps, so the second signal surely lands inside one.
    let mut child = spawn(long_run(&run, &["--set", "rollout.prompts_per_step=64", "--set", "rollout.n=8"]));
    wait_for(&mut child, "the first step", || !training_steps(&run).is_empty());
    signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(50));
    signal(&child, "-INT");
    let o = finish(child);
    assert_eq!(o.status.code(), Some(130), "128 + SIGINT: {}", stderr(&o));
}

/// Two processes on one run directory: the second is refused with the
/// holder's pid; once the holder is gone (even killed), the directory is free.
#[test]
fn a_second_process_on_a_live_run_directory_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut first = spawn(long_run(&run, &[]));
    wait_for(&mut first, "the first step", || !training_steps(&run).is_empty());
    let second = long_run(&run, &["--overwrite"]).output().unwrap();
    let line = assert_one_line_error(&second);
    assert!(
        line.contains(&format!("in use by another tzhost process (pid {} on host", first.id())),
        "{line}"
    );
    let resume = tiny_resume(&run);
    assert!(assert_one_line_error(&resume).contains("in use by another tzhost process"));
    signal(&first, "-KILL");
    let _ = finish(first);
    // A killed holder's lock is gone with it: the refusal now is about the
    // directory's content, not the lock.
    let again = long_run(&run, &[]).output().unwrap();
    let line = assert_one_line_error(&again);
    assert!(line.contains("already holds a run") && line.contains("--overwrite"), "{line}");
}

/// A run killed before its first checkpoint: starting it again is refused
/// (not appended to), resume says what to do, and --overwrite starts afresh.
#[test]
fn a_directory_with_another_runs_output_is_refused_unless_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut child = spawn(long_run(&run, &["--set", "trainer.save_freq=0"]));
    wait_for(&mut child, "the first step", || !training_steps(&run).is_empty());
    signal(&child, "-KILL");
    let _ = finish(child);
    let resume = tiny_resume(&run);
    let line = assert_one_line_error(&resume);
    assert!(line.contains("no finished checkpoint") && line.contains("--overwrite"), "{line}");

    let mut cmd = tiny_train_cmd(&run, "grpo", "adaptive");
    cmd.args(SMALL_RUN).args(["--set", "trainer.total_steps=1", "--set", "eval.greedy=false"]);
    let refused = cmd.output().unwrap();
    assert!(assert_one_line_error(&refused).contains("already holds a run (metrics.jsonl"));
    let o = cmd.arg("--overwrite").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let steps: Vec<u64> = metrics(&run).iter().map(|l| l["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [0, 1, 1], "one fresh run's lines only");
}

/// The newest checkpoint cut short (a full disk): resume says so and
/// continues from the one before; stale temporaries are removed.
#[test]
fn resume_falls_back_to_an_older_checkpoint_when_the_newest_is_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut cmd = tiny_train_cmd(&run, "grpo", "adaptive");
    cmd.args(SMALL_RUN).args([
        "--set",
        "trainer.total_steps=4",
        "--set",
        "trainer.save_freq=2",
        "--set",
        "eval.greedy=false",
    ]);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // Make it look killed after step 4's save, with its weights torn and a
    // half-written checkpoint beside it.
    std::fs::remove_file(run.join("summary.json")).unwrap();
    let weights = run.join("checkpoints/step_000004/model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let stale = run.join("checkpoints/.step_000006.tmp-99999");
    std::fs::create_dir_all(stale.join(".model.safetensors.tmp-99999")).unwrap();

    let o = tiny_resume(&run);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("step_000004 is unreadable") && err.contains("trying an older checkpoint"), "{err}");
    assert!(!stale.exists(), "stale temporaries are removed on resume");
    let steps = training_steps(&run);
    assert_eq!(steps, [1, 2, 3, 4], "steps 3-4 redone from step 2, each logged once");
}
