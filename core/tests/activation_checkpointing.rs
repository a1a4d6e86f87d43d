//! Activation checkpointing (`Decoder::set_gradient_checkpointing`) gives the
//! gradients of the plain path: for the actor's chunked LM-head backward, for
//! the critic's value head, through the whole actor update, for every family
//! (tied Qwen2, Llama with biases, Qwen3 with q/k norms and a sliding layer,
//! Mistral with a window shorter than the rows).

mod common;

use std::collections::BTreeMap;

use serde_json::json;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use tz_core::critic::{update_critic, Critic, CriticInputs, CriticUpdateConfig};
use tz_core::model::{Decoder, ValueHead};
use tz_core::optim::{AdamW, AdamWConfig};
use tz_core::rl_batch::SequenceBatch;
use tz_core::rl_update::{update_actor, ActorInputs, ActorUpdateConfig};
use tz_core::ModelConfig;
use tz_sdk::LossSettings;

/// A small config of `model_type` with the family's own keys.
fn config(model_type: &str, extra: serde_json::Value) -> ModelConfig {
    let mut cfg = common::small_config(model_type == "qwen2");
    cfg.num_hidden_layers = 3;
    cfg.extra.insert("model_type".into(), model_type.into());
    cfg.extra.remove("architectures");
    for (k, v) in extra.as_object().unwrap() {
        cfg.extra.insert(k.clone(), v.clone());
    }
    cfg.validate().unwrap();
    cfg
}

fn families() -> Vec<(&'static str, ModelConfig)> {
    vec![
        ("qwen2", config("qwen2", json!({}))),
        ("llama", config("llama", json!({"attention_bias": true, "mlp_bias": true}))),
        (
            "qwen3",
            config(
                "qwen3",
                json!({"head_dim": 12, "use_sliding_window": true, "sliding_window": 3, "max_window_layers": 1}),
            ),
        ),
        ("mistral", config("mistral", json!({"sliding_window": 4}))),
    ]
}

/// Left-padded prompts and right-padded responses of different lengths.
fn batch() -> SequenceBatch {
    SequenceBatch::new(
        &[&[3, 4, 5, 13, 6], &[7, 8], &[9, 10, 11]],
        &[&[12, 1], &[14, 15, 16, 17, 1], &[18, 19, 20]],
        0,
        Device::Cpu,
    )
}

fn grads(vs: &VarStore) -> BTreeMap<String, Tensor> {
    vs.variables().into_iter().map(|(name, t)| (name, t.grad().copy())).collect()
}

fn zero_grads(vs: &VarStore) {
    for (_, t) in vs.variables() {
        let mut g = t.grad();
        if g.defined() {
            let _ = g.zero_();
        }
    }
}

/// Every gradient equal to the plain one up to the roundings of the
/// forward and backward passes (the checkpointed path runs whole rows, the
/// plain one shares each prompt's forward: the same sums in another order).
fn assert_same_grads(
    family: &str,
    cfg: &ModelConfig,
    plain: &BTreeMap<String, Tensor>,
    checkpointed: &BTreeMap<String, Tensor>,
) {
    assert_eq!(plain.len(), checkpointed.len());
    // The longest row of [`batch`]: 5 prompt + 5 response positions.
    let tol = common::backward_tol(cfg, 10);
    for (name, want) in plain {
        let got = &checkpointed[name];
        assert!(want.defined() && got.defined(), "{family}: {name} has no gradient");
        common::assert_tensors_close(&format!("{family}: gradient of {name}"), got, want, tol);
        assert!(want.abs().max().double_value(&[]) > 0.0, "{family}: {name} has a zero gradient");
    }
}

/// The actor's path: response hidden states, chunked LM head + a loss that
/// weighs every token, `backward_chunked`.
fn actor_grads(model: &Decoder, vs: &VarStore) -> (f64, BTreeMap<String, Tensor>) {
    zero_grads(vs);
    let b = batch();
    let weights = Tensor::from_slice(&[
        0.3f32, -1.0, 0.0, 0.0, 0.0, 1.0, 0.5, -0.2, 0.7, 0.1, -0.4, 0.9, 0.0, 0.0, 0.0,
    ])
    .view([3, 5]);
    let hidden = b.response_hidden(model);
    let loss = model.backward_chunked(&hidden, &b.targets(), 2, |r, lp, ent| {
        let w = weights.narrow(1, r.start, r.end - r.start);
        let m = b.response_mask.narrow(1, r.start, r.end - r.start);
        ((lp * &w + ent * 0.01) * &m).sum(Kind::Float)
    });
    (loss, grads(vs))
}

#[test]
fn actor_gradients_with_checkpointing_equal_the_plain_path() {
    for (family, cfg) in families() {
        let (vs, mut model) = common::random_model(&cfg, 7);
        let (plain_loss, plain) = actor_grads(&model, &vs);
        model.set_gradient_checkpointing(true);
        let (loss, checkpointed) = actor_grads(&model, &vs);
        assert!(
            (loss - plain_loss).abs() <= 1e-6 + 1e-5 * plain_loss.abs(),
            "{family}: loss {loss} vs {plain_loss}"
        );
        assert_same_grads(family, &cfg, &plain, &checkpointed);
    }
}

fn critic_for(cfg: &ModelConfig, seed: i64) -> Critic {
    common::test_threads();
    let vs = VarStore::new(Device::Cpu);
    let backbone = Decoder::backbone(&vs.root(), cfg);
    let head = ValueHead::new(&vs.root(), cfg.hidden_size);
    tz_core::model::init::fill_from_seed(&vs, seed as u64, common::noisy_fill);
    Critic { vs, backbone, head }
}

#[test]
fn critic_gradients_with_checkpointing_equal_the_plain_path() {
    for (family, cfg) in families() {
        let mut critic = critic_for(&cfg, 11);
        let b = batch();
        let returns = Tensor::from_slice(&[1.0f32, 0.0, 2.0, -1.0, 0.5]).view([1, 5]) * &b.response_mask;
        let run = |critic: &Critic| {
            zero_grads(&critic.vs);
            let loss = (critic.response_values(&b) - &returns).square().sum(Kind::Float);
            loss.backward();
            critic.backbone.backward_through_checkpoints();
            grads(&critic.vs)
        };
        let plain = run(&critic);
        critic.backbone.set_gradient_checkpointing(true);
        assert_same_grads(family, &cfg, &plain, &run(&critic));

        // The whole critic update: the same loss and gradient norm.
        let update = |critic: &Critic| {
            let old = critic.values(&b, 2);
            let mut opt =
                AdamW::from_var_store(&critic.vs, AdamWConfig { lr: 0.0, ..AdamWConfig::default() });
            let cfg = CriticUpdateConfig {
                ppo_epochs: 1,
                mini_batch_size: 0,
                micro_batch_size: 2,
                clip_value: 0.5,
                seed: 0,
            };
            update_critic(
                critic,
                &mut opt,
                &CriticInputs { batch: &b, old_values: &old, returns: &returns },
                &cfg,
            )
        };
        critic.backbone.set_gradient_checkpointing(false);
        let plain = update(&critic);
        critic.backbone.set_gradient_checkpointing(true);
        let checkpointed = update(&critic);
        assert!(
            (plain.vf_loss - checkpointed.vf_loss).abs() <= 1e-6 * (1.0 + plain.vf_loss.abs()),
            "{family}"
        );
        assert!(
            (plain.grad_norm - checkpointed.grad_norm).abs() <= 1e-5 * plain.grad_norm,
            "{family}: grad norm {} vs {}",
            checkpointed.grad_norm,
            plain.grad_norm
        );
    }
}

#[test]
fn the_actor_update_with_checkpointing_reports_the_same_loss_and_grad_norm() {
    let cfg = families().remove(3).1;
    // Both runs start from these weights (copied, so that other tests drawing
    // from libtorch's global generator meanwhile cannot change them).
    let (start, _) = common::random_model(&cfg, 5);
    let run = |checkpointing: bool| {
        let mut vs = VarStore::new(Device::Cpu);
        let mut model = Decoder::new(&vs.root(), &cfg);
        vs.copy(&start).unwrap();
        model.set_gradient_checkpointing(checkpointing);
        let b = batch();
        let old = b.logprobs(&model, 8, 2);
        let adv = Tensor::from_slice(&[
            1.0f32, 1.0, 0.0, 0.0, 0.0, -1.0, -1.0, -1.0, -1.0, -1.0, 0.5, 0.5, 0.5, 0.0, 0.0,
        ])
        .view([3, 5])
            * &b.response_mask;
        let mut opt = AdamW::from_var_store(&vs, AdamWConfig { lr: 1e-3, ..AdamWConfig::default() });
        let update = ActorUpdateConfig {
            ppo_epochs: 2,
            mini_batch_size: 0,
            micro_batch_size: 1,
            logit_chunk: 2,
            norm_len: 5.0,
            seed: 0,
        };
        update_actor(
            &model,
            &mut opt,
            &ActorInputs { batch: &b, old_logp: Some(&old), advantages: &adv, ref_logp: None },
            &LossSettings::default(),
            0.0,
            &update,
        )
    };
    let (plain, checkpointed) = (run(false), run(true));
    assert_eq!(checkpointed.steps, 2);
    for ((name, p), (_, c)) in plain.named().into_iter().zip(checkpointed.named()) {
        assert!((p - c).abs() <= 1e-6 + 1e-4 * p.abs(), "{name}: {c} with checkpointing, {p} without");
    }
}

#[test]
fn checkpointing_changes_nothing_without_gradients() {
    let cfg = families().remove(2).1;
    let (_vs, mut model) = common::random_model(&cfg, 3);
    let b = batch();
    let plain = b.logprobs(&model, 8, 2);
    model.set_gradient_checkpointing(true);
    assert_eq!(common::max_abs_diff(&b.logprobs(&model, 8, 2), &plain), 0.0);
    // With grad on, the hidden states themselves are the same too.
    let with_grad = model.forward(&b.input_ids, Some(&b.attention_mask), None);
    model.set_gradient_checkpointing(false);
    let without = model.forward(&b.input_ids, Some(&b.attention_mask), None);
    assert_eq!(common::max_abs_diff(&with_grad, &without), 0.0);
}

#[test]
#[should_panic(expected = "call Decoder::backward_through_checkpoints after backward()")]
fn a_forgotten_layer_backward_is_caught_at_the_next_forward() {
    let cfg = families().remove(0).1;
    let (_vs, mut model) = common::random_model(&cfg, 3);
    model.set_gradient_checkpointing(true);
    let b = batch();
    model.forward(&b.input_ids, Some(&b.attention_mask), None).sum(Kind::Float).backward();
    let _ = model.forward(&b.input_ids, Some(&b.attention_mask), None);
}
