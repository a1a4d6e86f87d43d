//! Grouped-query self-attention through `scaled_dot_product_attention` with
//! `enable_gqa`, so the few KV heads are broadcast over the query heads
//! without a `repeat_kv` copy. What the families differ in is a switch:
//! projection biases (Qwen2's q/k/v, Llama's `attention_bias`), Qwen3's
//! per-head RMSNorm on queries and keys before RoPE, an explicit `head_dim`,
//! and sliding-window masks (Mistral, Qwen with `use_sliding_window`).

use tch::{nn, nn::Module, Tensor};

use super::init::linear;
use super::norm::RmsNorm;
use super::rope::apply_rotary;
use crate::config::{Architecture, ModelConfig};
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
                AttentionMask::Explicit(explicit_mask(key_mask, past, t, None, device))
            }
        }
    }

    /// [`AttentionMask::build`] restricted to a sliding window: a query at
    /// (padded) position `q` also never sees keys at `k <= q - window`, as
    /// transformers' `sliding_window_overlay` (`kv_idx > q_idx - window`).
    /// Positions count the padding, like transformers' cache positions; left
    /// padding is contiguous, so distances between real tokens are the same.
    /// `device` is where the mask is built when there is no `key_mask`.
    pub fn build_windowed(
        key_mask: Option<&Tensor>,
        past: i64,
        t: i64,
        window: i64,
        device: tch::Device,
    ) -> AttentionMask {
        if window >= past + t {
            // No query is far enough from any key for the window to matter.
            return AttentionMask::build(key_mask, past, t);
        }
        let device = key_mask.map_or(device, |m| m.device());
        AttentionMask::Explicit(explicit_mask(key_mask, past, t, Some(window), device))
    }
}

/// The boolean mask `[B or 1, 1, t, past + t]`: causal, minus padding keys,
/// minus keys outside `window`, plus the diagonal.
fn explicit_mask(
    key_mask: Option<&Tensor>,
    past: i64,
    t: i64,
    window: Option<i64>,
    device: tch::Device,
) -> Tensor {
    let total = past + t;
    let q_pos = Tensor::arange_start(past, total, (tch::Kind::Int64, device)).view([t, 1]);
    let k_pos = Tensor::arange(total, (tch::Kind::Int64, device)).view([1, total]);
    let mut allowed = k_pos.le_tensor(&q_pos);
    if let Some(window) = window {
        allowed = allowed.logical_and(&k_pos.gt_tensor(&(&q_pos - window)));
    }
    let diagonal = k_pos.eq_tensor(&q_pos);
    let allowed = match key_mask {
        Some(m) => allowed.unsqueeze(0).logical_and(&m.ne(0).unsqueeze(1)),
        None => allowed.unsqueeze(0),
    };
    allowed.logical_or(&diagonal.unsqueeze(0)).unsqueeze(1)
}

#[derive(Debug)]
pub struct Attention {
    q_proj: nn::Linear,
    k_proj: nn::Linear,
    v_proj: nn::Linear,
    o_proj: nn::Linear,
    /// Qwen3: RMSNorm over each head's `head_dim` of the queries and keys.
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    num_heads: i64,
    num_kv_heads: i64,
    head_dim: i64,
}

impl Attention {
    pub fn new(p: &nn::Path, cfg: &ModelConfig, arch: &Architecture) -> Self {
        let h = cfg.hidden_size;
        let d = arch.head_dim;
        let (nh, nkv) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        let head_norm = |name: &str| arch.qk_norm.then(|| RmsNorm::new(&(p / name), d, cfg.rms_norm_eps));
        Self {
            q_proj: linear(&(p / "q_proj"), h, nh * d, arch.qkv_bias),
            k_proj: linear(&(p / "k_proj"), h, nkv * d, arch.qkv_bias),
            v_proj: linear(&(p / "v_proj"), h, nkv * d, arch.qkv_bias),
            o_proj: linear(&(p / "o_proj"), nh * d, h, arch.o_bias),
            q_norm: head_norm("q_norm"),
            k_norm: head_norm("k_norm"),
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
        let heads = |proj: &nn::Linear, n: i64, norm: Option<&RmsNorm>| {
            let split = proj.forward(x).view([b, t, n, self.head_dim]);
            norm.map_or(split.shallow_clone(), |norm| norm.forward(&split)).transpose(1, 2)
        };
        let q = apply_rotary(&heads(&self.q_proj, self.num_heads, self.q_norm.as_ref()), cos, sin);
        let k = apply_rotary(&heads(&self.k_proj, self.num_kv_heads, self.k_norm.as_ref()), cos, sin);
        let v = heads(&self.v_proj, self.num_kv_heads, None);
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
