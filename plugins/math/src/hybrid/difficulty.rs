//! The difficulty weight `w` of the hybrid reward and the quantities it is
//! computed from (seed 003's two scorers).
//!
//! - **σ_u, a question's uncertainty**: the population standard deviation of
//!   the verifier's outcomes (1 = correct, 0 = not) over the question's group
//!   of sampled answers, `σ_u = sqrt(p (1 − p))` with `p` the fraction
//!   correct; in [0, 0.5]. Why this one: it is the standard deviation GRPO
//!   itself normalises by, it needs no extra model call, it is 0 when the
//!   policy is sure either way (all right or all wrong) and largest when the
//!   question sits at the edge of what the policy can do (half right).
//! - **σ̄, the running batch mean**: an exponential moving average over
//!   training batches of each batch's mean σ_u,
//!   `σ̄ ← m σ̄ + (1 − m) mean_batch(σ_u)` (momentum `m`), started from the
//!   warm-up's mean. Why: the sigmoid centres on "as uncertain as usual", so
//!   a question is up-weighted relative to the policy's current level, not to
//!   a fixed threshold that stops meaning anything as the policy improves;
//!   the average smooths batch-to-batch noise of small groups.
//! - **r̂, the normalised RM score**: `(s − min_rm) / (max_rm − min_rm)`
//!   clamped to [0, 1] (see [`super::calibration`]).
//!
//! Scorers:
//! - `sigmoid` (per question): `w = w_min + (w_max − w_min) / (1 + exp(−k (σ_u − σ̄)))`.
//!   The RM's share of the reward grows on questions more uncertain than
//!   usual, where it has something to rank, and shrinks on settled ones,
//!   where it could only add noise or be gamed.
//! - `tanh` (per response): `w = w_min + (w_max − w_min) · tanh(r̂³)`. The
//!   cube keeps low RM scores near `w_min` and lets only confident RM
//!   judgements approach `w_min + 0.76 (w_max − w_min)` (tanh 1 ≈ 0.7616).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which difficulty weight the hybrid reward uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scorer {
    /// Per question, from its uncertainty relative to the running mean.
    Sigmoid,
    /// Per response, from its normalised RM score.
    Tanh,
}

/// The weight bounds and the sigmoid's steepness.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightRange {
    pub w_min: f64,
    pub w_max: f64,
    pub k: f64,
}

/// `sigmoid` scorer: `w_min + (w_max − w_min) / (1 + exp(−k (σ_u − σ̄)))`.
pub fn sigmoid_weight(range: WeightRange, sigma_u: f64, sigma_bar: f64) -> f64 {
    range.w_min + (range.w_max - range.w_min) / (1.0 + (-range.k * (sigma_u - sigma_bar)).exp())
}

/// `tanh` scorer: `w_min + (w_max − w_min) · tanh(r̂³)`.
pub fn tanh_weight(range: WeightRange, r_hat: f64) -> f64 {
    range.w_min + (range.w_max - range.w_min) * r_hat.powi(3).tanh()
}

/// σ_u of one group: the standard deviation of its 0/1 verifier outcomes.
pub fn group_uncertainty(correct: &[bool]) -> f64 {
    if correct.is_empty() {
        return 0.0;
    }
    let p = correct.iter().filter(|&&c| c).count() as f64 / correct.len() as f64;
    (p * (1.0 - p)).sqrt()
}

/// The exponential moving average σ̄ after one more batch mean.
pub fn update_running_mean(previous: Option<f64>, batch_mean: f64, momentum: f64) -> f64 {
    match previous {
        Some(prev) => momentum * prev + (1.0 - momentum) * batch_mean,
        None => batch_mean,
    }
}
