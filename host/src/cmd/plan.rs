//! `tzhost plan`: will this run fit? Per-rank peak memory by phase, from the
//! run config and the model's config.json, before anything is allocated.

use std::io::Write;

use anyhow::{bail, Result};
use tz_plan::{Attention, Hardware};

use super::train::TrainArgs;
use crate::memory_plan::{cpu_target, plan_run, render::render, PlanOptions, Target};
use tz_plugin_host::Registry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AttentionKernel {
    /// libtorch's math kernel: [heads, T, T] f32 scores kept for backward
    /// (what a masked grouped-query call gets on CUDA unless cuDNN attention
    /// is preferred).
    Math,
    /// Flash (the CPU's choice) or cuDNN attention: no per-head T × T scores.
    Fused,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The run: the same flags as `tzhost train` (--config FILE, --set, --model, ...).
    #[command(flatten)]
    pub train: TrainArgs,
    /// The GPU to check against: h100, h200, or its memory in GiB [default:
    /// the config's `# Hardware:` line, else an H100].
    #[arg(long, value_name = "h100|h200|GiB", conflicts_with = "cpu")]
    pub gpu: Option<String>,
    /// Check a CPU run against this much memory in GiB [default: this machine's].
    #[arg(long, value_name = "GiB", num_args = 0..=1)]
    pub cpu: Option<Option<f64>>,
    /// Data-parallel ranks (processes) [default: the `# Hardware:` line's GPU count, else 1].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub nproc: Option<u64>,
    /// Shard AdamW moments and master weights across the ranks (ZeRO-1).
    #[arg(long)]
    pub zero1: bool,
    /// Plan with activation checkpointing [default: trainer.gradient_checkpointing when the config has it].
    #[arg(long)]
    pub gradient_checkpointing: bool,
    /// Rollout budget: rows generated at once [default: rollout.max_rows_in_flight when the config has it].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub rows_in_flight: Option<u64>,
    /// Rollout budget: KV-cache positions over all rows at once [default: rollout.kv_budget_tokens when the config has it].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub kv_budget_tokens: Option<u64>,
    /// The longest prompt in tokens [default: task.max_prompt_length when the config has it, else 256].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub prompt_len: Option<u64>,
    /// The attention kernel to assume [default: math on a GPU, fused on the CPU].
    #[arg(long, value_enum)]
    pub attention: Option<AttentionKernel>,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit with status 1 when the run does not fit.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: &PlanArgs, registry: &Registry) -> Result<()> {
    let resolved = args.train.resolve()?;
    let text = match &args.train.config {
        Some(path) => Some(std::fs::read_to_string(path)?),
        None => None,
    };
    let target = match (&args.gpu, args.cpu) {
        (Some(gpu), _) => Target::Given(Hardware::parse_gpu(gpu)?),
        (None, Some(gib)) => {
            if gib.is_some_and(|g| !(g.is_finite() && g > 0.0)) {
                bail!("--cpu {}: give the memory in GiB, e.g. --cpu 24", gib.unwrap_or_default());
            }
            Target::Given(cpu_target(gib))
        }
        (None, None) => Target::FromConfig,
    };
    let opts = PlanOptions {
        nproc: args.nproc,
        zero1: args.zero1,
        gradient_checkpointing: args.gradient_checkpointing.then_some(true),
        rows_in_flight: args.rows_in_flight,
        kv_budget_tokens: args.kv_budget_tokens,
        prompt_len: args.prompt_len,
        attention: args.attention.map(|a| match a {
            AttentionKernel::Math => Attention::Math,
            AttentionKernel::Fused => Attention::Fused,
        }),
    };
    let report = plan_run(&resolved, text.as_deref(), registry, &target, &opts)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write!(out, "{}", render(&report))?;
    }
    if args.check && !report.fit.fits {
        bail!("the run does not fit: peak {:.2} GiB per rank", report.peak as f64 / (1u64 << 30) as f64);
    }
    Ok(())
}
