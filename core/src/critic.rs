//! The PPO critic: its own copy of the base model's decoder (no LM head)
//! with a [`ValueHead`], in its own `VarStore`, and the critic update.
//!
//! **Alignment** (veRL `dp_critic`: `values[:, -response_length-1:-1]`): the
//! value of response token `t` is read at sequence position `P + t − 1`, the
//! position that predicts token `t`, so `V_t` estimates the return of the
//! state *before* token `t` is emitted. Values are zero at right-pad positions
//! (GAE then needs no mask carry).
//!
//! **Update** ([`update_critic`]): `ppo_epochs` passes over shuffled
//! mini-batches, one optimizer step each, accumulated over micro-batches,
//! with the clipped value loss ([`crate::loss::value_loss`], token-mean over
//! the mini-batch's tokens, as TinyZero's critic). There is no LM head, so a
//! micro-batch never holds more than `[micro, P + R, H]` activations. A
//! mini-batch whose loss or gradient norm is not finite is skipped and counted.
//! [`update_critic_parallel`] runs it on one rank's rows of a data-parallel
//! batch ([`crate::parallel`]).
//!
//! **Loading**: [`Critic::from_base`] fills the backbone from a causal-LM
//! checkpoint and starts the head at zero (V = 0 everywhere);
//! [`Critic::from_checkpoint`] restores a saved critic (backbone and head).
//! [`Critic::save`] writes a Hugging Face-style directory: `config.json`,
//! `model.safetensors` with `model.*` and `value_head.{weight,bias}`.

use std::path::Path;

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use tz_sdk::LossAggregation;

use crate::checkpoint::{ModelDir, SaveOptions};
use crate::error::Context;
use crate::loss::{masked_mean, value_loss, AggScale};
use crate::model::{Decoder, ValueHead};
use crate::optim::AdamW;
use crate::parallel::{self, BatchShard, DistError, Optimizer};
use crate::rl_batch::SequenceBatch;

/// A value model: backbone + value head in one `VarStore`.
#[derive(Debug)]
pub struct Critic {
    pub vs: VarStore,
    pub backbone: Decoder,
    pub head: ValueHead,
}

impl Critic {
    /// A fresh critic from the base model in `dir`: the decoder weights are
    /// loaded (an LM head in the file is ignored), the value head starts at 0.
    pub fn from_base(dir: &ModelDir, device: Device, kind: Kind) -> crate::Result<Critic> {
        let mut vs = VarStore::new(device);
        let backbone = Decoder::backbone(&vs.root(), dir.config());
        if kind != Kind::Float {
            vs.set_kind(kind);
        }
        // The head is created after the load: the base checkpoint has none.
        dir.load_weights(&vs)
            .with_context(|| format!("loading the critic's backbone from {}", dir.root().display()))?;
        let head = ValueHead::new(&vs.root(), dir.config().hidden_size);
        Ok(Critic { vs, backbone, head })
    }

    /// A critic saved by [`Critic::save`] (its head weights must be there).
    pub fn from_checkpoint(dir: &ModelDir, device: Device, kind: Kind) -> crate::Result<Critic> {
        let mut vs = VarStore::new(device);
        let backbone = Decoder::backbone(&vs.root(), dir.config());
        let head = ValueHead::new(&vs.root(), dir.config().hidden_size);
        if kind != Kind::Float {
            vs.set_kind(kind);
        }
        dir.load_weights(&vs).with_context(|| format!("loading the critic from {}", dir.root().display()))?;
        Ok(Critic { vs, backbone, head })
    }

    /// Writes the critic as a Hugging Face-style directory next to `like`'s
    /// config and tokenizer files, in the weights' own dtype.
    pub fn save(&self, like: &ModelDir, dir: &Path) -> crate::Result<()> {
        let opts = SaveOptions { dtype: self.backbone.kind(), ..SaveOptions::default() };
        like.save_like(&self.vs, dir, &opts)
    }

    /// Values of the response tokens of `batch`, `[N, R]` f32, with autograd
    /// history when grad mode is on; zero at padding.
    pub fn response_values(&self, batch: &SequenceBatch) -> Tensor {
        self.head.forward(&batch.response_hidden(&self.backbone)) * &batch.response_mask
    }

    /// [`Critic::response_values`] without gradients, `micro` rows at a time.
    pub fn values(&self, batch: &SequenceBatch, micro: i64) -> Tensor {
        let _g = tch::no_grad_guard();
        let n = batch.rows();
        let mut parts = Vec::new();
        let mut start = 0;
        while start < n {
            let len = micro.max(1).min(n - start);
            let idx = Tensor::arange_start(start, start + len, (Kind::Int64, batch.input_ids.device()));
            parts.push(self.response_values(&batch.select(&idx)));
            start += len;
        }
        Tensor::cat(&parts, 0)
    }
}

/// How the critic update cuts and iterates the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct CriticUpdateConfig {
    pub ppo_epochs: usize,
    /// Rows per optimizer step; 0 = the whole batch.
    pub mini_batch_size: usize,
    /// Rows per forward/backward.
    pub micro_batch_size: usize,
    /// Value clip range `c`: new values are clipped to `old ± c` in the loss.
    pub clip_value: f64,
    /// Seed of the mini-batch shuffle.
    pub seed: u64,
}

/// What the critic learns from: values at rollout time and the value targets.
pub struct CriticInputs<'a> {
    pub batch: &'a SequenceBatch,
    /// Values under the critic before this update, `[N, R]`.
    pub old_values: &'a Tensor,
    /// Value targets (GAE returns, before whitening), `[N, R]`.
    pub returns: &'a Tensor,
}

/// One critic update's metrics (veRL names in [`CriticMetrics::named`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CriticMetrics {
    /// Mean over optimizer steps of the mini-batch value loss.
    pub vf_loss: f64,
    /// Token-weighted fraction where the clipped error was the larger.
    pub vf_clipfrac: f64,
    /// Token-weighted mean of the predicted values during the update.
    pub vpred_mean: f64,
    /// Mean gradient norm (before clipping) over optimizer steps.
    pub grad_norm: f64,
    pub lr: f64,
    /// `1 − Var(R − V_old) / Var(R)` over the batch's valid tokens.
    pub vf_explained_var: f64,
    pub steps: usize,
    pub skipped: usize,
}

impl CriticMetrics {
    pub fn named(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("critic/vf_loss", self.vf_loss),
            ("critic/vf_clipfrac", self.vf_clipfrac),
            ("critic/vpred_mean", self.vpred_mean),
            ("critic/grad_norm", self.grad_norm),
            ("critic/lr", self.lr),
            ("critic/vf_explained_var", self.vf_explained_var),
            ("critic/skipped_steps", self.skipped as f64),
        ]
    }
}

/// Runs the critic update and returns its metrics.
pub fn update_critic(
    critic: &Critic,
    opt: &mut AdamW,
    inputs: &CriticInputs,
    cfg: &CriticUpdateConfig,
) -> CriticMetrics {
    let shard = BatchShard::single(inputs.batch.rows() as usize);
    update_critic_parallel(critic, opt, inputs, cfg, &shard)
        .expect("a single process makes no collective call that can fail")
}

/// [`update_critic`] on this rank's rows of a data-parallel batch (the
/// rules of [`crate::rl_update::update_actor_parallel`]).
pub fn update_critic_parallel(
    critic: &Critic,
    opt: &mut dyn Optimizer,
    inputs: &CriticInputs,
    cfg: &CriticUpdateConfig,
    shard: &BatchShard,
) -> Result<CriticMetrics, DistError> {
    let batch = inputs.batch;
    let n = shard.total();
    assert_eq!(batch.rows() as usize, shard.local(), "the batch holds this rank's rows");
    let device = batch.input_ids.device();
    let mini = if cfg.mini_batch_size == 0 { n } else { cfg.mini_batch_size.min(n) };
    let micro = cfg.micro_batch_size.max(1).min(mini.max(1));
    let mut out = CriticMetrics {
        vf_explained_var: parallel::explained_variance(
            shard.world(),
            inputs.returns,
            inputs.old_values,
            &batch.response_mask,
        )?,
        ..CriticMetrics::default()
    };
    let (mut tokens_seen, mut clip_sum, mut vpred_sum) = (0.0, 0.0, 0.0);
    let (mut loss_sum, mut grad_sum, mut lr_sum) = (0.0, 0.0, 0.0);

    for epoch in 0..cfg.ppo_epochs.max(1) {
        for mb_rows in shard.mini_batches(cfg.seed.wrapping_add(epoch as u64), mini) {
            let mb_rows = mb_rows.as_slice();
            opt.zero_grad();
            let mb_index = Tensor::from_slice(mb_rows).to_device(device);
            let mut mb_tokens =
                [batch.response_mask.index_select(0, &mb_index).sum(Kind::Float).double_value(&[])];
            shard.sum(&mut mb_tokens)?;
            let mb_tokens = mb_tokens[0].max(1.0);
            let scale = AggScale { num_tokens: Some(mb_tokens), num_seqs: None, norm_len: 1.0 };
            let mut mb_loss = 0.0;
            let (mut mb_clip, mut mb_vpred, mut mb_tokens_valid) = (0.0, 0.0, 0.0);
            for rows in mb_rows.chunks(micro) {
                let idx = Tensor::from_slice(rows).to_device(device);
                let sub = batch.select(&idx);
                let values = critic.response_values(&sub);
                let vl = value_loss(
                    &values,
                    &inputs.old_values.index_select(0, &idx),
                    &inputs.returns.index_select(0, &idx),
                    &sub.response_mask,
                    cfg.clip_value,
                    LossAggregation::TokenMean,
                    &scale,
                );
                vl.loss.backward();
                // With gradient checkpointing the layers are recomputed here.
                critic.backbone.backward_through_checkpoints();
                let tokens = sub.response_mask.sum(Kind::Float).double_value(&[]);
                mb_loss += vl.loss.double_value(&[]);
                mb_clip += vl.clipfrac.double_value(&[]) * tokens;
                mb_vpred += masked_mean(&values.detach(), &sub.response_mask).double_value(&[]) * tokens;
                mb_tokens_valid += tokens;
            }
            let mut sums = [mb_loss, mb_clip, mb_vpred, mb_tokens_valid];
            shard.sum(&mut sums)?;
            let [mb_loss, mb_clip, mb_vpred, mb_tokens_valid] = sums;
            if !mb_loss.is_finite() {
                opt.zero_grad();
                out.skipped += 1;
                tracing::warn!(loss = mb_loss, "non-finite critic loss: mini-batch skipped");
                continue;
            }
            let info = opt.step()?;
            if info.skipped {
                out.skipped += 1;
                tracing::warn!(
                    grad_norm = info.grad_norm,
                    "non-finite critic gradient norm: mini-batch skipped"
                );
                continue;
            }
            out.steps += 1;
            loss_sum += mb_loss;
            grad_sum += info.grad_norm;
            lr_sum += info.lr;
            tokens_seen += mb_tokens_valid;
            clip_sum += mb_clip;
            vpred_sum += mb_vpred;
        }
    }
    let steps = out.steps.max(1) as f64;
    out.vf_loss = loss_sum / steps;
    out.grad_norm = grad_sum / steps;
    out.lr = if out.steps > 0 { lr_sum / steps } else { opt.current_lr() };
    if tokens_seen > 0.0 {
        out.vf_clipfrac = clip_sum / tokens_seen;
        out.vpred_mean = vpred_sum / tokens_seen;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use crate::model::init::{fill_from_seed, init_fill, Fill};
    use crate::optim::AdamWConfig;
    use tz_testkit::{assert_all_close, assert_close, Tol};

    /// Values from two forwards of [`tiny_cfg`] with other batch shapes.
    fn forward_tol() -> Tol {
        Tol::f32_forward(2, 8, 16, 6)
    }

    fn tiny_cfg() -> ModelConfig {
        serde_json::from_value(serde_json::json!({
            "vocab_size": 13, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 2,
            "num_attention_heads": 2, "num_key_value_heads": 1, "tie_word_embeddings": true
        }))
        .unwrap()
    }

    /// A critic with random backbone weights and a random (non-zero) head.
    fn critic(seed: i64) -> Critic {
        let vs = VarStore::new(Device::Cpu);
        let cfg = tiny_cfg();
        let backbone = Decoder::backbone(&vs.root(), &cfg);
        let head = ValueHead::new(&vs.root(), cfg.hidden_size);
        fill_from_seed(&vs, seed as u64, |name| {
            if name.starts_with("value_head") {
                Fill::Normal { mean: 0.0, std: 0.5 }
            } else {
                init_fill(name)
            }
        });
        Critic { vs, backbone, head }
    }

    fn batch() -> SequenceBatch {
        SequenceBatch::new(&[&[1, 2, 3], &[4, 5]], &[&[6, 7], &[8, 9, 10]], 0, Device::Cpu)
    }

    fn floats(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
    }

    #[test]
    fn value_of_response_token_t_is_read_at_position_t_minus_one() {
        let c = critic(1);
        let b = batch();
        let values = floats(&c.values(&b, 1));
        // By hand: the head over the full hidden states, read at P + t − 1 (P = 3).
        let hidden = c.backbone.forward(&b.input_ids, Some(&b.attention_mask), None);
        let all = floats(&c.head.forward(&hidden)); // [2, 6]
        let want = [all[2], all[3], 0.0, all[6 + 2], all[6 + 3], all[6 + 4]];
        assert_all_close("values", &values, &want, forward_tol());
        assert_eq!(values[2], 0.0, "padding has value 0");

        // V_t does not see token t: changing response token 1 of row 1 keeps
        // V_0 and V_1 and changes V_2.
        let changed = SequenceBatch::new(&[&[1, 2, 3], &[4, 5]], &[&[6, 7], &[8, 12, 10]], 0, Device::Cpu);
        let v2 = floats(&c.values(&changed, 2));
        assert_all_close("values before the change", &v2[3..5], &values[3..5], forward_tol());
        let bound = forward_tol().bound(values.iter().fold(0.0, |m, v| v.abs().max(m)));
        assert!((v2[5] - values[5]).abs() > bound, "V_2 must see the changed token");
    }

    #[test]
    fn values_do_not_depend_on_the_micro_batch_size() {
        let c = critic(2);
        let b = batch();
        let a = floats(&c.values(&b, 1));
        let whole = floats(&c.values(&b, 8));
        assert_all_close("values by micro-batches of 1", &a, &whole, forward_tol());
    }

    fn update_config(micro: usize) -> CriticUpdateConfig {
        CriticUpdateConfig {
            ppo_epochs: 1,
            mini_batch_size: 0,
            micro_batch_size: micro,
            clip_value: 0.5,
            seed: 0,
        }
    }

    #[test]
    fn first_update_reports_hand_computed_loss_and_clip_metrics() {
        // Before the first step v = v_old, so nothing is clipped and
        // vf_loss = ½·mean over valid tokens of (v_old − R)².
        let c = critic(3);
        let b = batch();
        let old = c.values(&b, 1);
        let returns =
            Tensor::from_slice(&[1.0f32, 0.5, 0.0, -1.0, 2.0, 0.25]).view([2, 3]) * &b.response_mask;
        let (o, r) = (floats(&old), floats(&returns));
        let valid = [0usize, 1, 3, 4, 5];
        let want_loss = 0.5 * valid.iter().map(|&i| (o[i] - r[i]).powi(2)).sum::<f64>() / 5.0;
        let want_vpred = valid.iter().map(|&i| o[i]).sum::<f64>() / 5.0;
        let mut opt = AdamW::from_var_store(&c.vs, AdamWConfig { lr: 1e-3, ..AdamWConfig::default() });
        let m = update_critic(
            &c,
            &mut opt,
            &CriticInputs { batch: &b, old_values: &old, returns: &returns },
            &update_config(1),
        );
        // f32 sums over 5 tokens against f64 ones, from the same values.
        assert_close("vf_loss", m.vf_loss, want_loss, Tol::f32_ops(16));
        assert_close("vpred_mean", m.vpred_mean, want_vpred, Tol::f32_ops(16).with_abs(1e-12));
        assert_eq!((m.vf_clipfrac, m.steps, m.skipped), (0.0, 1, 0));
        assert!(m.grad_norm > 0.0 && m.lr == 1e-3);
        // Explained variance of the old values, by hand (Bessel variances).
        let var = |x: &[f64]| {
            let mean = x.iter().sum::<f64>() / x.len() as f64;
            x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (x.len() - 1) as f64
        };
        let res: Vec<f64> = valid.iter().map(|&i| r[i] - o[i]).collect();
        let ret: Vec<f64> = valid.iter().map(|&i| r[i]).collect();
        let want_ev = 1.0 - var(&res) / (var(&ret) + 1e-5);
        // 1 − a ratio near 1: the error follows the ratio's scale (1), not the result's.
        let tol = Tol::f32_ops(32);
        assert_close("vf_explained_var", m.vf_explained_var, want_ev, tol.with_abs(tol.rel));
    }

    #[test]
    fn value_clip_bounds_how_far_values_move_in_the_loss() {
        // Only the head's bias is optimised, so every value moves by the same
        // amount, towards returns 3 above the old values. With clip 0 the
        // clipped value is v_old: epoch 1 has v = v_old (nothing clipped,
        // loss ½·9); in epochs 2 and 3 the values are closer to R, the
        // clipped error (9) is the larger on every token and the loss stays ½·9.
        let c = critic(4);
        let b = batch();
        let old = c.values(&b, 1);
        let returns = (&old + 3.0) * &b.response_mask;
        let bias = c.vs.variables()["value_head.bias"].shallow_clone();
        let mut opt =
            AdamW::new(vec![("bias".into(), bias)], AdamWConfig { lr: 1e-2, ..AdamWConfig::default() });
        let inputs = CriticInputs { batch: &b, old_values: &old, returns: &returns };
        let cfg = CriticUpdateConfig { ppo_epochs: 3, clip_value: 0.0, ..update_config(1) };
        let m = update_critic(&c, &mut opt, &inputs, &cfg);
        assert!((m.vf_clipfrac - 2.0 / 3.0).abs() < 1e-9, "clipfrac {}", m.vf_clipfrac);
        assert!((m.vf_loss - 0.5 * 9.0).abs() < 1e-4, "loss {}", m.vf_loss);
        assert_eq!(m.steps, 3);
    }

    #[test]
    fn repeated_updates_fit_constant_returns() {
        let c = critic(5);
        let b = batch();
        let returns = Tensor::ones([2, 3], (Kind::Float, Device::Cpu)) * &b.response_mask;
        let mut opt = AdamW::from_var_store(&c.vs, AdamWConfig { lr: 1e-2, ..AdamWConfig::default() });
        let mut first = None;
        let mut last = 0.0;
        for step in 0..60 {
            let old = c.values(&b, 8);
            let m = update_critic(
                &c,
                &mut opt,
                &CriticInputs { batch: &b, old_values: &old, returns: &returns },
                &CriticUpdateConfig { seed: step, ..update_config(1) },
            );
            first.get_or_insert(m.vf_loss);
            last = m.vf_loss;
        }
        assert!(last < 0.05 * first.unwrap(), "loss {} -> {last}", first.unwrap());
    }

    #[test]
    fn a_non_finite_loss_is_skipped_without_touching_the_weights() {
        let c = critic(6);
        let b = batch();
        let old = c.values(&b, 8);
        let returns = Tensor::full([2, 3], f64::NAN, (Kind::Float, Device::Cpu));
        let weights = |vs: &VarStore| {
            let mut vars: Vec<_> = vs.variables().into_iter().collect();
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            vars.iter().flat_map(|(_, t)| floats(t)).collect::<Vec<f64>>()
        };
        let before = weights(&c.vs);
        let mut opt = AdamW::from_var_store(&c.vs, AdamWConfig { lr: 1e-2, ..AdamWConfig::default() });
        let m = update_critic(
            &c,
            &mut opt,
            &CriticInputs { batch: &b, old_values: &old, returns: &returns },
            &update_config(1),
        );
        assert_eq!((m.steps, m.skipped), (0, 1));
        assert_eq!(before, weights(&c.vs));
    }
}
