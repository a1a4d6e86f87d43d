//! # tz-plugin-host: plugin discovery, loading and typed handles
//!
//! Libraries are found next to the executable, in `--plugin-dir` and in
//! `TZ_PLUGIN_PATH`, and loaded one file at a time (abi_stable's
//! `load_from_*` would cache one module per root-module type and hand back
//! the first library for every file). Every problem is a one-line error
//! ([`PluginHostError`]).
//!
//! The [`Registry`] creates plugins by name and hands out the sdk's typed
//! handles ([`tz_sdk::handle`]); an [`AlgorithmChain`] is a run's shapers
//! and its one estimator, role-checked once. Plugins reach the host through
//! [`TracingHost`]: their log lines go to `tracing`, and reward-model calls
//! to a [`RewardModelService`] when the run has one.

mod chain;
mod discovery;
mod error;
mod host_services;
mod loader;
mod registry;

pub use chain::AlgorithmChain;
pub use discovery::{library_files, search_dirs, SearchDir, BUILTIN_PREFIX, DYLIB_SUFFIX};
pub use error::{PluginHostError, Result};
pub use host_services::{RewardModelService, TracingHost};
pub use loader::{load_library, LoadedLibrary};
pub use registry::{PluginEntry, Registry};
