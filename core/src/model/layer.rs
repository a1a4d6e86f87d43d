//! One pre-norm decoder layer (the same in every supported family):
//! `x + attn(norm(x))`, then `x + mlp(norm(x))`; and what all layers of a
//! forward pass share (rotary angles, masks).

use tch::{nn, Tensor};

use super::attention::{Attention, AttentionMask};
use super::mlp::Mlp;
use super::norm::RmsNorm;
use crate::config::{Architecture, ModelConfig};
use crate::kv_cache::LayerCache;

/// Inputs every layer of one forward pass reads: rotary cos/sin and the
/// attention masks (full attention, and the sliding-window one when some
/// layer has a window). None of them carries gradients.
#[derive(Debug)]
pub(super) struct LayerContext {
    pub cos: Tensor,
    pub sin: Tensor,
    pub full: AttentionMask,
    /// `Some` when the model has sliding-window layers.
    pub windowed: Option<AttentionMask>,
}

impl LayerContext {
    fn mask(&self, window: Option<usize>) -> &AttentionMask {
        match (window, &self.windowed) {
            (Some(_), Some(m)) => m,
            _ => &self.full,
        }
    }
}

#[derive(Debug)]
pub(super) struct DecoderLayer {
    input_layernorm: RmsNorm,
    self_attn: Attention,
    post_attention_layernorm: RmsNorm,
    mlp: Mlp,
    window: Option<usize>,
}

impl DecoderLayer {
    pub fn new(p: &nn::Path, cfg: &ModelConfig, arch: &Architecture, index: usize) -> Self {
        let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        Self {
            input_layernorm: RmsNorm::new(&(p / "input_layernorm"), h, eps),
            self_attn: Attention::new(&(p / "self_attn"), cfg, arch),
            post_attention_layernorm: RmsNorm::new(&(p / "post_attention_layernorm"), h, eps),
            mlp: Mlp::new(&(p / "mlp"), h, cfg.intermediate_size, arch.mlp_bias),
            window: arch.layer_windows[index],
        }
    }

    pub fn forward(
        &self,
        x: &Tensor,
        ctx: &LayerContext,
        cache: Option<(&mut dyn LayerCache, usize)>,
    ) -> Tensor {
        let normed = self.input_layernorm.forward(x);
        let x = x + self.self_attn.forward(&normed, &ctx.cos, &ctx.sin, ctx.mask(self.window), cache);
        &x + self.mlp.forward(&self.post_attention_layernorm.forward(&x))
    }
}
