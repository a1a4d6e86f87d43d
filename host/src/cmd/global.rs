//! The flags every subcommand accepts (`--plugin-dir`, `-v`, `-q`); here,
//! below the subcommands, so they need not reach up into `cli`.

use std::path::PathBuf;

use clap::Args;

/// Flags every subcommand accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Extra directory (or library file) to load plugins from; repeatable.
    #[arg(long = "plugin-dir", global = true, value_name = "DIR")]
    pub plugin_dirs: Vec<PathBuf>,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}
