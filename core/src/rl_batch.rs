//! The tensor form of a rolled-out batch: every (prompt, response) pair as
//! one row, prompts left-padded to a common length `P` and responses
//! right-padded after it, so response token `j` of every row sits at column
//! `P + j` and is predicted by the hidden state at column `P + j − 1`.

use tch::{Device, Kind, Tensor};

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
    /// f32 on the batch's device (the model may be on another one), without
    /// gradients, `micro` rows at a time.
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
            // A reference model may live on another device than the batch.
            parts.push(lp.to_device(self.input_ids.device()));
            start += len;
        }
        Tensor::cat(&parts, 0) * &self.response_mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
