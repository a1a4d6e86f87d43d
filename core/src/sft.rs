//! Supervised fine-tuning on (prompt, response) pairs: the warm start of the
//! tiny preset and of real models before RL.
//!
//! Each example is `prompt ++ response` (the response usually ends with EOS);
//! only response tokens are trained (the prompt is masked), the loss is the
//! token-mean cross entropy over the batch, computed through
//! [`Qwen2::backward_chunked`] so the vocabulary projection never exists
//! for the whole batch at once. Batches are right-padded, which lets attention
//! use the plain causal fast path (no token ever looks right, so padding is
//! invisible to real tokens). The optimizer is [`crate::optim::AdamW`].

use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{ensure, CoreError};
use crate::model::Qwen2;
use crate::optim::{AdamW, AdamWConfig};

/// What SFT needs from a tokenizer: text to ids (no special tokens added).
pub trait TokenEncoder {
    fn encode(&self, text: &str) -> crate::Result<Vec<u32>>;
}

impl TokenEncoder for tokenizers::Tokenizer {
    fn encode(&self, text: &str) -> crate::Result<Vec<u32>> {
        let enc = std::ops::Deref::deref(self)
            .encode(text, false)
            .map_err(|e| CoreError::Tokenizer(format!("cannot tokenize {text:?}: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }
}

impl TokenEncoder for crate::tokenizer::TextTokenizer {
    fn encode(&self, text: &str) -> crate::Result<Vec<u32>> {
        crate::tokenizer::TextTokenizer::encode(self, text, false)
    }
}

/// One tokenised training pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftExample {
    pub prompt_ids: Vec<u32>,
    pub response_ids: Vec<u32>,
}

impl SftExample {
    /// Tokenises prompt and response separately (so the boundary is exact) and
    /// appends `eos` to the response.
    pub fn from_text(
        enc: &dyn TokenEncoder,
        prompt: &str,
        response: &str,
        eos: Option<u32>,
    ) -> crate::Result<Self> {
        let prompt_ids = enc.encode(prompt)?;
        let mut response_ids = enc.encode(response)?;
        response_ids.extend(eos);
        ensure!(!prompt_ids.is_empty(), "SFT example with an empty prompt (response {response:?})");
        ensure!(!response_ids.is_empty(), "SFT example with an empty response (prompt {prompt:?})");
        Ok(Self { prompt_ids, response_ids })
    }

    fn len(&self) -> usize {
        self.prompt_ids.len() + self.response_ids.len()
    }
}

/// A right-padded batch: `input_ids` [B, T]; `targets` and `loss_mask`
/// [B, T-1] are the next tokens and 1.0 where the next token is a response token.
#[derive(Debug)]
pub struct SftBatch {
    pub input_ids: Tensor,
    pub targets: Tensor,
    pub loss_mask: Tensor,
    /// Number of trained (response) tokens.
    pub num_tokens: i64,
}

pub fn collate(examples: &[&SftExample], pad_id: u32, device: Device) -> SftBatch {
    let b = examples.len();
    let t = examples.iter().map(|e| e.len()).max().unwrap_or(1).max(2);
    let mut ids = vec![pad_id as i64; b * t];
    let mut mask = vec![0f32; b * (t - 1)];
    for (row, e) in examples.iter().enumerate() {
        for (j, &tok) in e.prompt_ids.iter().chain(&e.response_ids).enumerate() {
            ids[row * t + j] = tok as i64;
        }
        // Position j predicts token j+1; response tokens sit at prompt_len.. .
        let first = e.prompt_ids.len() - 1;
        for j in first..first + e.response_ids.len() {
            mask[row * (t - 1) + j] = 1.0;
        }
    }
    let num_tokens = mask.iter().filter(|&&m| m > 0.0).count() as i64;
    let input_ids = Tensor::from_slice(&ids).view([b as i64, t as i64]).to_device(device);
    let targets = input_ids.narrow(1, 1, t as i64 - 1);
    let loss_mask = Tensor::from_slice(&mask).view([b as i64, t as i64 - 1]).to_device(device);
    SftBatch { input_ids, targets, loss_mask, num_tokens }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SftConfig {
    pub optimizer: AdamWConfig,
    pub batch_size: usize,
    pub steps: u64,
    /// Positions per chunk of the vocabulary projection.
    pub logit_chunk: i64,
    /// Seed of the example order.
    pub seed: u64,
    pub pad_id: u32,
}

impl Default for SftConfig {
    fn default() -> Self {
        Self {
            optimizer: AdamWConfig { lr: 1e-5, ..AdamWConfig::default() },
            batch_size: 16,
            steps: 100,
            logit_chunk: 256,
            seed: 0,
            pad_id: 0,
        }
    }
}

/// One optimizer step's numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SftStepStats {
    pub step: u64,
    /// Mean cross entropy per response token (nats), before the update.
    pub loss: f64,
    pub grad_norm: f64,
    pub lr: f64,
    pub tokens: i64,
    pub elapsed_s: f64,
}

/// Forward, chunked backward and one AdamW step on `batch`.
pub fn sft_step(
    model: &Qwen2,
    opt: &mut AdamW,
    batch: &SftBatch,
    logit_chunk: i64,
) -> (f64, crate::optim::StepInfo) {
    let t = batch.input_ids.size()[1];
    let hidden = model.forward(&batch.input_ids, None, None).narrow(1, 0, t - 1);
    let denom = batch.num_tokens.max(1) as f64;
    let loss = model.backward_chunked(&hidden, &batch.targets, logit_chunk, |r, logp, _entropy| {
        let m = batch.loss_mask.narrow(1, r.start, r.end - r.start);
        -(logp * m).sum(Kind::Float) / denom
    });
    let info = opt.step();
    opt.zero_grad();
    (loss, info)
}

/// Mean response-token cross entropy over `examples` (no training).
pub fn mean_response_nll(model: &Qwen2, examples: &[SftExample], batch_size: usize, pad_id: u32) -> f64 {
    let _g = tch::no_grad_guard();
    let (mut total, mut count) = (0.0, 0i64);
    for chunk in examples.chunks(batch_size.max(1)) {
        let refs: Vec<&SftExample> = chunk.iter().collect();
        let batch = collate(&refs, pad_id, model.device());
        let t = batch.input_ids.size()[1];
        let hidden = model.forward(&batch.input_ids, None, None).narrow(1, 0, t - 1);
        let (logp, _) = model.token_logprobs(&hidden, &batch.targets, 256);
        total -= (logp * &batch.loss_mask).sum(Kind::Double).double_value(&[]);
        count += batch.num_tokens;
    }
    total / count.max(1) as f64
}

/// Trains `model` (whose variables `opt` updates) for `cfg.steps` steps over
/// `examples`, reshuffled every epoch from `cfg.seed`. Calls `on_step` after
/// each step. Returns the per-step stats.
pub fn train_sft(
    model: &Qwen2,
    opt: &mut AdamW,
    examples: &[SftExample],
    cfg: &SftConfig,
    mut on_step: impl FnMut(&SftStepStats),
) -> crate::Result<Vec<SftStepStats>> {
    ensure!(!examples.is_empty(), "SFT needs at least one example");
    ensure!(cfg.batch_size > 0, "SFT batch_size must be at least 1");
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = Vec::new();
    let start = Instant::now();
    let mut stats = Vec::with_capacity(cfg.steps as usize);
    for step in 0..cfg.steps {
        if order.len() < cfg.batch_size {
            let mut epoch: Vec<usize> = (0..examples.len()).collect();
            epoch.shuffle(&mut rng);
            order.extend(epoch);
        }
        let picked: Vec<&SftExample> =
            order.drain(..cfg.batch_size.min(order.len())).map(|i| &examples[i]).collect();
        let batch = collate(&picked, cfg.pad_id, model.device());
        let (loss, info) = sft_step(model, opt, &batch, cfg.logit_chunk);
        let s = SftStepStats {
            step,
            loss,
            grad_norm: info.grad_norm,
            lr: info.lr,
            tokens: batch.num_tokens,
            elapsed_s: start.elapsed().as_secs_f64(),
        };
        on_step(&s);
        stats.push(s);
    }
    Ok(stats)
}
