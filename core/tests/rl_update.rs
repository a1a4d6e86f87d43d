//! The actor update: it learns in the direction of the advantages, and a
//! non-finite loss is skipped without touching the weights.

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use tz_core::optim::{AdamW, AdamWConfig};
use tz_core::rl_batch::SequenceBatch;
use tz_core::rl_update::{update_actor, ActorInputs, ActorUpdateConfig};
use tz_core::{Qwen2, Qwen2Config};
use tz_sdk::LossSettings;

fn tiny() -> (VarStore, Qwen2) {
    tch::manual_seed(3);
    let cfg: Qwen2Config = serde_json::from_value(serde_json::json!({
        "vocab_size": 13, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
        "num_attention_heads": 2, "num_key_value_heads": 1, "tie_word_embeddings": true
    }))
    .unwrap();
    let vs = VarStore::new(Device::Cpu);
    let model = Qwen2::new(&vs.root(), &cfg);
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
        &ActorInputs { batch: &b, old_logp: &old, advantages: &adv, ref_logp: None },
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
        &ActorInputs { batch: &b, old_logp: &old, advantages: &adv, ref_logp: None },
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
            &ActorInputs { batch: &b, old_logp: &old, advantages: &adv, ref_logp: None },
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
