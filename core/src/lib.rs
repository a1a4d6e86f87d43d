//! # tz-core: the trainer core of tinyzero-rs
//!
//! Everything that touches a tensor lives here, over tch (libtorch), for CPU
//! and CUDA from the same binary. Plugins never see tensors: the host turns
//! their plain-data answers into the tensors this crate consumes.
//!
//! Modules (one concept each):
//! - [`config`]: `config.json` of Qwen2-architecture models.
//! - [`checkpoint`]: Hugging Face checkpoint directories, loaded into and saved from a `VarStore`.
//! - [`hub`]: `--model` as a directory or a hub id, through the Hugging Face cache.
//! - [`generation_config`]: `generation_config.json` (sampling defaults, stop ids).
//! - [`tokenizer`]: [`TextTokenizer`], a checkpoint's tokenizer as transformers loads it.
//! - [`chat_template`]: chat templates rendered the way transformers renders them.
//! - [`kl`]: per-token KL estimators (k1, abs, k2, k3) and the KL coefficient controllers.
//! - [`loss`]: policy (PPO clip, dual clip), value and entropy losses, loss aggregation modes, IS diagnostics.

pub mod chat_template;
pub mod checkpoint;
pub mod config;
pub mod generation_config;
pub mod hub;
pub mod kl;
pub mod loss;
pub mod tokenizer;

pub use chat_template::{ChatMessage, ChatTemplate};
pub use checkpoint::{save_pretrained, ModelDir, SaveOptions};
pub use config::Qwen2Config;
pub use generation_config::GenerationConfig;
pub use tokenizer::TextTokenizer;
