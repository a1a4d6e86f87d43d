//! # tz-core: the trainer core of tinyzero-rs
//!
//! Everything that touches a tensor lives here, over tch (libtorch), for CPU
//! and CUDA from the same binary. Plugins never see tensors: the host turns
//! their plain-data answers into the tensors this crate consumes.
//!
//! Modules (one concept each):
//! - [`config`]: `config.json` of Qwen2-architecture models.

pub mod config;

pub use config::Qwen2Config;
