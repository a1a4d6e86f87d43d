//! Plugin discovery, loading and lookup.
//!
//! Libraries are found next to the executable, in `--plugin-dir` and in
//! `TZ_PLUGIN_PATH`, and loaded one file at a time (abi_stable's
//! `load_from_*` would cache one module per root-module type and hand back
//! the first library for every file). Every problem is a one-line error.
//! Plugins reach the host through [`TracingHost`] (logs, and the run's
//! [`RewardService`] when `reward_model.path` is set).

mod discovery;
mod host_services;
mod loader;
mod registry;
mod reward_service;

pub use discovery::{library_files, search_dirs, SearchDir};
pub use host_services::TracingHost;
pub use loader::{load_library, LoadedLibrary};
pub use registry::{PluginEntry, Registry};
pub use reward_service::RewardService;
