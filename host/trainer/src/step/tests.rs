//! Each stage of the step on a hand-made batch: a randomly initialised tiny
//! model (no warm start), two prompts with two responses each, and the
//! algorithm plugins in-process.

use tch::nn::VarStore;
use tz_config::RunConfig;
use tz_core::kl::KlController;
use tz_core::optim::{AdamW, AdamWConfig};
use tz_core::parallel::{BatchShard, World};
use tz_core::presets::{tiny_config, tiny_tokenizer, write_model_dir};
use tz_core::rollout::{Completion, FinishReason};
use tz_core::weight_change::weight_change;
use tz_core::{Device, Kind, Policy, Qwen2};
use tz_plugin_host::AlgorithmChain;
use tz_sdk::export::in_process;
use tz_sdk::testing::recording_host;
use tz_sdk::{KlEstimator, KlPlacement, KlSettings, Sample, Score};

// Link the algorithm plugins: their registrations are what `in_process` finds.
use tz_algorithms as _;

use super::critic::CriticRun;
use super::{actor, advantages, rewards, StepBatch};
use crate::prompts::Prompt;
use crate::rollout::Scored;

/// The task's rewards of the four responses (prompt 0: rows 0-1, prompt 1: rows 2-3).
const REWARDS: [f32; 4] = [1.0, 0.0, 0.1, 0.1];
/// Their lengths in tokens; row 1 reaches the window (truncated).
const LENGTHS: [usize; 4] = [3, 6, 2, 4];
const WINDOW: usize = 6;

/// A random tiny model saved to `dir` (seeded, so each seed is one model).
fn random_tiny(dir: &std::path::Path, seed: i64) -> Policy {
    let cfg = tiny_config();
    let vs = VarStore::new(Device::Cpu);
    let _model = Qwen2::new(&vs.root(), &cfg);
    tz_core::model::init::init_from_seed(&vs, seed as u64);
    write_model_dir(dir, &cfg, &vs, &tiny_tokenizer().unwrap(), &serde_json::json!({"test": "step stages"}))
        .unwrap();
    Policy::load(dir, Device::Cpu, Kind::Float).unwrap()
}

fn batch(policy: &Policy) -> StepBatch {
    let prompts =
        (0..2).map(|p| Prompt { text: String::new(), ids: vec![3 + p, 4, 20], stop: vec![] }).collect();
    let completions = LENGTHS
        .iter()
        .enumerate()
        .map(|(i, &len)| Completion {
            prompt_index: i / 2,
            sample_index: i % 2,
            token_ids: (0..len as u32).map(|t| 3 + (t + i as u32) % 10).collect(),
            text: String::new(),
            logprobs: vec![-1.0; len],
            finish: if len == WINDOW { FinishReason::Length } else { FinishReason::Stop },
        })
        .collect();
    let scores = REWARDS
        .iter()
        .map(|&reward| Score {
            reward,
            correct: reward == 1.0,
            formatted: true,
            answer: None,
            reason: String::new(),
        })
        .collect();
    let sample = Sample { index: 0, group: String::new(), difficulty: 3, data: "{}".into() };
    let scored = Scored {
        samples: vec![sample.clone(), sample],
        prompts,
        completions,
        scores,
        texts: vec![String::new(); 4],
        gen_seconds: 0.0,
        reward_seconds: 0.0,
    };
    StepBatch::new(scored, policy, WINDOW)
}

fn chain(names: &[(&str, &str)]) -> AlgorithmChain {
    let algorithms =
        names.iter().map(|(n, cfg)| in_process::algorithm(n, cfg, recording_host().0).unwrap()).collect();
    AlgorithmChain::new(algorithms).unwrap()
}

fn config() -> RunConfig {
    let mut cfg = RunConfig::default();
    cfg.trainer.micro_batch_size = 2;
    cfg.trainer.mini_batch_size = 4;
    cfg
}

fn close(got: &[f32], want: &[f32]) -> bool {
    got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (g - w).abs() <= 1e-5 + 1e-5 * w.abs())
}

#[test]
fn shaping_applies_the_shapers_in_chain_order_and_keeps_the_task_rewards() {
    let dir = tempfile::tempdir().unwrap();
    let policy = random_tiny(&dir.path().join("m"), 1);
    let mut b = batch(&policy);
    // Overlong with T = 6, B = 2: a 6-token response loses the full factor (1),
    // a 4-token one nothing; then cosine rewrites every reward by length.
    let chain = chain(&[("overlong", r#"{"buffer_len": 2}"#), ("cosine", "{}"), ("grpo", "{}")]);
    rewards::shape(&mut b, &chain.shapers[..1]).unwrap();
    assert!(close(&b.rewards, &[1.0, -1.0, 0.1, 0.1]), "{:?}", b.rewards);
    rewards::shape(&mut b, &chain.shapers[1..]).unwrap();
    assert_eq!(b.task_rewards, REWARDS, "the task's rewards are kept");

    let mut both = batch(&policy);
    rewards::shape(&mut both, &chain.shapers).unwrap();
    assert_eq!(both.rewards, b.rewards, "the chain is the shapers one after another");
    let mut reversed = batch(&policy);
    let backwards = self::chain(&[("cosine", "{}"), ("overlong", r#"{"buffer_len": 2}"#), ("grpo", "{}")]);
    rewards::shape(&mut reversed, &backwards.shapers).unwrap();
    assert_ne!(reversed.rewards, b.rewards, "order matters, so the test tells orders apart");
}

#[test]
fn token_rewards_put_the_score_on_the_last_token_and_subtract_the_kl_only_in_reward_placement() {
    let dir = tempfile::tempdir().unwrap();
    let policy = random_tiny(&dir.path().join("policy"), 2);
    let reference = random_tiny(&dir.path().join("reference"), 3);
    let kl = |placement| KlSettings {
        placement,
        estimator: KlEstimator::K1,
        coef: 0.5,
        adaptive_target: 0.0,
        adaptive_horizon: 10_000.0,
    };

    let mut plain = batch(&policy);
    let mut ctl = KlController::from_settings(&kl(KlPlacement::Reward));
    assert_eq!(
        rewards::token_rewards(&mut plain, &kl(KlPlacement::Reward), &mut ctl).unwrap(),
        None,
        "no reference ran"
    );
    let mut want = Vec::new();
    for (&len, &r) in LENGTHS.iter().zip(&REWARDS) {
        want.extend(std::iter::repeat_n(0.0, len - 1));
        want.push(r);
    }
    assert_eq!(plain.tensors.flat_token_rewards().unwrap(), want);

    for placement in [KlPlacement::Loss, KlPlacement::Reward] {
        let mut b = batch(&policy);
        b.tensors.compute_old_logprobs(&policy.model, 2, 1024);
        b.tensors.compute_ref_logprobs(&reference.model, 2, 1024);
        let mut ctl = KlController::from_settings(&kl(placement));
        let applied = rewards::token_rewards(&mut b, &kl(placement), &mut ctl).unwrap();
        let tokens = b.tensors.flat_token_rewards().unwrap();
        if placement == KlPlacement::Loss {
            assert_eq!((applied, tokens), (None, want.clone()), "the KL stays out of the reward");
            continue;
        }
        let applied = applied.expect("the KL in the reward");
        assert_eq!(applied.coef, 0.5);
        // Per response, (score − Σ token rewards) / (β · length) is its mean KL;
        // their mean is the batch KL the stage reports.
        let offsets = b.tensors.offsets();
        let mean_kl: f64 = (0..4)
            .map(|i| {
                let row = &tokens[offsets[i] as usize..offsets[i + 1] as usize];
                let sum: f64 = row.iter().map(|&t| f64::from(t)).sum();
                (f64::from(REWARDS[i]) - sum) / (0.5 * LENGTHS[i] as f64)
            })
            .sum::<f64>()
            / 4.0;
        assert!(applied.kl.abs() > 1e-4, "two random models differ: {}", applied.kl);
        assert!(
            (mean_kl - applied.kl).abs() <= 1e-4 + 1e-4 * applied.kl.abs(),
            "{mean_kl} vs {}",
            applied.kl
        );
    }
}

#[test]
fn grpo_advantages_are_the_group_normalised_score_on_every_token() {
    let dir = tempfile::tempdir().unwrap();
    let policy = random_tiny(&dir.path().join("m"), 4);
    let mut b = batch(&policy);
    let chain = chain(&[("grpo", "{}")]);
    b.tensors.set_outcome_rewards(&b.rewards).unwrap();
    let out = advantages::estimate(&mut b, &chain.estimator).unwrap();
    assert!(out.returns.is_empty(), "no critic, no value targets");
    // Stored in the batch as right-padded [N, R] rows.
    let rows = b.tensors.advantages().unwrap();
    let width = rows.size()[1] as usize;
    let padded: Vec<f32> = rows.flatten(0, -1).try_into().unwrap();
    let stored: Vec<f32> = (0..4).flat_map(|i| padded[i * width..i * width + LENGTHS[i]].to_vec()).collect();
    assert_eq!(stored, out.advantages, "the estimator's advantages are stored in the batch");
    let offsets = b.tensors.offsets();
    let flat = out.advantages.clone();
    let row = |i: usize| &flat[offsets[i] as usize..offsets[i + 1] as usize];
    for i in 0..4 {
        assert!(row(i).iter().all(|&a| a == row(i)[0]), "row {i} is one value: {:?}", row(i));
    }
    // Prompt 0 (1.0 vs 0.0): ±1/std; prompt 1 (equal rewards): 0.
    assert!(row(0)[0] > 0.5 && (row(0)[0] + row(1)[0]).abs() < 1e-5, "{flat:?}");
    assert!(row(2)[0] == 0.0 && row(3)[0] == 0.0, "{flat:?}");
}

#[test]
fn the_critic_learns_from_the_estimators_returns_and_the_actor_update_moves_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("m");
    let policy = random_tiny(&model_dir, 5);
    let cfg = config();
    let chain = chain(&[("ppo", "{}")]);
    let loss = chain.estimator.loss_settings().unwrap();
    let mut critic =
        CriticRun::create(&World::single(), &loss, &cfg, &model_dir, None, Device::Cpu, Kind::Float)
            .unwrap()
            .unwrap();
    let shard = BatchShard::single(REWARDS.len());

    let mut b = batch(&policy);
    b.tensors.compute_old_logprobs(&policy.model, 2, 1024);
    b.tensors.set_outcome_rewards(&b.rewards).unwrap();
    critic.compute_values(&mut b.tensors, 2);
    let out = advantages::estimate(&mut b, &chain.estimator).unwrap();
    assert_eq!(out.returns.len(), out.advantages.len(), "PPO returns a value target per token");
    let c = critic.update(&b.tensors, &cfg, 1, &shard).unwrap();
    assert!(c.vf_loss.is_finite() && c.grad_norm > 0.0, "{c:?}");

    let mut opt = AdamW::from_var_store(&policy.vs, AdamWConfig { lr: 1e-3, ..AdamWConfig::default() });
    let before = policy.weights();
    let inputs = actor::ActorStep { cfg: &cfg, loss: &loss, kl_coef: 0.0, step: 1, window: WINDOW };
    let a = actor::update(&b.tensors, &policy, &mut opt, &inputs, &shard).unwrap();
    assert!(a.pg_loss.is_finite() && a.grad_norm > 0.0, "{a:?}");
    assert!(weight_change(&before, &policy.weights()).unwrap().overall > 0.0, "the weights did not move");

    let fresh = batch(&policy);
    assert!(
        actor::update(&fresh.tensors, &policy, &mut opt, &inputs, &shard).is_err(),
        "no old log-probs, no update"
    );
}
