//! Command-line definition (clap). `tzhost [TRAIN FLAGS]` runs the main job;
//! every other action is a subcommand.

use clap::{Parser, Subcommand};

use crate::cmd;
pub use crate::cmd::global::GlobalArgs;

#[derive(Debug, Parser)]
#[command(
    name = "tzhost",
    version,
    about = "RL training of small language models on verifiable tasks (TinyZero recipe), with plugins",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
    /// With no subcommand: train (`tzhost --task countdown --algo grpo --curriculum adaptive`).
    #[command(flatten)]
    pub train: cmd::train::TrainArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train (the same as giving the train flags with no subcommand).
    Train(cmd::train::TrainArgs),
    /// List every plugin: name, kind, version, library, description, config keys.
    Plugins(cmd::plugins::PluginsArgs),
    /// Run configs: `config show` prints the resolved config with each value's origin.
    Config(cmd::config::ConfigArgs),
    /// Run an ablation sweep (base config × axes / variants), or `sweep report DIR`.
    Sweep(cmd::sweep::SweepArgs),
    /// Check libtorch, CUDA, the plugins and optionally a model and a data file.
    Doctor(cmd::doctor::DoctorArgs),
    /// Plots and consolidated metrics of runs (overlaid), with the success matrix of staged runs.
    Report(cmd::report::ReportArgs),
    /// Continue a killed run from its newest checkpoint.
    Resume(cmd::resume::ResumeArgs),
    /// Make and inspect data sets (veRL/TinyZero parquet): gen, split-random, show.
    Data(cmd::data::DataArgs),
    /// Score recorded responses with a task's reward, one JSON result per line.
    Reward(cmd::reward::RewardArgs),
    /// Complete a prompt with a model (a directory, a hub id, or the tiny preset).
    Generate(tz_eval::generate::GenerateArgs),
    /// Evaluate a model on a task: mean@k, pass@k, maj@k, by difficulty and group.
    Eval(tz_eval::command::EvalArgs),
    /// Will a run fit? Per-rank peak memory by phase and the smallest changes that make it fit.
    Plan(cmd::plan::PlanArgs),
}
