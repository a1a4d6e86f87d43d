//! The decoder of every supported family (Qwen2, Llama, Qwen3, Mistral) over
//! tch, split one concept per file: [`norm`] (RMSNorm), [`rope`] (rotary
//! embeddings and their scalings), [`attention`] (GQA self-attention, q/k
//! norms, masks and sliding windows), [`mlp`] (SwiGLU), [`layer`] (one
//! decoder layer), [`decoder`] (the stack and the LM head), [`checkpointing`]
//! (activation checkpointing by recomputation), [`logprobs`] (chunked token
//! log-probs for training), [`heads`] (value and score heads) and
//! [`slot_decode`] (the capturable decode step over a
//! [`crate::slot_cache::SlotCache`]).
//!
//! Typical use:
//! ```no_run
//! # use tz_core::{model::Decoder, ModelConfig};
//! # fn f(cfg: &ModelConfig, ids: &tch::Tensor) {
//! let vs = tch::nn::VarStore::new(tch::Device::Cpu);
//! let model = Decoder::new(&vs.root(), cfg);
//! // load weights into `vs` by their Hugging Face names, then:
//! let hidden = model.forward(ids, None, None);
//! let logits = model.logits(&hidden);
//! # }
//! ```

pub mod attention;
pub mod checkpointing;
pub mod decoder;
pub mod heads;
pub mod init;
mod layer;
pub mod logprobs;
pub mod mlp;
pub mod norm;
pub mod rope;
pub mod slot_decode;

pub use attention::AttentionMask;
pub(crate) use decoder::grad_mode_enabled;
pub use decoder::{Decoder, Qwen2};
pub use heads::{ScoreHead, ValueHead};
