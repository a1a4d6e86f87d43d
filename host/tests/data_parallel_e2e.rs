//! Data-parallel training launched the way users launch it (issue #16.5):
//! `torchrun --no-python --nproc-per-node 2 tzhost train ...` on the CPU
//! (Gloo), one libtorch thread per rank.
//!
//! - (b) the two ranks end with bit-identical weights (each logs a digest),
//!   write one metrics.jsonl, and the checkpoint loads in transformers;
//!   the first step's figures are those of one process on the same batch;
//! - (c) a rank killed mid-run (ZeRO-1: optimizer state sharded) ends the
//!   job in bounded time with the dead rank named, the run resumes from its
//!   last checkpoint on 2 ranks, and a resume on another world size is
//!   refused in one line.
//!
//! Skipped, with the reason printed, when the venv has no torchrun.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// The venv's torchrun, or `None` (the test prints why it skips).
fn torchrun() -> Option<PathBuf> {
    let path = python().parent()?.join("torchrun");
    if path.exists() {
        return Some(path);
    }
    eprintln!("skipped: {} is missing (scripts/setup.sh installs torch, which ships it)", path.display());
    None
}

/// `torchrun --standalone --nproc-per-node 2 --no-python <prog> ...`.
fn launch(torchrun: &Path) -> Command {
    let mut cmd = Command::new(torchrun);
    cmd.args(["--standalone", "--nproc-per-node", "2", "--no-python"])
        .arg(env!("CARGO_BIN_EXE_tzhost"))
        // Each rank's share of the 2 cores of the CI machine, whatever it has.
        .env("OMP_NUM_THREADS", "1");
    cmd
}

/// The tiny few-step run: 8 prompts × 4 samples, the model warm-started.
fn train_args(cmd: Command, run: &Path, steps: u64) -> Command {
    let mut cmd = tiny_train_cmd_via(cmd, run, "grpo", "adaptive");
    cmd.args(SMALL_RUN)
        .args(["--set", &format!("trainer.total_steps={steps}"), "--set", "trainer.save_freq=2"])
        // A dead peer must end the test's job in seconds, not the default minutes.
        .args(["--set", "dist.timeout_s=60"]);
    cmd
}

/// `rank R/2: weights digest HEX after step N` lines, by rank.
fn digests(log: &str) -> Vec<(usize, String)> {
    let mut found: Vec<(usize, String)> = log
        .lines()
        .filter_map(|l| {
            let rest = &l[l.find("rank ")? + 5..];
            let (rank, rest) = rest.split_once("/2: weights digest ")?;
            Some((rank.parse().ok()?, rest.split_whitespace().next()?.to_string()))
        })
        .collect();
    found.sort();
    found
}

fn output_text(o: &Output) -> String {
    format!("{}\n{}", stdout(o), stderr(o))
}

fn close(a: f64, b: f64, rel: f64, abs: f64) -> bool {
    (a - b).abs() <= abs + rel * a.abs().max(b.abs())
}

#[test]
fn two_ranks_under_torchrun_train_one_run_with_identical_weights_and_one_process_learning() {
    let Some(torchrun) = torchrun() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (two, one) = (dir.path().join("two"), dir.path().join("one"));
    // One process first: it warm-starts the cached tiny model the ranks then share.
    let o = train_args(Command::new(env!("CARGO_BIN_EXE_tzhost")), &one, 3).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = train_args(launch(&torchrun), &two, 3).output().unwrap();
    let log = output_text(&o);
    assert!(o.status.success(), "{log}");

    let d = digests(&log);
    assert_eq!(d.len(), 2, "one digest per rank expected:\n{log}");
    assert_eq!(d[0].1, d[1].1, "the ranks' weights differ:\n{log}");

    // One metrics.jsonl, written by rank 0: the steps of one run.
    let m = metrics(&two);
    let steps: Vec<u64> = m.iter().map(|l| l["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [0, 1, 2, 3, 3], "before-validation, three steps, after-validation");

    // Step 1 samples the batch one process samples (row-keyed randomness,
    // same weights) and updates on it; only float rounding of another
    // decode batch and summation order may differ.
    let single = metrics(&one);
    for (key, rel) in [
        ("critic/score/mean", 0.0),
        ("response_length/mean", 0.0),
        ("val/acc", 0.0),
        ("actor/pg_loss", 1e-3),
        ("actor/grad_norm", 1e-3),
    ] {
        let row = if key == "val/acc" { 0 } else { 1 };
        let (a, b) = (m[row][key].as_f64(), single[row][key].as_f64());
        let (Some(a), Some(b)) = (a, b) else { panic!("{key} missing: {} / {}", m[row], single[row]) };
        assert!(close(a, b, rel, 1e-6), "{key}: 2 ranks {a}, 1 process {b}");
    }

    // The checkpoint is one Hugging Face directory that transformers loads.
    let ckpt = two.join("checkpoints/step_000003");
    for f in ["config.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json"] {
        assert!(ckpt.join(f).is_file(), "{f} missing in {}", ckpt.display());
    }
    let answer = run_python(
        "host/tests/python/generate_reference.py",
        &json!({"make": [], "generate": [{"dir": ckpt, "prompt": "3 5 7 -> 15:", "chat": false, "system": null, "new_tokens": 4}]}),
    );
    assert_eq!(answer["texts"][0]["tokens"], 4, "{answer}");
}

/// Starts the job `cmd` and kills its rank 1 (SIGKILL) once `marker`
/// exists; returns the job's output and how long it took to end after the kill.
fn kill_rank_once_written(mut cmd: Command, marker: &Path) -> (Output, Duration) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = cmd.stdout(Stdio::piped()).stderr(log.reopen().unwrap()).spawn().unwrap();
    let start = Instant::now();
    while !marker.exists() {
        let why = if child.try_wait().unwrap().is_some() {
            "the job ended before"
        } else if start.elapsed() > Duration::from_secs(600) {
            "10 minutes passed"
        } else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let _ = child.kill();
        let _ = child.wait();
        panic!("{why} {} was written:\n{}", marker.display(), std::fs::read_to_string(log.path()).unwrap());
    }
    let rank1 = rank_pid(child.id(), 1).expect("rank 1 of the job");
    let killed = Instant::now();
    kill_9(rank1);
    let mut out = child.wait_with_output().unwrap();
    let waited = killed.elapsed();
    out.stderr = std::fs::read(log.path()).unwrap();
    (out, waited)
}

/// The pid of rank `rank` among the descendants of torchrun (pid `root`):
/// the process whose environment says `RANK=<rank>`.
fn rank_pid(root: u32, rank: usize) -> Option<u32> {
    let wanted = format!("RANK={rank}");
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        for child in children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()) {
            let env = std::fs::read(format!("/proc/{child}/environ")).unwrap_or_default();
            let is_tzhost = std::fs::read_link(format!("/proc/{child}/exe"))
                .is_ok_and(|p| p.file_name().is_some_and(|n| n == "tzhost"));
            if is_tzhost && env.split(|&b| b == 0).any(|kv| kv == wanted.as_bytes()) {
                return Some(child);
            }
            stack.push(child);
        }
    }
    None
}

fn kill_9(pid: u32) {
    let status = Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill -9 {pid}");
}

/// Steps of the killed job (checkpoints every 2).
const STEPS: u64 = 12;

#[test]
fn a_killed_rank_ends_the_job_naming_it_and_the_run_resumes_on_the_same_world_size() {
    let Some(torchrun) = torchrun() else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // With ZeRO-1: each rank's optimizer shard is part of the checkpoint.
    // Steps enough that the job cannot finish between the marker and the kill.
    let mut cmd = train_args(launch(&torchrun), &run, STEPS);
    cmd.args(["--set", "dist.zero1=true"]);
    let (o, after_kill) = kill_rank_once_written(cmd, &run.join("checkpoints/step_000002"));
    let log = output_text(&o);
    assert!(!o.status.success(), "the job survived a killed rank:\n{log}");
    // torchrun reports the dead rank; rank 0 either failed its collective
    // naming itself and the world, or was stopped by torchrun.
    assert!(log.contains("local_rank: 1") || log.contains("rank 1"), "the dead rank is not named:\n{log}");
    assert!(after_kill < Duration::from_secs(120), "the job took {after_kill:?} to end after the kill");
    assert!(!run.join("summary.json").exists());
    for rank in 0..2 {
        let shard = run.join(format!("checkpoints/step_000002/optimizer.zero1-rank{rank}-of-2.safetensors"));
        assert!(shard.is_file(), "{} missing", shard.display());
    }

    // Another world size is refused in one line; the same one resumes.
    let single = tiny_resume(&run);
    let line = assert_one_line_error(&single);
    assert!(line.contains("saved by 2 data-parallel rank(s), this job has 1"), "{line}");

    let mut resume = launch(&torchrun);
    resume.arg("resume").arg(&run).env("TZ_CACHE_DIR", tiny_cache_dir()).env_remove("TZ_PLUGIN_PATH");
    let o = resume.output().unwrap();
    let log = output_text(&o);
    assert!(o.status.success(), "{log}");
    assert!(log.contains("resuming"), "{log}");
    let d = digests(&log);
    assert!(d.len() == 2 && d[0].1 == d[1].1, "the resumed ranks' weights differ:\n{log}");
    let steps: Vec<u64> = metrics(&run).iter().map(|l| l["step"].as_u64().unwrap()).collect();
    assert_eq!(steps.last(), Some(&STEPS), "{steps:?}");
    let trained: Vec<u64> = steps[1..steps.len() - 1].to_vec();
    assert_eq!(trained, (1..=STEPS).collect::<Vec<_>>(), "a step missing or logged twice after the resume");
}

#[test]
fn a_planned_curriculum_runs_on_two_ranks_with_rank_zero_writing_its_stage_records() {
    let Some(torchrun) = torchrun() else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("continual");
    // Two stages (plus, then plus_minus) of one step each.
    let mut cmd = tiny_train_cmd_via(launch(&torchrun), &run, "grpo", "continual");
    cmd.args(staged_run_args("continual", r#"["plus","plus_minus"]"#, 1))
        .args(["--set", "dist.timeout_s=60"]);
    let o = cmd.output().unwrap();
    let log = output_text(&o);
    assert!(o.status.success(), "{log}");

    let d = digests(&log);
    assert_eq!(d.len(), 2, "one digest per rank expected:\n{log}");
    assert_eq!(d[0].1, d[1].1, "the ranks' weights differ after the stages:\n{log}");
    for (i, group) in ["plus", "plus_minus"].iter().enumerate() {
        let path = run.join(format!("metrics/metrics_1_{group}_tiny.json"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}\n{log}", path.display()));
        let r: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!((r["stage"].as_u64(), r["finished"].as_bool()), (Some(i as u64), Some(true)), "{r}");
        assert_eq!(r["final"]["step"], i as u64 + 1, "{r}");
        assert_eq!(r["final"]["eval"][*group]["problems"], 6, "{r}");
        assert!(run.join(format!("snapshots/final_1_{group}/config.json")).is_file(), "{log}");
    }
}
