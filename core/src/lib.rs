//! # tz-core: the trainer core of tinyzero-rs
//!
//! Everything that touches a tensor lives here, over tch (libtorch), for CPU
//! and CUDA from the same binary. Plugins never see tensors: the host turns
//! their plain-data answers into the tensors this crate consumes.
//!
//! Modules (one concept each):
//! - [`config`]: `config.json` of Qwen2-architecture models.
//! - [`kl`]: per-token KL estimators (k1, abs, k2, k3) and the KL coefficient controllers.
//! - [`loss`]: policy (PPO clip, dual clip), value and entropy losses, loss aggregation modes, IS diagnostics.

pub mod config;
pub mod kl;
pub mod loss;

pub use config::Qwen2Config;
