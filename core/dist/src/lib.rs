//! Collectives for data-parallel training over libtorch's own c10d.
//!
//! - [`World`]: this process's rank and the collectives (all-reduce,
//!   broadcast, all-gather, reduce-scatter, barrier) over tch tensors,
//!   through a small C++ shim (`csrc/c10d_shim.cpp`) over c10d's TCPStore
//!   and process groups: Gloo for CPU, NCCL for CUDA.
//! - [`World::from_env`] joins the job torchrun (or any `env://` launcher)
//!   describes, or returns [`World::single`] when there is none, whose
//!   collectives are identities: code written against a `World` runs
//!   unchanged in one process.
//! - Every failure is a [`DistError`] naming the operation and the rank; a
//!   dead or hung peer ends a collective within the timeout.
//! - [`launch`]: N local processes with torchrun's variables (tests, benches).

mod env;
mod error;
mod ffi;
pub mod launch;
mod world;

pub use env::LaunchEnv;
pub use error::DistError;
pub use world::{set_grad, Backend, InitOptions, ReduceOp, World, DEFAULT_BUCKET_BYTES};
