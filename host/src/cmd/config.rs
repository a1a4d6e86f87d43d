//! `tzhost config show`: the resolved run config with each value's origin.

use std::io::Write;

use anyhow::Result;

use super::train::TrainArgs;
use crate::config::{annotated, fill_plugin_defaults, Origin};
use crate::plugins::Registry;

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
    let mut resolved = show.train.resolve()?;
    // What the trainer adds for the embedded tiny model, shown as such.
    resolved.apply(Origin::Preset("the tiny model".into()), crate::train::apply_tiny_defaults);
    crate::train::apply_tiny_ppo_lr(&mut resolved);
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
