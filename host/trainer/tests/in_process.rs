//! The trainer as a library, in-process: plugins come from this test's own
//! link unit (`tz_sdk::export::in_process`, the same boundary code `tzhost`
//! uses), no plugin library is loaded and no binary is spawned. The model
//! is the tiny one with a short warm start (cached under the target dir).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};

use tz_config::{Layers, Origin, RunConfig};
use tz_core::weight_change::weight_change;
use tz_plugin_host::AlgorithmChain;
use tz_sdk::export::in_process;
use tz_sdk::testing::recording_host;
use tz_trainer::outputs::RunProgress;
use tz_trainer::{saved_config, OutputSink, RunPlugins, Stop, StopRule, Trainer};

// Link the plugin crates: their registrations are what `in_process` finds.
use tz_algorithms as _;
use tz_countdown as _;
use tz_curricula as _;

/// One tiny-model cache for every test of this binary.
fn use_test_cache() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("TZ_CACHE_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("tz-cache"))
    });
}

/// A small CPU run of `algo` on countdown with the tiny model, plus `sets`.
fn config(algo: &str, sets: &[&str]) -> RunConfig {
    let mut layers = Layers::defaults();
    let base = [
        "task.name=countdown".to_string(),
        format!("algorithm.chain={algo}"),
        "curriculum.chain=adaptive".into(),
        "model.device=cpu".into(),
        "model.tiny_sft_steps=30".into(),
        "rollout.prompts_per_step=4".into(),
        "rollout.n=4".into(),
        "eval.size=8".into(),
        "eval.samples=1".into(),
        "eval.greedy=false".into(),
        "logging.progress=false".into(),
        "logging.tensorboard=false".into(),
        "trainer.test_every_minutes=0".into(),
    ];
    for s in base.iter().map(String::as_str).chain(sets.iter().copied()) {
        layers.set(s, Origin::Flag(format!("--set {s}"))).unwrap();
    }
    layers.resolve().unwrap().config
}

/// The run's plugins, created in-process with the config's settings.
fn plugins(cfg: &RunConfig) -> RunPlugins {
    let host = || recording_host().0;
    let json = |tables, name: &str| RunConfig::plugin_json(tables, name);
    let task = in_process::task(&cfg.task.name, &json(&cfg.task.plugins, &cfg.task.name), host()).unwrap();
    let algorithms = cfg
        .algorithm
        .chain
        .iter()
        .map(|n| in_process::algorithm(n, &json(&cfg.algorithm.plugins, n), host()).unwrap())
        .collect();
    let curricula = cfg
        .curriculum
        .chain
        .iter()
        .map(|n| in_process::curriculum(n, &json(&cfg.curriculum.plugins, n), host()).unwrap())
        .collect();
    RunPlugins { task, algorithms: AlgorithmChain::new(algorithms).unwrap(), curricula }
}

fn start(cfg: &RunConfig, dir: &Path) -> Trainer {
    use_test_cache();
    Trainer::start(cfg.clone(), plugins(cfg), dir.join("run"), false).unwrap()
}

fn has(m: &BTreeMap<String, f64>, key: &str) -> bool {
    m.get(key).is_some_and(|v| v.is_finite())
}

#[test]
fn a_grpo_step_runs_every_stage_and_moves_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    // An entropy bonus gives the actor a gradient even where every group's
    // rewards are equal (GRPO advantage 0), so the update must move it.
    let cfg = config("grpo", &["algorithm.plugins.grpo.entropy_coef=0.01"]);
    let mut trainer = start(&cfg, dir.path());
    let before = trainer.policy().weights();
    let out = trainer.step().unwrap();

    assert_eq!((out.step, trainer.steps_done()), (1, 1));
    assert_eq!(out.rewards.len(), 16);
    assert_eq!(out.stats.lengths.len(), 16);
    // The typed outcome and the named metrics agree.
    assert_eq!(out.metrics["tokens/overall_total"], out.tokens as f64);
    assert_eq!(out.metrics["critic/score/mean"], out.score_mean);
    assert_eq!(out.metrics["train/acc"], out.success);
    assert_eq!(out.metrics["train/window"], out.window as f64);
    for phase in ["gen", "reward", "old_log_prob", "adv", "update_actor", "step"] {
        assert!(has(&out.metrics, &format!("timing_s/{phase}")), "timing_s/{phase} missing");
    }
    for absent in ["timing_s/ref", "timing_s/values", "timing_s/update_critic", "critic/vf_loss"] {
        assert!(!out.metrics.contains_key(absent), "{absent} in a GRPO step without KL");
    }
    for key in ["actor/pg_loss", "actor/entropy", "actor/grad_norm", "algo/frac_reward_zero_std"] {
        assert!(has(&out.metrics, key), "{key} missing or not finite");
    }
    assert!(has(&out.metrics, "adaptive_window/current_window"), "the curriculum did not observe the batch");
    let moved = weight_change(&before, &trainer.policy().weights()).unwrap().overall;
    assert!(moved > 0.0, "the actor update left the weights unchanged");

    let ckpt = trainer.save_checkpoint().unwrap();
    assert!(ckpt.ends_with("checkpoints/step_000001") && ckpt.join("trainer_state.json").is_file());
}

#[test]
fn a_ppo_step_puts_the_kl_in_the_reward_and_trains_the_critic_then_the_actor() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config("ppo", &["algorithm.plugins.ppo.kl_placement=reward"]);
    let mut trainer = start(&cfg, dir.path());
    let out = trainer.step().unwrap();
    for phase in ["ref", "values", "adv", "update_critic", "update_actor"] {
        assert!(has(&out.metrics, &format!("timing_s/{phase}")), "timing_s/{phase} missing");
    }
    for key in [
        "actor/reward_kl_penalty",
        "actor/reward_kl_penalty_coeff",
        "critic/vf_loss",
        "critic/values/mean",
        "critic/returns/mean",
        "actor/pg_loss",
    ] {
        assert!(has(&out.metrics, key), "{key} missing or not finite");
    }
    assert_eq!(out.metrics["actor/reward_kl_penalty_coeff"], 0.001f32 as f64);
    assert!(out.metrics["critic/grad_norm"] > 0.0, "the critic got no gradient");
    let ckpt = trainer.save_checkpoint().unwrap();
    assert!(
        ckpt.join("critic/model.safetensors").is_file()
            && ckpt.join("critic/critic_optimizer.safetensors").is_file()
    );
}

/// Records the step of every point it is sent.
struct Recorder(Arc<Mutex<Vec<(u64, bool)>>>);

impl OutputSink for Recorder {
    fn record(&mut self, step: u64, metrics: &BTreeMap<String, f64>) -> tz_trainer::Result<()> {
        self.0.lock().unwrap().push((step, metrics.contains_key("val/acc")));
        Ok(())
    }
}

/// Stops once `n` steps are done.
struct AfterSteps(u64);

impl StopRule for AfterSteps {
    fn before_step(&mut self, p: &RunProgress) -> Option<Stop> {
        (p.step >= self.0).then(|| Stop::new(format!("stopped by the test after {} steps", self.0)))
    }
}

#[test]
fn a_run_takes_added_outputs_and_stop_rules_and_validates_on_its_time_schedule() {
    let dir = tempfile::tempdir().unwrap();
    // Validation every few microseconds of RL time: after every step.
    let cfg = config("grpo", &["trainer.test_every_minutes=0.0000001", "trainer.total_steps=50"]);
    let mut trainer = start(&cfg, dir.path());
    let seen = Arc::new(Mutex::new(Vec::new()));
    trainer.add_output(Box::new(Recorder(seen.clone())));
    trainer.add_stop_rule(Box::new(AfterSteps(3)));
    let summary = trainer.run().unwrap();

    assert_eq!(summary.stop.reason, "stopped by the test after 3 steps");
    assert_eq!(summary.steps, 3);
    let seen = seen.lock().unwrap().clone();
    let steps: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(steps, [0, 1, 2, 3, 3], "before training, each step, after training");
    // The time schedule validated during training, and the curve shows it.
    let during: Vec<u64> = seen.iter().filter(|(s, v)| *v && (1..3).contains(s)).map(|(s, _)| *s).collect();
    assert!(!during.is_empty(), "no validation during training: {seen:?}");
    assert!(summary.curve.len() >= 3, "{:?}", summary.curve);
    let lines = std::fs::read_to_string(summary.run_dir.join("metrics.jsonl")).unwrap();
    let val_lines = lines.lines().filter(|l| l.contains("\"val/acc\"")).count();
    assert_eq!(val_lines, summary.curve.len());
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(summary.run_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(s["val/curve"].as_array().unwrap().len(), summary.curve.len());
    assert!(s["validation_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_config_saved_before_the_library_still_resolves_with_the_new_keys_defaulted() {
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run-before-library/config.toml");
    std::fs::copy(fixture, dir.path().join("config.toml")).unwrap();
    let cfg = saved_config(dir.path()).unwrap();
    assert_eq!(cfg.algorithm.chain, ["ppo"]);
    assert_eq!(cfg.trainer.lr, 1e-4, "the tiny PPO learning rate saved with the run");
    assert_eq!(cfg.trainer.test_every_minutes, RunConfig::default().trainer.test_every_minutes);
    let err = saved_config(&dir.path().join("nothing")).unwrap_err().to_string();
    assert!(err.contains("is not a run directory"), "{err}");
}
