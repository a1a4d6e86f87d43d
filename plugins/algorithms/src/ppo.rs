//! `ppo`: generalised advantage estimation (Schulman et al. 2016) over
//! per-token rewards and critic values, with veRL's
//! `compute_gae_advantage_return` semantics, for PPO with a critic as in
//! TinyZero's `train_tiny_zero.sh`.
//!
//! Per response, backwards over its tokens with `V_{T} = 0` and `A_{T} = 0`
//! past the last token:
//!
//! ```text
//! δ_t = r_t + γ·V_{t+1} − V_t
//! A_t = δ_t + γλ·A_{t+1}
//! R_t = A_t + V_t                  (value targets, before whitening)
//! A  ← (A − mean) · rsqrt(var + 1e-8)   over every token of the batch
//! ```
//!
//! `var` is Bessel-corrected (veRL `masked_whiten`). With the defaults
//! γ = λ = 1, `R_t` is the plain return-to-go and `A_t = R_t − V_t`.
//!
//! The loss settings ask the core for a critic (lr 1e-5, value clip 0.5) and,
//! like TinyZero's PPO run, a k1 KL penalty in the reward with β = 0.001 and an
//! entropy bonus of 0.001.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tz_sdk::prelude::*;

use crate::estimator_config;
use crate::layout::response_ranges;
use crate::loss_config::{KlEstimatorName, KlPlacementName, LossKnobs, VERL_LOSS};

/// veRL `masked_whiten`'s variance floor.
const WHITEN_EPS: f64 = 1e-8;

estimator_config! {
    /// Configuration of the `ppo` estimator, its critic and the loss it asks
    /// for (TinyZero's `train_tiny_zero.sh` settings, veRL January 2025).
    pub struct PpoConfig {
        /// Discount factor gamma of GAE.
        pub gamma: f32 = 1.0,
        /// GAE lambda: 1 gives Monte-Carlo returns minus the value, 0 gives one-step TD errors.
        pub lam: f32 = 1.0,
        /// Learning rate of the critic (value model).
        pub critic_lr: f32 = 1e-5,
        /// Value clip range: new values are clipped to `old ± critic_clip_value` in the value loss (veRL `cliprange_value`).
        pub critic_clip_value: f32 = 0.5,
        /// Steps during which only the critic is trained (veRL `critic_warmup`).
        pub critic_warmup_steps: u32 = 0,
    }
    loss_defaults = LossKnobs {
        kl_placement: KlPlacementName::Reward,
        kl_estimator: KlEstimatorName::K1,
        entropy_coef: 0.001,
        ..VERL_LOSS
    };
}

/// The GAE advantage estimator.
pub struct Ppo {
    config: PpoConfig,
    loss: LossSettings,
}

impl Plugin for Ppo {
    const NAME: &'static str = "ppo";
    const DESCRIPTION: &'static str =
        "PPO with a critic: GAE advantages and value targets, whitened over the batch (TinyZero's default)";
    type Config = PpoConfig;

    fn new(config: PpoConfig, _host: HostServices) -> PluginResult<Self> {
        Ppo::with_config(config)
    }
}

impl Ppo {
    /// Validates the config (one-line errors naming the key).
    pub fn with_config(config: PpoConfig) -> PluginResult<Self> {
        for (key, v) in [
            ("gamma", config.gamma),
            ("lam", config.lam),
            ("critic_lr", config.critic_lr),
            ("critic_clip_value", config.critic_clip_value),
        ] {
            require_finite(key, v)?;
        }
        require_in("gamma", config.gamma, 0.0..=1.0)?;
        require_in("lam", config.lam, 0.0..=1.0)?;
        require(config.critic_lr > 0.0, "critic_lr", || format!("must be > 0, got {}", config.critic_lr))?;
        require_in("critic_clip_value", config.critic_clip_value, 0.0..)?;
        let critic = CriticSettings {
            lr: config.critic_lr,
            clip_value: config.critic_clip_value,
            warmup_steps: config.critic_warmup_steps,
        };
        let loss = config.loss_knobs().settings(Some(critic))?;
        Ok(Ppo { config, loss })
    }
}

impl Estimator for Ppo {
    fn loss_settings(&self) -> LossSettings {
        self.loss
    }

    fn estimate(&self, input: &AdvantageInput) -> PluginResult<AdvantageOutput> {
        let ranges = response_ranges(input)?;
        let tokens = input.token_rewards.len();
        if input.values.is_empty() && tokens > 0 {
            return Err("ppo needs critic values, but the batch has none (is the critic running?)".into());
        }
        if input.values.len() != tokens {
            return Err(format!("ppo got {} critic values for {tokens} tokens", input.values.len()));
        }
        let gamma = f64::from(self.config.gamma);
        let gamma_lam = gamma * f64::from(self.config.lam);

        let mut advantages = vec![0.0f64; tokens];
        let mut returns = vec![0.0f32; tokens];
        for range in &ranges {
            let (mut next_value, mut next_adv) = (0.0f64, 0.0f64);
            for t in range.clone().rev() {
                let value = f64::from(input.values[t]);
                let delta = f64::from(input.token_rewards[t]) + gamma * next_value - value;
                let adv = delta + gamma_lam * next_adv;
                advantages[t] = adv;
                returns[t] = (adv + value) as f32;
                next_value = value;
                next_adv = adv;
            }
        }
        if let Some(t) = advantages.iter().position(|a| !a.is_finite()) {
            return Err(format!(
                "GAE produced a non-finite advantage at token {t} (check rewards and values)"
            ));
        }
        Ok(AdvantageOutput { advantages: whiten(&advantages), returns, metrics: Vec::new() })
    }
}

/// `(x − mean) · rsqrt(var + 1e-8)` with the Bessel-corrected variance over
/// all entries. One entry has no variance: it is only centred (to 0).
fn whiten(x: &[f64]) -> Vec<f32> {
    let n = x.len();
    if n == 0 {
        return Vec::new();
    }
    let mean = x.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return vec![0.0];
    }
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let scale = 1.0 / (var + WHITEN_EPS).sqrt();
    x.iter().map(|v| ((v - mean) * scale) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_responses() -> AdvantageInput {
        // Response A: rewards [0, 0, 1], values [0.5, 0.6, 0.7].
        // Response B: rewards [0, 0.2],  values [0.4, 0.1].
        AdvantageInput {
            token_rewards: vec![0.0, 0.0, 1.0, 0.0, 0.2],
            offsets: vec![0, 3, 5],
            group_ids: vec![0, 1],
            values: vec![0.5, 0.6, 0.7, 0.4, 0.1],
        }
    }

    fn assert_close(got: &[f32], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!((f64::from(g) - w).abs() < tol, "index {i}: got {g}, want {w} ({got:?})");
        }
    }

    #[test]
    fn gae_matches_a_hand_computed_example() {
        // γ = 0.9, λ = 0.8 (γλ = 0.72), backwards per response:
        // A: t2 δ = 1 − 0.7 = 0.3;              A2 = 0.3
        //    t1 δ = 0.9·0.7 − 0.6 = 0.03;       A1 = 0.03 + 0.72·0.3 = 0.246
        //    t0 δ = 0.9·0.6 − 0.5 = 0.04;       A0 = 0.04 + 0.72·0.246 = 0.21712
        // B: t1 δ = 0.2 − 0.1 = 0.1;            A1 = 0.1
        //    t0 δ = 0.9·0.1 − 0.4 = −0.31;      A0 = −0.31 + 0.72·0.1 = −0.238
        // Returns = A + V. Whitening: mean 0.125024, Bessel var 0.04653652288.
        let ppo = Ppo::with_config(PpoConfig { gamma: 0.9, lam: 0.8, ..PpoConfig::default() }).unwrap();
        let out = ppo.estimate(&two_responses()).unwrap();
        assert_close(&out.returns, &[0.71712, 0.846, 1.0, 0.162, 0.2], 1e-6);
        assert_close(
            &out.advantages,
            &[0.4269173018651, 0.5607925155320, 0.8111132059063, -1.6828225611566, -0.1160004621468],
            1e-5,
        );
    }

    #[test]
    fn default_gamma_lambda_one_gives_return_to_go_minus_value() {
        // Returns-to-go: A 1, 1, 1; B 0.2, 0.2. Raw A = R − V = 0.5, 0.4, 0.3, −0.2, 0.1.
        let out = Ppo::with_config(PpoConfig::default()).unwrap().estimate(&two_responses()).unwrap();
        assert_close(&out.returns, &[1.0, 1.0, 1.0, 0.2, 0.2], 1e-6);
        // mean 0.22, deviations 0.28, 0.18, 0.08, −0.42, −0.12;
        // Bessel var (0.0784 + 0.0324 + 0.0064 + 0.1764 + 0.0144)/4 = 0.077.
        let s = (0.077f64 + 1e-8).sqrt();
        assert_close(&out.advantages, &[0.28 / s, 0.18 / s, 0.08 / s, -0.42 / s, -0.12 / s], 1e-5);
    }

    #[test]
    fn whitening_gives_zero_mean_unit_bessel_variance() {
        let w: Vec<f64> = whiten(&[1.0, 2.0, 3.0, 10.0]).into_iter().map(f64::from).collect();
        let mean = w.iter().sum::<f64>() / 4.0;
        let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 3.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "mean {mean} var {var}");
        assert_eq!(whiten(&[5.0]), vec![0.0]);
        assert!(whiten(&[]).is_empty());
    }

    #[test]
    fn missing_critic_values_are_a_clear_error() {
        let mut input = two_responses();
        input.values = Vec::new();
        let err = Ppo::with_config(PpoConfig::default()).unwrap().estimate(&input).unwrap_err();
        assert!(err.starts_with("ppo needs critic values"), "{err}");
        input.values = vec![0.0; 3];
        let err = Ppo::with_config(PpoConfig::default()).unwrap().estimate(&input).unwrap_err();
        assert!(err.contains("3 critic values for 5 tokens"), "{err}");
    }

    #[test]
    fn loss_settings_ask_for_a_critic_and_kl_in_reward() {
        let s = Ppo::with_config(PpoConfig::default()).unwrap().loss_settings();
        let critic = s.critic.expect("critic settings");
        assert_eq!((critic.lr, critic.clip_value, critic.warmup_steps), (1e-5, 0.5, 0));
        assert_eq!(s.kl.placement, KlPlacement::Reward);
        assert_eq!(s.kl.estimator, KlEstimator::K1);
        assert_eq!(s.kl.coef, 0.001);
        assert_eq!(s.entropy_coef, 0.001);
    }

    #[test]
    fn out_of_range_gamma_is_rejected() {
        let err = Ppo::with_config(PpoConfig { gamma: 1.5, ..PpoConfig::default() }).err().unwrap();
        assert_eq!(err, "config key 'gamma': must be in [0, 1], got 1.5");
    }
}
