//! # tz-host: the `tzhost` command line
//!
//! A thin binary over two libraries: `tz-core` (tensors: model, rollout,
//! losses, checkpoints) and `tz-sdk` (the plugin ABI). This crate finds and
//! loads plugin libraries ([`plugins`]), turns command-line flags and config
//! files into settings ([`config`]), and drives the core. Each subcommand is
//! one file in [`cmd`]; sweeps ([`sweep`]), reports and plots ([`report`]),
//! the set-up checks ([`doctor`]), offline evaluation with pass@k
//! ([`eval`]) and the memory planner's inputs ([`memory_plan`]) have their
//! own modules.

pub mod atomic;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod device;
pub mod doctor;
pub mod eval;
pub mod logging;
pub mod memory_check;
pub mod memory_plan;
pub mod plugins;
pub mod report;
pub mod run_lock;
pub mod sweep;
pub mod train;
