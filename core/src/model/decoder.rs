//! The decoder of every supported family (Qwen2/2.5, Llama 2/3.x, Qwen3,
//! Mistral): token embedding, pre-norm decoder layers (GQA attention +
//! SwiGLU MLP), final RMSNorm, and a language-model head that is either tied
//! to the embedding or `lm_head.weight`. What the families differ in
//! (biases, q/k norms, head_dim, RoPE scaling, sliding windows) is resolved
//! from config.json into an [`Architecture`] and switched on in the layers.
//!
//! References: transformers 5 `modeling_{qwen2,llama,qwen3,mistral}.py`;
//! candle-transformers `models/{qwen2,llama,qwen3,mistral}.rs`.
//!
//! Variables are created under exactly the Hugging Face names, so a
//! `model.safetensors` loads into the `VarStore` by name.

use std::cell::RefCell;

use tch::{nn, Device, Kind, Tensor};

use super::attention::AttentionMask;
use super::checkpointing::Recompute;
use super::init::normal_init;
use super::layer::{DecoderLayer, LayerContext};
use super::norm::RmsNorm;
use super::rope::RotaryEmbedding;
use crate::config::{Architecture, ModelConfig};
use crate::kv_cache::{KvCache, LayerCache};

/// Where the vocabulary projection comes from.
#[derive(Debug)]
enum LmHead {
    /// `tie_word_embeddings`: logits = h · embed_tokensᵀ.
    Tied,
    /// `lm_head.weight` [vocab, hidden].
    Separate(Tensor),
    /// A backbone for a value or score head: no vocabulary projection at all
    /// (so strict loading of a `*ForSequenceClassification` checkpoint does
    /// not look for `lm_head.weight`).
    Absent,
}

#[derive(Debug)]
pub struct Decoder {
    pub(super) embed_tokens: Tensor,
    pub(super) layers: Vec<DecoderLayer>,
    pub(super) norm: RmsNorm,
    lm_head: LmHead,
    rotary: RotaryEmbedding,
    cfg: ModelConfig,
    arch: Architecture,
    device: Device,
    /// Recompute each layer in backward instead of keeping its activations
    /// (see [`super::checkpointing`]).
    pub(super) gradient_checkpointing: bool,
    /// Checkpointed forwards whose layers still await their backward.
    pub(super) pending: RefCell<Vec<Recompute>>,
}

/// The old name, from when Qwen2 was the only family.
pub type Qwen2 = Decoder;

impl Decoder {
    /// A causal LM (`*ForCausalLM`): pass `&vs.root()`. Variables are
    /// initialised like transformers does; load a checkpoint over them.
    ///
    /// Panics if the config's family is unsupported: configs from
    /// [`ModelConfig::from_file`] (and so every [`crate::ModelDir`]) are
    /// validated already, with a one-line error.
    pub fn new(p: &nn::Path, cfg: &ModelConfig) -> Self {
        Self::build(p, cfg, true)
    }

    /// The bare `model.*` decoder without a vocabulary projection, for critics
    /// and reward models ([`super::heads`]). [`Decoder::logits`] panics on it.
    pub fn backbone(p: &nn::Path, cfg: &ModelConfig) -> Self {
        Self::build(p, cfg, false)
    }

    fn build(p: &nn::Path, cfg: &ModelConfig, with_lm_head: bool) -> Self {
        let arch = cfg.architecture().unwrap_or_else(|e| panic!("cannot build the decoder: {e}"));
        let m = p / "model";
        let (v, h) = (cfg.vocab_size as i64, cfg.hidden_size as i64);
        let embed_tokens = (&m / "embed_tokens").var("weight", &[v, h], normal_init());
        let layers_path = &m / "layers";
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| DecoderLayer::new(&(&layers_path / i), cfg, &arch, i))
            .collect();
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
            rotary: RotaryEmbedding::new(&arch.rope, device),
            cfg: cfg.clone(),
            arch,
            device,
            gradient_checkpointing: false,
            pending: RefCell::new(Vec::new()),
        }
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The family and its switches, as resolved from the config.
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// The dtype of the weights (and of the hidden states and KV cache).
    pub fn kind(&self) -> Kind {
        self.embed_tokens.kind()
    }

    /// Whether the decode step may be captured in a CUDA graph: dynamic RoPE
    /// rescales its angles from the longest position, read on the host.
    pub fn decode_step_capturable(&self) -> bool {
        !matches!(self.arch.rope.scaling, crate::config::RopeScaling::Dynamic { .. })
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
    ///
    /// With gradient checkpointing on, grad mode on and no cache, the layers
    /// run without a graph (see [`super::checkpointing`]).
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
        let ctx = self.layer_context(&input_ids, mask.as_ref(), past);
        if self.gradient_checkpointing && cache.is_none() && grad_mode_enabled() {
            return self.forward_checkpointed(input_ids, ctx);
        }
        let mut x = self.embed(&input_ids);
        for (i, layer) in self.layers.iter().enumerate() {
            let layer_cache = cache.as_deref_mut().map(|c| (c as &mut dyn LayerCache, i));
            x = layer.forward(&x, &ctx, layer_cache);
        }
        if let Some(c) = cache {
            c.advance(t);
        }
        self.norm.forward(&x)
    }

    /// Embedding, decoder layers and final norm of one token per row with
    /// its keys/values in `cache`: the body of [`Decoder::decode_slots`].
    /// `bias` `[B, 1, 1, capacity]` is the slot cache's length mask.
    pub(super) fn run_slot_layers(
        &self,
        tokens: &Tensor,
        positions: &Tensor,
        bias: &Tensor,
        cache: &mut dyn LayerCache,
    ) -> Tensor {
        let (cos, sin) = self.rotary.cos_sin(positions, self.kind());
        // A sliding-window layer also hides keys more than `window - 1` positions back.
        let windowed = self.arch.sliding_window().map(|w| {
            let capacity = bias.size()[3];
            let index = Tensor::arange(capacity, (Kind::Int64, self.device)).view([1, 1, 1, capacity]);
            let too_old = index.le_tensor(&(positions.view([-1, 1, 1, 1]) - w as i64));
            AttentionMask::SlotBias(bias.masked_fill(&too_old, f64::NEG_INFINITY))
        });
        let ctx = LayerContext { cos, sin, full: AttentionMask::SlotBias(bias.shallow_clone()), windowed };
        let mut x = self.embed(tokens);
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(&x, &ctx, Some((&mut *cache, i)));
        }
        self.norm.forward(&x)
    }

    pub(super) fn embed(&self, input_ids: &Tensor) -> Tensor {
        Tensor::embedding(&self.embed_tokens, input_ids, -1, false, false)
    }

    /// Rotary angles and masks for `T` new tokens after `past` cached ones.
    fn layer_context(&self, input_ids: &Tensor, mask: Option<&Tensor>, past: i64) -> LayerContext {
        let (b, t) = input_ids.size2().expect("input_ids must be [B, T]");
        let positions = match mask {
            Some(m) => (m.cumsum(1, Kind::Int64) - 1).clamp_min(0).narrow(1, past, t),
            None => Tensor::arange_start(past, past + t, (Kind::Int64, self.device))
                .unsqueeze(0)
                .expand([b, t], true),
        };
        let (cos, sin) = self.rotary.cos_sin(&positions, self.kind());
        let windowed = self
            .arch
            .sliding_window()
            .map(|w| AttentionMask::build_windowed(mask, past, t, w as i64, self.device));
        LayerContext { cos, sin, full: AttentionMask::build(mask, past, t), windowed }
    }

    /// The vocabulary projection `[vocab, H]`.
    pub fn lm_head_weight(&self) -> &Tensor {
        match &self.lm_head {
            LmHead::Tied => &self.embed_tokens,
            LmHead::Separate(w) => w,
            LmHead::Absent => panic!("this decoder was built as a backbone and has no LM head"),
        }
    }

    /// Logits (f32) for `hidden` [.., H]: the matmul runs in the model dtype
    /// (as transformers does), the result is cast to f32. Materialises
    /// [.., vocab]: pass only the positions needed (e.g. the last one), or use
    /// [`Decoder::token_logprobs`].
    pub fn logits(&self, hidden: &Tensor) -> Tensor {
        hidden.matmul(&self.lm_head_weight().tr()).to_kind(Kind::Float)
    }
}

/// Whether autograd records operations now. tch has no getter; setting the
/// mode returns the previous one, which is put back at once.
pub(crate) fn grad_mode_enabled() -> bool {
    // SAFETY: a plain call into libtorch's thread-local grad mode, no pointers.
    let previous = unsafe { torch_sys::at_grad_set_enabled(0) };
    // SAFETY: as above; restores the mode read.
    unsafe { torch_sys::at_grad_set_enabled(previous) };
    previous != 0
}
