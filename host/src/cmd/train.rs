//! `tzhost [train]`: the main job.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use tz_config::{self as config, FlagValue, Resolved};
use tz_plugin_host::Registry;

/// The main job's flags. Each maps to one config key (see
/// [`TrainArgs::flag_values`]); values resolve as defaults < `--config` file
/// < these flags < `--set`.
#[derive(Debug, Clone, Default, Args)]
pub struct TrainArgs {
    /// A TOML run config (see configs/); flags and --set override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one config key: `--set trainer.lr=1e-6` (dotted key, TOML-typed
    /// value, lists as `[a, b]` or `a,b`); repeatable, applied last.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Task plugin [task.name; default countdown].
    #[arg(long)]
    pub task: Option<String>,
    /// Algorithm chain: reward shapers, then one advantage estimator, in any
    /// order on the command line (`grpo,cosine`) [algorithm.chain; default grpo].
    #[arg(long, value_delimiter = ',')]
    pub algo: Vec<String>,
    /// Curricula: at most one data curriculum and one window curriculum
    /// (`continual,adaptive`) [curriculum.chain; default adaptive].
    #[arg(long, value_delimiter = ',')]
    pub curriculum: Vec<String>,
    /// A Hugging Face model directory or hub id [model.path; default: the embedded tiny model].
    #[arg(long)]
    pub model: Option<String>,
    /// auto, cpu, cuda or cuda:N [model.device; default auto].
    #[arg(long)]
    pub device: Option<String>,
    /// Random seed of the run [trainer.seed; default 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run directory [logging.runs_dir + logging.run_name; default
    /// runs/<task>-<algo>-<curriculum>-<time>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Delete what an earlier run left in the run directory (metrics,
    /// checkpoints, summary) and start afresh; without it such a directory
    /// is refused.
    #[arg(long)]
    pub overwrite: bool,
}

impl TrainArgs {
    /// The flags given, as config assignments `(key, value, flag)`.
    pub fn flag_values(&self) -> Vec<FlagValue> {
        use toml::Value as V;
        let strings = |v: &[String]| V::Array(v.iter().map(|s| V::String(s.clone())).collect());
        let mut out: Vec<FlagValue> = Vec::new();
        if let Some(t) = &self.task {
            out.push(("task.name", V::String(t.clone()), "--task"));
        }
        if !self.algo.is_empty() {
            out.push(("algorithm.chain", strings(&self.algo), "--algo"));
        }
        if !self.curriculum.is_empty() {
            out.push(("curriculum.chain", strings(&self.curriculum), "--curriculum"));
        }
        if let Some(m) = &self.model {
            out.push(("model.path", V::String(m.clone()), "--model"));
        }
        if let Some(d) = &self.device {
            out.push(("model.device", V::String(d.clone()), "--device"));
        }
        if let Some(s) = self.seed {
            out.push(("trainer.seed", V::Integer(s as i64), "--seed"));
        }
        if let Some(o) = &self.out {
            let parent = o.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let name = o.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            out.push(("logging.runs_dir", V::String(parent.display().to_string()), "--out"));
            out.push(("logging.run_name", V::String(name), "--out"));
        }
        out
    }

    /// The resolved config with each value's origin.
    pub fn resolve(&self) -> Result<Resolved> {
        Ok(config::resolve(self.config.as_deref(), self.flag_values(), &self.set)?)
    }
}

/// `tzhost train`: resolve the config (defaults < file < flags < presets),
/// check the plugin tables against the plugins, train.
pub fn run(args: &TrainArgs, registry: &Registry) -> Result<()> {
    let resolved = args.resolve()?;
    config::check_plugin_tables(&resolved, registry)?;
    tz_trainer::run_config(&resolved.config, registry, args.overwrite)?;
    Ok(())
}
