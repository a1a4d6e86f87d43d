//! Turning next-token logits into tokens: temperature, top-k and top-p (in
//! that order, as transformers' logits warpers apply them), or greedy.
//!
//! Randomness comes from a host-side ChaCha stream per sequence
//! ([`row_rng`]), not from libtorch's global generator: the engine draws one
//! uniform per active row and step and inverts the CDF on the device. So a
//! sequence's draws do not depend on which other sequences share its batch,
//! on the device, or on anything else that touched torch's RNG, and the same
//! seed gives the same output.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::error::ensure;
use crate::rollout_budget::RolloutBudget;

/// How to sample and how long to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingParams {
    /// Softmax temperature; `0` means greedy (argmax).
    pub temperature: f64,
    /// Keep only the `top_k` most likely tokens; `0` disables.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose mass reaches
    /// `top_p`; `1.0` disables.
    pub top_p: f64,
    /// Maximum number of generated tokens per sequence.
    pub max_new_tokens: usize,
    /// Seed of the per-sequence random streams.
    pub seed: u64,
    /// Engine limits: rows in flight and KV-cache positions; rows beyond them
    /// wait for a free slot (the samples do not change).
    pub budget: RolloutBudget,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            max_new_tokens: 256,
            seed: 0,
            budget: RolloutBudget::default(),
        }
    }
}

impl SamplingParams {
    pub fn greedy(max_new_tokens: usize) -> Self {
        Self { temperature: 0.0, max_new_tokens, ..Self::default() }
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }

    /// One-line errors for impossible settings.
    pub fn validate(&self) -> crate::Result<()> {
        ensure!(
            self.temperature >= 0.0 && self.temperature.is_finite(),
            "temperature must be >= 0, got {}",
            self.temperature
        );
        ensure!(self.top_p > 0.0 && self.top_p <= 1.0, "top_p must be in (0, 1], got {}", self.top_p);
        ensure!(self.max_new_tokens > 0, "max_new_tokens must be at least 1");
        Ok(())
    }
}

/// The random stream of sequence `row_id` (e.g. `prompt_index * n + sample_index`).
pub fn row_rng(seed: u64, row_id: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(row_id);
    rng
}

/// One uniform draw in [0, 1) from a row's stream.
pub fn draw_uniform(rng: &mut ChaCha8Rng) -> f64 {
    rng.random::<f64>()
}

/// Log-probabilities [R, V] (f32) of the distribution tokens are drawn from:
/// `logits / temperature`, then top-k, then top-p, renormalised; filtered-out
/// tokens get `-inf`. For greedy it is the plain `log_softmax(logits)`.
pub fn sampling_logprobs(logits: &Tensor, params: &SamplingParams) -> Tensor {
    let logits = logits.to_kind(Kind::Float);
    if params.is_greedy() {
        return logits.log_softmax(-1, Kind::Float);
    }
    let mut z = logits / params.temperature;
    let vocab = z.size()[1];
    if params.top_k > 0 && (params.top_k as i64) < vocab {
        let k = params.top_k as i64;
        let (top, _) = z.topk(k, -1, true, true);
        let kth = top.narrow(-1, k - 1, 1);
        z = z.masked_fill(&z.lt_tensor(&kth), f64::NEG_INFINITY);
    }
    if params.top_p < 1.0 {
        let (sorted, order) = z.sort(-1, true);
        let probs = sorted.softmax(-1, Kind::Float);
        // Drop a token when the tokens ranked above it already hold top_p of
        // the mass (transformers' rule); the most likely token always stays.
        let mass_before = probs.cumsum(-1, Kind::Float) - &probs;
        let drop = mass_before.ge(params.top_p);
        let _ = drop.narrow(-1, 0, 1).fill_(0);
        let sorted = sorted.masked_fill(&drop, f64::NEG_INFINITY);
        z = z.scatter(-1, &order, &sorted);
    }
    z.log_softmax(-1, Kind::Float)
}

/// Picks one token per row from `logits` [R, V]: argmax for greedy, else the
/// inverse CDF of the sampling distribution at `uniforms[r]` (ignored for
/// greedy). Returns the tokens [R] (i64) and their log-probabilities under
/// that distribution [R] (f32).
pub fn sample(logits: &Tensor, params: &SamplingParams, uniforms: &[f64]) -> (Tensor, Tensor) {
    let u = (!params.is_greedy()).then(|| {
        assert_eq!(uniforms.len() as i64, logits.size()[0], "one uniform per row");
        Tensor::from_slice(uniforms).to_device(logits.device())
    });
    sample_on_device(logits, params, u.as_ref())
}

/// [`sample`] with the uniforms already on the device (`[R]` f64, `None`
/// for greedy): no host transfer and no shape that depends on the values,
/// so it can run inside a captured CUDA graph.
pub fn sample_on_device(
    logits: &Tensor,
    params: &SamplingParams,
    uniforms: Option<&Tensor>,
) -> (Tensor, Tensor) {
    let logp = sampling_logprobs(logits, params);
    let tokens = match uniforms {
        None => {
            assert!(params.is_greedy(), "sampling at temperature {} needs uniforms", params.temperature);
            logp.argmax(-1, true)
        }
        Some(u) => {
            // f64 CDF: with 150k tokens an f32 running sum drifts visibly.
            let cdf = logp.exp().to_kind(Kind::Double).cumsum(-1, Kind::Double);
            let vocab = cdf.size()[1];
            let total = cdf.narrow(-1, vocab - 1, 1);
            // The first index whose CDF exceeds u·total never has zero probability.
            let picked = (u.to_kind(Kind::Double).view([-1, 1]) * total)
                .searchsorted(&cdf, false, true, "right", None::<Tensor>)
                .clamp_max(vocab - 1);
            // Rounding can push u·total past the last positive entry: fall back to
            // the mode for such rows so no filtered-out token is ever returned.
            let picked_logp = logp.gather(-1, &picked, false);
            picked.where_self(&picked_logp.isfinite(), &logp.argmax(-1, true))
        }
    };
    let chosen = logp.gather(-1, &tokens, false).squeeze_dim(-1);
    (tokens.squeeze_dim(-1), chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f64, top_k: usize, top_p: f64) -> SamplingParams {
        SamplingParams { temperature, top_k, top_p, ..SamplingParams::default() }
    }

    fn probs_of(logits: &[f32], p: &SamplingParams) -> Vec<f64> {
        let lp = sampling_logprobs(&Tensor::from_slice(logits).view([1, -1]), p);
        Vec::<f64>::try_from(lp.exp().to_kind(Kind::Double).view([-1])).unwrap()
    }

    #[test]
    fn top_k_keeps_the_k_largest_and_renormalises() {
        let logits = [1.0f32, 3.0, 2.0, 0.0];
        let p = probs_of(&logits, &params(1.0, 2, 1.0));
        let (e3, e2) = (3f64.exp(), 2f64.exp());
        assert!(p[0] == 0.0 && p[3] == 0.0, "{p:?}");
        assert!((p[1] - e3 / (e3 + e2)).abs() < 1e-6 && (p[2] - e2 / (e3 + e2)).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn top_p_keeps_the_smallest_prefix_reaching_p() {
        // probabilities 0.5, 0.3, 0.15, 0.05
        let logits: Vec<f32> = [0.5f32, 0.3, 0.15, 0.05].iter().map(|x| x.ln()).collect();
        let p = probs_of(&logits, &params(1.0, 0, 0.75));
        assert!((p[0] - 0.5 / 0.8).abs() < 1e-6 && (p[1] - 0.3 / 0.8).abs() < 1e-6, "{p:?}");
        assert_eq!((p[2], p[3]), (0.0, 0.0));
        // A tiny top_p still keeps the most likely token.
        let p = probs_of(&logits, &params(1.0, 0, 0.01));
        assert!((p[0] - 1.0).abs() < 1e-9 && p[1] == 0.0, "{p:?}");
    }

    #[test]
    fn temperature_scales_logits_before_softmax() {
        let logits = [0.0f32, 1.0];
        let p = probs_of(&logits, &params(0.5, 0, 1.0));
        let expect = 1.0 / (1.0 + 2f64.exp());
        assert!((p[0] - expect).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn inverse_cdf_sampling_picks_by_cumulative_mass_and_skips_filtered_tokens() {
        let logits =
            Tensor::from_slice(&[0.25f32.ln(), 0.25f32.ln(), 0.5f32.ln()]).view([1, 3]).repeat([4, 1]);
        let p = params(1.0, 0, 1.0);
        let (tok, lp) = sample(&logits, &p, &[0.1, 0.3, 0.6, 0.9999999]);
        assert_eq!(Vec::<i64>::try_from(tok).unwrap(), vec![0, 1, 2, 2]);
        let lp = Vec::<f32>::try_from(lp).unwrap();
        assert!((lp[2] - 0.5f32.ln()).abs() < 1e-6);
        // With top_k = 1 only token 2 can ever come out.
        let (tok, _) = sample(&logits, &params(1.0, 1, 1.0), &[0.0, 0.3, 0.7, 0.999999]);
        assert_eq!(Vec::<i64>::try_from(tok).unwrap(), vec![2, 2, 2, 2]);
    }

    #[test]
    fn row_streams_are_reproducible_and_distinct() {
        let a: Vec<f64> = (0..4).map(|_| draw_uniform(&mut row_rng(7, 3))).collect();
        assert!(a.iter().all(|x| *x == a[0]));
        let mut r1 = row_rng(7, 3);
        let mut r2 = row_rng(7, 4);
        assert_ne!(draw_uniform(&mut r1), draw_uniform(&mut r2));
    }
}
