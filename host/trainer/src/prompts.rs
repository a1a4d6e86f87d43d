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

use crate::error::{ensure, Result};

/// A rendered prompt: its text, token ids and stop strings.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub text: String,
    pub ids: Vec<u32>,
    pub stop: Vec<String>,
}

/// Renders `sample` in `template`: plain text as is, chat messages through
/// the model's chat template. Tokenised without added special tokens, as
/// TinyZero's dataset does.
pub fn render(task: &Task, tokenizer: &Tokenizer, sample: &Sample, template: &str) -> Result<Prompt> {
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
    let ids = tokenizer.0.encode(&text, false)?;
    ensure!(!ids.is_empty(), "sample {}: the prompt is empty", sample.index);
    Ok(Prompt { text, ids, stop: spec.stop })
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
