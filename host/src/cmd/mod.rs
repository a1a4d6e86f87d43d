//! One file per `tzhost` subcommand.

pub mod config;
pub mod doctor;
pub mod plugins;
pub mod sweep;
pub mod train;
