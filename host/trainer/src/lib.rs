//! # tz-trainer: the RL trainer as a library
//!
//! Each step: the curriculum picks the data stage and the rollout window;
//! the task renders prompts; the core samples `n` responses per prompt; the
//! task scores them; the shapers and the estimator turn scores into
//! advantages; the core updates the critic and the actor ([`step`]).
//! Figures go to the outputs ([`outputs`]: metrics.jsonl, TensorBoard, the
//! progress display), checkpoints to `checkpoints/step_N` ([`checkpoint`]),
//! and a stop rule ends the run ([`stop`]).
//!
//! The trainer takes typed plugin handles ([`RunPlugins`]), not a registry,
//! so a test drives it in-process:
//!
//! ```ignore
//! let plugins = RunPlugins { task, algorithms, curricula };   // handles
//! let mut trainer = Trainer::start(cfg, plugins, run_dir)?;    // a new run
//! let outcome = trainer.step()?;                               // one RL step
//! let summary = trainer.run()?;                                // to the end
//! ```
//!
//! By lifecycle: [`build`] (start or resume), [`run`] (the loop and one
//! step), [`checkpoint`] (save and restore as a pair), [`summary`] (the
//! end). Planned curricula get snapshots, evaluations and records at stage
//! boundaries ([`stages`]). `tzhost` calls [`run_config`] and [`resume`].

pub mod build;
pub mod checkpoint;
mod clock;
mod curricula;
mod data_source;
pub mod dist;
pub mod error;
mod interrupt;
pub mod memory_check;
mod model_source;
pub mod outputs;
mod plugins;
mod prompts;
mod reward_service;
mod rollout;
pub mod run;
pub mod stages;
mod state;
pub mod step;
pub mod stop;
pub mod summary;
mod validation;
mod warm_up;

use std::path::{Path, PathBuf};

use tz_config::RunConfig;
use tz_core::kl::KlController;
use tz_core::parallel::{Optimizer, World};
use tz_core::Policy;
use tz_plugin_host::{AlgorithmChain, Registry};
use tz_run_dir::{DirLock, RunDir};
use tz_sdk::handle::Task;
use tz_sdk::{LossSettings, Sample};

pub use build::{check_resumable, resume_point, run_dir_of, saved_config};
pub use checkpoint::check_readable;
pub use error::{Result, TrainError};
pub use model_source::resolve_model_path;
pub use outputs::tensorboard;
pub use outputs::{OutputSink, RunProgress};
pub use plugins::RunPlugins;
pub use prompts::generate as generate_samples;
pub use prompts::PromptLimit;
pub use reward_service::{host_for_run, RewardService};
pub use rollout::{rollout_and_score, rollout_and_score_on, rollout_budget, RolloutSpec, Scored};
pub use step::StepOutcome;
pub use stop::{Stop, StopRule};
pub use summary::Summary;
pub use validation::ValidationSchedule;

/// A run being trained: its config, plugins, models, state and outputs.
pub struct Trainer {
    cfg: RunConfig,
    task: Task,
    algorithms: AlgorithmChain,
    loss: LossSettings,
    curricula: curricula::Curricula,
    policy: Policy,
    reference: Option<Policy>,
    critic: Option<step::critic::CriticRun>,
    model_path: PathBuf,
    opt: Box<dyn Optimizer>,
    kl: KlController,
    run: RunDir,
    /// This process's place in a data-parallel job ([`dist`]); rank 0 alone
    /// writes the run directory.
    world: World,
    /// Held by rank 0 for the trainer's lifetime: no second job writes this run.
    _lock: Option<DirLock>,
    state: state::TrainerState,
    /// Held-out problems of the validation.
    val_samples: Vec<Sample>,
    /// The task's data groups.
    groups: Vec<String>,
    data: data_source::RunData,
    /// Snapshots, evaluations and records at stage boundaries (planned runs).
    stages: Option<stages::StageTracker>,
    outputs: Vec<Box<dyn OutputSink>>,
    stops: Vec<Box<dyn StopRule>>,
    clock: clock::RunClock,
    schedule: ValidationSchedule,
    /// The stage being trained, once entered.
    stage: Option<run::ActiveStage>,
}

/// Starts a new run of a resolved config with plugins from `registry`
/// (`tzhost train`); `overwrite` deletes another run's output in its
/// directory. SIGINT/SIGTERM stop it after a step, saved. Under torchrun
/// every rank calls it and they train one run together ([`dist`]).
pub fn run_config(cfg: &RunConfig, registry: &Registry, overwrite: bool) -> Result<Summary> {
    data_source::check_paths(cfg)?;
    let world = dist::join(cfg)?;
    let plugins = RunPlugins::from_registry(registry, cfg)?;
    // A run name made from the clock must be rank 0's on every rank.
    let root = PathBuf::from(dist::from_main(&world, &run_dir_of(cfg).to_string_lossy())?);
    let mut trainer = Trainer::start_on(world, cfg.clone(), plugins, root, overwrite)?;
    trainer.stop_on_signals()?;
    trainer.run()
}

/// Continues the run in `dir` from its newest readable checkpoint (`tzhost
/// resume`). SIGINT/SIGTERM stop it after a step, saved.
pub fn resume(dir: &Path, registry: &Registry) -> Result<Summary> {
    let cfg = saved_config(dir)?;
    let world = dist::join(&cfg)?;
    let run = RunDir { root: dir.to_path_buf() };
    let plugins = RunPlugins::from_registry(registry, &cfg)?;
    let mut trainer = Trainer::resume_on(world, run, cfg, plugins)?;
    trainer.stop_on_signals()?;
    trainer.run()
}
