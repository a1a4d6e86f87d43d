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
        let shape = [n as i64, width as i64];
        SequenceBatch {
            input_ids: Tensor::from_slice(&ids).view(shape).to_device(device),
            attention_mask: Tensor::from_slice(&mask).view(shape).to_device(device),
            response_mask: Tensor::from_slice(&rmask).view([n as i64, r as i64]).to_device(device),
            prompt_len: p as i64,
            response_len: r as i64,
        }
    }

    pub fn rows(&self) -> i64 {
        self.input_ids.size()[0]
    }

    /// The response tokens `[N, R]` (the log-prob targets).
    pub fn targets(&self) -> Tensor {
        self.input_ids.narrow(1, self.prompt_len, self.response_len)
    }

    /// Rows `index` (a 1-D i64 tensor) as a new batch.
    pub fn select(&self, index: &Tensor) -> SequenceBatch {
        let index = index.to_device(self.input_ids.device());
        SequenceBatch {
            input_ids: self.input_ids.index_select(0, &index),
            attention_mask: self.attention_mask.index_select(0, &index),
            response_mask: self.response_mask.index_select(0, &index),
            prompt_len: self.prompt_len,
            response_len: self.response_len,
        }
    }

    /// Hidden states at the positions that predict the response tokens,
    /// `[N, R, H]` (with autograd history when grad mode is on).
    pub fn response_hidden(&self, model: &Qwen2) -> Tensor {
        let hidden = model.forward(&self.input_ids, Some(&self.attention_mask), None);
        hidden.narrow(1, self.prompt_len - 1, self.response_len)
    }

    /// Per-token log-probs of the response tokens under `model`, `[N, R]`
    /// f32, without gradients, `micro` rows at a time.
    pub fn logprobs(&self, model: &Qwen2, micro: i64, chunk: i64) -> Tensor {
        let _g = tch::no_grad_guard();
        let n = self.rows();
        let mut parts = Vec::new();
        let mut start = 0;
        while start < n {
            let len = micro.max(1).min(n - start);
            let idx = Tensor::arange_start(start, start + len, (Kind::Int64, self.input_ids.device()));
            let sub = self.select(&idx);
            let (lp, _) = model.token_logprobs(&sub.response_hidden(model), &sub.targets(), chunk);
            parts.push(lp);
            start += len;
        }
        Tensor::cat(&parts, 0) * &self.response_mask
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

    pub fn old_logprobs(&self) -> Result<&Tensor, BatchError> {
        self.old_logp.as_ref().ok_or(BatchError::Missing("old log-probs"))
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
    }
}
