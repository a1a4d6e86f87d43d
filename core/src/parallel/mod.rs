//! Data-parallel building blocks over [`tz_dist`]'s collectives: the
//! update loops ([`crate::rl_update`], [`crate::critic`]) run on every rank
//! on that rank's rows and give the result one process would give with the
//! whole batch.
//!
//! - [`BatchShard`]: this rank's rows; mini-batches cut from one global
//!   shuffle; global token/sequence counts for the loss normalisation.
//! - [`GradSync`], [`broadcast_parameters`]: summed gradients (bucketed,
//!   once per mini-batch), identical starting weights.
//! - [`Optimizer`]: plain AdamW, [`ReplicatedAdamW`] or [`ZeroAdamW`]
//!   (ZeRO-1), chosen by [`optimizer_for`].
//! - [`reduce_stats`], [`moments`], [`masked_moments`],
//!   [`explained_variance`], [`all_gather_vec`]: batch-wide metrics,
//!   whitening statistics and plain data.
//!
//! The contract every caller keeps: all ranks make the same collective
//! calls in the same order. Control decisions (skip a step, stop, save)
//! are taken from reduced values only, so they agree on every rank.

mod batch;
mod grad_sync;
mod optimizer;
mod reduce;
mod zero;

pub use batch::BatchShard;
pub use grad_sync::{broadcast_parameters, parameters_digest, GradSync};
pub use optimizer::{optimizer_for, Optimizer, ReplicatedAdamW, StateSharding};
pub use reduce::{all_gather_vec, explained_variance, masked_moments, moments, reduce_stats, Moments, Stat};
pub use tz_dist::{Backend, DistError, InitOptions, LaunchEnv, ReduceOp, World};
pub use zero::ZeroAdamW;
