//! `tzhost resume RUN_DIR`: continue a killed run from its newest checkpoint.

use std::path::PathBuf;

use anyhow::Result;

use tz_plugin_host::Registry;

#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The run directory (it holds config.toml and checkpoints/).
    pub run_dir: PathBuf,
}

pub fn run(args: &ResumeArgs, registry: &Registry) -> Result<()> {
    tz_trainer::resume(&args.run_dir, registry)?;
    Ok(())
}
