//! `tzhost data gen|split-random|show`: make and inspect data sets in the
//! TinyZero/veRL parquet layout. The logic is in `tz_data::commands`.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::{Args, Subcommand};
use tz_data::commands::gen::{self, GenOptions, Layout, WrittenFile};
use tz_data::commands::{show, split};
use tz_plugin_host::{Registry, TracingHost};
use tz_sdk::handle::Task;

#[derive(Debug, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Generate train/test parquet files with a task's generator.
    Gen(GenArgs),
    /// Split one data file into random groups (the control of a curriculum).
    SplitRandom(SplitArgs),
    /// Print a parquet or JSONL file's schema, row count and first rows.
    Show(ShowArgs),
}

/// The task plugin a data command uses.
#[derive(Debug, Clone, Args)]
pub struct TaskChoice {
    /// Task plugin.
    #[arg(long, default_value = "countdown")]
    pub task: String,
    /// The task's config as JSON, e.g. '{"max_operands": 5}' (see `tzhost plugins`).
    #[arg(long, value_name = "JSON", default_value = "")]
    pub task_config: String,
}

impl TaskChoice {
    pub fn load(&self, registry: &Registry) -> Result<Task> {
        Ok(registry.task(&self.task, &self.task_config, TracingHost::handle())?)
    }
}

#[derive(Debug, Args)]
pub struct GenArgs {
    #[command(flatten)]
    pub task: TaskChoice,
    /// `continual`: OUT/continual/<group>/{train,test}.parquet for every group;
    /// `single`: OUT/<task>/{train,test}.parquet from the mixed group `all`.
    #[arg(long, default_value = "continual", value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<Layout>()))]
    pub layout: Layout,
    /// Training rows per group.
    #[arg(long, default_value_t = 100_000)]
    pub train_size: u64,
    /// Test rows per group (none of them also in the training rows).
    #[arg(long, default_value_t = 1_000)]
    pub test_size: u64,
    /// Output directory.
    #[arg(long, default_value = "data")]
    pub out: PathBuf,
    /// Random seed: the same seed gives the same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Prompt template of the rows' `prompt` column (default: the task's first).
    #[arg(long)]
    pub template: Option<String>,
}

#[derive(Debug, Args)]
pub struct SplitArgs {
    /// The parquet (or JSONL) file to split, e.g. TinyZero's train.parquet.
    #[arg(long)]
    pub input: PathBuf,
    /// Number of groups, named 0, 1, ...
    #[arg(long, default_value_t = 4)]
    pub groups: usize,
    /// Training rows per group.
    #[arg(long, default_value_t = 100_000)]
    pub train_size: u64,
    /// Test rows per group.
    #[arg(long, default_value_t = 1_000)]
    pub test_size: u64,
    /// Output directory: OUT/<group>/{train,test}.parquet and OUT/manifest.json
    /// (disjoint groups when the input is large enough, else groups that share
    /// training rows; test rows are never in a training set).
    #[arg(long, default_value = "data/random")]
    pub out: PathBuf,
    /// Random seed of the shuffle.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Task plugin that reads each row to fill the `difficulty` column.
    #[arg(long, default_value = "countdown")]
    pub task: String,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A .parquet or .jsonl file.
    pub file: PathBuf,
    /// How many rows to print.
    #[arg(long, default_value_t = 3)]
    pub rows: usize,
}

pub fn run(args: &DataArgs, registry: &dyn Fn() -> Result<Registry>, progress: bool) -> Result<()> {
    match &args.command {
        DataCommand::Gen(a) => {
            let registry = registry()?;
            let task = a.task.load(&registry)?;
            let opts = GenOptions {
                task_name: a.task.task.clone(),
                layout: a.layout,
                train_size: a.train_size,
                test_size: a.test_size,
                out: a.out.clone(),
                seed: a.seed,
                template: a.template.clone(),
                progress,
            };
            report(&gen::generate(&task, &opts)?);
            Ok(())
        }
        DataCommand::SplitRandom(a) => {
            let registry = registry()?;
            let task = registry.task(&a.task, "", TracingHost::handle())?;
            let opts = split::SplitOptions {
                input: a.input.clone(),
                groups: a.groups,
                train_size: a.train_size,
                test_size: a.test_size,
                out: a.out.clone(),
                seed: a.seed,
                progress,
            };
            let split = split::split_random(Some(&task), &opts)?;
            report(&split.files);
            eprintln!("{}", split.manifest.describe());
            println!("manifest  {}", split.manifest_path.display());
            Ok(())
        }
        DataCommand::Show(a) => {
            if !a.file.exists() {
                return Err(anyhow!("{} does not exist", a.file.display()));
            }
            print!("{}", show::show(&a.file, a.rows)?);
            Ok(())
        }
    }
}

fn report(files: &[WrittenFile]) {
    for f in files {
        println!("{:>8} rows  {}", f.rows, f.path.display());
    }
}
