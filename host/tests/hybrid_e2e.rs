//! The hybrid reward end to end on CPU: `tzhost train --task hybrid` over the
//! 16 dummy math problems with a tiny random policy and a tiny random reward
//! model, a few steps.
//!
//! The embedded tiny model cannot read math questions (its vocabulary is the
//! 22 characters of compact countdown), so the test makes its own pair with
//! transformers (core/tests/python/reward_model_reference.py): a Qwen2 causal
//! LM and a Qwen2ForSequenceClassification RM sharing a byte-level character
//! tokenizer with a ChatML template, so both read the `chat` template's
//! prompts. A random policy answers nothing right, so what the run shows is
//! the plumbing: the warm-up calibrates and prints the bounds, every step's
//! rewards come from the RM through HostServices (no fallback), the bounds are
//! saved in trainer_state.json, and a broken RM path degrades to the
//! verifier with a counted fallback instead of a crash.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use serde_json::{json, Value};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The tiny policy and reward model, made once per test binary.
fn models() -> &'static (PathBuf, PathBuf) {
    static MODELS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    MODELS.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hybrid_e2e_models");
        let _ = std::fs::remove_dir_all(&dir);
        let (policy, rm) = (dir.join("policy"), dir.join("rm"));
        let config = |layers: u32| {
            json!({"vocab_size": 260, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": layers,
                   "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 1024,
                   "tie_word_embeddings": true, "eos_token_id": 258, "pad_token_id": 256})
        };
        let request = json!({"make": [
            {"dir": policy, "kind": "lm", "seed": 11, "std": 0.05, "config": config(2)},
            {"dir": rm, "kind": "rm", "seed": 12, "config": config(2)},
        ]});
        run_python("core/tests/python/reward_model_reference.py", &request);
        (policy, rm)
    })
}

fn train(out: &Path, rm_path: &Path, extra: &[&str]) -> std::process::Output {
    let (policy, _) = models();
    let data = repo_root().join("examples/data/dummy_math_tasks.jsonl");
    let mut sets = vec![
        "task.template=chat".to_string(),
        format!("task.plugins.hybrid.data={:?}", data.display().to_string()),
        "task.plugins.hybrid.warm_up_samples=8".into(),
        "task.train_size=32".into(),
        format!("reward_model.path={:?}", rm_path.display().to_string()),
        "reward_model.device=\"cpu\"".into(),
        "reward_model.batch_size=8".into(),
        "rollout.prompts_per_step=4".into(),
        "rollout.n=4".into(),
        "rollout.max_response_length=12".into(),
        "trainer.total_steps=2".into(),
        "trainer.save_freq=1".into(),
        "trainer.collapse_patience=0".into(),
        "eval.size=4".into(),
        "eval.samples=1".into(),
        "eval.greedy=false".into(),
        "logging.progress=false".into(),
    ];
    sets.extend(extra.iter().map(|s| s.to_string()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tzhost"));
    cmd.args(["train", "--task", "hybrid", "--algo", "grpo", "--curriculum", "fixed", "--device", "cpu"])
        .arg("--model")
        .arg(policy)
        .arg("--out")
        .arg(out);
    for s in &sets {
        cmd.args(["--set", s]);
    }
    cmd.args(["--set", "trainer.test_every_minutes=0"]);
    cmd.env_remove("TZ_PLUGIN_PATH").output().unwrap()
}

fn number(m: &Value, key: &str) -> f64 {
    m[key].as_f64().unwrap_or_else(|| panic!("{key} missing or not a number in {m}"))
}

#[test]
fn hybrid_run_calibrates_on_a_warm_up_and_rewards_through_the_reward_model() {
    let (_, rm) = models();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let o = train(&run, rm, &[]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(out.contains("warm-up on 8 responses") && out.contains("reward/rm_min="), "{out}");
    assert!(err.contains("RM bounds: min="), "{err}");

    let m = metrics(&run);
    let step0 = m
        .iter()
        .find(|r| r["step"] == 0 && r.get("reward/rm_min").is_some())
        .expect("warm-up metrics at step 0");
    let (lo, hi) = (number(step0, "reward/rm_min"), number(step0, "reward/rm_max"));
    assert!(lo < hi, "calibrated bounds {lo} .. {hi}");
    for step in [1, 2] {
        let s = m.iter().find(|r| r["step"] == step && r.get("reward/rm_fallback_count").is_some()).unwrap();
        assert_eq!(number(s, "reward/rm_fallback_count"), 0.0, "step {step}: {s}");
        assert!(number(s, "reward/rm_score/mean").is_finite());
        let w = number(s, "reward/difficulty_weight/mean");
        assert!((0.5..=1.5).contains(&w), "weight {w}");
        // The RM bonus is the only reward a random policy earns.
        assert!(number(s, "critic/score/mean") > 0.0, "step {step}: {s}");
        assert_eq!(number(s, "reward/rm_min"), lo);
    }

    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("checkpoints/step_000002/trainer_state.json")).unwrap(),
    )
    .unwrap();
    let task: Value = serde_json::from_str(state["task"].as_str().expect("task state saved")).unwrap();
    assert_eq!(task["bounds"]["min_rm"].as_f64(), Some(lo));
    assert_eq!(task["bounds"]["max_rm"].as_f64(), Some(hi));
    assert_eq!(task["batches"], 2);
}

#[test]
fn a_reward_model_that_does_not_load_falls_back_to_the_verifier_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let o = train(&run, &dir.path().join("no-such-reward-model"), &[]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("could not be loaded") && err.contains("verifier alone"), "{err}");
    let m = metrics(&run);
    for step in [1, 2] {
        let s = m.iter().find(|r| r["step"] == step && r.get("reward/rm_fallback_count").is_some()).unwrap();
        assert_eq!(number(s, "reward/rm_fallback_count"), 16.0, "4 prompts x 4 samples: {s}");
    }
}

#[test]
fn a_resumed_run_rewards_exactly_as_an_uninterrupted_one() {
    let (_, rm) = models();
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let o = train(&full, rm, &["trainer.total_steps=3", "trainer.keep_checkpoints=10"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The same run as if it had died right after its step-1 checkpoint.
    let cut = dir.path().join("cut");
    let copied = Command::new("cp").arg("-r").arg(&full).arg(&cut).status().unwrap();
    assert!(copied.success());
    std::fs::remove_file(cut.join("summary.json")).unwrap();
    for step in ["step_000002", "step_000003"] {
        std::fs::remove_dir_all(cut.join("checkpoints").join(step)).unwrap();
    }
    let o = Command::new(env!("CARGO_BIN_EXE_tzhost"))
        .args(["resume", cut.to_str().unwrap()])
        .env_remove("TZ_PLUGIN_PATH")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("warm-up on"), "no second warm-up on resume: {}", stdout(&o));
    // Steps 2 and 3 need the restored bounds and σ̄ to match.
    let (a, b) = (metrics(&full), metrics(&cut));
    assert_eq!(a.len(), b.len(), "same number of metric lines");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(deterministic(x), deterministic(y), "step {} differs", x["step"]);
    }
}

#[test]
fn config_show_lists_every_reward_model_key() {
    let o = tzhost(&["config", "show", "--set", "reward_model.batch_size=4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("[reward_model]"), "{out}");
    for key in ["path", "device", "dtype", "batch_size", "max_length", "system_prompt"] {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("{key} ="))),
            "reward_model.{key} missing:\n{out}"
        );
    }
    assert!(out.contains("batch_size = 4") && out.contains("--set reward_model.batch_size=4"), "{out}");
}

/// `tzhost doctor --config` checks the config's reward model as seed 003's
/// test_setup.py does; `--reward-forward` scores one pair with it.
#[test]
fn doctor_checks_the_reward_model_of_a_config() {
    let (policy, rm) = models();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hybrid.toml");
    std::fs::write(
        &cfg,
        format!("[reward_model]\npath = {:?}\ndevice = \"cpu\"\n", rm.display().to_string()),
    )
    .unwrap();
    let o = tzhost(&["doctor", "--config", cfg.to_str().unwrap()]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    for line in [
        "ok    reward model files:",
        "ok    reward model config:",
        "ok    reward model tokenizer:",
        "skip  reward model forward:",
    ] {
        assert!(out.contains(line), "no '{line}' in:\n{out}");
    }
    let o = tzhost(&["doctor", "--config", cfg.to_str().unwrap(), "--reward-forward"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    let forward = out.lines().find(|l| l.contains("reward model forward")).unwrap();
    assert!(forward.starts_with("ok    ") && forward.contains("score "), "{forward}");
    // A causal LM is not a reward model: named, with the fix, and a non-zero exit.
    let o = tzhost(&["doctor", "--reward-model", policy.to_str().unwrap(), "--reward-forward"]);
    assert!(!o.status.success());
    let out = stdout(&o);
    let bad = out.lines().find(|l| l.contains("reward model config")).unwrap();
    assert!(bad.starts_with("FAIL  ") && bad.contains("2 labels") && bad.contains("; fix: "), "{bad}");
    assert!(out.contains("skip  reward model forward: skipped: fix the checks above first"), "{out}");
}
