//! Activation checkpointing per decoder layer, by recomputation.
//!
//! PyTorch's `torch.utils.checkpoint` (reentrant variant) runs a segment
//! under `no_grad`, keeps only its inputs, and inside a custom
//! `autograd.Function.backward` re-runs the segment with grad and
//! back-propagates the incoming gradient through it. tch exposes neither
//! custom autograd functions nor tensor hooks, so the same schedule is driven
//! explicitly:
//!
//! 1. **Forward** ([`Decoder::forward`] with checkpointing on, grad mode on,
//!    no KV cache): the embedding and every layer run under `no_grad`; each
//!    layer's input `[B, T, H]` is kept. The last layer's output becomes a
//!    leaf that requires grad, and only the final norm is recorded on top of
//!    it, so the hidden states returned have a (one-op) graph that callers
//!    slice and feed to heads and losses as usual.
//! 2. **The caller's backward** (`loss.backward()`) stops at that leaf,
//!    filling its `.grad` (and the final norm's and the LM head's gradients).
//! 3. **[`Decoder::backward_through_checkpoints`]** walks the layers in
//!    reverse: re-runs layer `i` with grad from its kept input (a fresh leaf),
//!    back-propagates the gradient of its output, and takes the gradient of
//!    its input for layer `i − 1`; the embedding last. Parameter gradients
//!    accumulate exactly as in one plain backward.
//!
//! [`Decoder::backward_chunked`] calls step 3 itself; code that calls
//! `backward()` on its own (the critic) calls it after. Peak memory is the
//! kept layer inputs (`L × B × T × H`) plus one layer's activations, instead
//! of every layer's; the price is a second forward of every layer. There is no
//! dropout and no randomness in a layer, so the recomputation is exact.

use tch::{Kind, Tensor};

use super::decoder::Decoder;
use super::layer::LayerContext;

/// What a checkpointed forward keeps to redo its layers in backward.
#[derive(Debug)]
pub(super) struct Recompute {
    input_ids: Tensor,
    ctx: LayerContext,
    /// The input of each layer, without history.
    layer_inputs: Vec<Tensor>,
    /// The last layer's output as a leaf: the caller's backward ends here.
    last: Tensor,
}

impl Decoder {
    /// Turns per-layer activation checkpointing on or off for forward passes
    /// with gradients (`trainer.gradient_checkpointing`).
    pub fn set_gradient_checkpointing(&mut self, on: bool) {
        self.gradient_checkpointing = on;
    }

    pub fn gradient_checkpointing(&self) -> bool {
        self.gradient_checkpointing
    }

    /// Step 1 of the module docs; returns the final-norm output.
    pub(super) fn forward_checkpointed(&self, input_ids: Tensor, ctx: LayerContext) -> Tensor {
        let unfinished = self.pending.borrow().iter().any(|r| r.last.grad().defined());
        assert!(
            !unfinished,
            "a backward through a checkpointed forward was not completed: call \
             Decoder::backward_through_checkpoints after backward()"
        );
        let (layer_inputs, last) = tch::no_grad(|| {
            let mut x = self.embed(&input_ids);
            let mut inputs = Vec::with_capacity(self.layers.len());
            for layer in &self.layers {
                let next = layer.forward(&x, &ctx, None);
                inputs.push(x);
                x = next;
            }
            (inputs, x)
        });
        let last = last.detach().set_requires_grad(true);
        let hidden = self.norm.forward(&last);
        self.pending.borrow_mut().push(Recompute { input_ids, ctx, layer_inputs, last });
        hidden
    }

    /// Back-propagates through the layers of every checkpointed forward whose
    /// output received a gradient since (step 3 of the module docs), and
    /// forgets all pending forwards. A no-op without checkpointing.
    pub fn backward_through_checkpoints(&self) {
        let records: Vec<Recompute> = self.pending.borrow_mut().drain(..).collect();
        for record in records.into_iter().rev() {
            let mut grad = record.last.grad();
            if !grad.defined() {
                continue;
            }
            for (layer, input) in self.layers.iter().zip(&record.layer_inputs).rev() {
                let input = input.detach().set_requires_grad(true);
                let output = layer.forward(&input, &record.ctx, None);
                backward_with(&output, &grad);
                grad = input.grad();
            }
            if self.embed_tokens.requires_grad() {
                backward_with(&self.embed(&record.input_ids), &grad);
            }
        }
    }
}

/// `output.backward(gradient=grad)`: d(Σ output·grad)/d(output) = grad exactly.
fn backward_with(output: &Tensor, grad: &Tensor) {
    (output * grad.detach()).sum(Kind::Float).backward();
}
