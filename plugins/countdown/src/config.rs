//! The countdown task's configuration (`--task-config` keys).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::expr::Mode;
use crate::generator::{Settings, MAX_OPERANDS};

/// Configuration of the `countdown` task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CountdownConfig {
    /// Reward for an answer that is found but wrong or invalid (TinyZero: 0.1; seed 002 uses 0.0 for a binary reward).
    pub format_score: f32,
    /// Reward for a correct answer (TinyZero: 1.0).
    pub correct_score: f32,
    /// `tinyzero`: TinyZero's score on every input, quirks included (`1.5` is the numbers 1 and 5); `strict`: also refuse decimal literals, leading zeros and `//`.
    pub mode: Mode,
    /// Fewest numbers in a generated problem (its `difficulty`).
    pub min_operands: u32,
    /// Most numbers in a generated problem (at most 6).
    pub max_operands: u32,
    /// Generated numbers are drawn uniformly from 1..=max_number.
    pub max_number: i64,
    /// Largest target of a generated problem.
    pub max_target: i64,
}

impl Default for CountdownConfig {
    fn default() -> Self {
        CountdownConfig {
            format_score: 0.1,
            correct_score: 1.0,
            mode: Mode::Tinyzero,
            min_operands: 3,
            max_operands: 4,
            max_number: 99,
            max_target: 1000,
        }
    }
}

impl CountdownConfig {
    /// The generator settings, after checking the ranges.
    pub fn generator_settings(&self) -> Result<Settings, String> {
        if self.min_operands < 2
            || self.min_operands > self.max_operands
            || self.max_operands as usize > MAX_OPERANDS
        {
            return Err(format!(
                "min_operands ({}) and max_operands ({}) must satisfy 2 <= min <= max <= {MAX_OPERANDS}",
                self.min_operands, self.max_operands
            ));
        }
        if !(2..=1_000_000).contains(&self.max_number) {
            return Err(format!("max_number must be in 2..=1000000, got {}", self.max_number));
        }
        if self.max_target < 1 {
            return Err(format!("max_target must be at least 1, got {}", self.max_target));
        }
        Ok(Settings {
            min_operands: self.min_operands as usize,
            max_operands: self.max_operands as usize,
            max_number: self.max_number,
            max_target: self.max_target,
        })
    }
}
