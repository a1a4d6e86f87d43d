//! The main job end to end on the tiny model (short warm start, few steps),
//! and exact resume after `kill -9`.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

fn train_cmd(out: &Path, extra: &[&str]) -> Command {
    train_cmd_with(out, "grpo", extra)
}

fn train_cmd_with(out: &Path, algo: &str, extra: &[&str]) -> Command {
    let mut cmd = tiny_train_cmd(out, algo, "adaptive");
    cmd.args(SMALL_RUN).args(extra);
    cmd
}

#[test]
fn main_job_runs_a_few_grpo_steps_and_writes_the_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let o = train_cmd(&run, &["--set", "trainer.total_steps=3", "--set", "trainer.save_freq=2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("run finished (3 steps done) after 3 steps"), "{out}");
    assert!(out.contains("val/acc"), "{out}");

    let m = metrics(&run);
    let steps: Vec<u64> = m.iter().map(|l| l["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [0, 1, 2, 3, 3], "before-validation, three steps, after-validation");
    for key in [
        "critic/score/mean",
        "actor/pg_loss",
        "actor/grad_norm",
        "response_length/mean",
        "adaptive_window/current_window",
        "tokens/overall_total",
        "timing_s/gen",
        "timing_s/update_actor",
    ] {
        assert!(m[1][key].is_number(), "{key} missing from {}", m[1]);
    }
    assert!(m[0]["val/acc"].is_number() && m[4]["val/acc_greedy"].is_number());
    let window = m[2]["train/window"].as_f64().unwrap();
    assert!((1.0..=24.0).contains(&window), "window {window}");

    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["finished"], true);
    assert_eq!(summary["steps"], 3);
    // Rewards, losses and norms are f32: written as 0.1, not 0.10000000149011612.
    for file in ["metrics.jsonl", "samples.jsonl", "summary.json"] {
        assert_no_widened_f32(&std::fs::read_to_string(run.join(file)).unwrap(), file);
    }
    // Checkpoints are HF model directories with the trainer state beside them.
    let ckpt = run.join("checkpoints/step_000003");
    for f in
        ["config.json", "model.safetensors", "tokenizer.json", "optimizer.safetensors", "trainer_state.json"]
    {
        assert!(ckpt.join(f).is_file(), "{f} missing in {}", ckpt.display());
    }
    assert!(run.join("checkpoints/step_000002").is_dir());
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("min_operands = 3"), "resolved config must include plugin settings:\n{config}");

    // A finished run is not resumed, and its directory is not reused.
    let again = tzhost(&["resume", run.to_str().unwrap()]);
    assert!(assert_one_line_error(&again).contains("has finished"));
}

#[test]
fn a_redirected_run_logs_progress_lines_and_validates_during_training() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // Output is captured (not a terminal): progress lines instead of a bar,
    // here after every step; validation by time, here after every step.
    let every_step = ["--set", "logging.progress_every_s=0", "--set", "trainer.test_every_minutes=0.0000001"];
    let o = train_cmd(&run, &["--set", "trainer.total_steps=3"]).args(every_step).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let log = std::fs::read_to_string(run.join("train.log")).unwrap();
    for step in 1..=3 {
        let line = log.lines().find(|l| l.contains(&format!("step {step}/3 reward "))).unwrap_or_else(|| {
            panic!("no progress line for step {step} in train.log:\n{log}");
        });
        assert!(line.contains(" success ") && line.contains(" win ") && line.contains(" ETA "), "{line}");
    }
    assert!(stderr(&o).contains("step 3/3 reward "), "progress lines go to stderr too");
    let m = metrics(&run);
    let validated: Vec<u64> =
        m.iter().filter(|l| l["val/acc"].is_number()).map(|l| l["step"].as_u64().unwrap()).collect();
    assert_eq!(validated, [0, 1, 2, 3, 3], "before, during (by time) and after training");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["val/curve"].as_array().unwrap().len(), 5);
}

#[test]
fn resume_after_kill_gives_the_same_metrics_as_an_uninterrupted_run() {
    assert_resume_after_kill_matches("grpo");
}

#[test]
fn ppo_resume_after_kill_restores_the_critic_exactly() {
    assert_resume_after_kill_matches("ppo");
}

/// Names of the tensors in a safetensors file (from its JSON header).
fn safetensors_names(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    header.as_object().unwrap().keys().filter(|k| *k != "__metadata__").cloned().collect()
}

#[test]
fn main_job_runs_a_few_ppo_steps_with_a_critic() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let o = train_cmd_with(
        &run,
        "ppo",
        &["--set", "trainer.total_steps=3", "--set", "algorithm.plugins.ppo.critic_warmup_steps=1"],
    )
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let m = metrics(&run);
    let steps: Vec<u64> = m.iter().map(|l| l["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [0, 1, 2, 3, 3]);
    for line in &m[1..4] {
        for key in [
            "critic/vf_loss",
            "critic/vf_clipfrac",
            "critic/vpred_mean",
            "critic/grad_norm",
            "critic/lr",
            "critic/vf_explained_var",
            "critic/values/mean",
            "critic/returns/mean",
            "timing_s/update_critic",
        ] {
            // Non-finite values are written as null.
            assert!(line[key].is_number(), "{key} missing or not finite in {line}");
        }
        assert!(line["critic/grad_norm"].as_f64().unwrap() > 0.0, "the critic learns: {line}");
    }
    // The tiny model's PPO default critic lr (the user set none).
    assert_eq!(m[1]["critic/lr"].as_f64().unwrap() as f32, 1e-3);
    // Step 1 is the critic's warmup: the actor does not train.
    assert!(m[1].get("actor/pg_loss").is_none(), "actor trained during critic warmup: {}", m[1]);
    assert!(m[2]["actor/pg_loss"].is_number() && m[3]["actor/grad_norm"].is_number());
    assert_eq!(m[2]["actor/lr"].as_f64().unwrap(), 1e-4, "the tiny model's PPO actor lr");
    // The tiny model's PPO has no KL, so no reference model runs.
    assert!(m[2].get("timing_s/ref").is_none(), "{}", m[2]);
    // The first values come from a zero-initialised head.
    assert_eq!(m[1]["critic/values/mean"].as_f64().unwrap(), 0.0);
    assert_ne!(m[3]["critic/values/mean"].as_f64().unwrap(), 0.0);

    let critic = run.join("checkpoints/step_000003/critic");
    for f in ["config.json", "model.safetensors", "tokenizer.json", "critic_optimizer.safetensors"] {
        assert!(critic.join(f).is_file(), "{f} missing in {}", critic.display());
    }
    let names = safetensors_names(&critic.join("model.safetensors"));
    for n in ["value_head.weight", "value_head.bias", "model.embed_tokens.weight", "model.norm.weight"] {
        assert!(names.iter().any(|x| x == n), "{n} missing from the critic's weights: {names:?}");
    }
    assert!(!names.iter().any(|x| x == "lm_head.weight"), "the critic has no LM head");
}

fn assert_resume_after_kill_matches(algo: &str) {
    let dir = tempfile::tempdir().unwrap();
    let common = [
        "--set",
        "trainer.total_steps=6",
        "--set",
        "trainer.save_freq=2",
        "--set",
        "trainer.keep_checkpoints=10",
    ];
    let full = dir.path().join("full");
    let o = train_cmd_with(&full, algo, &common).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    // Start the same run, kill -9 it once its first checkpoint exists.
    let killed = dir.path().join("killed");
    let first = killed.join("checkpoints/step_000002/trainer_state.json");
    kill_once_written(&mut train_cmd_with(&killed, algo, &common), &first, &killed);

    let o = tiny_resume(&killed);
    assert!(o.status.success(), "{}", stderr(&o));

    let a = metrics(&full);
    let b = metrics(&killed);
    assert_eq!(a.len(), b.len(), "same number of metric lines");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(deterministic(x), deterministic(y), "step {} differs", x["step"]);
    }
}

#[test]
fn unknown_config_key_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = train_cmd(&dir.path().join("r"), &["--set", "trainer.lrr=1e-4"]).output().unwrap();
    let line = assert_one_line_error(&o);
    assert!(line.contains("lrr"), "{line}");
}
