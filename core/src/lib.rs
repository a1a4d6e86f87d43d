//! # tz-core: the trainer core of tinyzero-rs
//!
//! Everything that touches a tensor lives here, over tch (libtorch), for CPU
//! and CUDA from the same binary. Plugins never see tensors: the host turns
//! their plain-data answers into the tensors this crate consumes.
//!
//! Modules (one concept each):
//! - [`config`]: `config.json` of the supported families (Qwen2, Llama, Qwen3, Mistral).
//! - [`model`]: the decoder of those families, activation checkpointing, chunked token log-probs, value/score heads.
//! - [`kv_cache`]: the preallocated KV cache for decoding (prefill).
//! - [`slot_cache`]: the fixed-slot KV cache of the capturable decode step.
//! - [`sampling`]: temperature / top-k / top-p sampling with per-row seeds.
//! - [`rollout`]: batched generation with stop strings (the rollout engine).
//! - [`rollout_budget`]: the engine's memory limits (rows in flight, KV-cache positions).
//! - [`checkpoint`]: Hugging Face checkpoint directories, loaded into and saved from a `VarStore`.
//! - [`hub`]: `--model` as a directory or a hub id, through the Hugging Face cache.
//! - [`generation_config`]: `generation_config.json` (sampling defaults, stop ids).
//! - [`tokenizer`]: [`TextTokenizer`], a checkpoint's tokenizer as transformers loads it.
//! - [`chat_template`]: chat templates rendered the way transformers renders them.
//! - [`kl`]: per-token KL estimators (k1, abs, k2, k3) and the KL coefficient controllers.
//! - [`loss`]: policy (PPO clip, dual clip), value and entropy losses, loss aggregation modes, IS diagnostics.
//! - [`optim`]: AdamW over tensors with an exactly restorable state.
//! - [`sft`]: supervised fine-tuning on (prompt, response) pairs.
//! - [`presets`]: the embedded `tiny` model and its countdown warm start.
//! - [`reward_model`]: a sequence-classification reward model scoring (prompt, response) pairs.
//! - [`rl_batch`]: a rolled-out batch as tensors (prompt + response rows).
//! - [`rl_update`]: the PPO-style actor update (epochs, mini- and micro-batches).
//! - [`critic`]: the PPO critic (value model on its own copy of the backbone) and its update.
//! - [`policy`]: a model directory loaded for training or sampling, with its tokenizer.
//! - [`error`]: [`CoreError`], the kinds of failure a caller can act on.
//! - [`device`]: `--device` and `--dtype` values, libtorch's seed.
//! - [`weight_change`]: copies of a model's weights and the relative change between two.
//! - [`parallel`]: data parallelism over c10d (batch shards, gradient sync, ZeRO-1, batch-wide reductions).
//!
//! `Device` and `Kind` (the dtype) are re-exported: they appear in this
//! crate's API, so callers need no direct tch dependency.

pub mod chat_template;
pub mod checkpoint;
pub mod config;
pub mod critic;
pub mod device;
pub mod error;
pub mod generation_config;
pub mod hub;
pub mod kl;
pub mod kv_cache;
pub mod loss;
pub mod model;
pub mod optim;
pub mod parallel;
pub mod policy;
pub mod presets;
pub mod reward_model;
pub mod rl_batch;
pub mod rl_update;
pub mod rollout;
pub mod rollout_budget;
pub mod sampling;
pub mod sft;
pub mod slot_cache;
pub mod tokenizer;
pub mod weight_change;

/// The core's error and result (see [`error`]).
pub use error::{CoreError, Result};

pub use chat_template::{ChatMessage, ChatTemplate};
pub use checkpoint::{save_pretrained, ModelDir, SaveOptions};
pub use config::{Family, ModelConfig, Qwen2Config};
pub use generation_config::GenerationConfig;
pub use kv_cache::KvCache;
pub use model::{Decoder, Qwen2};
pub use policy::Policy;
pub use reward_model::{RewardModel, RewardModelOptions};
pub use tch::{Device, Kind};
pub use tokenizer::TextTokenizer;
