//! One file per `tzhost` subcommand.

pub mod plugins;
pub mod train;
