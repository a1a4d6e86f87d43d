//! The rollout engine: batched sampling of `n` responses per prompt.
//!
//! How a call runs ([`generate`]), one module per concern:
//! - [`engine`] (host side): every (prompt, sample) row waits for a slot;
//!   free slots take the next rows, whose prompts are prefilled once (the
//!   `n` samples of a prompt share it) and copied into the slots. Finished
//!   rows free their slots for waiting ones (continuous refill), so at most
//!   [`crate::rollout_budget::RolloutBudget`] rows are in flight. Once none
//!   wait, the running rows are packed into fewer slots.
//! - [`decode_state`] (device side): the fixed-slot KV cache and the decode
//!   step: each slot's token at its own position, attention over the full
//!   capacity behind a length mask, sampling on the device from uniforms
//!   pre-drawn per row. Same shapes every step, no host sync: capturable.
//! - [`step_runner`]: that step eagerly, or on CUDA replayed from one CUDA
//!   graph per batch-size bucket.
//! - [`sequence`]: EOS, stop strings and the length limit, per row.
//!
//! Each row's randomness is its own ChaCha stream (`prompt_index * n +
//! sample_index`), drawn in order, one uniform per token: which rows share a
//! step, the budget and the device change no sample (up to float rounding of
//! batched matmuls).
//!
//! Stop strings are matched on the decoded *response* (never the prompt).
//! When one appears the sequence ends with [`FinishReason::Stop`]; its `text`
//! is cut right after the first stop string while `token_ids` keep every
//! sampled token (the last one completed the stop string), as vLLM reports it.
//! An EOS token is kept as the last token id and decoded into `text` as the
//! tokenizer decodes it.

mod decode_state;
mod engine;
mod sequence;
mod step_runner;

pub use step_runner::{graph_stats, GraphStats};

/// Whether this build can replay the decode step from CUDA graphs (the
/// `tz-cuda-graph` shim was compiled: libtorch with CUDA and its headers).
pub const CUDA_GRAPHS_BUILT_IN: bool = tz_cuda_graph::AVAILABLE;

use crate::error::{bail, ensure, CoreError};
use crate::model::Qwen2;
use crate::sampling::SamplingParams;

/// What the engine needs from a tokenizer: decoding response ids to text.
/// [`crate::tokenizer::TextTokenizer`] (a checkpoint's tokenizer, with its
/// stop ids) and a bare [`tokenizers::Tokenizer`] implement it, keeping
/// special tokens as TinyZero decodes for its reward.
pub trait TokenDecoder {
    fn decode(&self, ids: &[u32]) -> crate::Result<String>;
    /// End-of-sequence ids this tokenizer knows of (may be empty).
    fn eos_token_ids(&self) -> Vec<u32> {
        Vec::new()
    }
}

impl TokenDecoder for tokenizers::Tokenizer {
    fn decode(&self, ids: &[u32]) -> crate::Result<String> {
        std::ops::Deref::deref(self)
            .decode(ids, false)
            .map_err(|e| CoreError::Tokenizer(format!("cannot decode token ids: {e}")))
    }
}

impl TokenDecoder for crate::tokenizer::TextTokenizer {
    fn decode(&self, ids: &[u32]) -> crate::Result<String> {
        crate::tokenizer::TextTokenizer::decode(self, ids, false)
    }
    fn eos_token_ids(&self) -> Vec<u32> {
        crate::tokenizer::TextTokenizer::eos_token_ids(self).to_vec()
    }
}

/// When a sequence ends (besides the new-token limit).
pub struct StopCriteria<'a> {
    pub eos_token_ids: Vec<u32>,
    /// E.g. `</answer>`: generation stops once the response text contains one.
    pub stop_strings: Vec<String>,
    pub decoder: &'a dyn TokenDecoder,
}

impl<'a> StopCriteria<'a> {
    /// EOS ids from the decoder itself.
    pub fn new(decoder: &'a dyn TokenDecoder, stop_strings: Vec<String>) -> Self {
        Self { eos_token_ids: decoder.eos_token_ids(), stop_strings, decoder }
    }
}

/// Why a response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// An EOS token or a stop string.
    Stop,
    /// `max_new_tokens` were generated.
    Length,
}

/// One sampled response.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub prompt_index: usize,
    /// 0..n_per_prompt.
    pub sample_index: usize,
    /// Every sampled token, EOS included when it ended the response.
    pub token_ids: Vec<u32>,
    /// The decoded response, cut right after a stop string if one ended it.
    pub text: String,
    /// Per token: log-probability under the distribution it was drawn from
    /// (after temperature, top-k, top-p). Greedy: under the plain model softmax.
    pub logprobs: Vec<f32>,
    pub finish: FinishReason,
}

/// Samples `n_per_prompt` responses to each prompt (token ids). Output is
/// ordered by prompt, then sample index. Same inputs and seed → same output
/// on the same device and thread count.
pub fn generate(
    model: &Qwen2,
    prompts: &[Vec<u32>],
    n_per_prompt: usize,
    params: &SamplingParams,
    stop: &StopCriteria,
) -> crate::Result<Vec<Completion>> {
    generate_part(model, prompts, n_per_prompt, params, stop, 0)
}

/// [`generate`] for prompts `first_prompt..` of a larger batch (a
/// data-parallel rank's part): each row draws from the random stream of its
/// row in the whole batch and `prompt_index` counts in the whole batch, so
/// the parts of all ranks together are what one process samples, up to the
/// float rounding of different decode batches.
pub fn generate_part(
    model: &Qwen2,
    prompts: &[Vec<u32>],
    n_per_prompt: usize,
    params: &SamplingParams,
    stop: &StopCriteria,
    first_prompt: usize,
) -> crate::Result<Vec<Completion>> {
    params.validate()?;
    ensure!(n_per_prompt > 0, "n_per_prompt must be at least 1");
    let vocab = model.config().vocab_size;
    for (i, p) in prompts.iter().enumerate() {
        ensure!(!p.is_empty(), "prompt {i} has no tokens");
        if let Some(bad) = p.iter().find(|&&t| t as usize >= vocab) {
            bail!("prompt {i} has token id {bad}, outside the model's vocabulary of {vocab}");
        }
    }
    let first_row = (first_prompt * n_per_prompt) as u64;
    let mut completions = engine::run(model, prompts, n_per_prompt, params, stop, first_row)?;
    for c in &mut completions {
        c.prompt_index += first_prompt;
    }
    Ok(completions)
}
