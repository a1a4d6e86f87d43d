//! `tzhost config show`: the resolved run config with each value's origin.

use std::io::Write;

use anyhow::Result;

use tz_config::{annotated, fill_plugin_defaults};
use tz_plugin_host::Registry;

use super::train::TrainArgs;

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum ConfigAction {
    /// Print the resolved config (defaults < --config file < flags) with each
    /// value's origin; the output is itself a valid config file.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The same flags as `tzhost train`.
    #[command(flatten)]
    pub train: TrainArgs,
    /// Print JSON: `{"key": {"value": ..., "origin": "default|file|flag|...", "source": ...}}`.
    #[arg(long)]
    pub json: bool,
    /// Do not load plugins (their defaults are then not shown or checked).
    #[arg(long)]
    pub no_plugins: bool,
}

pub fn run(args: &ConfigArgs, registry: impl FnOnce() -> Result<Registry>) -> Result<()> {
    let ConfigAction::Show(show) = &args.action;
    // With the presets (the tiny model's settings), shown as such.
    let mut resolved = show.train.resolve()?;
    if !show.no_plugins {
        fill_plugin_defaults(&mut resolved, &registry()?)?;
    }
    let mut out = std::io::stdout().lock();
    if show.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&annotated::to_json(&resolved))?)?;
    } else {
        write!(out, "{}", annotated::render(&resolved))?;
    }
    Ok(())
}
