//! The memory planner of tinyzero-rs: per-rank peak memory of a training
//! (or generation) run by phase, from a model's `config.json` and the run's
//! shape, before anything is allocated. Pure Rust, no libtorch, so any part
//! of the code can ask "does this fit?" first:
//!
//! ```
//! use tz_plan::{estimate, known_shape, Fit, Hardware};
//! # use tz_plan::{Attention, DeviceKind, Dtype, Generation, RolloutBudget, RunShape, Update};
//! let model = known_shape("Qwen/Qwen2.5-0.5B").unwrap();
//! # let run = RunShape { device: DeviceKind::Cuda, dtype: Dtype::Bf16, ranks: 1, shard_optimizer: false,
//! #     prompt_len: 256, response_len: 1024, attention: Attention::Math, budget: RolloutBudget::default(),
//! #     generations: vec![Generation { label: "rollout".into(), prompts: 64, samples: 8, greedy: false, top_p: false }],
//! #     update: Some(Update { micro_batch: 4, logit_chunk: 256, gradient_checkpointing: false, critic: false }),
//! #     reference: None, reward_model: None };
//! let plan = estimate(&model, &run);
//! assert!(Fit::check(plan.peak(), Hardware::h100().capacity).fits);
//! ```
//!
//! What is modelled, and what is assumed, is written where each term is
//! computed ([`estimate()`], [`activations`](crate::activations)); the README's
//! "Memory" section compares the estimates with measured peaks.

mod activations;
mod advice;
mod error;
mod estimate;
mod hardware;
mod known_models;
mod plan;
mod run;
mod shape;

pub use advice::{advise, Change, Suggestion};
pub use error::PlanError;
pub use estimate::estimate;
pub use hardware::{runtime_overhead, stated_hardware, Hardware, StatedHardware};
pub use known_models::{known_ids, known_shape};
pub use plan::{DevicePlan, Fit, Item, Phase, Plan, HEADROOM};
pub use run::{
    Attention, DeviceKind, Dtype, Generation, Placement, RewardModel, RolloutBudget, RunShape, Update,
};
pub use shape::{Head, ModelShape};
