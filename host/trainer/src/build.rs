//! Building a trainer: a new run in a fresh run directory, or a run resumed
//! from its newest checkpoint. Both load the models, the held-out problems,
//! the stage machinery and the outputs the same way; a resume then restores
//! the saved state ([`crate::checkpoint`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tz_config::RunConfig;
use tz_core::device::{manual_seed, parse_device, parse_device_or, parse_dtype};
use tz_core::kl::KlController;
use tz_core::optim::{AdamWConfig, Decay};
use tz_core::parallel::{broadcast_parameters, optimizer_for, parameters_digest, World};
use tz_core::{ModelConfig, Policy};
use tz_run_dir::{write_atomic, DirLock, RunDir};

use crate::checkpoint::check_readable;
use crate::clock::RunClock;
use crate::curricula::Curricula;
use crate::data_source::{self, RunData};
use crate::dist;
use crate::error::{Context, Result, TrainError};
use crate::interrupt::StopRequest;
use crate::memory_check;
use crate::model_source::resolve_model_path;
use crate::outputs::jsonl::MetricsJsonl;
use crate::outputs::tensorboard::TensorBoard;
use crate::outputs::{progress, OutputSink};
use crate::plugins::RunPlugins;
use crate::prompts;
use crate::stages::StageTracker;
use crate::state::TrainerState;
use crate::step::critic::CriticRun;
use crate::stop::{Collapse, Signal, StepLimit, StopRule, TimeBudget};
use crate::validation::ValidationSchedule;
use crate::Trainer;

/// Seed offset of the generated held-out problems (apart from training's).
const VALIDATION_PROBLEMS_SEED: u64 = 0x5EED_7E57;

/// The run directory a config names: `logging.runs_dir/logging.run_name`,
/// or `<task>-<algorithms>-<curricula>-<unix time>` without a name.
pub fn run_dir_of(cfg: &RunConfig) -> PathBuf {
    let name = if cfg.logging.run_name.is_empty() {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        format!(
            "{}-{}-{}-{stamp}",
            cfg.task.name,
            cfg.algorithm.chain.join("+"),
            cfg.curriculum.chain.join("+")
        )
    } else {
        cfg.logging.run_name.clone()
    };
    cfg.logging.runs_dir.join(name)
}

/// The config saved in a run directory.
pub fn saved_config(dir: &Path) -> Result<RunConfig> {
    RunConfig::from_file(&RunDir { root: dir.to_path_buf() }.config())
        .map_err(TrainError::Config)
        .with_context(|| format!("{} is not a run directory", dir.display()))
}

/// Checks that the run in `run` can be resumed: it has not finished and it
/// has a finished checkpoint.
pub fn check_resumable(run: &RunDir) -> Result<()> {
    if run.summary().exists() {
        let text = std::fs::read_to_string(run.summary())
            .with_context(|| format!("cannot read {}", run.summary().display()))?;
        let s: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if s["finished"] == true {
            return Err(TrainError::Finished(run.root.clone()));
        }
    }
    if run.list_checkpoints().is_empty() {
        return Err(TrainError::NoCheckpoint(run.root.clone()));
    }
    Ok(())
}

/// The newest checkpoint of `run` that reads whole. An unreadable one (a
/// disk that filled up, a damaged file) is passed over with a warning and
/// kept for inspection as `checkpoints/damaged_step_N`, so the run can save
/// that step again; it is never deleted.
pub fn resume_point(run: &RunDir) -> Result<(u64, PathBuf)> {
    check_resumable(run)?;
    let mut checkpoints = run.list_checkpoints();
    let mut last_error = None;
    while let Some((step, ckpt)) = checkpoints.pop() {
        match check_readable(&ckpt) {
            Ok(()) => return Ok((step, ckpt)),
            Err(e) => {
                let aside = run.checkpoints().join(format!("damaged_step_{step:06}"));
                let moved = std::fs::rename(&ckpt, &aside)
                    .map(|()| format!("moved to {}", aside.display()))
                    .unwrap_or_else(|m| format!("cannot move it aside: {m}"));
                tracing::warn!("{} ({moved}); trying an older checkpoint", e.chain());
                eprintln!("warning: {} ({moved}); trying an older checkpoint", e.chain());
                last_error = Some(e);
            }
        }
    }
    let last = Box::new(last_error.expect("check_resumable found a checkpoint"));
    Err(TrainError::NoReadableCheckpoint { dir: run.root.clone(), last })
}

/// The memory check before any model is loaded, for a model directory on
/// disk (a hub model is checked once it is downloaded); `with_reference`
/// counts the reference model.
fn check_memory(cfg: &RunConfig, model: &ModelConfig, with_reference: bool) -> Result<()> {
    let need = memory_check::training(cfg, model, parse_dtype(&cfg.model.dtype)?, with_reference);
    memory_check::ensure_fits(&need, parse_device(&cfg.model.device)?, "this run")
}

/// `trainer.lr_decay` as the core's schedule.
fn decay(d: tz_config::Decay) -> Decay {
    match d {
        tz_config::Decay::Constant => Decay::Constant,
        tz_config::Decay::Linear => Decay::Linear,
        tz_config::Decay::Cosine => Decay::Cosine,
    }
}

/// Optimizer updates in `trainer.total_steps` RL steps (the span of the
/// learning-rate decay): each step takes `ppo_epochs` × mini-batches of them.
fn optimizer_steps(cfg: &RunConfig) -> u64 {
    let rows = (cfg.rollout.prompts_per_step * cfg.rollout.n).max(1);
    let mini = match cfg.trainer.mini_batch_size {
        0 => rows,
        m => m.min(rows),
    };
    cfg.trainer.total_steps * (cfg.trainer.ppo_epochs.max(1) * rows.div_ceil(mini)) as u64
}

impl Trainer {
    /// A new run of `cfg` (a resolved config) in the run directory `root`,
    /// locked for the trainer's lifetime. A directory with another run's
    /// output is refused unless `overwrite`, which deletes that output.
    /// Writes the config there first.
    pub fn start(cfg: RunConfig, plugins: RunPlugins, root: PathBuf, overwrite: bool) -> Result<Trainer> {
        Trainer::start_on(World::single(), cfg, plugins, root, overwrite)
    }

    /// [`Trainer::start`] as one rank of a data-parallel job: rank 0 creates,
    /// locks and writes the run directory; the others wait for it.
    pub fn start_on(
        world: World,
        cfg: RunConfig,
        plugins: RunPlugins,
        root: PathBuf,
        overwrite: bool,
    ) -> Result<Trainer> {
        data_source::check_paths(&cfg)?;
        if !world.is_main() {
            world.barrier()?;
            return Trainer::build(world, cfg, plugins, RunDir { root }, None, None);
        }
        // Before the run directory exists; `build` checks again with the
        // reference model counted and for hub models once they are downloaded.
        if let Some(model) = memory_check::local_model_config(&cfg.model.path)? {
            check_memory(&cfg, &model, false)?;
        }
        let run = RunDir::create(root)?;
        let lock = DirLock::acquire(&run.root)?;
        let found = run.output_files();
        if !found.is_empty() {
            if !overwrite {
                return Err(TrainError::RunExists { dir: run.root, found: found.join(", ") });
            }
            run.delete_output()?;
        }
        run.remove_stale_temporaries();
        crate::stages::snapshots::remove_stale(&run.root);
        write_atomic(&run.config(), cfg.to_toml_string().as_bytes())?;
        world.barrier()?;
        Trainer::build(world, cfg, plugins, run, Some(lock), None)
    }

    /// Continues the run in `run` from its newest readable checkpoint
    /// ([`resume_point`]), locked for the trainer's lifetime; `cfg` is the
    /// run's saved config ([`saved_config`]) and `plugins` were created from it.
    pub fn resume(run: RunDir, cfg: RunConfig, plugins: RunPlugins) -> Result<Trainer> {
        Trainer::resume_on(World::single(), run, cfg, plugins)
    }

    /// [`Trainer::resume`] as one rank of a data-parallel job: rank 0 picks
    /// the checkpoint (and sets damaged ones aside); every rank loads it.
    pub fn resume_on(world: World, run: RunDir, cfg: RunConfig, plugins: RunPlugins) -> Result<Trainer> {
        let mut lock = None;
        let mut picked = String::new();
        if world.is_main() {
            lock = Some(DirLock::acquire(&run.root)?);
            check_resumable(&run)?;
            run.remove_stale_temporaries();
            crate::stages::snapshots::remove_stale(&run.root);
            tz_logging::log_to_file(&run.log_file())?;
            let (step, ckpt) = resume_point(&run)?;
            let saved = TrainerState::load(&ckpt)?.world_size;
            if saved != world.size() {
                return Err(TrainError::WorldSize { dir: ckpt, saved, now: world.size() });
            }
            tracing::info!("resuming {} from step {step}", run.root.display());
            run.truncate_metrics_after(step)?;
            picked = ckpt.to_string_lossy().into_owned();
        }
        let ckpt = PathBuf::from(dist::from_main(&world, &picked)?);
        Trainer::build(world, cfg, plugins, run, lock, Some(&ckpt))
    }

    fn build(
        world: World,
        cfg: RunConfig,
        plugins: RunPlugins,
        run: RunDir,
        lock: Option<DirLock>,
        checkpoint: Option<&Path>,
    ) -> Result<Trainer> {
        let device = dist::device(&world, &cfg)?;
        let kind = parse_dtype(&cfg.model.dtype)?;
        manual_seed(cfg.trainer.seed);
        let RunPlugins { task, algorithms, curricula } = plugins;
        let loss = algorithms.estimator.loss_settings()?;
        let groups = task.groups()?;
        let curricula = Curricula::new(curricula, &groups)?;
        if world.is_main() {
            tz_logging::log_to_file(&run.log_file())?;
        }
        let data = RunData::load(&task, &cfg)?;
        if let Some(train) = &data.train {
            train.check_plan(&curricula.plan, cfg.curriculum.chain.iter().any(|c| c == "random"))?;
        }

        // Rank 0 first: it may create (download, warm-start) the model the others then find cached.
        let resolve =
            || resolve_model_path(&cfg.model.path, &task, cfg.model.tiny_seed, cfg.model.tiny_sft_steps);
        let first = if world.is_main() { Some(resolve()?) } else { None };
        world.barrier()?;
        let model_path = match first {
            Some(path) => path,
            None => resolve()?,
        };
        let model_cfg = ModelConfig::from_file(&model_path.join("config.json"))?;
        check_memory(&cfg, &model_cfg, loss.needs_reference())?;
        let mut policy = Policy::load(checkpoint.unwrap_or(&model_path), device, kind)?;
        policy.model.set_gradient_checkpointing(cfg.trainer.gradient_checkpointing);
        // Every replica starts from rank 0's weights.
        broadcast_parameters(&world, &policy.vs, 0)?;
        let reference = if loss.needs_reference() {
            let ref_device = parse_device_or("model.ref_device", &cfg.model.ref_device, device)?;
            Some(Policy::load_frozen(&model_path, ref_device, kind)?)
        } else {
            None
        };
        let critic = CriticRun::create(&world, &loss, &cfg, &model_path, checkpoint, device, kind)?;
        let opt_cfg = AdamWConfig {
            lr: cfg.trainer.lr,
            beta1: cfg.trainer.betas.0,
            beta2: cfg.trainer.betas.1,
            weight_decay: cfg.trainer.weight_decay,
            max_grad_norm: (cfg.trainer.grad_clip > 0.0).then_some(cfg.trainer.grad_clip),
            warmup_steps: cfg.trainer.warmup_steps,
            decay: decay(cfg.trainer.lr_decay),
            min_lr_ratio: cfg.trainer.min_lr_ratio,
            total_steps: optimizer_steps(&cfg),
            ..AdamWConfig::default()
        };
        let opt = optimizer_for(&world, &policy.vs, opt_cfg, dist::sharding(&cfg))?;
        let kl = KlController::from_settings(&loss.kl);

        // Held-out problems: from val_data, or generated with another seed; none seen in training.
        let val_seed = cfg.trainer.seed ^ VALIDATION_PROBLEMS_SEED;
        let val_samples = match (&data.val, &data.train) {
            (Some(val), _) => val.clone(),
            (None, None) => prompts::generate(&task, &groups, cfg.eval.size, val_seed, &HashSet::new())?,
            (None, Some(train)) => {
                let extra = cfg.eval.size + cfg.eval.size / 4 + 16;
                let generated = prompts::generate(&task, &groups, extra, val_seed, &HashSet::new())?;
                let mut kept = data.without(&task, generated, &data.keys(&task, &train.samples)?)?;
                kept.truncate(cfg.eval.size);
                kept
            }
        };

        let stages = if curricula.planned {
            Some(StageTracker::new(&run.root, &cfg, &task, &groups, &curricula.plan, &model_path)?)
        } else {
            None
        };

        let mut trainer = Trainer {
            schedule: ValidationSchedule::new(&cfg, 0.0),
            clock: RunClock::start(0.0, 0.0),
            cfg,
            task,
            algorithms,
            loss,
            curricula,
            policy,
            reference,
            critic,
            model_path,
            opt,
            kl,
            run,
            world,
            _lock: lock,
            state: TrainerState::new(0),
            val_samples,
            groups,
            data,
            stages,
            outputs: Vec::new(),
            stops: Vec::new(),
            stage: None,
        };
        trainer.state = TrainerState::new(trainer.cfg.trainer.seed);
        if let Some(ckpt) = checkpoint {
            trainer.restore(ckpt)?;
        }
        trainer.state.world_size = trainer.world.size();
        trainer.add_standard_outputs_and_stops(checkpoint.is_some())?;
        Ok(trainer)
    }

    /// metrics.jsonl, TensorBoard (when on), the progress display; the
    /// step limit, the time budget and the collapse rule.
    fn add_standard_outputs_and_stops(&mut self, resumed: bool) -> Result<()> {
        let cfg = &self.cfg;
        self.stops.push(Box::new(StepLimit(cfg.trainer.total_steps)));
        self.stops.push(Box::new(TimeBudget(cfg.trainer.max_minutes)));
        self.stops.push(Box::new(Collapse(cfg.trainer.collapse_patience)));
        if !self.world.is_main() {
            return Ok(());
        }
        if cfg.logging.tensorboard {
            // A resumed session marks its first step, so TensorBoard drops
            // what the killed one logged from there on.
            let restart = resumed.then_some(self.state.step + 1);
            self.outputs.push(Box::new(TensorBoard::create(&self.run.tensorboard(), restart)?));
        }
        self.outputs.push(Box::new(MetricsJsonl::append(&self.run.metrics())?));
        self.outputs.push(progress::for_run(cfg.logging.progress, cfg.logging.progress_every_s));
        Ok(())
    }

    /// Adds an output: it sees every logged point from now on.
    pub fn add_output(&mut self, sink: Box<dyn OutputSink>) {
        self.outputs.push(sink);
    }

    /// Adds a stop rule, checked after the built-in ones.
    pub fn add_stop_rule(&mut self, rule: Box<dyn StopRule>) {
        self.stops.push(rule);
    }

    /// Handles SIGINT and SIGTERM for this process: the first stops the run
    /// after the step in flight (checkpoint, unfinished summary, an
    /// [`TrainError::Interrupted`] error); a second exits at once.
    pub fn stop_on_signals(&mut self) -> Result<()> {
        let request = StopRequest::install().context("cannot install the signal handlers")?;
        self.add_stop_rule(Box::new(Signal(request)));
        Ok(())
    }

    /// The run directory.
    pub fn run_dir(&self) -> &RunDir {
        &self.run
    }

    /// The policy being trained.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Steps done.
    pub fn steps_done(&self) -> u64 {
        self.state.step
    }

    /// This process's place in the data-parallel job.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// A digest of the policy's weights: equal on all ranks exactly when
    /// their replicas are bit-identical.
    pub fn weights_digest(&self) -> u64 {
        parameters_digest(&self.policy.vs)
    }
}
