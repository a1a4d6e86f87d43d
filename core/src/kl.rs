//! The KL penalty to the frozen reference model: per-token estimators and
//! the coefficient controllers (veRL HEAD semantics).
//!
//! Estimators, with `logp` the policy's and `ref` the reference's token
//! log-probabilities (J. Schulman, "Approximating KL divergence"):
//!
//! | name | value per token |
//! |---|---|
//! | k1 | `logp − ref` |
//! | abs | `|logp − ref|` |
//! | k2 | `½ (logp − ref)²` |
//! | k3 (`low_var_kl`) | `x = clamp(ref − logp, ±20)`, `clamp(eˣ − x − 1, ±10)` |
//!
//! The coefficient is fixed, or adapted after each batch as in Ziegler et
//! al. 2019: `e = clip(kl / target − 1, ±0.2)`, `β ← β·(1 + e·n / horizon)`
//! with `n` the number of responses in the batch.

use serde::{Deserialize, Serialize};
use tch::Tensor;
use tz_sdk::{KlEstimator, KlSettings};

/// Inner clamp of k3's exponent (veRL HEAD; TinyZero-era code had none).
const K3_EXP_CLAMP: f64 = 20.0;
/// Outer clamp of k3's value.
const K3_VALUE_CLAMP: f64 = 10.0;

/// Per-token KL estimate between the policy and the reference, same shape as
/// the inputs. Masking and aggregation are the caller's.
pub fn kl_penalty(logp: &Tensor, ref_logp: &Tensor, estimator: KlEstimator) -> Tensor {
    match estimator {
        KlEstimator::K1 => logp - ref_logp,
        KlEstimator::Abs => (logp - ref_logp).abs(),
        KlEstimator::K2 => (logp - ref_logp).square() * 0.5,
        KlEstimator::K3 => {
            let x = (ref_logp - logp).clamp(-K3_EXP_CLAMP, K3_EXP_CLAMP);
            (x.exp() - &x - 1.0).clamp(-K3_VALUE_CLAMP, K3_VALUE_CLAMP)
        }
    }
}

/// The KL coefficient β over a run: fixed, or adaptive towards a target KL.
/// Serialisable so a resumed run continues with the same β.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum KlController {
    Fixed { coef: f64 },
    Adaptive { coef: f64, target: f64, horizon: f64 },
}

/// Bound on the proportional error of the adaptive controller.
const ADAPTIVE_ERROR_CLIP: f64 = 0.2;

impl KlController {
    /// Adaptive when the settings give a positive target, else fixed.
    pub fn from_settings(kl: &KlSettings) -> Self {
        let coef = f64::from(kl.coef);
        if kl.adaptive_target > 0.0 {
            KlController::Adaptive {
                coef,
                target: f64::from(kl.adaptive_target),
                horizon: f64::from(kl.adaptive_horizon),
            }
        } else {
            KlController::Fixed { coef }
        }
    }

    /// The current coefficient β.
    pub fn coef(&self) -> f64 {
        match *self {
            KlController::Fixed { coef } | KlController::Adaptive { coef, .. } => coef,
        }
    }

    /// Updates β from the batch's mean KL over `n_steps` responses.
    pub fn update(&mut self, current_kl: f64, n_steps: u64) {
        if let KlController::Adaptive { coef, target, horizon } = self {
            let error = (current_kl / *target - 1.0).clamp(-ADAPTIVE_ERROR_CLIP, ADAPTIVE_ERROR_CLIP);
            *coef *= 1.0 + error * n_steps as f64 / *horizon;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    fn values(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
    }

    fn assert_close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn estimators_match_hand_values() {
        // logp − ref = 0.5 and −1.
        let logp = Tensor::from_slice(&[-1.0f64, -2.0]);
        let reference = Tensor::from_slice(&[-1.5f64, -1.0]);
        assert_close(&values(&kl_penalty(&logp, &reference, KlEstimator::K1)), &[0.5, -1.0]);
        assert_close(&values(&kl_penalty(&logp, &reference, KlEstimator::Abs)), &[0.5, 1.0]);
        assert_close(&values(&kl_penalty(&logp, &reference, KlEstimator::K2)), &[0.125, 0.5]);
        // k3: x = ref − logp = −0.5 and 1: e^−0.5 + 0.5 − 1, e − 2.
        let k3 = values(&kl_penalty(&logp, &reference, KlEstimator::K3));
        assert_close(&k3, &[(-0.5f64).exp() - 0.5, std::f64::consts::E - 2.0]);
    }

    #[test]
    fn k3_is_clamped_inside_and_outside() {
        // x = ±30 is clamped to ±20; e^20 − 21 and e^−20 + 19 both exceed 10.
        let logp = Tensor::from_slice(&[-40.0f64, -10.0, -3.0]);
        let reference = Tensor::from_slice(&[-10.0f64, -40.0, -3.0]);
        assert_close(&values(&kl_penalty(&logp, &reference, KlEstimator::K3)), &[10.0, 10.0, 0.0]);
    }

    #[test]
    fn k3_is_finite_for_extreme_inputs() {
        // Without the inner clamp e^(1000) would be inf and its gradient NaN.
        let logp = Tensor::from_slice(&[-1000.0f32]).set_requires_grad(true);
        let reference = Tensor::from_slice(&[0.0f32]);
        let k = kl_penalty(&logp, &reference, KlEstimator::K3);
        k.sum(Kind::Float).backward();
        assert_eq!(values(&k), vec![10.0]);
        assert!(values(&logp.grad()).iter().all(|g| g.is_finite()));
    }

    #[test]
    fn adaptive_controller_moves_proportionally_with_a_clipped_error() {
        let settings = KlSettings {
            placement: tz_sdk::KlPlacement::Reward,
            estimator: KlEstimator::K1,
            coef: 0.001,
            adaptive_target: 0.1,
            adaptive_horizon: 10_000.0,
        };
        let mut c = KlController::from_settings(&settings);
        let beta0 = f64::from(0.001f32);
        assert_eq!(c.coef(), beta0);
        // kl 0.15: error 0.5 clipped to 0.2; β · (1 + 0.2 · 256 / 10000).
        c.update(0.15, 256);
        assert!((c.coef() - beta0 * 1.00512).abs() < 1e-15, "{}", c.coef());
        let before = c.coef();
        c.update(f64::from(0.1f32), 256); // on target: unchanged
        assert!((c.coef() - before).abs() < 1e-15);
        c.update(0.09, 1000); // error −0.1: β · (1 − 0.01)
        assert!((c.coef() - before * 0.99).abs() < 1e-8 * before);
    }

    #[test]
    fn fixed_controller_never_moves_and_round_trips() {
        let settings = KlSettings { adaptive_target: 0.0, ..tz_sdk::LossSettings::default().kl };
        let mut c = KlController::from_settings(&settings);
        c.update(5.0, 1000);
        assert_eq!(c, KlController::Fixed { coef: f64::from(0.001f32) });
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<KlController>(&json).unwrap(), c);
    }
}
