//! The tensor form of a rolled-out batch: every (prompt, response) pair as
//! one row, prompts left-padded to a common length `P` and responses
//! right-padded after it, so response token `j` of every row sits at column
//! `P + j` and is predicted by the hidden state at column `P + j − 1`.
//!
//! [`RlBatch`] carries one RL step's per-token tensors on top of it (old and
//! reference log-probs, token rewards with the KL-in-reward penalty, critic
//! values, advantages, value targets), and converts between its padded
//! `[N, R]` rows and the flat per-token arrays plugins see (response `i`
//! owns `[offsets[i], offsets[i + 1])`). So a trainer drives a step without
//! touching a tensor.
//!
//! Two savings in every forward over the batch ([`SequenceBatch::response_hidden`]),
//! neither of which changes a value beyond float rounding:
//! - **Shared prompts.** The `n` responses of a GRPO group share their
//!   prompt. The prompts are run once, their keys and values copied to the
//!   rows that use them, then only the responses run, as the rollout engine
//!   does. In-place writes into the [`crate::kv_cache::KvCache`] are
//!   differentiable, so the same path serves training: the prompt's gradient
//!   is the sum over its rows.
//! - **Trimmed padding.** [`SequenceBatch::segments`] cuts the rows into
//!   runs of similar response length, each forwarded only as wide as its
//!   longest response (and the prompts only as wide as the longest prompt).
//!   [`SequenceBatch::select`] keeps the full width, so per-token tensors of
//!   the whole batch still line up.

use std::collections::HashMap;

use tch::{Device, Kind, Tensor};
use tz_sdk::KlEstimator;

use crate::kl::kl_penalty;
use crate::model::Qwen2;

/// Rows of `[left pad | prompt | response | right pad]`.
#[derive(Debug)]
pub struct SequenceBatch {
    /// `[N, P + R]` i64.
    pub input_ids: Tensor,
    /// `[N, P + R]` i64, 1 on real tokens.
    pub attention_mask: Tensor,
    /// `[N, R]` f32, 1 on real response tokens.
    pub response_mask: Tensor,
    /// The common (padded) prompt length `P`.
    pub prompt_len: i64,
    /// The common (padded) response length `R`.
    pub response_len: i64,
    /// Per row: which distinct prompt it has (rows with equal prompts share one id).
    prompt_ids: Vec<usize>,
    /// Per row: real prompt and response lengths.
    prompt_lens: Vec<i64>,
    response_lens: Vec<i64>,
}

impl SequenceBatch {
    /// Builds the batch on `device`. `prompts[i]` and `responses[i]` form row `i`.
    pub fn new(prompts: &[&[u32]], responses: &[&[u32]], pad_id: u32, device: Device) -> SequenceBatch {
        assert_eq!(prompts.len(), responses.len(), "one prompt per response");
        let n = prompts.len();
        let p = prompts.iter().map(|x| x.len()).max().unwrap_or(0).max(1);
        let r = responses.iter().map(|x| x.len()).max().unwrap_or(0).max(1);
        let width = p + r;
        let mut ids = vec![pad_id as i64; n * width];
        let mut mask = vec![0i64; n * width];
        let mut rmask = vec![0f32; n * r];
        for i in 0..n {
            let row = i * width;
            let start = p - prompts[i].len();
            for (j, &t) in prompts[i].iter().enumerate() {
                ids[row + start + j] = t as i64;
                mask[row + start + j] = 1;
            }
            for (j, &t) in responses[i].iter().enumerate() {
                ids[row + p + j] = t as i64;
                mask[row + p + j] = 1;
                rmask[i * r + j] = 1.0;
            }
        }
        let mut distinct: HashMap<&[u32], usize> = HashMap::new();
        let prompt_ids = prompts
            .iter()
            .map(|&x| {
                let next = distinct.len();
                *distinct.entry(x).or_insert(next)
            })
            .collect();
        let shape = [n as i64, width as i64];
        SequenceBatch {
            input_ids: Tensor::from_slice(&ids).view(shape).to_device(device),
            attention_mask: Tensor::from_slice(&mask).view(shape).to_device(device),
            response_mask: Tensor::from_slice(&rmask).view([n as i64, r as i64]).to_device(device),
            prompt_len: p as i64,
            response_len: r as i64,
            prompt_ids,
            prompt_lens: prompts.iter().map(|x| x.len() as i64).collect(),
            response_lens: responses.iter().map(|x| x.len() as i64).collect(),
        }
    }

    pub fn rows(&self) -> i64 {
        self.input_ids.size()[0]
    }

    /// Per row, an id of its prompt: rows with equal prompts have equal ids.
    pub fn prompt_ids(&self) -> &[usize] {
        &self.prompt_ids
    }

    /// Per row, the real (unpadded) response length.
    pub fn response_lens(&self) -> &[i64] {
        &self.response_lens
    }

    /// The response tokens `[N, R]` (the log-prob targets).
    pub fn targets(&self) -> Tensor {
        self.input_ids.narrow(1, self.prompt_len, self.response_len)
    }

    /// Rows `index` (a 1-D i64 tensor) as a new batch of the same width.
    pub fn select(&self, index: &Tensor) -> SequenceBatch {
        let rows =
            Vec::<i64>::try_from(index.to_device(Device::Cpu).to_kind(Kind::Int64)).expect("a 1-D row index");
        let index = index.to_device(self.input_ids.device());
        let pick = |v: &[i64]| rows.iter().map(|&i| v[i as usize]).collect();
        SequenceBatch {
            input_ids: self.input_ids.index_select(0, &index),
            attention_mask: self.attention_mask.index_select(0, &index),
            response_mask: self.response_mask.index_select(0, &index),
            prompt_len: self.prompt_len,
            response_len: self.response_len,
            prompt_ids: rows.iter().map(|&i| self.prompt_ids[i as usize]).collect(),
            prompt_lens: pick(&self.prompt_lens),
            response_lens: pick(&self.response_lens),
        }
    }

    /// Hidden states at the positions that predict the response tokens,
    /// `[N, R, H]` (with autograd history when grad mode is on). Rows that
    /// share a prompt share its forward (see the module doc).
    pub fn response_hidden(&self, model: &Qwen2) -> Tensor {
        let all: Vec<i64> = (0..self.rows()).collect();
        let mut segments = self.forward_parts(model, &[all], self.response_len);
        segments.pop().map(|s| s.hidden).expect("one segment")
    }

    /// The rows cut into [`Segment`]s of similar response length, each
    /// forwarded trimmed to its longest response, after one shared forward
    /// of the distinct prompts. With grad mode on, every segment's hidden
    /// states hang off the same prompt graph: back-propagate their combined
    /// loss once.
    pub fn segments(&self, model: &Qwen2) -> Vec<Segment> {
        self.forward_parts(model, &partition_by_length(&self.response_lens), 0)
    }

    /// Forwards the distinct prompts once, then each part's responses.
    /// `response_len` 0 trims each part to its longest response.
    fn forward_parts(&self, model: &Qwen2, parts: &[Vec<i64>], response_len: i64) -> Vec<Segment> {
        let device = self.input_ids.device();
        // Distinct prompts in order of first use, and each row's one among them.
        let mut first_row = Vec::new();
        let mut slot: HashMap<usize, i64> = HashMap::new();
        let row_slot: Vec<i64> = self
            .prompt_ids
            .iter()
            .enumerate()
            .map(|(row, id)| {
                *slot.entry(*id).or_insert_with(|| {
                    first_row.push(row as i64);
                    first_row.len() as i64 - 1
                })
            })
            .collect();
        // Left padding shared by every prompt is dropped.
        let p = self.prompt_lens.iter().copied().max().unwrap_or(0).clamp(1, self.prompt_len);
        let pad = self.prompt_len - p;
        let part_len = |rows: &Vec<i64>| match response_len {
            0 => rows.iter().map(|&i| self.response_lens[i as usize]).max().unwrap_or(0).max(1),
            r => r,
        };
        if model.gradient_checkpointing() && crate::model::grad_mode_enabled() {
            // Checkpointed layers recompute a forward without a cache, so each
            // part runs its prompts and responses whole (no prompt sharing).
            return parts
                .iter()
                .filter(|rows| !rows.is_empty())
                .map(|rows| {
                    let r = part_len(rows);
                    let index = Tensor::from_slice(rows).to_device(device);
                    let cols = |t: &Tensor| t.index_select(0, &index).narrow(1, pad, p + r - 1);
                    let all = model.forward(&cols(&self.input_ids), Some(&cols(&self.attention_mask)), None);
                    // The last prompt position predicts response token 0.
                    Segment { rows: rows.clone(), index, response_len: r, hidden: all.narrow(1, p - 1, r) }
                })
                .collect();
        }
        let first_row = Tensor::from_slice(&first_row).to_device(device);
        let prompts = |t: &Tensor| t.narrow(1, pad, p).index_select(0, &first_row);
        let mut prompt_cache = model.new_cache(first_row.size()[0], p);
        let prompt_hidden = model.forward(
            &prompts(&self.input_ids),
            Some(&prompts(&self.attention_mask)),
            Some(&mut prompt_cache),
        );
        // The last prompt position predicts response token 0.
        let last = prompt_hidden.narrow(1, p - 1, 1);
        parts
            .iter()
            .filter(|rows| !rows.is_empty())
            .map(|rows| {
                let r = part_len(rows);
                let index = Tensor::from_slice(rows).to_device(device);
                let slots =
                    Tensor::from_slice(&rows.iter().map(|&i| row_slot[i as usize]).collect::<Vec<i64>>())
                        .to_device(device);
                let first = last.index_select(0, &slots);
                let hidden = if r == 1 {
                    first
                } else {
                    // Response tokens 0..R-1 predict tokens 1..R; the last one predicts nothing.
                    let mut cache = prompt_cache.gather_rows(&slots, p + r - 1);
                    let ids = self.input_ids.index_select(0, &index);
                    let mask = self.attention_mask.index_select(0, &index).narrow(1, pad, p + r - 1);
                    let rest =
                        model.forward(&ids.narrow(1, self.prompt_len, r - 1), Some(&mask), Some(&mut cache));
                    Tensor::cat(&[first, rest], 1)
                };
                Segment { rows: rows.clone(), index, response_len: r, hidden }
            })
            .collect()
    }

    /// Per-token log-probs of the response tokens under `model`, `[N, R]`
    /// f32 on the batch's device (the model may be on another one), without
    /// gradients, `micro` rows at a time.
    pub fn logprobs(&self, model: &Qwen2, micro: i64, chunk: i64) -> Tensor {
        let _g = tch::no_grad_guard();
        let n = self.rows();
        let device = self.input_ids.device();
        let out = Tensor::zeros([n, self.response_len], (Kind::Float, device));
        let mut start = 0;
        while start < n {
            let len = micro.max(1).min(n - start);
            let idx = Tensor::arange_start(start, start + len, (Kind::Int64, device));
            let sub = self.select(&idx);
            let targets = sub.targets();
            for seg in sub.segments(model) {
                let t = targets.index_select(0, &seg.index).narrow(1, 0, seg.response_len);
                let (lp, _) = model.token_logprobs(&seg.hidden, &t, chunk);
                let rows = seg.index + start;
                let _ = out.narrow(1, 0, seg.response_len).index_copy_(0, &rows, &lp);
            }
            start += len;
        }
        out * &self.response_mask
    }
}

/// A step's tensors were used out of order or with the wrong sizes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// A stage read a tensor no earlier stage computed.
    #[error("the batch has no {0} yet (computed by an earlier stage of the step)")]
    Missing(&'static str),
    /// A flat per-token array of the wrong length.
    #[error("{what}: {got} values for {want} response tokens")]
    TokenCount { what: &'static str, got: usize, want: usize },
    /// A per-response array of the wrong length.
    #[error("{what}: {got} values for {want} responses")]
    ResponseCount { what: &'static str, got: usize, want: usize },
}

/// One RL step's batch: the sequences and the per-token tensors the stages
/// of the step compute on them, each `[N, R]` (zero at padding).
#[derive(Debug)]
pub struct RlBatch {
    pub seq: SequenceBatch,
    lengths: Vec<u32>,
    old_logp: Option<Tensor>,
    ref_logp: Option<Tensor>,
    /// On the CPU (built there; the estimator reads them as plain data).
    token_rewards: Option<Tensor>,
    values: Option<Tensor>,
    advantages: Option<Tensor>,
    returns: Option<Tensor>,
}

impl RlBatch {
    /// Row `i` is `prompts[i]` followed by `responses[i]`, on `device`.
    pub fn new(prompts: &[&[u32]], responses: &[&[u32]], pad_id: u32, device: Device) -> RlBatch {
        RlBatch {
            seq: SequenceBatch::new(prompts, responses, pad_id, device),
            lengths: responses.iter().map(|r| r.len() as u32).collect(),
            old_logp: None,
            ref_logp: None,
            token_rewards: None,
            values: None,
            advantages: None,
            returns: None,
        }
    }

    /// Response lengths in tokens, one per row.
    pub fn lengths(&self) -> &[u32] {
        &self.lengths
    }

    /// `[0, len_0, len_0 + len_1, ...]`: where each response's tokens start
    /// in a flat array (one more entry than rows).
    pub fn offsets(&self) -> Vec<u32> {
        let mut offsets = Vec::with_capacity(self.lengths.len() + 1);
        offsets.push(0u32);
        for len in &self.lengths {
            offsets.push(offsets.last().copied().unwrap_or(0) + len);
        }
        offsets
    }

    fn tokens(&self) -> usize {
        self.lengths.iter().map(|&l| l as usize).sum()
    }

    /// Log-probs of the responses under the policy at rollout time (no
    /// gradients, `micro` rows at a time).
    pub fn compute_old_logprobs(&mut self, policy: &Qwen2, micro: i64, chunk: i64) {
        self.old_logp = Some(self.seq.logprobs(policy, micro, chunk));
    }

    /// Log-probs of the responses under the frozen reference model.
    pub fn compute_ref_logprobs(&mut self, reference: &Qwen2, micro: i64, chunk: i64) {
        self.ref_logp = Some(self.seq.logprobs(reference, micro, chunk));
    }

    /// Per-token values under the critic, `[N, R]` (`Critic::values` of
    /// this batch's sequences: the value of token `t` read at position `t − 1`).
    pub fn set_values(&mut self, values: Tensor) {
        self.values = Some(values);
    }

    /// Outcome token rewards: `scores[i]` on the last token of response `i`,
    /// zero elsewhere (an empty response gets none).
    pub fn set_outcome_rewards(&mut self, scores: &[f32]) -> Result<(), BatchError> {
        let rows = self.lengths.len();
        if scores.len() != rows {
            return Err(BatchError::ResponseCount { what: "rewards", got: scores.len(), want: rows });
        }
        let t = Tensor::zeros([rows as i64, self.seq.response_len], (Kind::Float, Device::Cpu));
        for (i, len) in self.lengths.iter().enumerate() {
            if *len > 0 {
                let _ = t.get(i as i64).get(*len as i64 - 1).fill_(f64::from(scores[i]));
            }
        }
        self.token_rewards = Some(t);
        Ok(())
    }

    /// KL in the reward (veRL `apply_kl_penalty`): subtracts `coef ·
    /// KL(policy ‖ reference)` per response token from the token rewards.
    /// Returns the batch mean of the per-response mean KL (what the
    /// adaptive controller tracks).
    pub fn apply_kl_in_reward(&mut self, estimator: KlEstimator, coef: f64) -> Result<f64, BatchError> {
        let old = self.old_logp.as_ref().ok_or(BatchError::Missing("old log-probs"))?;
        let reference = self.ref_logp.as_ref().ok_or(BatchError::Missing("reference log-probs"))?;
        let rewards = self.token_rewards.as_ref().ok_or(BatchError::Missing("token rewards"))?;
        let mask = self.seq.response_mask.to_device(Device::Cpu);
        let kld = kl_penalty(old, reference, estimator).to_device(Device::Cpu) * &mask;
        let penalised = rewards - &kld * coef;
        let per_seq = kld.sum_dim_intlist(1, false, Kind::Float)
            / mask.sum_dim_intlist(1, false, Kind::Float).clamp_min(1.0);
        self.token_rewards = Some(penalised);
        Ok(per_seq.mean(Kind::Float).double_value(&[]))
    }

    /// The token rewards as a flat per-token array.
    pub fn flat_token_rewards(&self) -> Result<Vec<f32>, BatchError> {
        self.flat(self.token_rewards.as_ref().ok_or(BatchError::Missing("token rewards"))?)
    }

    /// The critic values as a flat per-token array (empty without a critic).
    pub fn flat_values(&self) -> Result<Vec<f32>, BatchError> {
        match &self.values {
            Some(v) => self.flat(v),
            None => Ok(Vec::new()),
        }
    }

    /// Sets the per-token advantages from a flat array.
    pub fn set_advantages(&mut self, flat: &[f32]) -> Result<(), BatchError> {
        self.advantages = Some(self.padded("advantages", flat)?);
        Ok(())
    }

    /// Sets the per-token value targets from a flat array.
    pub fn set_returns(&mut self, flat: &[f32]) -> Result<(), BatchError> {
        self.returns = Some(self.padded("value targets", flat)?);
        Ok(())
    }

    /// Rows `rows` with every per-token tensor computed so far, at the
    /// same width (a data-parallel rank's part of the update).
    pub fn select_rows(&self, rows: std::ops::Range<usize>) -> RlBatch {
        let index = Tensor::arange_start(rows.start as i64, rows.end as i64, (Kind::Int64, Device::Cpu));
        let pick = |t: &Option<Tensor>| t.as_ref().map(|t| t.index_select(0, &index.to_device(t.device())));
        RlBatch {
            seq: self.seq.select(&index),
            lengths: self.lengths[rows].to_vec(),
            old_logp: pick(&self.old_logp),
            ref_logp: pick(&self.ref_logp),
            token_rewards: pick(&self.token_rewards),
            values: pick(&self.values),
            advantages: pick(&self.advantages),
            returns: pick(&self.returns),
        }
    }

    pub fn old_logprobs(&self) -> Result<&Tensor, BatchError> {
        self.old_logp.as_ref().ok_or(BatchError::Missing("old log-probs"))
    }
    /// The old log-probs when a stage computed them (an on-policy update
    /// skips them: see `rl_update`).
    pub fn old_logprobs_if_computed(&self) -> Option<&Tensor> {
        self.old_logp.as_ref()
    }
    pub fn ref_logprobs(&self) -> Option<&Tensor> {
        self.ref_logp.as_ref()
    }
    pub fn values(&self) -> Result<&Tensor, BatchError> {
        self.values.as_ref().ok_or(BatchError::Missing("critic values"))
    }
    pub fn advantages(&self) -> Result<&Tensor, BatchError> {
        self.advantages.as_ref().ok_or(BatchError::Missing("advantages"))
    }
    pub fn returns(&self) -> Result<&Tensor, BatchError> {
        self.returns.as_ref().ok_or(BatchError::Missing("value targets"))
    }

    /// The valid (unpadded) entries of `[N, R]` rows, responses concatenated.
    fn flat(&self, rows: &Tensor) -> Result<Vec<f32>, BatchError> {
        let r = self.seq.response_len as usize;
        let all: Vec<f32> = Vec::try_from(rows.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1))
            .expect("a float tensor converts to Vec<f32>");
        let mut out = Vec::with_capacity(self.tokens());
        for (i, len) in self.lengths.iter().enumerate() {
            out.extend_from_slice(&all[i * r..i * r + *len as usize]);
        }
        Ok(out)
    }

    /// A flat per-token array laid into right-padded `[N, R]` rows on the
    /// batch's device.
    fn padded(&self, what: &'static str, flat: &[f32]) -> Result<Tensor, BatchError> {
        if flat.len() != self.tokens() {
            return Err(BatchError::TokenCount { what, got: flat.len(), want: self.tokens() });
        }
        let (rows, r) = (self.lengths.len(), self.seq.response_len as usize);
        let mut out = vec![0f32; rows * r];
        let mut at = 0;
        for (i, len) in self.lengths.iter().enumerate() {
            let len = *len as usize;
            out[i * r..i * r + len].copy_from_slice(&flat[at..at + len]);
            at += len;
        }
        Ok(Tensor::from_slice(&out).view([rows as i64, r as i64]).to_device(self.seq.input_ids.device()))
    }
}

/// Rows forwarded together: a slice of a batch trimmed to its longest response.
#[derive(Debug)]
pub struct Segment {
    /// The rows, as indices into the batch (host and `[S]` i64 tensor).
    pub rows: Vec<i64>,
    pub index: Tensor,
    /// The longest response of these rows (the segment's `R`).
    pub response_len: i64,
    /// Hidden states predicting response tokens `0..R`, `[S, R, H]`.
    pub hidden: Tensor,
}

/// Extra cost of one more segment, in padded tokens: the fixed cost of a
/// forward and backward (a few hundred kernel launches) is about what 64
/// tokens of the tiny model cost; for larger models it is less, and a
/// finer split then only trims a little more.
const SEGMENT_COST_TOKENS: i64 = 64;

/// Rows cut into runs of similar length (longest first) minimising
/// `Σ (rows × longest + SEGMENT_COST_TOKENS)`: an exact split of the sorted
/// lengths by dynamic programming (quadratic in the rows, microseconds here).
fn partition_by_length(lens: &[i64]) -> Vec<Vec<i64>> {
    let mut order: Vec<i64> = (0..lens.len() as i64).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(lens[i as usize]), i));
    let n = order.len();
    // best[j]: least cost of the first j sorted rows; cut[j]: where its last run starts.
    let mut best = vec![0i64; n + 1];
    let mut cut = vec![0usize; n + 1];
    for j in 1..=n {
        best[j] = i64::MAX;
        for i in 0..j {
            // Sorted longest first: run i..j is as long as its first row.
            let cost = best[i] + (j - i) as i64 * lens[order[i] as usize].max(1) + SEGMENT_COST_TOKENS;
            if cost < best[j] {
                best[j] = cost;
                cut[j] = i;
            }
        }
    }
    let mut parts = Vec::new();
    let mut j = n;
    while j > 0 {
        parts.push(order[cut[j]..j].to_vec());
        j = cut[j];
    }
    parts.reverse();
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_arrays_pad_into_rows_and_back() {
        let mut b = RlBatch::new(&[&[5, 6], &[7]], &[&[1], &[2, 3, 4]], 0, Device::Cpu);
        assert_eq!(b.offsets(), [0, 1, 4]);
        b.set_advantages(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        let rows: Vec<f32> = b.advantages().unwrap().flatten(0, -1).try_into().unwrap();
        assert_eq!(rows, [1., 0., 0., 2., 3., 4.]);
        assert_eq!(b.flat(b.advantages().unwrap()).unwrap(), [1.0, 2.0, 3.0, 4.0]);
        let err = b.set_returns(&[1.0]).unwrap_err();
        assert_eq!(err, BatchError::TokenCount { what: "value targets", got: 1, want: 4 });
        assert_eq!(b.flat_values().unwrap(), Vec::<f32>::new());
    }

    #[test]
    fn outcome_rewards_sit_on_the_last_token_and_kl_is_subtracted_per_token() {
        let mut b = RlBatch::new(&[&[5], &[7]], &[&[1, 2], &[3]], 0, Device::Cpu);
        b.set_outcome_rewards(&[1.0, 0.5]).unwrap();
        assert_eq!(b.flat_token_rewards().unwrap(), [0.0, 1.0, 0.5]);
        // k1 = logp - ref: 0.5 per token in row 0, 0.25 in row 1 (padding masked).
        b.old_logp = Some(Tensor::from_slice(&[-1.0f32, -1.0, -1.0, 9.0]).view([2, 2]));
        b.ref_logp = Some(Tensor::from_slice(&[-1.5f32, -1.5, -1.25, 0.0]).view([2, 2]));
        let kl = b.apply_kl_in_reward(KlEstimator::K1, 0.1).unwrap();
        assert!((kl - (0.5 + 0.25) / 2.0).abs() < 1e-6, "{kl}");
        let got = b.flat_token_rewards().unwrap();
        for (g, w) in got.iter().zip([-0.05f32, 0.95, 0.475]) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
        let fresh = RlBatch::new(&[&[5]], &[&[1]], 0, Device::Cpu);
        assert_eq!(fresh.old_logprobs().unwrap_err(), BatchError::Missing("old log-probs"));
    }

    #[test]
    fn rows_are_left_padded_prompts_then_right_padded_responses() {
        let b = SequenceBatch::new(&[&[5, 6], &[7]], &[&[1], &[2, 3, 4]], 0, Device::Cpu);
        assert_eq!((b.prompt_len, b.response_len), (2, 3));
        let ids: Vec<i64> = b.input_ids.flatten(0, -1).try_into().unwrap();
        assert_eq!(ids, [5, 6, 1, 0, 0, 0, 7, 2, 3, 4]);
        let mask: Vec<i64> = b.attention_mask.flatten(0, -1).try_into().unwrap();
        assert_eq!(mask, [1, 1, 1, 0, 0, 0, 1, 1, 1, 1]);
        let rmask: Vec<f32> = b.response_mask.flatten(0, -1).try_into().unwrap();
        assert_eq!(rmask, [1., 0., 0., 1., 1., 1.]);
        let t: Vec<i64> = b.targets().flatten(0, -1).try_into().unwrap();
        assert_eq!(t, [1, 0, 0, 2, 3, 4]);
        assert_eq!(b.prompt_ids(), [0, 1]);
    }

    #[test]
    fn equal_prompts_share_an_id() {
        let b = SequenceBatch::new(&[&[5, 6], &[7], &[5, 6]], &[&[1], &[2], &[3]], 0, Device::Cpu);
        assert_eq!(b.prompt_ids(), [0, 1, 0]);
        assert_eq!(b.select(&Tensor::from_slice(&[2i64, 1])).prompt_ids(), [0, 1]);
    }

    #[test]
    fn partition_covers_every_row_once_longest_first() {
        let lens: Vec<i64> = (0..200).map(|i| [24, 3, 9, 1, 12][i % 5]).collect();
        let parts = partition_by_length(&lens);
        let mut seen: Vec<i64> = parts.iter().flatten().copied().collect();
        let flat = seen.clone();
        seen.sort();
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
        // Longest first, and every part at least as long as the next.
        assert!(flat.windows(2).all(|w| lens[w[0] as usize] >= lens[w[1] as usize]));
        // Five lengths of 40 rows each: cutting at each length costs less than any padding.
        assert_eq!(parts.len(), 5);
        // A handful of rows is not worth a second forward.
        assert_eq!(partition_by_length(&[24, 3, 9]).len(), 1);
        assert!(partition_by_length(&[]).is_empty());
    }
}
