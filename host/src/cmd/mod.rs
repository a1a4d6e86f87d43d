//! One file per `tzhost` subcommand.

pub mod config;
pub mod data;
pub mod doctor;
pub mod global;
pub mod plan;
pub mod plugins;
pub mod report;
pub mod resume;
pub mod reward;
pub mod sweep;
pub mod train;
