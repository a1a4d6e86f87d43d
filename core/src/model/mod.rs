//! The Qwen2 architecture over tch, split one concept per file:
//! [`norm`] (RMSNorm), [`rope`] (rotary embeddings), [`attention`] (GQA
//! self-attention and masks), [`mlp`] (SwiGLU), [`qwen2`] (the decoder and LM
//! head), [`logprobs`] (chunked token log-probs for training), [`heads`]
//! (value and score heads) and [`slot_decode`] (the capturable decode step over
//! a [`crate::slot_cache::SlotCache`]).
//!
//! Typical use:
//! ```no_run
//! # use tz_core::{model::Qwen2, Qwen2Config};
//! # fn f(cfg: &Qwen2Config, ids: &tch::Tensor) {
//! let vs = tch::nn::VarStore::new(tch::Device::Cpu);
//! let model = Qwen2::new(&vs.root(), cfg);
//! // load weights into `vs` by their Hugging Face names, then:
//! let hidden = model.forward(ids, None, None);
//! let logits = model.logits(&hidden);
//! # }
//! ```

pub mod attention;
pub mod heads;
pub mod init;
pub mod logprobs;
pub mod mlp;
pub mod norm;
pub mod qwen2;
pub mod rope;
pub mod slot_decode;

pub use attention::AttentionMask;
pub use heads::{ScoreHead, ValueHead};
pub use qwen2::Qwen2;
