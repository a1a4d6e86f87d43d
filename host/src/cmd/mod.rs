//! One file per `tzhost` subcommand.

pub mod data;
pub mod generate;
pub mod plugins;
pub mod resume;
pub mod reward;
pub mod train;
