//! Samples → prompt text → token ids, and the pools of training and
//! held-out samples a run draws from.

use std::collections::HashSet;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tz_core::chat_template::RenderOptions;
use tz_core::policy::Tokenizer;
use tz_sdk::handle::Task;
use tz_sdk::Sample;

use crate::error::{bail, ensure, Result};

/// A rendered prompt: its text, token ids and stop strings.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub text: String,
    pub ids: Vec<u32>,
    pub stop: Vec<String>,
}

/// What to do with a prompt longer than `task.max_prompt_length` (veRL's
/// `data.truncation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PromptLimit {
    #[default]
    None,
    /// A longer prompt is an error naming its row.
    Error(usize),
    /// Keep the last `n` tokens.
    Left(usize),
    /// Keep the first `n` tokens.
    Right(usize),
}

impl PromptLimit {
    /// From `task.max_prompt_length` and `task.truncation`.
    pub fn from_settings(max: usize, truncation: &str) -> Result<PromptLimit> {
        let limit = match truncation {
            "error" => PromptLimit::Error(max),
            "left" => PromptLimit::Left(max),
            "right" => PromptLimit::Right(max),
            other => bail!("task.truncation '{other}' is not one of error, left, right"),
        };
        Ok(if max == 0 { PromptLimit::None } else { limit })
    }

    /// Applies the limit to a sample's prompt ids.
    fn apply(self, mut ids: Vec<u32>, sample: &Sample) -> Result<Vec<u32>> {
        match self {
            PromptLimit::Error(n) if ids.len() > n => bail!(
                "row {} (group {}): the prompt is {} tokens, more than task.max_prompt_length = {n}; raise it or set task.truncation = \"left\"",
                sample.index,
                sample.group,
                ids.len()
            ),
            PromptLimit::Left(n) if ids.len() > n => Ok(ids.split_off(ids.len() - n)),
            PromptLimit::Right(n) if ids.len() > n => {
                ids.truncate(n);
                Ok(ids)
            }
            _ => Ok(ids),
        }
    }
}

/// Renders `sample` in `template`: plain text as is, chat messages through
/// the model's chat template. Tokenised without added special tokens, as
/// TinyZero's dataset does, and held to `limit`.
pub fn render(
    task: &Task,
    tokenizer: &Tokenizer,
    sample: &Sample,
    template: &str,
    limit: PromptLimit,
) -> Result<Prompt> {
    let spec = task.prompt(sample, template)?;
    let text = if spec.messages.is_empty() {
        spec.text
    } else {
        let opts = RenderOptions {
            add_generation_prompt: spec.add_generation_prompt,
            continue_final_message: spec.continue_final_message,
            ..RenderOptions::default()
        };
        tokenizer.0.apply_chat_template(&spec.messages, &opts)?
    };
    let ids = limit.apply(tokenizer.0.encode(&text, false)?, sample)?;
    ensure!(!ids.is_empty(), "sample {}: the prompt is empty", sample.index);
    Ok(Prompt { text, ids, stop: spec.stop })
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    #[test]
    fn long_prompts_are_an_error_naming_the_row_or_truncated_when_asked() {
        let sample = Sample { index: 7, group: "plus".into(), difficulty: 3, data: "{}".into() };
        let ids: Vec<u32> = (0..10).collect();
        let limit = |t| PromptLimit::from_settings(4, t).unwrap();
        let err = limit("error").apply(ids.clone(), &sample).unwrap_err().to_string();
        assert!(err.contains("row 7 (group plus): the prompt is 10 tokens") && err.contains("= 4"), "{err}");
        assert_eq!(limit("left").apply(ids.clone(), &sample).unwrap(), [6, 7, 8, 9]);
        assert_eq!(limit("right").apply(ids.clone(), &sample).unwrap(), [0, 1, 2, 3]);
        assert_eq!(PromptLimit::from_settings(0, "error").unwrap().apply(ids.clone(), &sample).unwrap(), ids);
        assert!(PromptLimit::from_settings(4, "middle")
            .unwrap_err()
            .to_string()
            .contains("task.truncation 'middle'"));
    }
}

/// A shuffled pool of training samples read in order, reshuffled each epoch.
#[derive(Debug, Clone)]
pub struct SamplePool {
    pub samples: Vec<Sample>,
    pub state: PoolState,
}

/// Where a pool's reader stands (saved with checkpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolState {
    pub epoch: u64,
    pub cursor: usize,
    pub seed: u64,
}

impl SamplePool {
    pub fn new(samples: Vec<Sample>, seed: u64) -> SamplePool {
        let mut pool = SamplePool { samples, state: PoolState { epoch: 0, cursor: 0, seed } };
        pool.shuffle();
        pool
    }

    /// Reorders for the current epoch (deterministic from seed and epoch).
    fn shuffle(&mut self) {
        self.samples.sort_by_key(|s| s.index);
        let mut rng = ChaCha8Rng::seed_from_u64(self.state.seed ^ self.state.epoch.wrapping_mul(0x9E37_79B9));
        self.samples.shuffle(&mut rng);
    }

    /// Restores a saved reader position.
    pub fn restore(&mut self, state: PoolState) {
        self.state = state;
        self.shuffle();
    }

    /// The next `k` samples; crossing the end starts a new epoch.
    pub fn next_batch(&mut self, k: usize) -> Vec<Sample> {
        let mut out = Vec::with_capacity(k);
        while out.len() < k && !self.samples.is_empty() {
            if self.state.cursor >= self.samples.len() {
                self.state.epoch += 1;
                self.state.cursor = 0;
                self.shuffle();
            }
            out.push(self.samples[self.state.cursor].clone());
            self.state.cursor += 1;
        }
        out
    }

    /// Steps per pass over the pool.
    pub fn steps_per_epoch(&self, k: usize) -> u64 {
        (self.samples.len() as u64).div_ceil(k.max(1) as u64)
    }
}

/// `count` generated samples of `groups` (round-robin), skipping any whose
/// content is in `exclude`; indices renumbered 0.. in order.
pub fn generate(
    task: &Task,
    groups: &[String],
    count: usize,
    seed: u64,
    exclude: &HashSet<String>,
) -> Result<Vec<Sample>> {
    let mut out = Vec::with_capacity(count);
    let per_group = count.div_ceil(groups.len().max(1));
    for (g, group) in groups.iter().enumerate() {
        let want = per_group.min(count - out.len().min(count));
        let mut round = 0u64;
        let mut got = 0;
        while got < want && round < 8 {
            let batch = task.generate(
                group,
                (want - got) as u64 + 16,
                seed.wrapping_add((g as u64) << 32).wrapping_add(round),
            )?;
            for s in batch.into_iter() {
                if got < want && !exclude.contains(s.data.as_str()) {
                    out.push(s);
                    got += 1;
                }
            }
            round += 1;
        }
    }
    for (i, s) in out.iter_mut().enumerate() {
        s.index = i as u64;
    }
    Ok(out)
}
