//! `tzhost reward`: score recorded responses offline with a task's reward,
//! one JSON result per line (see `tz_data::commands::reward` for the input).

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use tz_data::commands::reward::{score_lines, RewardSummary};
use tz_data::rows::atomic_write;

use tz_plugin_host::Registry;

use super::data::TaskChoice;

#[derive(Debug, Args)]
pub struct RewardArgs {
    #[command(flatten)]
    pub task: TaskChoice,
    /// JSONL input, one `{"ground_truth": ..., "response": ...}` per line
    /// (or `{"index": N, "response": ...}` with --parquet); `-` reads stdin.
    #[arg(long)]
    pub data: PathBuf,
    /// Data rows to score against, by `index` (or line order) when a line has no ground_truth.
    #[arg(long)]
    pub parquet: Option<PathBuf>,
    /// The template the responses were generated with (default: the task's first).
    #[arg(long)]
    pub template: Option<String>,
    /// Write the results here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: &RewardArgs, registry: &Registry, progress: bool) -> Result<()> {
    let task = args.task.load(registry)?;
    let template = match &args.template {
        Some(t) => t.clone(),
        None => task.templates()?.first().cloned().context("the task lists no templates")?,
    };
    let name = args.data.display().to_string();
    let mut input: Box<dyn Read> = if name == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(&args.data).with_context(|| format!("cannot open {name}"))?)
    };
    let parquet = args.parquet.as_deref();
    let summary = match &args.out {
        Some(path) => {
            let mut summary = RewardSummary::default();
            atomic_write(path, |file| {
                let mut out = BufWriter::new(file);
                summary = score_lines(&task, &mut input, &name, parquet, &template, &mut out, progress)?;
                out.flush()?;
                Ok(())
            })?;
            summary
        }
        None => score_lines(
            &task,
            &mut input,
            &name,
            parquet,
            &template,
            &mut std::io::stdout().lock(),
            progress,
        )?,
    };
    eprintln!(
        "scored {} lines: mean score {:.4}, accuracy {:.4}, answer found {:.4}",
        summary.lines, summary.mean_score, summary.accuracy, summary.formatted
    );
    Ok(())
}
