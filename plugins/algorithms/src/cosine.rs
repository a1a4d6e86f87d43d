//! `cosine`: the length-scaled reward of Yeo et al. 2025 ("Demystifying Long
//! Chain-of-Thought Reasoning in LLMs", arXiv 2502.03373), with the semantics
//! of the authors' `CosineScaledSparseReward`.
//!
//! The task's reward is **replaced**; only its correctness verdict is used.
//! With `L` the response length in tokens and `T` the max length:
//!
//! ```text
//! L + max_len_margin >= T  ->  r = exceed_length (0 when unset, as the authors' code)
//! correct                  ->  (lo, hi) = (min_value_correct, max_value_correct)
//! wrong                    ->  (lo, hi) = (max_value_wrong,  min_value_wrong)   (swapped on purpose)
//! r = lo + ½·(hi − lo)·(1 + cos(π·L/T))
//! ```
//!
//! So a correct answer decays from `max_value_correct` (L = 0) to
//! `min_value_correct` (L = T), and a wrong one rises from `min_value_wrong` to
//! `max_value_wrong`: short wrong answers are punished hardest. The defaults
//! are the authors' CLI defaults; their paper's main run used
//! `min_value_wrong = -10, max_value_wrong = 0, min_value_correct = 1,
//! max_value_correct = 2, exceed_length = -10`.
//!
//! `T` is the batch's max new-token limit (under an adaptive curriculum, the
//! current window), as the authors read `max_new_tokens`; `max_len` overrides
//! it. The authors' optional n-gram repetition penalty for wrong answers needs
//! the response text, which shapers do not see, so it is not implemented.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tz_sdk::prelude::*;

/// Configuration of the `cosine` reward shaper.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CosineConfig {
    /// Reward of a wrong answer of length 0 (must be <= 0).
    pub min_value_wrong: f32,
    /// Reward of a wrong answer at the max length (must be <= 0).
    pub max_value_wrong: f32,
    /// Reward of a correct answer at the max length.
    pub min_value_correct: f32,
    /// Reward of a correct answer of length 0.
    pub max_value_correct: f32,
    /// Reward of a response within `max_len_margin` tokens of the max length; null gives 0 (the authors' behaviour).
    pub exceed_length: Option<f32>,
    /// Responses with `length + max_len_margin >= max length` count as exceeding it (authors: 16).
    pub max_len_margin: u32,
    /// The length T of the cosine schedule in tokens; 0 = the batch's max new-token limit.
    pub max_len: u32,
}

impl Default for CosineConfig {
    /// The authors' command-line defaults (`train_ppo_ray.py`).
    fn default() -> Self {
        CosineConfig {
            min_value_wrong: -1.0,
            max_value_wrong: 0.0,
            min_value_correct: 0.0,
            max_value_correct: 1.0,
            exceed_length: None,
            max_len_margin: 16,
            max_len: 0,
        }
    }
}

/// The cosine length-scaled reward shaper.
pub struct Cosine {
    config: CosineConfig,
}

impl Plugin for Cosine {
    const NAME: &'static str = "cosine";
    const DESCRIPTION: &'static str =
        "Cosine length-scaled reward (Yeo et al. 2025): short correct answers earn most, short wrong ones lose most";
    type Config = CosineConfig;

    fn new(config: CosineConfig, _host: HostServices) -> PluginResult<Self> {
        Cosine::with_config(config)
    }
}

impl Cosine {
    /// Validates the config (one-line errors naming the key).
    pub fn with_config(config: CosineConfig) -> PluginResult<Self> {
        for (key, v) in [
            ("min_value_wrong", config.min_value_wrong),
            ("max_value_wrong", config.max_value_wrong),
            ("min_value_correct", config.min_value_correct),
            ("max_value_correct", config.max_value_correct),
            ("exceed_length", config.exceed_length.unwrap_or(0.0)),
        ] {
            require_finite(key, v)?;
        }
        // The authors' constructor raises here: with the swapped bounds a
        // positive wrong value would reward wrong answers.
        for (key, v) in
            [("min_value_wrong", config.min_value_wrong), ("max_value_wrong", config.max_value_wrong)]
        {
            require(v <= 0.0, key, || format!("wrong-answer rewards must not be positive, got {v}"))?;
        }
        Ok(Cosine { config })
    }

    /// The shaped reward of one response.
    fn reward(&self, length: u32, correct: bool, max_len: u32) -> f32 {
        let c = &self.config;
        if u64::from(length) + u64::from(c.max_len_margin) >= u64::from(max_len) {
            return c.exceed_length.unwrap_or(0.0);
        }
        let (lo, hi) = if correct {
            (c.min_value_correct, c.max_value_correct)
        } else {
            (c.max_value_wrong, c.min_value_wrong)
        };
        let (lo, hi) = (f64::from(lo), f64::from(hi));
        let progress = f64::from(length) / f64::from(max_len);
        (lo + 0.5 * (hi - lo) * (1.0 + (std::f64::consts::PI * progress).cos())) as f32
    }
}

impl Shaper for Cosine {
    fn shape(&self, input: &ShapeInput) -> PluginResult<Vec<f32>> {
        let n = input.rewards.len();
        if input.response_lengths.len() != n || input.correct.len() != n {
            return Err(format!(
                "{n} rewards but {} lengths and {} correctness flags",
                input.response_lengths.len(),
                input.correct.len()
            ));
        }
        let max_len = if self.config.max_len > 0 { self.config.max_len } else { input.max_length };
        if max_len == 0 {
            return Err("the batch's max length is 0; set `max_len` in the cosine config".into());
        }
        Ok(input
            .response_lengths
            .iter()
            .zip(input.correct.iter())
            .map(|(&len, &correct)| self.reward(len, correct, max_len))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(lengths: &[u32], correct: &[bool], max_length: u32) -> ShapeInput {
        ShapeInput {
            rewards: vec![0.0; lengths.len()],
            response_lengths: lengths.to_vec(),
            max_length,
            correct: correct.to_vec(),
            truncated: vec![false; lengths.len()],
            group_ids: vec![0; lengths.len()],
        }
    }

    fn shape(config: CosineConfig, lengths: &[u32], correct: &[bool], max_length: u32) -> Vec<f32> {
        Cosine::with_config(config).unwrap().shape(&input(lengths, correct, max_length)).unwrap()
    }

    fn assert_close(got: &[f32], want: &[f32]) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "got {got:?}, want {want:?}");
        }
        assert_eq!(got.len(), want.len());
    }

    #[test]
    fn correct_answers_decay_from_max_to_min_value() {
        // Defaults: correct 1 at L = 0, 0.5 at L = T/2 (cos = 0), 0.25 at 2T/3 (cos = -1/2).
        let got = shape(CosineConfig::default(), &[0, 500, 600], &[true, true, true], 1000);
        let at_600 = 0.5 * (1.0 + (0.6f64 * std::f64::consts::PI).cos()) as f32;
        assert_close(&got, &[1.0, 0.5, at_600]);
    }

    #[test]
    fn wrong_answers_rise_from_min_to_max_value() {
        // Defaults: wrong -1 at L = 0, -0.5 at T/2.
        let got = shape(CosineConfig::default(), &[0, 500], &[false, false], 1000);
        assert_close(&got, &[-1.0, -0.5]);
        // The paper's run: wrong -10 -> 0, correct 2 -> 1.
        let paper = CosineConfig {
            min_value_wrong: -10.0,
            min_value_correct: 1.0,
            max_value_correct: 2.0,
            exceed_length: Some(-10.0),
            ..CosineConfig::default()
        };
        assert_close(
            &shape(paper, &[0, 0, 500, 500], &[true, false, true, false], 1000),
            &[2.0, -10.0, 1.5, -5.0],
        );
    }

    #[test]
    fn responses_within_the_margin_of_the_max_get_exceed_length() {
        // 984 + 16 >= 1000 exceeds; 983 does not.
        let unset = shape(CosineConfig::default(), &[984, 1000, 983], &[true, false, true], 1000);
        assert_eq!(&unset[..2], &[0.0, 0.0]);
        assert!(unset[2] > 0.0 && unset[2] < 1e-3, "{unset:?}");
        let set = CosineConfig { exceed_length: Some(-10.0), ..CosineConfig::default() };
        assert_eq!(&shape(set, &[984, 1000], &[true, false], 1000), &[-10.0, -10.0]);
    }

    #[test]
    fn a_configured_max_len_overrides_the_batch_limit() {
        let config = CosineConfig { max_len: 2000, ..CosineConfig::default() };
        assert_close(&shape(config, &[1000], &[true], 1000), &[0.5]);
    }

    #[test]
    fn the_task_reward_is_replaced_not_added_to() {
        let mut i = input(&[0], &[true], 100);
        i.rewards = vec![0.1];
        assert_eq!(Cosine::with_config(CosineConfig::default()).unwrap().shape(&i).unwrap(), vec![1.0]);
    }

    #[test]
    fn positive_wrong_values_are_rejected() {
        let err = Cosine::with_config(CosineConfig { max_value_wrong: 0.5, ..CosineConfig::default() })
            .err()
            .unwrap();
        assert_eq!(err, "config key 'max_value_wrong': wrong-answer rewards must not be positive, got 0.5");
    }

    #[test]
    fn mismatched_inputs_are_an_error() {
        let mut i = input(&[1, 2], &[true, true], 100);
        i.correct = vec![true];
        assert!(Cosine::with_config(CosineConfig::default()).unwrap().shape(&i).is_err());
    }
}
