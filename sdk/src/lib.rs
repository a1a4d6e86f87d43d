//! # tz-sdk: the stable plugin ABI of tinyzero-rs
//!
//! Plugin libraries (`.so` files loaded by `tzhost` at run time) are built
//! against this crate alone. There are three kinds of plugin:
//!
//! * [`Task`]: a problem family with a verifiable reward. It generates samples
//!   (seeded, by group) or reads them from data rows, builds prompts in named
//!   templates, and scores (sample, response) pairs.
//! * Algorithms, of two roles: a [`Shaper`] rewrites per-response rewards
//!   (e.g. cosine); an [`Estimator`] turns rewards into advantages (e.g.
//!   GRPO) and names the [`LossSettings`] the trainer core applies. A run
//!   uses a chain: any number of shapers, then one estimator
//!   (`--algo grpo,cosine`).
//! * [`Curriculum`]: the data stages of a run ([`Plan`]) and per-step control
//!   of the rollout-length window from batch statistics; its state is JSON so
//!   a run can resume.
//!
//! ## Why only plain data crosses
//!
//! Host and plugins are separately compiled; a `tch::Tensor` has no stable
//! layout and would tie every plugin to one libtorch build. So the boundary
//! carries strings, token counts, `f32` arrays and JSON config only
//! ([`types`]), and the host owns every tensor. abi_stable checks the layout
//! of every type and the sdk version when a library is loaded.
//!
//! Authors and hosts both speak plain Rust (`String`, `Vec`, `Option`):
//! plugins through the traits in [`plugin`], hosts through the typed
//! handles in [`handle`]. The `#[repr(C)]` mirrors that cross the boundary
//! ([`ffi`]) are converted on each call by the sdk.
//!
//! ## Writing a plugin
//!
//! ```ignore
//! use tz_sdk::prelude::*;
//!
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! #[serde(default, deny_unknown_fields)]
//! pub struct Config { /// Reward for a right answer.
//!                     pub reward: f32 }
//! impl Default for Config { fn default() -> Self { Config { reward: 1.0 } } }
//!
//! pub struct MyTask { config: Config }
//! impl Plugin for MyTask {
//!     const NAME: &'static str = "my-task";
//!     const DESCRIPTION: &'static str = "What it does, in one line";
//!     type Config = Config;
//!     fn new(config: Config, _host: HostServices) -> PluginResult<Self> {
//!         require_finite("reward", config.reward)?;
//!         Ok(MyTask { config })
//!     }
//! }
//! impl Task for MyTask { /* groups, templates, generate, prompt, score, ... */ }
//!
//! tz_sdk::register_task!(MyTask);   // register_shaper!, register_estimator!, register_curriculum!
//! tz_sdk::export_plugin_library!();
//! ```
//!
//! Build it as `crate-type = ["cdylib", "rlib"]` and point `tzhost` at the
//! directory (`--plugin-dir DIR` or `TZ_PLUGIN_PATH`). See
//! `examples/reverse-task-plugin` for a complete plugin with its tests: a
//! test creates the plugin in-process ([`export::in_process`]) through the
//! same boundary code the host uses.
//!
//! A panic inside plugin code never crosses the boundary: the adapters run
//! every call under `catch_unwind` and return it as an error.

mod abi_types;
pub mod adapter;
pub mod config;
pub mod decimal;
pub mod export;
pub mod ffi;
pub mod handle;
pub mod plugin;
pub mod rng;
pub mod testing;
pub mod types;

pub use config::{parse_config, require, require_finite, require_in, ConfigKey};
pub use plugin::{
    Curriculum, Estimator, HostServices, Plugin, PluginConfig, PluginError, PluginResult, Shaper, Task,
};
pub use types::*;

/// The sdk version plugin libraries are checked against.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

// Re-exported so plugin crates need no direct dependency on these.
pub use abi_stable;
pub use inventory;
pub use schemars;
pub use serde;
pub use serde_json;

/// Everything a plugin author usually needs (plain Rust types only).
pub mod prelude {
    pub use crate::config::{require, require_finite, require_in};
    pub use crate::plugin::{
        Curriculum, Estimator, HostServices, Plugin, PluginError, PluginResult, Shaper, Task,
    };
    pub use crate::types::*;
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
}

#[doc(hidden)]
pub mod __private {
    pub use abi_stable::library::{__call_root_module_loader, CheckTypeLayout, LibHeader, RootModuleResult};
}
