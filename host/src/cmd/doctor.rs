//! `tzhost doctor`: can this machine train? One line per check; a failure
//! says how to fix it, and any failure makes the exit status non-zero.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};

use tz_doctor::{self as doctor, Check, Status};

use super::global::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Also check a model (a directory, or a hub id already in the Hugging Face
    /// cache): files, config.json, tokenizer, one forward pass.
    #[arg(long, value_name = "DIR|HUB_ID")]
    pub model: Option<String>,
    /// Also check a data file (parquet or JSONL): its rows are samples of the task.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// The task --data is for [default: task.name of --config, else countdown].
    #[arg(long)]
    pub task: Option<String>,
    /// The template --data rows are rendered with [default: task.template of --config, else the task's first].
    #[arg(long)]
    pub template: Option<String>,
    /// The device you will train on: a CUDA device that is not usable is then a failure.
    #[arg(long)]
    pub device: Option<String>,
    /// Also check a run config: it resolves, and its plugins exist and accept
    /// their settings; its reward model (`[reward_model]`), when it has one, is checked too.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Also check a reward model (a directory, or a cached hub id): a one-label
    /// Qwen2 sequence classifier whose chat template renders a pair.
    #[arg(long, value_name = "DIR|HUB_ID")]
    pub reward_model: Option<String>,
    /// Also load the reward model and score one (question, response) pair
    /// (a 7B reward model takes ~15 GB and a minute or more).
    #[arg(long)]
    pub reward_forward: bool,
}

pub fn run(args: &DoctorArgs, global: &GlobalArgs, env_path: Option<&str>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    let mut report = |checks: Vec<Check>, out: &mut dyn Write| -> Result<()> {
        for c in checks {
            failed += (c.status == Status::Fail) as usize;
            writeln!(out, "{c}")?;
        }
        out.flush()?;
        Ok(())
    };
    report(doctor::libtorch::check(), &mut out)?;
    report(doctor::cuda::check(args.device.as_deref()), &mut out)?;
    let (checks, registry) = doctor::plugins::check(&global.plugin_dirs, env_path);
    report(checks, &mut out)?;
    let mut task = args.task.clone();
    let mut template = args.template.clone();
    let mut reward_model = args
        .reward_model
        .clone()
        .map(|path| crate::config::RewardModelSection { path, ..Default::default() });
    if let Some(file) = &args.config {
        let (check, cfg) = doctor::config::check(file, &registry);
        if let Some(cfg) = cfg {
            task = task.or(Some(cfg.task.name.clone()));
            template = template.or(Some(cfg.task.template.clone()));
            if reward_model.is_none() && !cfg.reward_model.path.is_empty() {
                reward_model = Some(cfg.reward_model.clone());
            }
        }
        report(vec![check], &mut out)?;
    }
    if let Some(section) = &reward_model {
        report(doctor::reward_model::check(section, args.reward_forward), &mut out)?;
    }
    if let Some(dir) = &args.model {
        report(doctor::model::check(dir, doctor::device_of(args.device.as_deref())), &mut out)?;
    }
    if let Some(file) = &args.data {
        let task = task.unwrap_or_else(|| tz_config::RunConfig::default().task.name);
        report(doctor::data::check(file, &task, template.as_deref(), &registry), &mut out)?;
    }
    if failed > 0 {
        bail!("{failed} check{} failed", if failed == 1 { "" } else { "s" });
    }
    writeln!(out, "all checks passed")?;
    Ok(())
}
