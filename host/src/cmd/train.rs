//! `tzhost [train]`: the main job.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use tz_sdk::ffi::AlgorithmBox;
use tz_sdk::AlgorithmRole;

use crate::config::RunConfig;
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
    /// A TOML experiment file (see configs/); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override one config key, e.g. `--set trainer.lr=1e-4` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl TrainArgs {
    /// The resolved config: defaults, then `--config`, then flags, then `--set`.
    pub fn resolve(&self) -> Result<RunConfig> {
        let mut table = match &self.config {
            Some(path) => RunConfig::from_file(path)?.to_table(),
            None => RunConfig::default().to_table(),
        };
        let mut set = |key: &str, value: toml::Value| {
            let mut node = &mut table;
            let parts: Vec<&str> = key.split('.').collect();
            for p in &parts[..parts.len() - 1] {
                node = node
                    .entry(p.to_string())
                    .or_insert_with(|| toml::Value::Table(Default::default()))
                    .as_table_mut()
                    .unwrap();
            }
            node.insert(parts[parts.len() - 1].to_string(), value);
        };
        let strings =
            |v: &[String]| toml::Value::Array(v.iter().map(|s| toml::Value::String(s.clone())).collect());
        set("task.name", toml::Value::String(self.task.clone()));
        set("algorithm.chain", strings(&self.algo));
        set("curriculum.chain", strings(&self.curriculum));
        if let Some(m) = &self.model {
            set("model.path", toml::Value::String(m.clone()));
        }
        set("model.device", toml::Value::String(self.device.clone()));
        set("trainer.seed", toml::Value::Integer(self.seed as i64));
        if let Some(out) = &self.out {
            let parent = out.parent().map(|p| p.to_string_lossy().to_string()).unwrap_or_default();
            set("logging.runs_dir", toml::Value::String(if parent.is_empty() { ".".into() } else { parent }));
            set(
                "logging.run_name",
                toml::Value::String(
                    out.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(),
                ),
            );
        }
        for assignment in &self.set {
            crate::config::apply_override(&mut table, assignment)?;
        }
        RunConfig::from_table(table).map_err(|e| anyhow::anyhow!("config: {e}"))
    }
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

pub fn run(args: &TrainArgs, registry: &Registry) -> Result<()> {
    crate::train::run_config(&args.resolve()?, registry)
}
