//! # tz-curricula: the built-in curriculum plugins of tinyzero-rs
//!
//! One plugin library (`libtz_curricula.so`) exporting five curricula. A
//! curriculum decides two independent things: the **data stages** of a run
//! ([`Plan`](tz_sdk::Plan): rounds × groups × epochs) and the **rollout
//! window** (the max new-token limit of each batch).
//!
//! | plugin | data stages | window |
//! |---|---|---|
//! | [`continual`] | `rounds` × `groups` in order × `epochs_per_group` (plus → … → plus_minus_mul_div, 3 × 15) | run's max |
//! | [`random`] | the same schedule over random splits `0..3` (the control) | run's max |
//! | [`adaptive`] | none | controlled from batch success and lengths |
//! | [`fixed`] | none | constant `max_response_length` |
//! | [`full`] | none | run's max (the full-rollout baseline) |
//!
//! Every plugin type has a `with_config` constructor so it can be used and
//! tested without a host.

pub mod adaptive;
pub mod continual;
pub mod fixed;
pub mod full;
pub mod random;
mod schedule;

pub use adaptive::{Adaptive, AdaptiveConfig};
pub use continual::{Continual, ContinualConfig};
pub use fixed::{Fixed, FixedConfig};
pub use full::{Full, FullConfig};
pub use random::{Random, RandomConfig};

tz_sdk::register_curriculum!(Continual);
tz_sdk::register_curriculum!(Random);
tz_sdk::register_curriculum!(Adaptive);
tz_sdk::register_curriculum!(Fixed);
tz_sdk::register_curriculum!(Full);
tz_sdk::export_plugin_library!();

#[cfg(test)]
mod ffi_tests;
