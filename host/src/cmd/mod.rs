//! One file per `tzhost` subcommand.

pub mod generate;
pub mod plugins;
pub mod resume;
pub mod train;
