//! `tzhost [train]`: the main job.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use tz_sdk::ffi::{AlgorithmBox, CurriculumBox, TaskBox};
use tz_sdk::AlgorithmRole;

use crate::plugins::{Registry, TracingHost};

#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Task plugin.
    #[arg(long, default_value = "countdown")]
    pub task: String,
    /// Algorithm chain: reward shapers, then one advantage estimator, in any
    /// order on the command line (`grpo,cosine`).
    #[arg(long, default_value = "grpo", value_delimiter = ',')]
    pub algo: Vec<String>,
    /// Curricula: at most one data curriculum and one window curriculum
    /// (`continual,adaptive`).
    #[arg(long, default_value = "adaptive", value_delimiter = ',')]
    pub curriculum: Vec<String>,
    /// A Hugging Face model directory or hub id; default: the embedded tiny model.
    #[arg(long)]
    pub model: Option<String>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Random seed of the run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run directory (default: runs/<task>-<algo>-<curriculum>-<time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The algorithm chain of a run: shapers in order, then the estimator.
pub struct AlgorithmChain {
    pub shapers: Vec<(String, AlgorithmBox)>,
    pub estimator: (String, AlgorithmBox),
}

impl AlgorithmChain {
    /// Instantiates the named algorithms and checks the chain has exactly one
    /// estimator. `config_of(name)` gives each plugin's JSON config.
    pub fn build(registry: &Registry, names: &[String], config_of: &dyn Fn(&str) -> String) -> Result<Self> {
        let mut shapers = Vec::new();
        let mut estimators = Vec::new();
        for name in names {
            let algo = registry.algorithm(name, &config_of(name), TracingHost::handle())?;
            match algo.role().into_result().map_err(|e| anyhow::anyhow!("{e}"))? {
                AlgorithmRole::Shaper => shapers.push((name.clone(), algo)),
                AlgorithmRole::Estimator => estimators.push((name.clone(), algo)),
            }
        }
        match estimators.len() {
            1 => Ok(AlgorithmChain { shapers, estimator: estimators.pop().unwrap() }),
            0 => bail!(
                "--algo {}: the chain needs one advantage estimator (e.g. grpo or ppo)",
                names.join(",")
            ),
            _ => bail!(
                "--algo {}: the chain has {} advantage estimators ({}); keep exactly one",
                names.join(","),
                estimators.len(),
                estimators.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// The plugins of a run, instantiated and checked.
pub struct RunPlugins {
    pub task: TaskBox,
    pub chain: AlgorithmChain,
    pub curricula: Vec<(String, CurriculumBox)>,
}

pub fn load_run_plugins(args: &TrainArgs, registry: &Registry) -> Result<RunPlugins> {
    let no_config = |_: &str| String::new();
    let task = registry.task(&args.task, "", TracingHost::handle())?;
    let chain = AlgorithmChain::build(registry, &args.algo, &no_config)?;
    let mut curricula = Vec::new();
    for name in &args.curriculum {
        curricula.push((name.clone(), registry.curriculum(name, "", TracingHost::handle())?));
    }
    Ok(RunPlugins { task, chain, curricula })
}

pub fn run(args: &TrainArgs, registry: &Registry) -> Result<()> {
    let _device = crate::device::parse_device(&args.device)?;
    let _plugins = load_run_plugins(args, registry)?;
    bail!(
        "the training loop is not implemented yet (plugins '{}', '{}', '{}' load fine)",
        args.task,
        args.algo.join(","),
        args.curriculum.join(",")
    )
}
