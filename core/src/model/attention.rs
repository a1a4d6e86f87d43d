//! Grouped-query self-attention with q/k/v biases (Qwen2), through
//! `scaled_dot_product_attention` with `enable_gqa` so the few KV heads are
//! broadcast over the query heads without a `repeat_kv` copy.

use tch::{nn, nn::Module, Tensor};

use super::init::{linear_no_bias, linear_with_bias};
use super::rope::apply_rotary;
use crate::config::Qwen2Config;
use crate::kv_cache::LayerCache;

/// Which keys each query may see.
#[derive(Debug)]
pub enum AttentionMask {
    /// Plain causal attention over the new tokens only (no cache, no padding):
    /// the fast path, SDPA's own `is_causal`.
    Causal,
    /// Every key is visible (a single new token decoding against a cache with
    /// no padding).
    Full,
    /// An explicit boolean mask `[B or 1, 1, T, T_total]`, true = may attend.
    Explicit(Tensor),
    /// One query per row against a whole [`crate::slot_cache::SlotCache`]
    /// slot: an additive f32 bias `[B, 1, 1, capacity]` (0 = visible,
    /// -inf = beyond the row's length). See [`grouped_decode_attention`].
    SlotBias(Tensor),
}

impl AttentionMask {
    /// Builds the mask for `t` new tokens after `past` cached ones.
    ///
    /// `key_mask` is `[B, past + t]` with 1 for tokens and 0 for (left) padding.
    /// Each query also always sees itself, so padding rows never have an empty
    /// softmax (which would give NaN and poison later layers through 0 * NaN).
    pub fn build(key_mask: Option<&Tensor>, past: i64, t: i64) -> AttentionMask {
        match key_mask {
            None if past == 0 => AttentionMask::Causal,
            None if t == 1 => AttentionMask::Full,
            _ => {
                let device = key_mask.map_or(tch::Device::Cpu, |m| m.device());
                let total = past + t;
                let q_pos = Tensor::arange_start(past, total, (tch::Kind::Int64, device)).view([t, 1]);
                let k_pos = Tensor::arange(total, (tch::Kind::Int64, device)).view([1, total]);
                let causal = k_pos.le_tensor(&q_pos);
                let diagonal = k_pos.eq_tensor(&q_pos);
                let allowed = match key_mask {
                    Some(m) => causal.unsqueeze(0).logical_and(&m.ne(0).unsqueeze(1)),
                    None => causal.unsqueeze(0),
                };
                AttentionMask::Explicit(allowed.logical_or(&diagonal.unsqueeze(0)).unsqueeze(1))
            }
        }
    }
}

#[derive(Debug)]
pub struct Attention {
    q_proj: nn::Linear,
    k_proj: nn::Linear,
    v_proj: nn::Linear,
    o_proj: nn::Linear,
    num_heads: i64,
    num_kv_heads: i64,
    head_dim: i64,
}

impl Attention {
    pub fn new(p: &nn::Path, cfg: &Qwen2Config) -> Self {
        let h = cfg.hidden_size;
        let d = cfg.head_dim();
        let (nh, nkv) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        Self {
            q_proj: linear_with_bias(&(p / "q_proj"), h, nh * d),
            k_proj: linear_with_bias(&(p / "k_proj"), h, nkv * d),
            v_proj: linear_with_bias(&(p / "v_proj"), h, nkv * d),
            o_proj: linear_no_bias(&(p / "o_proj"), nh * d, h),
            num_heads: nh as i64,
            num_kv_heads: nkv as i64,
            head_dim: d as i64,
        }
    }

    /// `x` [B, T, H] -> [B, T, H]. With a cache, the new keys/values are
    /// stored there and attention covers what the cache returns (a
    /// [`crate::KvCache`]: the whole filled prefix).
    pub fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: &AttentionMask,
        cache: Option<(&mut dyn LayerCache, usize)>,
    ) -> Tensor {
        let (b, t, _) = x.size3().expect("attention input must be [B, T, H]");
        let heads =
            |proj: &nn::Linear, n: i64| proj.forward(x).view([b, t, n, self.head_dim]).transpose(1, 2);
        let q = apply_rotary(&heads(&self.q_proj, self.num_heads), cos, sin);
        let k = apply_rotary(&heads(&self.k_proj, self.num_kv_heads), cos, sin);
        let v = heads(&self.v_proj, self.num_kv_heads);
        let (k, v) = match cache {
            Some((cache, layer)) => cache.store(layer, &k, &v),
            None => (k, v),
        };
        let (attn_mask, is_causal) = match mask {
            AttentionMask::Causal => (None, true),
            AttentionMask::Full => (None, false),
            AttentionMask::Explicit(m) => (Some(m), false),
            AttentionMask::SlotBias(bias) => {
                let y = grouped_decode_attention(&q, &k, &v, bias);
                return self.o_proj.forward(&y.transpose(1, 2).reshape([
                    b,
                    t,
                    self.num_heads * self.head_dim,
                ]));
            }
        };
        let y = Tensor::scaled_dot_product_attention(&q, &k, &v, attn_mask, 0.0, is_causal, None, true);
        self.o_proj.forward(&y.transpose(1, 2).reshape([b, t, self.num_heads * self.head_dim]))
    }
}

/// Attention of one query per row (`q` `[B, heads, 1, d]`) over a full
/// slot (`k`, `v` `[B, kv_heads, capacity, d]`) behind an additive `bias`
/// `[B, 1, 1, capacity]`, as two batched matmuls: each group of query heads
/// shares its KV head (no `repeat_kv` copy), the cache is read once, and no
/// SDPA backend choice is involved (with a mask and grouped heads, CUDA's
/// SDPA may fall back to a math kernel that copies K/V per query head).
/// Scores are scaled and soft-maxed in f32, as transformers' eager path does.
pub fn grouped_decode_attention(q: &Tensor, k: &Tensor, v: &Tensor, bias: &Tensor) -> Tensor {
    let (b, heads, t, d) = q.size4().expect("q must be [B, heads, 1, d]");
    assert_eq!(t, 1, "grouped_decode_attention takes one query per row");
    let kv_heads = k.size()[1];
    let q = q.reshape([b, kv_heads, heads / kv_heads, d]);
    let scores = q.matmul(&k.transpose(-1, -2)).to_kind(tch::Kind::Float) * (d as f64).powf(-0.5) + bias;
    let probs = scores.softmax(-1, tch::Kind::Float).to_kind(v.kind());
    probs.matmul(v).reshape([b, heads, 1, d])
}
