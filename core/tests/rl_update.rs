//! The actor update: it learns in the direction of the advantages, and a
//! non-finite loss is skipped without touching the weights.

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use tz_core::model::init::init_from_seed;
use tz_core::optim::{AdamW, AdamWConfig};
use tz_core::rl_batch::SequenceBatch;
use tz_core::rl_update::{update_actor, ActorInputs, ActorUpdateConfig};
use tz_core::{Qwen2, Qwen2Config};
use tz_sdk::LossSettings;

/// The same weights on every call, whatever other test threads draw from
/// libtorch's global generator.
fn tiny() -> (VarStore, Qwen2) {
    let cfg: Qwen2Config = serde_json::from_value(serde_json::json!({
        "vocab_size": 13, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
        "num_attention_heads": 2, "num_key_value_heads": 1, "tie_word_embeddings": true
    }))
    .unwrap();
    let vs = VarStore::new(Device::Cpu);
    let model = Qwen2::new(&vs.root(), &cfg);
    init_from_seed(&vs, 3);
    (vs, model)
}

fn batch() -> SequenceBatch {
    SequenceBatch::new(&[&[1, 2, 3], &[4, 5]], &[&[6, 7], &[8, 9, 10]], 0, Device::Cpu)
}

fn config() -> ActorUpdateConfig {
    ActorUpdateConfig {
        ppo_epochs: 1,
        mini_batch_size: 0,
        micro_batch_size: 1,
        logit_chunk: 2,
        norm_len: 3.0,
        seed: 0,
    }
}

fn weights(vs: &VarStore) -> Vec<f32> {
    let mut vars = vs.variables().into_iter().collect::<Vec<_>>();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.iter().flat_map(|(_, t)| Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()).collect()
}

#[test]
fn a_positive_advantage_raises_the_logprob_of_its_tokens() {
    let (vs, model) = tiny();
    let b = batch();
    let old = b.logprobs(&model, 8, 2);
    let adv = Tensor::from_slice(&[1.0f32, 1.0, 1.0, -1.0, -1.0, -1.0]).view([2, 3]) * &b.response_mask;
    let mut opt =
        AdamW::from_var_store(&vs, AdamWConfig { lr: 1e-2, weight_decay: 0.0, ..AdamWConfig::default() });
    let m = update_actor(
        &model,
        &mut opt,
        &ActorInputs { batch: &b, old_logp: Some(&old), advantages: &adv, ref_logp: None },
        &LossSettings::default(),
        0.0,
        &config(),
    );
    assert_eq!((m.steps, m.skipped), (1, 0));
    assert!(m.grad_norm > 0.0 && m.grad_norm.is_finite());
    let new = b.logprobs(&model, 8, 2);
    let row_sum = |t: &Tensor, i: i64| t.get(i).sum(Kind::Float).double_value(&[]);
    assert!(row_sum(&new, 0) > row_sum(&old, 0), "row with A>0 must become more likely");
    assert!(row_sum(&new, 1) < row_sum(&old, 1), "row with A<0 must become less likely");
}

#[test]
fn an_injected_nan_is_skipped_and_leaves_the_weights_unchanged() {
    let (vs, model) = tiny();
    let b = batch();
    let old = b.logprobs(&model, 8, 2);
    let adv = Tensor::from_slice(&[f32::NAN, 1.0, 0.0, 1.0, 1.0, 1.0]).view([2, 3]);
    let before = weights(&vs);
    let mut opt = AdamW::from_var_store(&vs, AdamWConfig { lr: 1e-2, ..AdamWConfig::default() });
    let m = update_actor(
        &model,
        &mut opt,
        &ActorInputs { batch: &b, old_logp: Some(&old), advantages: &adv, ref_logp: None },
        &LossSettings::default(),
        0.0,
        &config(),
    );
    assert_eq!((m.steps, m.skipped), (0, 1));
    assert_eq!(opt.steps_taken(), 0);
    assert_eq!(weights(&vs), before);
}

#[test]
fn micro_batches_accumulate_to_the_same_update_as_one_batch() {
    let run = |micro: usize| {
        let (vs, model) = tiny();
        let b = batch();
        let old = b.logprobs(&model, 8, 2);
        let adv = Tensor::from_slice(&[0.5f32, 0.5, 0.0, -1.0, -1.0, -1.0]).view([2, 3]) * &b.response_mask;
        let mut opt = AdamW::from_var_store(&vs, AdamWConfig { lr: 1e-2, ..AdamWConfig::default() });
        let cfg = ActorUpdateConfig { micro_batch_size: micro, ..config() };
        update_actor(
            &model,
            &mut opt,
            &ActorInputs { batch: &b, old_logp: Some(&old), advantages: &adv, ref_logp: None },
            &LossSettings::default(),
            0.0,
            &cfg,
        );
        weights(&vs)
    };
    let (a, b) = (run(1), run(2));
    // The accumulated gradients differ by roundings only, and AdamW's first
    // step moves each weight by lr·g/(|g|+ε), whose sensitivity to g is
    // ε/|g| of lr: the updates agree to a small fraction of lr (1e-2).
    tz_testkit::assert_all_close("weights after the update", &b, &a, tz_testkit::Tol::new(0.0, 1e-3 * 1e-2));
}

/// Three prompts of different lengths, two of them with several responses
/// of different lengths (one empty), as a GRPO batch has them.
fn grouped_batch() -> SequenceBatch {
    let (p1, p2, p3): (&[u32], &[u32], &[u32]) = (&[1, 2, 3, 4], &[5, 6], &[7, 8, 9]);
    SequenceBatch::new(
        &[p1, p1, p1, p2, p2, p3],
        &[&[6, 7], &[8, 9, 10, 11, 12], &[3], &[4, 4, 4], &[], &[2, 3, 4, 5, 6, 7]],
        0,
        Device::Cpu,
    )
}

/// Per-token log-probs from one plain forward over the padded rows.
fn plain_logprobs(model: &Qwen2, b: &SequenceBatch) -> Tensor {
    let hidden = model.forward(&b.input_ids, Some(&b.attention_mask), None).narrow(
        1,
        b.prompt_len - 1,
        b.response_len,
    );
    model.token_logprobs(&hidden, &b.targets(), 1024).0 * &b.response_mask
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn shared_prompt_segments_give_the_plain_forwards_logprobs() {
    let (_vs, model) = tiny();
    let b = grouped_batch();
    let plain = tch::no_grad(|| plain_logprobs(&model, &b));
    for micro in [1, 2, 6] {
        let diff = max_abs_diff(&b.logprobs(&model, micro, 2), &plain);
        assert!(diff < 1e-5, "micro {micro}: max difference {diff}");
    }
    let hidden = tch::no_grad(|| b.response_hidden(&model));
    let plain_hidden = tch::no_grad(|| {
        model.forward(&b.input_ids, Some(&b.attention_mask), None).narrow(1, b.prompt_len - 1, b.response_len)
    });
    let valid = b.response_mask.unsqueeze(-1);
    assert!(max_abs_diff(&(hidden * &valid), &(plain_hidden * &valid)) < 1e-5);
}

#[test]
fn gradients_through_shared_prompts_and_segments_match_the_plain_forward() {
    let weights_of_tokens = |b: &SequenceBatch| {
        Tensor::arange(b.rows() * b.response_len, (Kind::Float, Device::Cpu)).view([b.rows(), -1]).cos()
    };
    let grads = |vs: &VarStore| {
        let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.into_iter().map(|(name, t)| (name, t.grad().copy())).collect::<Vec<_>>()
    };
    // 40 long and 40 short responses: cut into segments of different lengths.
    let (p1, p2): (&[u32], &[u32]) = (&[1, 2, 3, 4], &[5, 6]);
    let long: Vec<u32> = (0..20).map(|i| 3 + i % 10).collect();
    let prompts: Vec<&[u32]> = (0..80).map(|i| if i % 3 == 0 { p1 } else { p2 }).collect();
    let responses: Vec<&[u32]> =
        (0..80).map(|i| if i % 2 == 0 { &long[..] } else { &long[..1 + i % 3] }).collect();
    let b = SequenceBatch::new(&prompts, &responses, 0, Device::Cpu);
    let w = weights_of_tokens(&b);

    let (vs_plain, plain) = tiny();
    (plain_logprobs(&plain, &b) * &w).sum(Kind::Float).backward();

    let (vs_seg, model) = tiny();
    let targets = b.targets();
    let mut total: Option<Tensor> = None;
    let segments = b.segments(&model);
    assert!(segments.len() > 1, "the lengths differ enough to cut the batch");
    for seg in segments {
        let pick = |t: &Tensor| t.index_select(0, &seg.index).narrow(1, 0, seg.response_len);
        let lp = model.token_logprobs(&seg.hidden, &pick(&targets), 2).0;
        let term = (lp * pick(&b.response_mask) * pick(&w)).sum(Kind::Float);
        total = Some(match total {
            Some(t) => t + term,
            None => term,
        });
    }
    total.unwrap().backward();

    for ((name, g_plain), (_, g_seg)) in grads(&vs_plain).iter().zip(grads(&vs_seg).iter()) {
        let scale = g_plain.abs().max().double_value(&[]).max(1e-3);
        let diff = max_abs_diff(g_plain, g_seg);
        assert!(diff <= 1e-5 * scale + 1e-6, "{name}: gradient differs by {diff} (scale {scale})");
    }
}

/// One update of a fresh tiny model on [`grouped_batch`], with or without
/// old log-probs: the weights after it and the metrics.
fn update_grouped(with_old: bool, cfg: &ActorUpdateConfig) -> (Vec<f32>, tz_core::rl_update::ActorMetrics) {
    let (vs, model) = tiny();
    let b = grouped_batch();
    let old = b.logprobs(&model, 8, 2);
    let adv = Tensor::from_slice(&[1.0f32, -0.5, 0.3, 1.0, -1.0, 0.7]).view([6, 1]) * &b.response_mask;
    let mut opt = AdamW::from_var_store(&vs, AdamWConfig { lr: 1e-2, ..AdamWConfig::default() });
    let inputs =
        ActorInputs { batch: &b, old_logp: with_old.then_some(&old), advantages: &adv, ref_logp: None };
    let m = update_actor(&model, &mut opt, &inputs, &LossSettings::default(), 0.0, cfg);
    (weights(&vs), m)
}

fn max_weight_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max)
}

#[test]
fn on_policy_update_without_old_logprobs_equals_the_update_with_them() {
    let cfg = ActorUpdateConfig { micro_batch_size: 4, ..config() };
    let ((with, m_with), (without, m_without)) = (update_grouped(true, &cfg), update_grouped(false, &cfg));
    let max_diff = max_weight_diff(&with, &without);
    assert!(max_diff < 1e-6, "max weight difference {max_diff}");
    assert!((m_with.pg_loss - m_without.pg_loss).abs() < 1e-6);
    // Without old log-probs the ratio is exactly 1.
    assert_eq!((m_without.ppo_kl, m_without.pg_clipfrac, m_without.is_ratio_mean), (0.0, 0.0, 1.0));
}

#[test]
fn several_optimizer_steps_without_old_logprobs_compute_them_first() {
    let cfg = ActorUpdateConfig { ppo_epochs: 2, mini_batch_size: 3, micro_batch_size: 2, ..config() };
    assert!(!cfg.is_on_policy(6));
    let ((with, m), (without, _)) = (update_grouped(true, &cfg), update_grouped(false, &cfg));
    assert_eq!(m.steps, 4);
    let max_diff = max_weight_diff(&with, &without);
    assert!(max_diff < 1e-6, "max weight difference {max_diff}");
}

#[test]
fn rows_with_zero_advantage_are_not_run_and_the_update_is_unchanged() {
    // Rows 4 and 5 are a group whose rewards were all equal: advantage 0.
    let adv_rows = [1.0f32, -0.5, 0.3, -0.8, 0.0, 0.0];
    let run = |entropy_coef: f32| {
        let (vs, model) = tiny();
        let b = grouped_batch();
        let adv = Tensor::from_slice(&adv_rows).view([6, 1]) * &b.response_mask;
        let mut opt = AdamW::from_var_store(&vs, AdamWConfig { lr: 1e-2, ..AdamWConfig::default() });
        let inputs = ActorInputs { batch: &b, old_logp: None, advantages: &adv, ref_logp: None };
        let settings = LossSettings { entropy_coef, ..LossSettings::default() };
        let m = update_actor(
            &model,
            &mut opt,
            &inputs,
            &settings,
            0.0,
            &ActorUpdateConfig { micro_batch_size: 6, ..config() },
        );
        (weights(&vs), m.rows_run_frac)
    };
    // With an entropy term every row counts and runs; a tiny coefficient
    // stands in for "the same loss with every row run".
    let (skipping, frac) = run(0.0);
    let (all_rows, frac_all) = run(1e-12);
    assert_eq!((frac, frac_all), (4.0 / 6.0, 1.0));
    let max_diff = max_weight_diff(&skipping, &all_rows);
    assert!(max_diff < 1e-6, "max weight difference {max_diff}");
}
