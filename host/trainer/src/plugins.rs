//! The plugins of one run, as typed handles: the task, the algorithm chain
//! and the curricula. The trainer takes them ready-made, so a test or an
//! embedding program can create them in-process
//! (`tz_sdk::export::in_process`) while `tzhost` loads them from libraries
//! ([`RunPlugins::from_registry`]).

use tz_config::RunConfig;
use tz_plugin_host::{AlgorithmChain, Registry, TracingHost};
use tz_sdk::handle::{Curriculum, Task};

use crate::error::Result;
use crate::reward_service::host_for_run;

/// Everything a run asks of plugins.
pub struct RunPlugins {
    pub task: Task,
    pub algorithms: AlgorithmChain,
    /// In `curriculum.chain` order: at most one plans data stages, the
    /// first with an opinion sets the window.
    pub curricula: Vec<Curriculum>,
}

impl RunPlugins {
    /// Creates the plugins `cfg` names with their settings. The task gets
    /// the run's reward model when `reward_model.path` is set.
    pub fn from_registry(registry: &Registry, cfg: &RunConfig) -> Result<RunPlugins> {
        let task = registry.task(
            &cfg.task.name,
            &RunConfig::plugin_json(&cfg.task.plugins, &cfg.task.name),
            host_for_run(&cfg.reward_model),
        )?;
        let algorithms = registry.algorithm_chain(
            &cfg.algorithm.chain,
            &|n| RunConfig::plugin_json(&cfg.algorithm.plugins, n),
            &TracingHost::handle,
        )?;
        let curricula = cfg
            .curriculum
            .chain
            .iter()
            .map(|n| {
                registry.curriculum(
                    n,
                    &RunConfig::plugin_json(&cfg.curriculum.plugins, n),
                    TracingHost::handle(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RunPlugins { task, algorithms, curricula })
    }
}
