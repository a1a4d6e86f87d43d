//! # tz-core: the trainer core of tinyzero-rs
//!
//! Everything that touches a tensor lives here, over tch (libtorch), for CPU
//! and CUDA from the same binary. Plugins never see tensors: the host turns
//! their plain-data answers into the tensors this crate consumes.
//!
//! Modules (one concept each):
//! - [`config`]: `config.json` of Qwen2-architecture models.
//! - [`model`]: the Qwen2 decoder, chunked token log-probs, value/score heads.
//! - [`kv_cache`]: the preallocated KV cache for decoding.
//! - [`sampling`]: temperature / top-k / top-p sampling with per-row seeds.
//! - [`rollout`]: batched generation with stop strings (the rollout engine).
//! - [`optim`]: AdamW over tensors with an exactly restorable state.
//! - [`sft`]: supervised fine-tuning on (prompt, response) pairs.
//! - [`presets`]: the embedded `tiny` model and its countdown warm start.
//! - [`kl`]: per-token KL estimators (k1, abs, k2, k3) and the KL coefficient controllers.
//! - [`loss`]: policy (PPO clip, dual clip), value and entropy losses, loss aggregation modes, IS diagnostics.

pub mod config;
pub mod kl;
pub mod kv_cache;
pub mod loss;
pub mod model;
pub mod optim;
pub mod presets;
pub mod rollout;
pub mod sampling;
pub mod sft;

pub use config::Qwen2Config;
pub use kv_cache::KvCache;
pub use model::Qwen2;
