//! `grpo`: the group-normalised outcome advantage of GRPO (Shao et al. 2024),
//! with veRL's semantics, and Dr. GRPO (Liu et al. 2025) as a switch.
//!
//! For response `i` with score `s_i = Σ_t r_{i,t}` (the task score on its last
//! token, minus any KL-in-reward penalty on every token), in the group `g` of
//! responses to the same prompt:
//!
//! ```text
//! A_i = (s_i − mean_g) / (std_g + ε)     norm_adv_by_std = true (GRPO)
//! A_i =  s_i − mean_g                    norm_adv_by_std = false (Dr. GRPO)
//! ```
//!
//! `std_g` is the unbiased (N − 1) standard deviation and ε = 1e-6, as in veRL
//! `compute_grpo_outcome_advantage`. A group of one response has mean 0 and
//! std 1 (veRL; TRL instead gives it advantage 0). `A_i` is broadcast to every
//! token of the response.
//!
//! The config also carries the loss the core applies (`clip_ratio_*`, KL,
//! entropy, aggregation). For Dr. GRPO set `norm_adv_by_std = false` and
//! `loss_agg_mode = "seq-mean-token-sum-norm"`; for DAPO's clip-higher set
//! `clip_ratio_high = 0.28`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tz_sdk::prelude::*;

use crate::estimator_config;
use crate::layout::response_ranges;
use crate::loss_config::VERL_LOSS;

/// A group's scores count as equal (no learning signal) below this spread.
const ZERO_STD_TOLERANCE: f64 = 1e-8;

estimator_config! {
    /// Configuration of the `grpo` estimator and the loss it asks for
    /// (veRL HEAD's GRPO actor defaults, with no KL term).
    pub struct GrpoConfig {
        /// Divide by the group's standard deviation (GRPO). `false` is Dr. GRPO: `A = s - mean`.
        pub norm_adv_by_std: bool = true,
        /// Added to the group standard deviation before dividing (veRL: 1e-6).
        pub epsilon: f32 = 1e-6,
    }
    loss_defaults = VERL_LOSS;
}

/// The GRPO outcome-advantage estimator.
pub struct Grpo {
    config: GrpoConfig,
    loss: LossSettings,
}

impl Plugin for Grpo {
    const NAME: &'static str = "grpo";
    const DESCRIPTION: &'static str =
        "GRPO group-normalised outcome advantage (Dr. GRPO with norm_adv_by_std = false); no critic";
    type Config = GrpoConfig;

    fn new(config: GrpoConfig, _host: HostServices) -> PluginResult<Self> {
        Grpo::with_config(config)
    }
}

impl Grpo {
    /// Validates the config (one-line errors naming the key).
    pub fn with_config(config: GrpoConfig) -> PluginResult<Self> {
        require_finite("epsilon", config.epsilon)?;
        require_in("epsilon", config.epsilon, 0.0..)?;
        let loss = config.loss_knobs().settings(None)?;
        Ok(Grpo { config, loss })
    }
}

impl Estimator for Grpo {
    fn loss_settings(&self) -> LossSettings {
        self.loss
    }

    fn estimate(&self, input: &AdvantageInput) -> PluginResult<AdvantageOutput> {
        let ranges = response_ranges(input)?;
        let scores = ranges
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let s: f64 = input.token_rewards[r.clone()].iter().map(|&x| f64::from(x)).sum();
                if s.is_finite() {
                    Ok(s)
                } else {
                    Err(format!("the token rewards of response {i} sum to {s}"))
                }
            })
            .collect::<PluginResult<Vec<f64>>>()?;

        let mut groups: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, &g) in input.group_ids.iter().enumerate() {
            groups.entry(g).or_default().push(i);
        }

        let mut response_adv = vec![0.0f64; scores.len()];
        let mut zero_std_groups = 0usize;
        for members in groups.values() {
            let group_scores: Vec<f64> = members.iter().map(|&i| scores[i]).collect();
            let (mean, std) = group_mean_std(&group_scores);
            // A singleton carries no within-group signal: count it as zero-std
            // even though veRL's convention (std 1) still gives it an advantage.
            if members.len() == 1 || std <= ZERO_STD_TOLERANCE {
                zero_std_groups += 1;
            }
            for (&i, &s) in members.iter().zip(&group_scores) {
                response_adv[i] = if self.config.norm_adv_by_std {
                    (s - mean) / (std + f64::from(self.config.epsilon))
                } else {
                    s - mean
                };
            }
        }

        let mut advantages = vec![0.0f32; input.token_rewards.len()];
        for (r, &a) in ranges.iter().zip(&response_adv) {
            advantages[r.clone()].fill(a as f32);
        }
        let frac_zero_std =
            if groups.is_empty() { 0.0 } else { zero_std_groups as f64 / groups.len() as f64 };
        Ok(AdvantageOutput {
            advantages,
            returns: Vec::new(),
            metrics: vec![Metric::new("frac_reward_zero_std", frac_zero_std)],
        })
    }
}

/// veRL's group statistics: mean and unbiased (N − 1) std, or (0, 1) for a
/// group of one.
fn group_mean_std(scores: &[f64]) -> (f64, f64) {
    let n = scores.len();
    if n < 2 {
        return (0.0, 1.0);
    }
    let mean = scores.iter().sum::<f64>() / n as f64;
    let var = scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss_config::{KlPlacementName, LossAggName};

    fn grpo(config: GrpoConfig) -> Grpo {
        Grpo::with_config(config).unwrap()
    }

    /// Responses with one token each carrying `scores[i]` except where a
    /// length is given: the score sits on the last token, zeros before it.
    fn outcome_input(scores: &[f32], lengths: &[u32], groups: &[u32]) -> AdvantageInput {
        let mut token_rewards = Vec::new();
        let mut offsets = vec![0u32];
        for (&s, &len) in scores.iter().zip(lengths) {
            for t in 0..len {
                token_rewards.push(if t + 1 == len { s } else { 0.0 });
            }
            offsets.push(token_rewards.len() as u32);
        }
        AdvantageInput { token_rewards, offsets, group_ids: groups.to_vec(), values: Vec::new() }
    }

    fn per_response(out: &AdvantageOutput, lengths: &[u32]) -> Vec<f32> {
        let mut at = 0usize;
        lengths
            .iter()
            .map(|&len| {
                let slice = &out.advantages[at..at + len as usize];
                assert!(slice.iter().all(|&a| a == slice[0]), "advantage not broadcast: {slice:?}");
                at += len as usize;
                slice[0]
            })
            .collect()
    }

    fn metric(out: &AdvantageOutput, name: &str) -> f64 {
        out.metrics.iter().find(|m| m.name.as_str() == name).map(|m| m.value).unwrap()
    }

    #[test]
    fn grpo_normalises_within_each_group() {
        // Group 7: scores 1, 0, 0, 1 -> mean 0.5, unbiased std sqrt(1/3).
        // Group 3: 1.1, 0.1 -> mean 0.6, std sqrt(0.5) (0.1 is a format score).
        // Group 9: a single response 1 -> mean 0, std 1 -> 1/(1 + 1e-6).
        // Group 5: all equal 0.1 -> 0 for both.
        let scores = [1.0, 0.0, 1.1, 0.0, 0.1, 1.0, 1.0, 0.1, 0.1];
        let lengths = [3, 1, 2, 4, 2, 1, 5, 2, 3];
        let groups = [7, 7, 3, 7, 3, 7, 9, 5, 5];
        let out = grpo(GrpoConfig::default()).estimate(&outcome_input(&scores, &lengths, &groups)).unwrap();
        let adv = per_response(&out, &lengths);
        let s7 = (1.0f64 / 3.0).sqrt() + 1e-6;
        let s3 = 0.5f64.sqrt() + 1e-6;
        let want =
            [0.5 / s7, -0.5 / s7, 0.5 / s3, -0.5 / s7, -0.5 / s3, 0.5 / s7, 1.0 / (1.0 + 1e-6), 0.0, 0.0];
        for (i, (&a, &w)) in adv.iter().zip(&want).enumerate() {
            assert!((f64::from(a) - w).abs() < 1e-5, "response {i}: got {a}, want {w}");
        }
        assert!(out.returns.is_empty());
        // Groups 9 (singleton) and 5 (all equal) carry no signal: 2 of 4.
        assert_eq!(metric(&out, "frac_reward_zero_std"), 0.5);
    }

    #[test]
    fn dr_grpo_only_subtracts_the_group_mean() {
        let scores = [1.0, 0.0, 0.0, 1.0, 2.0];
        let lengths = [2, 2, 1, 3, 1];
        let groups = [0, 0, 0, 1, 1];
        let config = GrpoConfig { norm_adv_by_std: false, ..GrpoConfig::default() };
        let out = grpo(config).estimate(&outcome_input(&scores, &lengths, &groups)).unwrap();
        let adv = per_response(&out, &lengths);
        let want = [2.0 / 3.0, -1.0 / 3.0, -1.0 / 3.0, -0.5, 0.5];
        for (&a, &w) in adv.iter().zip(&want) {
            assert!((f64::from(a) - w).abs() < 1e-6, "got {adv:?}, want {want:?}");
        }
    }

    #[test]
    fn score_is_the_sum_of_token_rewards_including_kl_penalties() {
        // A KL-in-reward penalty sits on every token: the score is the sum.
        let input = AdvantageInput {
            token_rewards: vec![-0.01, -0.02, 0.97, -0.01, 0.0],
            offsets: vec![0, 3, 5],
            group_ids: vec![0, 0],
            values: Vec::new(),
        };
        let config = GrpoConfig { norm_adv_by_std: false, ..GrpoConfig::default() };
        let out = grpo(config).estimate(&input).unwrap();
        // s = 0.94 and -0.01, mean 0.465.
        assert!((out.advantages[0] - 0.475).abs() < 1e-6, "{:?}", out.advantages);
        assert!((out.advantages[4] + 0.475).abs() < 1e-6, "{:?}", out.advantages);
    }

    #[test]
    fn empty_responses_and_batches_are_fine() {
        let out =
            grpo(GrpoConfig::default()).estimate(&outcome_input(&[1.0, 0.0], &[0, 2], &[0, 0])).unwrap();
        assert_eq!(out.advantages.len(), 2);
        let out = grpo(GrpoConfig::default()).estimate(&AdvantageInput::default()).unwrap();
        assert!(out.advantages.is_empty());
        assert_eq!(metric(&out, "frac_reward_zero_std"), 0.0);
    }

    #[test]
    fn a_nan_reward_is_an_error_naming_the_response() {
        let err = grpo(GrpoConfig::default())
            .estimate(&outcome_input(&[1.0, f32::NAN], &[1, 1], &[0, 0]))
            .unwrap_err();
        assert!(err.contains("response 1"), "{err}");
    }

    #[test]
    fn loss_settings_follow_the_config() {
        let config = GrpoConfig {
            clip_ratio_high: 0.28,
            kl_placement: KlPlacementName::Loss,
            loss_agg_mode: LossAggName::SeqMeanTokenSumNorm,
            ..GrpoConfig::default()
        };
        let s = grpo(config).loss_settings();
        assert_eq!(s.clip_high, 0.28);
        assert_eq!(s.kl.placement, KlPlacement::Loss);
        assert_eq!(s.kl.estimator, KlEstimator::K3);
        assert_eq!(s.aggregation, LossAggregation::SeqMeanTokenSumNorm);
        assert!(s.critic.is_none());
        let default = grpo(GrpoConfig::default()).loss_settings();
        assert_eq!(default, LossSettings::default());
    }
}
