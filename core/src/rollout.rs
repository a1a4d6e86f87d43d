//! The rollout engine: batched sampling of `n` responses per prompt.
//!
//! How a call runs ([`generate`]):
//! 1. Prompts are sorted by length and cut into groups of at most
//!    `max_batch_rows / n` prompts (all of them by default).
//! 2. A group is left-padded and prefilled **once** into a KV cache sized to
//!    the prompts; that cache is then copied `n` times per prompt
//!    (`repeat_interleave` of rows) into a preallocated cache with room for
//!    `max_new_tokens` more positions, written in place from then on.
//! 3. Each step samples one token for every unfinished sequence (finished
//!    ones are skipped), checks EOS and stop strings, and feeds the new
//!    tokens back. When at most half of the batch rows are still running, the
//!    finished rows are dropped from the cache so they stop costing compute.
//!
//! Stop strings are matched on the decoded *response* (never the prompt).
//! When one appears the sequence ends with [`FinishReason::Stop`]; its `text`
//! is cut right after the first stop string while `token_ids` keep every
//! sampled token (the last one completed the stop string), as vLLM reports it.
//! An EOS token is kept as the last token id and decoded into `text` as the
//! tokenizer decodes it.

use std::collections::HashSet;

use anyhow::{ensure, Context};
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use crate::model::Qwen2;
use crate::sampling::{draw_uniform, row_rng, sample, SamplingParams};

/// What the engine needs from a tokenizer: decoding response ids to text.
/// [`crate::tokenizer::TextTokenizer`] (a checkpoint's tokenizer, with its
/// stop ids) and a bare [`tokenizers::Tokenizer`] implement it, keeping
/// special tokens as TinyZero decodes for its reward.
pub trait TokenDecoder {
    fn decode(&self, ids: &[u32]) -> anyhow::Result<String>;
    /// End-of-sequence ids this tokenizer knows of (may be empty).
    fn eos_token_ids(&self) -> Vec<u32> {
        Vec::new()
    }
}

impl TokenDecoder for tokenizers::Tokenizer {
    fn decode(&self, ids: &[u32]) -> anyhow::Result<String> {
        std::ops::Deref::deref(self)
            .decode(ids, false)
            .map_err(|e| anyhow::anyhow!("cannot decode token ids: {e}"))
    }
}

impl TokenDecoder for crate::tokenizer::TextTokenizer {
    fn decode(&self, ids: &[u32]) -> anyhow::Result<String> {
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
) -> anyhow::Result<Vec<Completion>> {
    params.validate()?;
    ensure!(n_per_prompt > 0, "n_per_prompt must be at least 1");
    let vocab = model.config().vocab_size;
    for (i, p) in prompts.iter().enumerate() {
        ensure!(!p.is_empty(), "prompt {i} has no tokens");
        if let Some(bad) = p.iter().find(|&&t| t as usize >= vocab) {
            anyhow::bail!("prompt {i} has token id {bad}, outside the model's vocabulary of {vocab}");
        }
    }
    let _no_grad = tch::no_grad_guard();
    let mut order: Vec<usize> = (0..prompts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(prompts[i].len()));
    let group_size = match params.max_batch_rows {
        0 => prompts.len().max(1),
        rows => (rows / n_per_prompt).max(1),
    };
    let mut out = Vec::with_capacity(prompts.len() * n_per_prompt);
    for group in order.chunks(group_size) {
        let group: Vec<(usize, &[u32])> = group.iter().map(|&i| (i, prompts[i].as_slice())).collect();
        out.extend(GroupRun::new(model, &group, n_per_prompt, params, stop)?.run()?);
    }
    out.sort_by_key(|c| (c.prompt_index, c.sample_index));
    Ok(out)
}

/// One sequence being generated.
struct Sequence {
    prompt_index: usize,
    sample_index: usize,
    rng: ChaCha8Rng,
    tokens: Vec<u32>,
    logprobs: Vec<f32>,
    finish: Option<FinishReason>,
    /// Set when a stop string ended it (already truncated).
    text: Option<String>,
}

struct GroupRun<'m, 's> {
    model: &'m Qwen2,
    params: &'s SamplingParams,
    stop: &'s StopCriteria<'s>,
    eos: HashSet<u32>,
    /// How many trailing tokens to decode when looking for a stop string.
    stop_window: usize,
    sequences: Vec<Sequence>,
    prompt_len: i64,
    /// Some prompt is shorter than the longest: attention needs the mask.
    padded: bool,
    /// Prompt [B, P] left-padded ids and mask, prefilled in `run`.
    prompt_ids: Tensor,
    prompt_mask: Tensor,
    n: usize,
}

impl<'m, 's> GroupRun<'m, 's> {
    fn new(
        model: &'m Qwen2,
        group: &[(usize, &[u32])],
        n: usize,
        params: &'s SamplingParams,
        stop: &'s StopCriteria<'s>,
    ) -> anyhow::Result<Self> {
        let b = group.len();
        let p = group.iter().map(|(_, ids)| ids.len()).max().unwrap_or(1);
        let mut ids = vec![0i64; b * p];
        let mut mask = vec![0i64; b * p];
        for (row, (_, prompt)) in group.iter().enumerate() {
            let offset = row * p + (p - prompt.len());
            for (j, &t) in prompt.iter().enumerate() {
                ids[offset + j] = t as i64;
                mask[offset + j] = 1;
            }
        }
        let device = model.device();
        let shape = [b as i64, p as i64];
        let sequences = group
            .iter()
            .flat_map(|&(prompt_index, _)| {
                (0..n).map(move |sample_index| Sequence {
                    prompt_index,
                    sample_index,
                    rng: row_rng(params.seed, (prompt_index * n + sample_index) as u64),
                    tokens: Vec::new(),
                    logprobs: Vec::new(),
                    finish: None,
                    text: None,
                })
            })
            .collect();
        let longest_stop = stop.stop_strings.iter().map(|s| s.len()).max().unwrap_or(0);
        Ok(Self {
            model,
            params,
            stop,
            eos: stop.eos_token_ids.iter().copied().collect(),
            stop_window: longest_stop + 8,
            sequences,
            prompt_len: p as i64,
            padded: group.iter().any(|(_, ids)| ids.len() < p),
            prompt_ids: Tensor::from_slice(&ids).view(shape).to_device(device),
            prompt_mask: Tensor::from_slice(&mask).view(shape).to_device(device),
            n,
        })
    }

    fn run(mut self) -> anyhow::Result<Vec<Completion>> {
        let model = self.model;
        let device = model.device();
        let max_new = self.params.max_new_tokens as i64;
        let b = self.prompt_ids.size()[0];
        let p = self.prompt_len;

        // Prefill each prompt once, then give every sample its own copy.
        let mut prefill = model.new_cache(b, p);
        // Without padding the mask is all ones: skip it for the causal fast path.
        let prompt_mask = self.padded.then_some(&self.prompt_mask);
        let hidden = model.forward(&self.prompt_ids, prompt_mask, Some(&mut prefill));
        let last_logits = model.logits(&hidden.select(1, p - 1));
        let repeat =
            Tensor::arange(b, (Kind::Int64, device)).repeat_interleave_self_int(self.n as i64, 0, None);
        let mut cache = prefill.gather_rows(&repeat, p + max_new);
        drop(prefill);
        let mut logits = last_logits.index_select(0, &repeat);
        let mut mask = Tensor::zeros([b * self.n as i64, p + max_new], (Kind::Int64, device));
        mask.narrow(1, 0, p).copy_(&self.prompt_mask.index_select(0, &repeat));

        // live[r] = the sequence held in batch row r of the cache.
        let mut live: Vec<usize> = (0..self.sequences.len()).collect();
        for step in 0..max_new {
            let active: Vec<usize> =
                (0..live.len()).filter(|&r| self.sequences[live[r]].finish.is_none()).collect();
            let active_logits = if active.len() == live.len() {
                logits.shallow_clone()
            } else {
                logits.index_select(0, &index_tensor(&active, device))
            };
            let uniforms: Vec<f64> = if self.params.is_greedy() {
                Vec::new()
            } else {
                active.iter().map(|&r| draw_uniform(&mut self.sequences[live[r]].rng)).collect()
            };
            let (tokens, logps) = sample(&active_logits, self.params, &uniforms);
            let tokens =
                Vec::<i64>::try_from(tokens.to_device(tch::Device::Cpu)).context("sampled tokens")?;
            let logps =
                Vec::<f32>::try_from(logps.to_device(tch::Device::Cpu)).context("sampled log-probs")?;
            let mut next = vec![0i64; live.len()];
            for ((&r, &tok), &lp) in active.iter().zip(&tokens).zip(&logps) {
                next[r] = tok;
                self.push_token(live[r], tok as u32, lp)?;
            }
            let still: Vec<usize> =
                active.into_iter().filter(|&r| self.sequences[live[r]].finish.is_none()).collect();
            if still.is_empty() {
                break;
            }
            // Drop finished rows once they are at least half of the batch.
            if still.len() * 2 <= live.len() {
                let keep = index_tensor(&still, device);
                cache.select_rows(&keep);
                mask = mask.index_select(0, &keep);
                next = still.iter().map(|&r| next[r]).collect();
                live = still.iter().map(|&r| live[r]).collect();
            }
            let _ = mask.narrow(1, p + step, 1).fill_(1);
            let input = Tensor::from_slice(&next).view([-1, 1]).to_device(device);
            let step_mask = self.padded.then(|| mask.narrow(1, 0, p + step + 1));
            let hidden = model.forward(&input, step_mask.as_ref(), Some(&mut cache));
            logits = model.logits(&hidden.squeeze_dim(1));
        }
        self.sequences.into_iter().map(|s| finish_sequence(s, self.stop.decoder)).collect()
    }

    /// Records a sampled token and decides whether the sequence has ended.
    fn push_token(&mut self, seq: usize, token: u32, logprob: f32) -> anyhow::Result<()> {
        let max_new = self.params.max_new_tokens;
        let (eos_hit, window) = {
            let s = &mut self.sequences[seq];
            s.tokens.push(token);
            s.logprobs.push(logprob);
            (self.eos.contains(&token), s.tokens.len().saturating_sub(self.stop_window))
        };
        if eos_hit {
            self.sequences[seq].finish = Some(FinishReason::Stop);
            return Ok(());
        }
        if !self.stop.stop_strings.is_empty() {
            let s = &self.sequences[seq];
            // Cheap test on the last few tokens first; decode everything only on a hit.
            let tail = self.stop.decoder.decode(&s.tokens[window..])?;
            if self.stop.stop_strings.iter().any(|stop| tail.contains(stop.as_str())) {
                let full = self.stop.decoder.decode(&s.tokens)?;
                if let Some(end) = first_stop_end(&full, &self.stop.stop_strings) {
                    let s = &mut self.sequences[seq];
                    s.text = Some(full[..end].to_string());
                    s.finish = Some(FinishReason::Stop);
                    return Ok(());
                }
            }
        }
        if self.sequences[seq].tokens.len() >= max_new {
            self.sequences[seq].finish = Some(FinishReason::Length);
        }
        Ok(())
    }
}

/// Byte offset just past the earliest stop string in `text`.
fn first_stop_end(text: &str, stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()).map(|at| (at, at + s.len())))
        .min()
        .map(|(_, end)| end)
}

fn index_tensor(rows: &[usize], device: tch::Device) -> Tensor {
    let rows: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    Tensor::from_slice(&rows).to_device(device)
}

fn finish_sequence(s: Sequence, decoder: &dyn TokenDecoder) -> anyhow::Result<Completion> {
    let text = match s.text {
        Some(t) => t,
        None => decoder.decode(&s.tokens)?,
    };
    Ok(Completion {
        prompt_index: s.prompt_index,
        sample_index: s.sample_index,
        token_ids: s.tokens,
        text,
        logprobs: s.logprobs,
        finish: s.finish.unwrap_or(FinishReason::Length),
    })
}

#[cfg(test)]
mod tests {
    use super::first_stop_end;

    #[test]
    fn earliest_stop_string_wins() {
        let stops = vec!["</answer>".to_string(), "b".to_string()];
        assert_eq!(first_stop_end("a</answer>b", &stops), Some(10));
        assert_eq!(first_stop_end("ab</answer>", &stops), Some(2));
        assert_eq!(first_stop_end("none", &stops), None);
    }
}
