//! `overlong`: DAPO's soft overlong punishment (Yu et al. 2025, Eq. 13), with
//! veRL's code semantics (`reward_manager/dapo.py`).
//!
//! With `T` the max length, `B` the buffer length and `E = T − B` the expected
//! length, a response of `L` tokens gets
//!
//! ```text
//! r ← r + min(−(L − E) / B · penalty_factor, 0)
//! ```
//!
//! i.e. nothing up to `E`, then a penalty growing linearly to
//! `−penalty_factor` at `L = T`. There is no separate −1 branch: generation
//! cannot exceed `T`. Unlike `cosine`, the task's reward is kept and the
//! penalty is added to it.
//!
//! `T` is the batch's max new-token limit unless `max_len` is set. The paper
//! used `T = 20480, B = 4096`; since TinyZero runs use `T = 1024`, the buffer
//! defaults to a fraction of `T` (0.2, the paper's ratio) rather than 4096.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tz_sdk::prelude::*;

/// Configuration of the `overlong` reward shaper.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OverlongConfig {
    /// Length of the soft-penalty zone before the max length, in tokens (veRL `overlong_buffer.len`); 0 = `buffer_frac` × max length.
    pub buffer_len: u32,
    /// The buffer as a fraction of the max length (rounded to whole tokens), used when `buffer_len` is 0.
    pub buffer_frac: f32,
    /// Penalty at the max length (veRL `overlong_buffer.penalty_factor`).
    pub penalty_factor: f32,
    /// The max length T in tokens; 0 = the batch's max new-token limit.
    pub max_len: u32,
}

impl Default for OverlongConfig {
    fn default() -> Self {
        OverlongConfig { buffer_len: 0, buffer_frac: 0.2, penalty_factor: 1.0, max_len: 0 }
    }
}

/// The DAPO soft overlong penalty.
pub struct Overlong {
    config: OverlongConfig,
}

impl Plugin for Overlong {
    const NAME: &'static str = "overlong";
    const DESCRIPTION: &'static str =
        "DAPO soft overlong punishment: a linear penalty over the last buffer tokens before the max length";
    type Config = OverlongConfig;

    fn new(config: OverlongConfig, _host: HostServices) -> PluginResult<Self> {
        Overlong::with_config(config)
    }
}

impl Overlong {
    /// Validates the config (one-line errors naming the key).
    pub fn with_config(config: OverlongConfig) -> PluginResult<Self> {
        require_finite("buffer_frac", config.buffer_frac)?;
        require_finite("penalty_factor", config.penalty_factor)?;
        require(config.buffer_frac > 0.0 && config.buffer_frac <= 1.0, "buffer_frac", || {
            format!("must be in (0, 1], got {}", config.buffer_frac)
        })?;
        require(config.penalty_factor >= 0.0, "penalty_factor", || {
            format!("must be >= 0, got {}", config.penalty_factor)
        })?;
        if config.max_len > 0 {
            require(config.buffer_len <= config.max_len, "buffer_len", || {
                format!("{} exceeds max_len {}", config.buffer_len, config.max_len)
            })?;
        }
        Ok(Overlong { config })
    }

    /// The penalty (<= 0) for a response of `length` tokens under max length `max_len`.
    fn penalty(&self, length: u32, max_len: u32) -> f32 {
        let buffer = if self.config.buffer_len > 0 {
            f64::from(self.config.buffer_len)
        } else {
            (f64::from(self.config.buffer_frac) * f64::from(max_len)).round().max(1.0)
        };
        let expected = (f64::from(max_len) - buffer).max(0.0);
        let p = -(f64::from(length) - expected) / buffer * f64::from(self.config.penalty_factor);
        p.min(0.0) as f32
    }
}

impl Shaper for Overlong {
    fn shape(&self, input: &ShapeInput) -> PluginResult<Vec<f32>> {
        if input.response_lengths.len() != input.rewards.len() {
            return Err(format!(
                "{} rewards but {} lengths",
                input.rewards.len(),
                input.response_lengths.len()
            ));
        }
        let max_len = if self.config.max_len > 0 { self.config.max_len } else { input.max_length };
        if max_len == 0 {
            return Err("the batch's max length is 0; set `max_len` in the overlong config".into());
        }
        Ok(input
            .rewards
            .iter()
            .zip(input.response_lengths.iter())
            .map(|(&r, &len)| r + self.penalty(len, max_len))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(config: OverlongConfig, rewards: &[f32], lengths: &[u32], max_length: u32) -> Vec<f32> {
        let input = ShapeInput {
            rewards: rewards.to_vec(),
            response_lengths: lengths.to_vec(),
            max_length,
            correct: vec![true; rewards.len()],
            truncated: vec![false; rewards.len()],
            group_ids: vec![0; rewards.len()],
        };
        Overlong::with_config(config).unwrap().shape(&input).unwrap()
    }

    #[test]
    fn no_penalty_up_to_the_expected_length() {
        // T = 1000, buffer 0.2·T = 200, expected 800.
        let got = shape(OverlongConfig::default(), &[1.0, 1.0, 0.1], &[0, 799, 800], 1000);
        assert_eq!(got, vec![1.0, 1.0, 0.1]);
    }

    #[test]
    fn linear_penalty_inside_the_buffer() {
        // L = 900: −(900 − 800)/200 = −0.5; L = 850 with factor 2: −(50/200)·2 = −0.5.
        assert_eq!(shape(OverlongConfig::default(), &[1.0], &[900], 1000), vec![0.5]);
        let doubled = OverlongConfig { penalty_factor: 2.0, ..OverlongConfig::default() };
        assert_eq!(shape(doubled, &[0.0], &[850], 1000), vec![-0.5]);
    }

    #[test]
    fn full_penalty_at_the_max_length() {
        assert_eq!(shape(OverlongConfig::default(), &[1.0, 0.0], &[1000, 1000], 1000), vec![0.0, -1.0]);
    }

    #[test]
    fn an_explicit_buffer_and_max_len_are_used() {
        // DAPO paper: T = 20480, B = 4096, expected 16384; L = 18432 is halfway.
        let paper = OverlongConfig { buffer_len: 4096, max_len: 20480, ..OverlongConfig::default() };
        assert_eq!(shape(paper, &[1.0], &[18432], 1024), vec![0.5]);
    }

    #[test]
    fn a_buffer_longer_than_max_len_is_rejected() {
        let err = Overlong::with_config(OverlongConfig {
            buffer_len: 2000,
            max_len: 1000,
            ..OverlongConfig::default()
        })
        .err()
        .unwrap();
        assert_eq!(err, "config key 'buffer_len': 2000 exceeds max_len 1000");
    }
}
