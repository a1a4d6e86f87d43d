//! The actor and critic losses the trainer applies, as pure functions over
//! `[batch, response_len]` tensors (right-padded responses with a 0/1 mask),
//! with veRL HEAD's formulas.
//!
//! **Policy loss** (PPO clip, Schulman et al. 2017; decoupled clip-higher,
//! DAPO; dual clip, Ye et al. 2019), per token:
//!
//! ```text
//! Δ   = clamp(logp − logp_old, ±20)          ρ = exp(Δ)
//! pg1 = −A·ρ      pg2 = −A·clip(ρ, 1 − ε_low, 1 + ε_high)      c1 = max(pg1, pg2)
//! dual clip (c > 1, only where A < 0):  l = min(−A·c, c1)
//! ```
//!
//! **Aggregation** ([`agg_loss`], veRL `loss_agg_mode`), with `m` the mask,
//! `N_tok` the valid-token count and `N_seq` the count of non-empty responses:
//!
//! ```text
//! token-mean               Σ l·m / N_tok
//! seq-mean-token-sum       Σ_i (Σ_t l·m) / N_seq
//! seq-mean-token-mean      Σ_i (Σ_t l·m / (Σ_t m + 1e-8)) / N_seq
//! seq-mean-token-sum-norm  Σ l·m / (N_seq · L)       L = the max response length (Dr. GRPO)
//! ```
//!
//! `seq-mean-token-sum-norm` follows the Dr. GRPO paper and TRL's `dr_grpo`
//! (`1/(G·L_max)`); veRL divides by `L` alone and leaves the per-sequence
//! factor to its gradient-accumulation scaling. [`AggScale`] lets a trainer
//! that splits a mini-batch into micro-batches pass the mini-batch's counts,
//! so the micro-batch losses add up to exactly the mini-batch loss.
//!
//! **Value loss** (clipped, veRL `compute_value_loss`):
//! `½·agg(max((v − R)², (clip(v, v_old ± c) − R)²))`.
//!
//! **Entropy** from logits: `H = logsumexp(z) − Σ softmax(z)·z`, in fp32.
//!
//! Every metric is returned as a detached 0-dim tensor, so a trainer on CUDA
//! can accumulate them without a device-to-host sync per micro-batch.

use tch::{Kind, Tensor};
use tz_sdk::{LossAggregation, LossSettings};

/// Bound on the log-ratio before `exp` (veRL HEAD): keeps ρ finite.
const LOG_RATIO_CLAMP: f64 = 20.0;
/// veRL's per-sequence token-mean denominator guard.
const SEQ_MEAN_EPS: f64 = 1e-8;
/// veRL's explained-variance denominator guard.
pub(crate) const EXPLAINED_VAR_EPS: f64 = 1e-5;

/// The normalisers of [`agg_loss`]. `None` counts in the tensor at hand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AggScale {
    /// Valid tokens the token-mean divides by (the mini-batch's count when
    /// aggregating micro-batches); `None` = this tensor's `Σ mask`.
    pub num_tokens: Option<f64>,
    /// Responses the `seq-mean-*` modes divide by; `None` = this tensor's
    /// count of responses with at least one valid token.
    pub num_seqs: Option<f64>,
    /// The constant `L` of `seq-mean-token-sum-norm` (the max response length).
    pub norm_len: f64,
}

impl AggScale {
    /// Counts taken from the tensor itself, with `norm_len` for Dr. GRPO.
    pub fn local(norm_len: f64) -> Self {
        AggScale { num_tokens: None, num_seqs: None, norm_len }
    }
}

/// The mask as the loss's float kind.
fn as_weights(mask: &Tensor, like: &Tensor) -> Tensor {
    mask.to_kind(like.kind())
}

/// `Σ x·m / max(Σ m, 1)` over every element (0-dim).
pub fn masked_mean(x: &Tensor, mask: &Tensor) -> Tensor {
    let m = as_weights(mask, x);
    (x * &m).sum(x.kind()) / m.sum(x.kind()).clamp_min(1.0)
}

/// Masked variance over every element; `unbiased` divides by `Σ m − 1`
/// (0 when fewer than two elements are valid).
pub fn masked_var(x: &Tensor, mask: &Tensor, unbiased: bool) -> Tensor {
    let m = as_weights(mask, x);
    let n = m.sum(x.kind());
    let mean = (x * &m).sum(x.kind()) / n.clamp_min(1.0);
    let sq = ((x - &mean).square() * &m).sum(x.kind());
    let denom = if unbiased { &n - 1.0 } else { n };
    sq / denom.clamp_min(1.0)
}

/// Reduces a per-token loss to a scalar by `mode` (see the module doc).
pub fn agg_loss(loss_mat: &Tensor, mask: &Tensor, mode: LossAggregation, scale: &AggScale) -> Tensor {
    let kind = loss_mat.kind();
    let m = as_weights(mask, loss_mat);
    let masked = loss_mat * &m;
    // Divides by the given sequence count, or by the non-empty rows here.
    let per_sequence = |total: Tensor| match scale.num_seqs {
        Some(n) => total / n,
        None => total / m.sum_dim_intlist(-1, false, kind).gt(0.0).sum(kind).clamp_min(1.0),
    };
    match mode {
        LossAggregation::TokenMean => match scale.num_tokens {
            Some(n) => masked.sum(kind) / n,
            None => masked.sum(kind) / m.sum(kind).clamp_min(1.0),
        },
        LossAggregation::SeqMeanTokenSum => per_sequence(masked.sum(kind)),
        LossAggregation::SeqMeanTokenMean => {
            let per_seq =
                masked.sum_dim_intlist(-1, false, kind) / (m.sum_dim_intlist(-1, false, kind) + SEQ_MEAN_EPS);
            per_sequence(per_seq.sum(kind))
        }
        LossAggregation::SeqMeanTokenSumNorm => per_sequence(masked.sum(kind)) / scale.norm_len,
    }
}

/// Importance-sampling diagnostics of the ratio `ρ = exp(Δ)` over valid
/// tokens (the adaptive-rollout fork's `actor/is_*` metrics). Detached 0-dim
/// tensors; stds are Bessel-corrected.
#[derive(Debug)]
pub struct IsDiagnostics {
    /// `actor/is_ratio/mean`
    pub ratio_mean: Tensor,
    /// `actor/is_ratio/std`
    pub ratio_std: Tensor,
    /// `actor/is_ratio/p95` (linear interpolation; 0 when no token is valid)
    pub ratio_p95: Tensor,
    /// `actor/is_log_ratio/mean`
    pub log_ratio_mean: Tensor,
    /// `actor/is_log_ratio/std`
    pub log_ratio_std: Tensor,
    /// `actor/is_clip/outside_frac`: fraction of ratios outside `[1 − ε_low, 1 + ε_high]`.
    pub outside_frac: Tensor,
}

/// [`IsDiagnostics`] from the (clamped) log-ratio `Δ = logp − logp_old`.
pub fn is_diagnostics(log_ratio: &Tensor, mask: &Tensor, clip_low: f64, clip_high: f64) -> IsDiagnostics {
    let _no_grad = tch::no_grad_guard();
    let log_ratio = log_ratio.detach();
    let ratio = log_ratio.exp();
    let outside = ratio.lt(1.0 - clip_low).logical_or(&ratio.gt(1.0 + clip_high)).to_kind(ratio.kind());
    // NaN out the padding and take a NaN-ignoring quantile: unlike
    // masked_select, this keeps shapes static (no device-to-host sync).
    let q = Tensor::full([], 0.95, (ratio.kind(), ratio.device()));
    let ratio_p95 = ratio
        .where_scalarother(&mask.gt(0.0), f64::NAN)
        .flatten(0, -1)
        .nanquantile(&q, None, false, "linear")
        .nan_to_num(0.0, None, None);
    IsDiagnostics {
        ratio_mean: masked_mean(&ratio, mask),
        ratio_std: masked_var(&ratio, mask, true).sqrt(),
        ratio_p95,
        log_ratio_mean: masked_mean(&log_ratio, mask),
        log_ratio_std: masked_var(&log_ratio, mask, true).sqrt(),
        outside_frac: masked_mean(&outside, mask),
    }
}

/// The clipped policy-gradient loss and its metrics.
#[derive(Debug)]
pub struct PolicyLossOut {
    /// The aggregated loss (0-dim, differentiable through `logp`).
    pub loss: Tensor,
    /// `actor/pg_clipfrac`: fraction of valid tokens where the clipped term binds (`pg2 > pg1`).
    pub clipfrac: Tensor,
    /// `actor/pg_clipfrac_lower`: fraction where dual clip binds (`A < 0` and `c1 > −A·c`); 0 when off.
    pub clipfrac_lower: Tensor,
    /// `actor/ppo_kl`: masked mean of `−Δ`.
    pub ppo_kl: Tensor,
    /// Importance-sampling ratio diagnostics.
    pub is: IsDiagnostics,
}

/// The PPO-clip policy loss (see the module doc). `logp`, `old_logp`,
/// `advantages` and `mask` share one shape; `old_logp` and `advantages` are
/// treated as constants. Pass fp32 log-probs: in bf16 the ratio of nearly
/// equal log-probs is mostly rounding.
pub fn policy_loss(
    logp: &Tensor,
    old_logp: &Tensor,
    advantages: &Tensor,
    mask: &Tensor,
    settings: &LossSettings,
    scale: &AggScale,
) -> PolicyLossOut {
    let (low, high) = (f64::from(settings.clip_low), f64::from(settings.clip_high));
    let advantages = advantages.detach();
    let log_ratio = (logp - old_logp.detach()).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP);
    let ratio = log_ratio.exp();

    let pg1 = -&advantages * &ratio;
    let pg2 = -&advantages * ratio.clamp(1.0 - low, 1.0 + high);
    let clipped = pg1.maximum(&pg2);
    let kind = clipped.kind();
    let clipfrac = masked_mean(&pg2.gt_tensor(&pg1).to_kind(kind), mask).detach();

    let (loss_mat, clipfrac_lower) = if settings.dual_clip > 0.0 {
        let pg3 = -&advantages * f64::from(settings.dual_clip);
        let negative = advantages.lt(0.0);
        let dual = pg3.minimum(&clipped);
        let lower = clipped.gt_tensor(&pg3).logical_and(&negative).to_kind(kind);
        (dual.where_self(&negative, &clipped), masked_mean(&lower, mask).detach())
    } else {
        (clipped, Tensor::zeros([], (kind, logp.device())))
    };

    PolicyLossOut {
        loss: agg_loss(&loss_mat, mask, settings.aggregation, scale),
        clipfrac,
        clipfrac_lower,
        ppo_kl: masked_mean(&-log_ratio.detach(), mask),
        is: is_diagnostics(&log_ratio, mask, low, high),
    }
}

/// The clipped value loss and its metric.
#[derive(Debug)]
pub struct ValueLossOut {
    /// `critic/vf_loss` (0-dim, differentiable through `values`).
    pub loss: Tensor,
    /// `critic/vf_clipfrac`: fraction of valid tokens where the clipped error is the larger.
    pub clipfrac: Tensor,
}

/// `½·agg(max((v − R)², (v_clip − R)²))` with `v_clip = v_old + clamp(v − v_old, ±clip)`.
pub fn value_loss(
    values: &Tensor,
    old_values: &Tensor,
    returns: &Tensor,
    mask: &Tensor,
    clip: f64,
    mode: LossAggregation,
    scale: &AggScale,
) -> ValueLossOut {
    let old_values = old_values.detach();
    let returns = returns.detach();
    let clipped_values = &old_values + (values - &old_values).clamp(-clip, clip);
    let unclipped_err = (values - &returns).square();
    let clipped_err = (clipped_values - &returns).square();
    let worst = unclipped_err.maximum(&clipped_err);
    let clipfrac = masked_mean(&clipped_err.gt_tensor(&unclipped_err).to_kind(worst.kind()), mask).detach();
    ValueLossOut { loss: agg_loss(&worst, mask, mode, scale) * 0.5, clipfrac }
}

/// `critic/vf_explained_var = 1 − Var(R − V) / (Var(R) + 1e-5)` over valid
/// tokens (Bessel-corrected variances), detached.
pub fn explained_variance(returns: &Tensor, values: &Tensor, mask: &Tensor) -> Tensor {
    let _no_grad = tch::no_grad_guard();
    let residual_var = masked_var(&(returns - values), mask, true);
    let return_var = masked_var(returns, mask, true);
    (residual_var / (return_var + EXPLAINED_VAR_EPS)).neg() + 1.0
}

/// Per-position entropy `logsumexp(z) − Σ softmax(z)·z` of logits
/// `[.., vocab]`, computed in fp32 (the chunk's logits are upcast, so call it
/// on chunks of a long sequence to bound the memory).
pub fn entropy_from_logits(logits: &Tensor) -> Tensor {
    let z = logits.to_kind(Kind::Float);
    let p = z.softmax(-1, Kind::Float);
    z.logsumexp([-1i64], false) - (p * &z).sum_dim_intlist(-1, false, Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rows: &[&[f64]]) -> Tensor {
        let cols = rows[0].len() as i64;
        let flat: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_slice(&flat).reshape([rows.len() as i64, cols])
    }

    fn scalar(x: &Tensor) -> f64 {
        x.to_kind(Kind::Double).double_value(&[])
    }

    fn values(x: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(x.to_kind(Kind::Double).flatten(0, -1)).unwrap()
    }

    /// The settings are f32 (0.2 is 0.2000000030 in f64): 1e-7 absorbs that.
    fn close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-7, "got {got}, want {want}");
    }

    fn settings(aggregation: LossAggregation, dual_clip: f32) -> LossSettings {
        LossSettings { aggregation, dual_clip, ..LossSettings::default() }
    }

    /// Two responses: ratios [1, 1.5, 0.5] with A = +1, and [1.1, 0.7, (pad)]
    /// with A = −2; clip 0.2.
    ///   row 0: pg1 = [−1, −1.5, −0.5], pg2 = [−1, −1.2, −0.8], l = [−1, −1.2, −0.5]
    ///   row 1: pg1 = [2.2, 1.4],       pg2 = [2.2, 1.6],       l = [2.2, 1.6]
    /// Clipped (pg2 > pg1): (0,1) and (1,1): 2 of 5 valid tokens.
    struct Example {
        logp: Tensor,
        old: Tensor,
        adv: Tensor,
        mask: Tensor,
    }

    fn example() -> Example {
        let old = t(&[&[-1.0, -2.0, -0.5], &[-1.2, -0.3, -0.9]]);
        let log_ratio = t(&[&[0.0, 1.5f64.ln(), 0.5f64.ln()], &[1.1f64.ln(), 0.7f64.ln(), 5.0]]);
        Example {
            logp: (&old + log_ratio).set_requires_grad(true),
            old,
            adv: t(&[&[1.0, 1.0, 1.0], &[-2.0, -2.0, -2.0]]),
            mask: t(&[&[1.0, 1.0, 1.0], &[1.0, 1.0, 0.0]]),
        }
    }

    fn loss(e: &Example, mode: LossAggregation, norm_len: f64) -> f64 {
        scalar(
            &policy_loss(&e.logp, &e.old, &e.adv, &e.mask, &settings(mode, 0.0), &AggScale::local(norm_len))
                .loss,
        )
    }

    #[test]
    fn policy_loss_token_mean_and_metrics() {
        let e = example();
        let out =
            policy_loss(&e.logp, &e.old, &e.adv, &e.mask, &LossSettings::default(), &AggScale::local(3.0));
        // (−1 − 1.2 − 0.5 + 2.2 + 1.6) / 5
        close(scalar(&out.loss), 0.22);
        close(scalar(&out.clipfrac), 0.4);
        close(scalar(&out.clipfrac_lower), 0.0);
        let ln_sum = 1.5f64.ln() + 0.5f64.ln() + 1.1f64.ln() + 0.7f64.ln();
        close(scalar(&out.ppo_kl), -ln_sum / 5.0);
    }

    #[test]
    fn policy_loss_gradient_is_zero_where_clipped_and_masked() {
        let e = example();
        let out =
            policy_loss(&e.logp, &e.old, &e.adv, &e.mask, &LossSettings::default(), &AggScale::local(3.0));
        out.loss.backward();
        // d(−A·ρ)/dlogp = −A·ρ, over N_tok = 5; clipped and padded tokens get 0.
        let grad = values(&e.logp.grad());
        let want = [-1.0 / 5.0, 0.0, -0.5 / 5.0, 2.2 / 5.0, 0.0, 0.0];
        for (g, w) in grad.iter().zip(want) {
            assert!((g - w).abs() < 1e-7, "grad {grad:?}, want {want:?}");
        }
    }

    #[test]
    fn each_aggregation_mode_matches_hand_values() {
        let e = example();
        // Row sums: −2.7 and 3.8; row lengths 3 and 2.
        close(loss(&e, LossAggregation::TokenMean, 4.0), 1.1 / 5.0);
        close(loss(&e, LossAggregation::SeqMeanTokenSum, 4.0), (-2.7 + 3.8) / 2.0);
        let token_means = -2.7 / (3.0 + 1e-8) + 3.8 / (2.0 + 1e-8);
        close(loss(&e, LossAggregation::SeqMeanTokenMean, 4.0), token_means / 2.0);
        close(loss(&e, LossAggregation::SeqMeanTokenSumNorm, 4.0), 1.1 / (2.0 * 4.0));
    }

    #[test]
    fn empty_responses_do_not_count_as_sequences() {
        let l = t(&[&[1.0, 2.0], &[5.0, 5.0], &[3.0, 0.0]]);
        let m = t(&[&[1.0, 1.0], &[0.0, 0.0], &[1.0, 0.0]]);
        let scale = AggScale::local(2.0);
        close(scalar(&agg_loss(&l, &m, LossAggregation::SeqMeanTokenSum, &scale)), (3.0 + 3.0) / 2.0);
        close(scalar(&agg_loss(&l, &m, LossAggregation::TokenMean, &scale)), 6.0 / 3.0);
        // Nothing valid at all: 0, not NaN.
        let none = Tensor::zeros([2, 2], (Kind::Double, tch::Device::Cpu));
        for mode in [
            LossAggregation::TokenMean,
            LossAggregation::SeqMeanTokenMean,
            LossAggregation::SeqMeanTokenSumNorm,
        ] {
            close(scalar(&agg_loss(&l.narrow(0, 0, 2), &none, mode, &scale)), 0.0);
        }
    }

    #[test]
    fn micro_batch_losses_with_global_counts_add_up_to_the_batch_loss() {
        let e = example();
        for mode in [
            LossAggregation::TokenMean,
            LossAggregation::SeqMeanTokenSum,
            LossAggregation::SeqMeanTokenMean,
            LossAggregation::SeqMeanTokenSumNorm,
        ] {
            let whole = loss(&e, mode, 4.0);
            let global = AggScale { num_tokens: Some(5.0), num_seqs: Some(2.0), norm_len: 4.0 };
            let parts: f64 = (0..2)
                .map(|r| {
                    let row = |x: &Tensor| x.narrow(0, r, 1);
                    let out = policy_loss(
                        &row(&e.logp),
                        &row(&e.old),
                        &row(&e.adv),
                        &row(&e.mask),
                        &settings(mode, 0.0),
                        &global,
                    );
                    scalar(&out.loss)
                })
                .sum();
            assert!((whole - parts).abs() < 1e-12, "{mode:?}: whole {whole}, parts {parts}");
        }
    }

    #[test]
    fn dual_clip_bounds_negative_advantage_tokens_only() {
        // Ratios [4, 1] with A = −1, and ratio 4 with A = +1; c = 3.
        //   A<0, ρ=4: pg1 = 4, pg2 = 1.2, c1 = 4, pg3 = 3 -> 3 (dual clip binds)
        //   A<0, ρ=1: c1 = 1 -> 1
        //   A>0, ρ=4: pg1 = −4, pg2 = −1.2 -> −1.2 (dual clip does not apply)
        let old = t(&[&[-1.0, -1.0, -1.0]]);
        let logp = &old + t(&[&[4.0f64.ln(), 0.0, 4.0f64.ln()]]);
        let adv = t(&[&[-1.0, -1.0, 1.0]]);
        let mask = t(&[&[1.0, 1.0, 1.0]]);
        let out = policy_loss(
            &logp,
            &old,
            &adv,
            &mask,
            &settings(LossAggregation::TokenMean, 3.0),
            &AggScale::local(3.0),
        );
        close(scalar(&out.loss), (3.0 + 1.0 - 1.2) / 3.0);
        close(scalar(&out.clipfrac_lower), 1.0 / 3.0);
        // pg2 > pg1 only for the positive-advantage token.
        close(scalar(&out.clipfrac), 1.0 / 3.0);
        let off = policy_loss(
            &logp,
            &old,
            &adv,
            &mask,
            &settings(LossAggregation::TokenMean, 0.0),
            &AggScale::local(3.0),
        );
        close(scalar(&off.loss), (4.0 + 1.0 - 1.2) / 3.0);
    }

    #[test]
    fn clip_higher_widens_only_the_upper_bound() {
        // ρ = 1.25 with A = +1: clipped at 1.2 by default, unclipped with ε_high = 0.28.
        let old = t(&[&[-1.0]]);
        let logp = &old + t(&[&[1.25f64.ln()]]);
        let (adv, mask) = (t(&[&[1.0]]), t(&[&[1.0]]));
        let dapo = LossSettings { clip_high: 0.28, ..LossSettings::default() };
        let l =
            |s: &LossSettings| scalar(&policy_loss(&logp, &old, &adv, &mask, s, &AggScale::local(1.0)).loss);
        assert!((l(&LossSettings::default()) + 1.2).abs() < 1e-6);
        assert!((l(&dapo) + 1.25).abs() < 1e-6);
    }

    #[test]
    fn extreme_log_ratios_are_clamped() {
        let old = t(&[&[-100.0]]);
        let logp = t(&[&[0.0]]);
        let out = policy_loss(
            &logp,
            &old,
            &t(&[&[-1.0]]),
            &t(&[&[1.0]]),
            &LossSettings::default(),
            &AggScale::local(1.0),
        );
        close(scalar(&out.is.log_ratio_mean), 20.0);
        assert!(scalar(&out.loss).is_finite());
    }

    #[test]
    fn importance_sampling_diagnostics_match_hand_values() {
        let e = example();
        let d = is_diagnostics(&(&e.logp - &e.old), &e.mask, 0.2, 0.2);
        // Valid ratios 1, 1.5, 0.5, 1.1, 0.7: mean 0.96, Bessel var 0.592/4.
        close(scalar(&d.ratio_mean), 0.96);
        close(scalar(&d.ratio_std), (0.592f64 / 4.0).sqrt());
        // Sorted 0.5, 0.7, 1, 1.1, 1.5: position 0.95·4 = 3.8 -> 1.1 + 0.8·0.4.
        close(scalar(&d.ratio_p95), 1.42);
        // Outside [0.8, 1.2]: 1.5, 0.5, 0.7.
        close(scalar(&d.outside_frac), 0.6);
        let logs = [0.0, 1.5f64.ln(), 0.5f64.ln(), 1.1f64.ln(), 0.7f64.ln()];
        let mean = logs.iter().sum::<f64>() / 5.0;
        let var = logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4.0;
        close(scalar(&d.log_ratio_mean), mean);
        close(scalar(&d.log_ratio_std), var.sqrt());
        let empty = is_diagnostics(&(&e.logp - &e.old), &e.mask.zeros_like(), 0.2, 0.2);
        close(scalar(&empty.ratio_p95), 0.0);
    }

    #[test]
    fn value_loss_takes_the_worse_of_clipped_and_unclipped() {
        // clip 0.5:
        //   v 1.0, old 0.8, R 1.5: v_clip 1.0;  errors 0.25, 0.25 -> 0.25
        //   v 2.0, old 1.0, R 1.0: v_clip 1.5;  errors 1, 0.25    -> 1
        //   v 0.9, old 0.1, R 2.0: v_clip 0.6;  errors 1.21, 1.96 -> 1.96 (clipped)
        //   padding: v 100 -> ignored
        let v = t(&[&[1.0, 2.0, 0.9, 100.0]]).set_requires_grad(true);
        let old = t(&[&[0.8, 1.0, 0.1, 0.0]]);
        let returns = t(&[&[1.5, 1.0, 2.0, 0.0]]);
        let mask = t(&[&[1.0, 1.0, 1.0, 0.0]]);
        let out =
            value_loss(&v, &old, &returns, &mask, 0.5, LossAggregation::TokenMean, &AggScale::local(4.0));
        close(scalar(&out.loss), 0.5 * (0.25 + 1.0 + 1.96) / 3.0);
        close(scalar(&out.clipfrac), 1.0 / 3.0);
        out.loss.backward();
        // d/dv ½·(v − R)²/3 = (v − R)/3 where unclipped wins; 0 where the clipped value is constant.
        let grad = values(&v.grad());
        let want = [(1.0 - 1.5) / 3.0, (2.0 - 1.0) / 3.0, 0.0, 0.0];
        for (g, w) in grad.iter().zip(want) {
            assert!((g - w).abs() < 1e-7, "grad {grad:?}, want {want:?}");
        }
    }

    #[test]
    fn explained_variance_matches_hand_value() {
        // R − V = [0, 0, 1, −1]: var 2/3; Var(R) = 5/3.
        let r = t(&[&[1.0, 2.0, 3.0, 4.0, 9.0]]);
        let v = t(&[&[1.0, 2.0, 2.0, 5.0, 0.0]]);
        let m = t(&[&[1.0, 1.0, 1.0, 1.0, 0.0]]);
        close(scalar(&explained_variance(&r, &v, &m)), 1.0 - (2.0 / 3.0) / (5.0 / 3.0 + 1e-5));
    }

    #[test]
    fn entropy_of_simple_distributions() {
        // Uniform over 2: ln 2. p = (1/4, 3/4) from logits (0, ln 3).
        let logits = Tensor::from_slice(&[0.0f32, 0.0, 0.0, 3.0f32.ln()]).reshape([1, 2, 2]);
        let h = values(&entropy_from_logits(&logits));
        let want = [2f64.ln(), -(0.25 * 0.25f64.ln() + 0.75 * 0.75f64.ln())];
        assert_eq!(h.len(), 2);
        for (g, w) in h.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{h:?} vs {want:?}");
        }
        // bf16 logits are upcast: the result is fp32.
        assert_eq!(entropy_from_logits(&logits.to_kind(Kind::BFloat16)).kind(), Kind::Float);
    }

    #[test]
    fn masked_helpers() {
        let x = t(&[&[1.0, 2.0, 3.0, 100.0]]);
        let m = t(&[&[1.0, 1.0, 1.0, 0.0]]);
        close(scalar(&masked_mean(&x, &m)), 2.0);
        close(scalar(&masked_var(&x, &m, true)), 1.0);
        close(scalar(&masked_var(&x, &m, false)), 2.0 / 3.0);
        close(scalar(&masked_mean(&x, &m.zeros_like())), 0.0);
    }
}
