//! `tzhost plan`: per-rank peak memory of a run before it starts, from the
//! run config and the model's `config.json` (no weights), through the
//! `tz-plan` estimator. [`plan_run`] is the entry point for any caller;
//! [`inputs`] maps config keys to planner inputs; [`render`] prints.

pub mod inputs;
pub mod render;

use anyhow::{Context, Result};
use serde::Serialize;
use tz_plan::{advise, estimate, Change, Fit, Hardware, ModelShape, Plan, RunShape};

pub use inputs::{model_shape, run_shape, PlanOptions};
use tz_config::{Resolved, RunConfig};
use tz_plugin_host::{Registry, TracingHost};

/// Which device a plan is checked against.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// `--gpu h100|h200|<GiB>` or `--cpu [GiB]`.
    Given(Hardware),
    /// Whatever the config's `# Hardware:` line says, else the config's device.
    FromConfig,
}

/// Everything `tzhost plan` prints.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub model: String,
    pub model_from: String,
    pub shape: ModelShape,
    pub run: RunShape,
    pub hardware: Hardware,
    pub hardware_from: String,
    pub plan: Plan,
    pub peak: u64,
    pub peak_phase: String,
    pub fit: Fit,
    pub suggestions: Vec<SuggestionText>,
}

/// A suggestion as config assignments.
#[derive(Debug, Clone, Serialize)]
pub struct SuggestionText {
    pub changes: Vec<String>,
    pub peak: u64,
}

/// The machine's memory (`MemTotal`), for plans of CPU runs.
fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with("MemTotal:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        .map_or(0, |kb| kb * 1024)
}

/// The CPU as a target: `gib` of memory, or the machine's.
pub fn cpu_target(gib: Option<f64>) -> Hardware {
    Hardware::cpu(gib.map_or_else(host_memory, |g| (g * (1u64 << 30) as f64) as u64))
}

/// Plans a resolved run config. `config_text` is the config file's text (for
/// its `# Hardware:` line), when the run came from a file.
pub fn plan_run(
    resolved: &Resolved,
    config_text: Option<&str>,
    registry: &Registry,
    target: &Target,
    opts: &PlanOptions,
) -> Result<PlanReport> {
    // The tiny model's settings are already in `resolved` (its presets layer).
    let cfg = &resolved.config;
    let chain = registry.algorithm_chain(
        &cfg.algorithm.chain,
        &|n| RunConfig::plugin_json(&cfg.algorithm.plugins, n),
        &TracingHost::handle,
    )?;
    let loss = chain.estimator.loss_settings()?;
    let source = model_shape(&cfg.model.path).context("model.path")?;

    let stated = match config_text {
        Some(text) => tz_plan::stated_hardware(text)?,
        None => None,
    };
    let (hardware, hardware_from) = match (target, &stated) {
        (Target::Given(hw), _) => (hw.clone(), "command line".to_string()),
        (Target::FromConfig, Some(s)) => (s.gpu.clone(), format!("the config's '{}'", s.line)),
        (Target::FromConfig, None) => match tz_core::device::parse_device(&cfg.model.device) {
            Ok(tz_core::Device::Cpu) => (cpu_target(None), "model.device (this machine's memory)".into()),
            _ => (Hardware::h100(), "assumed; pass --gpu".into()),
        },
    };
    let mut opts = opts.clone();
    if opts.nproc.is_none() && matches!(target, Target::FromConfig) {
        opts.nproc = stated.as_ref().map(|s| s.count);
    }
    let run = run_shape(cfg, &loss, hardware.kind, &opts)?;
    let plan = estimate(&source.shape, &run);
    let device = plan.policy_device();
    let peak_phase = device.peak_phase().map(|p| p.name.clone()).unwrap_or_default();
    let fit = Fit::check(plan.peak(), hardware.capacity);
    let table = cfg.to_table();
    let suggestions = advise(&source.shape, &run, hardware.capacity)
        .into_iter()
        .map(|s| SuggestionText {
            changes: s.changes.iter().map(|c| change_text(c, &table)).collect(),
            peak: s.peak,
        })
        .collect();
    Ok(PlanReport {
        model: if cfg.model.path.is_empty() { "the tiny model".into() } else { cfg.model.path.clone() },
        model_from: source.from,
        shape: source.shape,
        run,
        hardware,
        hardware_from,
        plan,
        peak: fit.peak,
        peak_phase,
        fit,
        suggestions,
    })
}

/// A change as the setting to write, marked when the trainer cannot take it yet.
fn change_text(change: &Change, table: &toml::Table) -> String {
    let key = |key: &str, value: String| {
        let known = inputs::has_key(table, key);
        format!("{key} = {value}{}", if known { "" } else { " (not a config key yet: planned, issue 17)" })
    };
    match change {
        Change::MicroBatch(m) => key("trainer.micro_batch_size", m.to_string()),
        Change::LogitChunk(c) => key("trainer.logit_chunk", c.to_string()),
        Change::GradientCheckpointing => key(inputs::KEY_CHECKPOINTING, "true".into()),
        Change::RowsInFlight(n) => key(inputs::KEY_ROWS_IN_FLIGHT, n.to_string()),
        Change::Ranks(n) => format!("{n} data-parallel ranks with ZeRO-1 (--nproc {n} --zero1; issue 16)"),
        Change::ReferenceOn(d) => key("model.ref_device", format!("\"{d}\"")),
        Change::RewardModelOn(d) => key("reward_model.device", format!("\"{d}\"")),
    }
}
