//! Log-probabilities and entropies of given tokens, chunked over the sequence
//! so `[B, T, vocab]` logits never exist at once (151,936 × T × B floats is
//! tens of GB at RL batch sizes).
//!
//! Two entry points:
//! - [`Decoder::token_logprobs`]: values (and, if grad is on, a graph) for all
//!   positions. Under `no_grad` it bounds memory to one chunk of logits; with
//!   grad enabled autograd keeps each chunk's softmax for backward.
//! - [`Decoder::backward_chunked`]: the training path. It detaches the hidden
//!   states, runs forward *and backward* of the head + loss chunk by chunk, and
//!   then back-propagates the accumulated hidden-state gradient through the
//!   decoder once, so the peak holds one chunk of logits even while training.
//!   [`Qwen2::head_backward_chunked`] is its first half alone.
//!   It needs a loss that is a sum over tokens, which every aggregation mode
//!   with a fixed normaliser is. With gradient checkpointing on it also
//!   recomputes the layers ([`super::checkpointing`]).

use std::ops::Range;

use tch::{Kind, Tensor};

use super::decoder::Decoder;

/// The per-token log-probability of `targets` and the entropy of the full
/// distribution, from f32 logits `[B, T, V]`.
pub fn logprobs_and_entropy(logits: &Tensor, targets: &Tensor) -> (Tensor, Tensor) {
    let logp_all = logits.log_softmax(-1, Kind::Float);
    let logp = logp_all.gather(-1, &targets.unsqueeze(-1), false).squeeze_dim(-1);
    let entropy = -(logp_all.exp() * &logp_all).sum_dim_intlist(-1, false, Kind::Float);
    (logp, entropy)
}

fn chunks(t: i64, chunk: i64) -> impl Iterator<Item = Range<i64>> {
    let chunk = chunk.max(1);
    (0..t).step_by(chunk as usize).map(move |s| s..(s + chunk).min(t))
}

impl Decoder {
    /// `hidden` [B, T, H] (the output of [`Decoder::forward`] at the positions
    /// that predict `targets`), `targets` [B, T] i64 → (log p(target) [B, T],
    /// entropy [B, T]), both f32, computing at most `chunk` positions of
    /// logits at a time.
    pub fn token_logprobs(&self, hidden: &Tensor, targets: &Tensor, chunk: i64) -> (Tensor, Tensor) {
        let t = hidden.size()[1];
        let targets = targets.to_device(hidden.device());
        let (mut lps, mut ents) = (Vec::new(), Vec::new());
        for r in chunks(t, chunk) {
            let n = r.end - r.start;
            let logits = self.logits(&hidden.narrow(1, r.start, n));
            let (lp, ent) = logprobs_and_entropy(&logits, &targets.narrow(1, r.start, n));
            lps.push(lp);
            ents.push(ent);
        }
        (Tensor::cat(&lps, 1), Tensor::cat(&ents, 1))
    }

    /// Back-propagates `Σ_chunks loss_of_chunk(range, logp, entropy)` into the
    /// model's gradients and returns that total loss.
    ///
    /// `hidden` must carry autograd history from [`Decoder::forward`]. For each
    /// chunk of positions `range`, `loss_of_chunk` gets log p(target) and the
    /// entropy for those positions ([B, len] f32) and returns a scalar; slice
    /// any per-token tensors (masks, advantages) with the same range. The sum
    /// of the chunk losses must be the loss you mean (normalise by a global
    /// count, not per chunk).
    pub fn backward_chunked<F>(&self, hidden: &Tensor, targets: &Tensor, chunk: i64, loss_of_chunk: F) -> f64
    where
        F: FnMut(Range<i64>, &Tensor, &Tensor) -> Tensor,
    {
        let (total, grad) = self.head_backward_chunked(hidden, targets, chunk, loss_of_chunk);
        if let Some(grad) = grad.filter(|_| hidden.requires_grad()) {
            // d(Σ hidden·g)/d(hidden) = g: pushes the head's gradient through
            // the decoder in one backward pass (through the final norm only
            // when the layers were checkpointed; they follow here).
            (hidden * grad).sum(Kind::Float).backward();
        }
        // Always, so a checkpointed forward that got no gradient is not kept.
        self.backward_through_checkpoints();
        total
    }

    /// The first half of [`Qwen2::backward_chunked`]: the LM head and the
    /// loss, chunk by chunk, on a detached copy of `hidden`. Returns the total
    /// loss and the gradient of the loss with respect to `hidden` (`None`
    /// when the loss does not depend on it), for the caller to push through
    /// the decoder, e.g. once for several pieces of one forward.
    pub fn head_backward_chunked<F>(
        &self,
        hidden: &Tensor,
        targets: &Tensor,
        chunk: i64,
        mut loss_of_chunk: F,
    ) -> (f64, Option<Tensor>)
    where
        F: FnMut(Range<i64>, &Tensor, &Tensor) -> Tensor,
    {
        let t = hidden.size()[1];
        let targets = targets.to_device(hidden.device());
        let detached = hidden.detach().set_requires_grad(true);
        let mut total = 0.0;
        for r in chunks(t, chunk) {
            let n = r.end - r.start;
            let logits = self.logits(&detached.narrow(1, r.start, n));
            let (lp, ent) = logprobs_and_entropy(&logits, &targets.narrow(1, r.start, n));
            let loss = loss_of_chunk(r, &lp, &ent);
            total += loss.double_value(&[]);
            if loss.requires_grad() {
                loss.backward();
            }
        }
        let grad = detached.grad();
        (total, grad.defined().then_some(grad))
    }
}
