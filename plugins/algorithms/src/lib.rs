//! # tz-algorithms: the built-in algorithm plugins of tinyzero-rs
//!
//! One plugin library (`libtz_algorithms.so`) exporting four plugins over the
//! plain-data sdk boundary (no tensors here: the trainer core applies the loss
//! these plugins ask for).
//!
//! A run's algorithm chain is any number of **shapers** followed by one
//! **estimator** (`--algo overlong,grpo`):
//!
//! | plugin | role | what it does |
//! |---|---|---|
//! | [`grpo`] | estimator | group-normalised outcome advantage (GRPO; Dr. GRPO with `norm_adv_by_std = false`), no critic |
//! | [`ppo`] | estimator | GAE advantages and value targets, whitened over the batch; asks for a critic |
//! | [`cosine`] | shaper | cosine length-scaled reward (Yeo et al. 2025) replacing the task reward |
//! | [`overlong`] | shaper | DAPO's soft overlong penalty added to the task reward |
//!
//! An estimator's config also carries the loss settings
//! ([`tz_sdk::LossSettings`]): PPO clip range (with DAPO clip-higher and dual
//! clip), KL placement / estimator / coefficient, entropy bonus and loss
//! aggregation; see [`loss_config`].
//!
//! Every plugin type has a `with_config` constructor so it can be used and
//! tested without a host.

pub mod cosine;
pub mod grpo;
mod layout;
pub mod loss_config;
pub mod overlong;
pub mod ppo;

pub use cosine::{Cosine, CosineConfig};
pub use grpo::{Grpo, GrpoConfig};
pub use overlong::{Overlong, OverlongConfig};
pub use ppo::{Ppo, PpoConfig};

tz_sdk::register_estimator!(Grpo);
tz_sdk::register_estimator!(Ppo);
tz_sdk::register_shaper!(Cosine);
tz_sdk::register_shaper!(Overlong);
tz_sdk::export_plugin_library!();

#[cfg(test)]
mod ffi_tests;
