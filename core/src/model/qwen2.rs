//! The Qwen2 decoder (Qwen2.5, DeepSeek-R1-Distill-Qwen): token embedding,
//! pre-norm decoder layers (GQA attention + SwiGLU MLP), final RMSNorm, and a
//! language-model head that is either tied to the embedding or `lm_head.weight`.
//!
//! Variables are created under exactly the Hugging Face names, so a
//! `model.safetensors` loads into the `VarStore` by name.

use tch::{nn, Device, Kind, Tensor};

use super::attention::{Attention, AttentionMask};
use super::init::normal_init;
use super::mlp::Mlp;
use super::norm::RmsNorm;
use super::rope::RotaryEmbedding;
use crate::config::Qwen2Config;
use crate::kv_cache::{KvCache, LayerCache};

#[derive(Debug)]
struct DecoderLayer {
    input_layernorm: RmsNorm,
    self_attn: Attention,
    post_attention_layernorm: RmsNorm,
    mlp: Mlp,
}

impl DecoderLayer {
    fn new(p: &nn::Path, cfg: &Qwen2Config) -> Self {
        let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        Self {
            input_layernorm: RmsNorm::new(&(p / "input_layernorm"), h, eps),
            self_attn: Attention::new(&(p / "self_attn"), cfg),
            post_attention_layernorm: RmsNorm::new(&(p / "post_attention_layernorm"), h, eps),
            mlp: Mlp::new(&(p / "mlp"), h, cfg.intermediate_size),
        }
    }

    fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: &AttentionMask,
        cache: Option<(&mut dyn LayerCache, usize)>,
    ) -> Tensor {
        let x = x + self.self_attn.forward(&self.input_layernorm.forward(x), cos, sin, mask, cache);
        &x + self.mlp.forward(&self.post_attention_layernorm.forward(&x))
    }
}

/// Where the vocabulary projection comes from.
#[derive(Debug)]
enum LmHead {
    /// `tie_word_embeddings`: logits = h · embed_tokensᵀ.
    Tied,
    /// `lm_head.weight` [vocab, hidden].
    Separate(Tensor),
    /// A backbone for a value or score head: no vocabulary projection at all
    /// (so strict loading of a `Qwen2ForSequenceClassification` checkpoint does
    /// not look for `lm_head.weight`).
    Absent,
}

#[derive(Debug)]
pub struct Qwen2 {
    embed_tokens: Tensor,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    lm_head: LmHead,
    rotary: RotaryEmbedding,
    cfg: Qwen2Config,
    device: Device,
}

impl Qwen2 {
    /// A causal LM (`Qwen2ForCausalLM`): pass `&vs.root()`. Variables are
    /// initialised like transformers does; load a checkpoint over them.
    pub fn new(p: &nn::Path, cfg: &Qwen2Config) -> Self {
        Self::build(p, cfg, true)
    }

    /// The bare `model.*` decoder without a vocabulary projection, for critics
    /// and reward models ([`super::heads`]). [`Qwen2::logits`] panics on it.
    pub fn backbone(p: &nn::Path, cfg: &Qwen2Config) -> Self {
        Self::build(p, cfg, false)
    }

    fn build(p: &nn::Path, cfg: &Qwen2Config, with_lm_head: bool) -> Self {
        let m = p / "model";
        let (v, h) = (cfg.vocab_size as i64, cfg.hidden_size as i64);
        let embed_tokens = (&m / "embed_tokens").var("weight", &[v, h], normal_init());
        let layers_path = &m / "layers";
        let layers =
            (0..cfg.num_hidden_layers).map(|i| DecoderLayer::new(&(&layers_path / i), cfg)).collect();
        let norm = RmsNorm::new(&(&m / "norm"), cfg.hidden_size, cfg.rms_norm_eps);
        let lm_head = match (with_lm_head, cfg.tie_word_embeddings) {
            (false, _) => LmHead::Absent,
            (true, true) => LmHead::Tied,
            (true, false) => LmHead::Separate((p / "lm_head").var("weight", &[v, h], normal_init())),
        };
        let device = p.device();
        Self {
            embed_tokens,
            layers,
            norm,
            lm_head,
            rotary: RotaryEmbedding::new(cfg.head_dim(), cfg.rope_theta, device),
            cfg: cfg.clone(),
            device,
        }
    }

    pub fn config(&self) -> &Qwen2Config {
        &self.cfg
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// The dtype of the weights (and of the hidden states and KV cache).
    pub fn kind(&self) -> Kind {
        self.embed_tokens.kind()
    }

    /// An empty KV cache sized for this model.
    pub fn new_cache(&self, batch: i64, capacity: i64) -> KvCache {
        KvCache::new(&self.cfg, batch, capacity, self.kind(), self.device)
    }

    /// Hidden states after the final norm, `[B, T, H]` in the model dtype.
    ///
    /// - `input_ids` `[B, T]` (i64) are the new tokens.
    /// - `attention_mask` `[B, past + T]` (1 = token, 0 = padding) covers the
    ///   cached and the new positions. Padding must be on the left of each
    ///   row's tokens (generation) or on the right (training batches). Positions
    ///   count real tokens only, as transformers' `generate` does, so a
    ///   left-padded row behaves exactly like the same row unpadded.
    /// - `cache`: new keys/values are written in place and its length advances
    ///   by `T`.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
    ) -> Tensor {
        let input_ids = input_ids.to_device(self.device);
        let (b, t) = input_ids.size2().expect("input_ids must be [B, T]");
        let past = cache.as_ref().map_or(0, |c| c.len());
        let mask = attention_mask.map(|m| m.to_device(self.device));
        if let Some(m) = &mask {
            assert_eq!(m.size(), [b, past + t], "attention_mask must be [B, past + T]");
        }
        let positions = match &mask {
            Some(m) => (m.cumsum(1, Kind::Int64) - 1).clamp_min(0).narrow(1, past, t),
            None => Tensor::arange_start(past, past + t, (Kind::Int64, self.device))
                .unsqueeze(0)
                .expand([b, t], true),
        };
        let attn_mask = AttentionMask::build(mask.as_ref(), past, t);
        let hidden = self.run_layers(
            &input_ids,
            &positions,
            &attn_mask,
            cache.as_deref_mut().map(|c| c as &mut dyn LayerCache),
        );
        if let Some(c) = cache {
            c.advance(t);
        }
        hidden
    }

    /// Embedding, decoder layers and final norm for `input_ids` [B, T] at
    /// `positions` [B, T]; the shared body of [`Qwen2::forward`] and
    /// [`Qwen2::decode_slots`].
    pub(super) fn run_layers(
        &self,
        input_ids: &Tensor,
        positions: &Tensor,
        mask: &AttentionMask,
        mut cache: Option<&mut dyn LayerCache>,
    ) -> Tensor {
        let mut x = Tensor::embedding(&self.embed_tokens, input_ids, -1, false, false);
        let (cos, sin) = self.rotary.cos_sin(positions, x.kind());
        for (i, layer) in self.layers.iter().enumerate() {
            let layer_cache = cache.as_mut().map(|c| (&mut **c as &mut dyn LayerCache, i));
            x = layer.forward(&x, &cos, &sin, mask, layer_cache);
        }
        self.norm.forward(&x)
    }

    /// The vocabulary projection `[vocab, H]`.
    pub fn lm_head_weight(&self) -> &Tensor {
        match &self.lm_head {
            LmHead::Tied => &self.embed_tokens,
            LmHead::Separate(w) => w,
            LmHead::Absent => panic!("this Qwen2 was built as a backbone and has no LM head"),
        }
    }

    /// Logits (f32) for `hidden` [.., H]: the matmul runs in the model dtype
    /// (as transformers does), the result is cast to f32. Materialises
    /// [.., vocab]: pass only the positions needed (e.g. the last one), or use
    /// [`Qwen2::token_logprobs`].
    pub fn logits(&self, hidden: &Tensor) -> Tensor {
        hidden.matmul(&self.lm_head_weight().tr()).to_kind(Kind::Float)
    }
}
