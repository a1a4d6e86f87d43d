//! # tz-host: the `tzhost` command line
//!
//! A thin binary over two libraries: `tz-core` (tensors: model, rollout,
//! losses, checkpoints) and `tz-sdk` (the plugin ABI). This crate finds and
//! loads plugin libraries ([`plugins`]), turns command-line flags and config
//! files into settings, and drives the core. Each subcommand is one file in
//! [`cmd`].

pub mod cli;
pub mod cmd;
pub mod config;
pub mod device;
pub mod logging;
pub mod plugins;
pub mod train;
