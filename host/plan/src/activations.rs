//! Bytes per token of one decoder layer, counted from what the core's
//! forward pass allocates (core/src/model: pre-norm layers, RMSNorm in f32,
//! rotate-half RoPE, `scaled_dot_product_attention` with GQA, SwiGLU).
//!
//! Three views of the same layer:
//! - [`saved`]: what autograd keeps for backward (training);
//! - [`forward_scratch`]: the most a layer holds at once without autograd
//!   (log-prob passes, prefill), on top of its input;
//! - [`backward_scratch`]: the gradients one layer's backward holds at once.
//!
//! `keys` is how many positions each query attends over (the sequence
//! length). libtorch's math attention kernel materialises `[heads, T, keys]`
//! scores in f32 (half-precision inputs are upcast unless
//! `allow_fp16_bf16_reduction_math_sdp` is set, which we never do); a fused
//! kernel given a padding mask keeps it as a `[T, keys]` additive mask.

use crate::run::Attention;
use crate::shape::ModelShape;

/// Sizes as f64 (bytes are estimates; f64 never overflows on absurd inputs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    pub h: f64,
    pub i: f64,
    pub q: f64,
    pub kv: f64,
    pub heads: f64,
    pub layers: f64,
    pub vocab: f64,
    /// Bytes of one weight or activation value.
    pub b: f64,
    pub attention: Attention,
    pub qk_norm: bool,
}

impl Dims {
    pub fn new(shape: &ModelShape, bytes: u64, attention: Attention) -> Dims {
        Dims {
            h: shape.hidden_size as f64,
            i: shape.intermediate_size as f64,
            q: shape.q_dim() as f64,
            kv: shape.kv_dim() as f64,
            heads: shape.num_heads as f64,
            layers: shape.num_layers as f64,
            vocab: shape.vocab_size as f64,
            b: bytes as f64,
            attention,
            qk_norm: shape.qk_norm,
        }
    }
}

/// f32, the precision of norms, attention scores and logits.
const F32: f64 = 4.0;

/// Bytes autograd keeps per token of one layer.
pub(crate) fn saved(d: &Dims, keys: f64) -> f64 {
    let Dims { h, i, q, kv, heads, b, .. } = *d;
    // Each RMSNorm keeps its f32 input, the normalised value (model dtype;
    // f32 models: the f32 one) and its output (the next matmuls' input).
    let norms = 2.0 * (F32 * h + 2.0 * b * h);
    // RoPE keeps q, k and rotate_half(q), rotate_half(k) for its products.
    let rotary = b * (2.0 * q + 2.0 * kv);
    let attention = match d.attention {
        // Scaled q, the GQA-expanded k and v (f32), and the softmax scores.
        Attention::Math => F32 * (3.0 * q + heads * keys),
        // q, k, v, the output, a log-sum-exp per head, and the padding mask
        // converted to the model dtype (libtorch's CPU flash kernel keeps
        // the `[T, keys]` additive mask of each layer).
        Attention::Fused => b * (2.0 * q + 2.0 * kv + keys) + F32 * heads,
    };
    // The re-laid-out attention output, input of o_proj.
    let o_input = b * q;
    // Qwen3's per-head q/k norms keep an f32 copy and the normalised value.
    let qk_norm = if d.qk_norm { (F32 + b) * (q + kv) } else { 0.0 };
    // gate, silu(gate), up, and their product (down_proj's input).
    let mlp = 4.0 * b * i;
    norms + rotary + attention + o_input + qk_norm + mlp
}

/// The most one layer holds at once in a forward without autograd, besides
/// its input and output.
pub(crate) fn forward_scratch(d: &Dims, keys: f64) -> f64 {
    let Dims { h, i, q, kv, heads, b, .. } = *d;
    let norm = F32 * 3.0 * h + b * h;
    let attention = b * (3.0 * (q + 2.0 * kv))
        + match d.attention {
            // f32 copies of q, k, v, expanded k and v, scaled q and k, the
            // scores before and after softmax, and the mask as f32.
            Attention::Math => F32 * (q + 2.0 * kv + 4.0 * q + 2.0 * heads * keys + keys),
            Attention::Fused => b * (q + keys) + F32 * heads,
        };
    let mlp = 4.0 * b * i + b * h;
    (norm + attention).max(mlp)
}

/// Gradients one layer's backward holds at once.
pub(crate) fn backward_scratch(d: &Dims, keys: f64) -> f64 {
    let Dims { h, i, q, b, heads, .. } = *d;
    let attention = match d.attention {
        // The scores' gradient before and after the softmax backward.
        Attention::Math => F32 * (2.0 * heads * keys + 3.0 * q),
        Attention::Fused => b * 4.0 * q,
    };
    let mlp = 4.0 * b * i;
    attention.max(mlp) + 2.0 * b * h
}
