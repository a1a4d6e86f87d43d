//! The RL trainer: the main job of `tzhost`.
//!
//! Each step: the curriculum picks the data stage and the rollout window;
//! the task renders prompts; the core samples `n` responses per prompt; the
//! task scores them; the algorithm chain shapes rewards and estimates
//! advantages; the core updates the actor. Metrics go to metrics.jsonl and
//! TensorBoard event files (`tensorboard/`), logs to `train.log`,
//! checkpoints (HF layout + trainer state) to `checkpoints/step_N`.
//! Problems come from the task's generator or from data files
//! ([`data_source`]).

mod critic;
mod data_source;
mod evaluate;
mod interrupt;
mod policy;
mod progress;
mod prompts;
mod rollout;
mod run_dir;
mod snapshots;
mod stage_eval;
mod stage_groups;
mod stage_records;
mod stages;
mod state;
mod step;
pub mod tensorboard;
mod warm_up;
mod weight_change;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tz_core::kl::KlController;
use tz_core::optim::{AdamW, AdamWConfig};
use tz_core::sampling::SamplingParams;
use tz_core::SaveOptions;
use tz_sdk::abi_stable::std_types::{ROption, RString};
use tz_sdk::decimal::f32_precision;
use tz_sdk::ffi::{CurriculumBox, TaskBox};
use tz_sdk::{Sample, Stage};

use crate::cmd::train::AlgorithmChain;
use crate::config::RunConfig;
use crate::plugins::{Registry, TracingHost};
use crate::run_lock::DirLock;
pub use critic::apply_tiny_ppo_lr;
pub use policy::{parse_dtype, resolve_model_path, Policy};
pub use prompts::generate as generate_samples;
pub use rollout::{rollout_and_score, Scored};
pub use run_dir::{write_atomic, JsonlWriter, RunDir};
use state::TrainerState;

/// Settings the tiny default model needs, applied only where the user set
/// nothing: 3-number countdown problems in the compact template.
pub fn apply_tiny_defaults(cfg: &mut RunConfig) {
    if !cfg.model.path.is_empty() || cfg.task.name != "countdown" {
        return;
    }
    let table = cfg.task.plugins.entry("countdown".into()).or_default();
    table.entry("min_operands").or_insert(toml::Value::Integer(3));
    table.entry("max_operands").or_insert(toml::Value::Integer(3));
    // Responses of the compact template are ~5-15 characters: a window
    // between 8 and the 24-token max, moved in steps of 2.
    let adaptive = cfg.curriculum.plugins.entry("adaptive".into()).or_default();
    adaptive.entry("min_window").or_insert(toml::Value::Integer(8));
    adaptive.entry("step_size").or_insert(toml::Value::Integer(2));
    critic::apply_tiny_ppo_defaults(cfg);
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

/// The curricula of a run: at most one plans data stages, any may set the window.
struct Curricula {
    list: Vec<(String, CurriculumBox)>,
    plan: Vec<Stage>,
    /// A curriculum planned the stages (else one stage over `all`).
    planned: bool,
}

impl Curricula {
    fn build(registry: &Registry, cfg: &RunConfig, groups: &[String]) -> Result<Curricula> {
        let mut list = Vec::new();
        let mut plan = None;
        let rgroups: Vec<RString> = groups.iter().map(|g| g.as_str().into()).collect();
        for name in &cfg.curriculum.chain {
            let c = registry.curriculum(
                name,
                &RunConfig::plugin_json(&cfg.curriculum.plugins, name),
                TracingHost::handle(),
            )?;
            if let ROption::RSome(p) =
                c.plan(rgroups.as_slice().into()).into_result().map_err(anyhow::Error::msg)?
            {
                if plan.is_some() {
                    bail!(
                        "--curriculum {}: more than one curriculum plans data stages",
                        cfg.curriculum.chain.join(",")
                    );
                }
                plan = Some(p.stages.into_vec());
            }
            list.push((name.clone(), c));
        }
        let planned = plan.is_some();
        let plan = plan.unwrap_or_else(|| vec![Stage { round: 1, group: "all".into(), epochs: 1 }]);
        Ok(Curricula { list, plan, planned })
    }

    /// The window for the next batch: the first curriculum with an opinion, else the max.
    fn window(&self, max: usize) -> Result<usize> {
        for (_, c) in &self.list {
            if let ROption::RSome(w) = c.window().into_result().map_err(anyhow::Error::msg)? {
                return Ok((w as usize).clamp(1, max));
            }
        }
        Ok(max)
    }
}

/// Everything a run holds.
struct Trainer<'r> {
    cfg: RunConfig,
    task: TaskBox,
    chain: AlgorithmChain,
    loss: tz_sdk::LossSettings,
    curricula: Curricula,
    policy: Policy,
    reference: Option<Policy>,
    critic: Option<critic::CriticRun>,
    model_path: PathBuf,
    opt: AdamW,
    kl: KlController,
    run: RunDir,
    /// Held for the trainer's lifetime: no second process writes this run.
    _lock: DirLock,
    /// Set by SIGINT/SIGTERM: finish the step, save, stop.
    stop: interrupt::StopRequest,
    metrics: JsonlWriter,
    state: TrainerState,
    val_samples: Vec<Sample>,
    groups: Vec<String>,
    data: data_source::RunData,
    tensorboard: Option<tensorboard::EventWriter>,
    /// Snapshots, evaluations and records at stage boundaries (planned runs).
    stages: Option<stages::StageTracker>,
    _registry: &'r Registry,
}

/// Starts a new run from a resolved config. A directory that holds another
/// run's output is refused unless `overwrite`, which deletes that output.
pub fn run_config(cfg: &RunConfig, registry: &Registry, overwrite: bool) -> Result<()> {
    let mut cfg = cfg.clone();
    apply_tiny_defaults(&mut cfg);
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
    let root = cfg.logging.runs_dir.join(&name);
    data_source::check_paths(&cfg)?;
    // Before the run directory exists; Trainer::new checks again with the
    // reference model counted and for hub models once they are downloaded.
    if let Some(model_cfg) = crate::memory_check::local_model_config(&cfg.model.path)? {
        let need = crate::memory_check::training(&cfg, &model_cfg, parse_dtype(&cfg.model.dtype)?, false);
        crate::memory_check::ensure_fits(&need, crate::device::parse_device(&cfg.model.device)?, "this run")?;
    }
    let run = RunDir::create(root)?;
    let lock = DirLock::acquire(&run.root)?;
    let output = run.output_files();
    if !output.is_empty() {
        if !overwrite {
            bail!(
                "{} already holds a run ({}): `tzhost resume {}` continues it, --overwrite deletes it, \
                 or choose another --out",
                run.root.display(),
                output.join(", "),
                run.root.display()
            );
        }
        run.delete_output()?;
    }
    run.remove_stale_temporaries();
    write_atomic(&run.config(), cfg.to_toml_string().as_bytes())?;
    let mut trainer = Trainer::new(cfg, registry, run, lock, None)?;
    trainer.train()
}

/// Continues the run in `dir` from its newest readable checkpoint (an
/// unreadable one is moved aside as `damaged_step_N`).
pub fn resume(dir: &Path, registry: &Registry) -> Result<()> {
    let run = RunDir { root: dir.to_path_buf() };
    let cfg = RunConfig::from_file(&run.config())
        .with_context(|| format!("{} is not a run directory", dir.display()))?;
    let lock = DirLock::acquire(dir)?;
    if run.summary().exists() {
        let text = std::fs::read_to_string(run.summary())
            .with_context(|| format!("cannot read {}", run.summary().display()))?;
        let s: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if s["finished"] == true {
            bail!("the run in {} has finished; nothing to resume", dir.display());
        }
    }
    run.remove_stale_temporaries();
    let mut checkpoints = run.list_checkpoints();
    if checkpoints.is_empty() {
        bail!(
            "{} has no finished checkpoint to resume from (the run stopped before its first save): \
             start it again with `tzhost --config {} --overwrite`",
            dir.display(),
            run.config().display()
        );
    }
    crate::logging::log_to_file(&run.log_file())?;
    // The newest checkpoint that loads; an unreadable one (a disk that filled
    // up, a damaged file) is passed over with a warning, never deleted.
    let mut lock = Some(lock);
    let mut last_error = None;
    while let Some((step, ckpt)) = checkpoints.pop() {
        if let Err(e) = checkpoint_is_readable(&ckpt) {
            // Kept for inspection under another name, so the run can save
            // this step again.
            let aside = run.checkpoints().join(format!("damaged_step_{step:06}"));
            let moved = std::fs::rename(&ckpt, &aside)
                .map(|()| format!("moved to {}", aside.display()))
                .unwrap_or_else(|m| format!("cannot move it aside: {m}"));
            tracing::warn!("{e:#} ({moved}); trying an older checkpoint");
            eprintln!("warning: {e:#} ({moved}); trying an older checkpoint");
            last_error = Some(e);
            continue;
        }
        tracing::info!("resuming {} from step {step}", dir.display());
        run.truncate_metrics_after(step)?;
        let lock = lock.take().expect("taken once");
        let mut trainer = Trainer::new(cfg, registry, run, lock, Some(&ckpt))?;
        return trainer.train();
    }
    Err(last_error.expect("at least one checkpoint was tried"))
        .with_context(|| format!("no checkpoint of {} can be read", dir.display()))
}

/// Seed 001's per-stage log: `logs/ContinualCountdown_R{round}_{group}.log`
/// (the task's name in place of Countdown for other tasks).
fn stage_log_path(run: &Path, task: &str, round: u32, group: &str) -> PathBuf {
    let mut chars = task.chars();
    let task: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    run.join("logs").join(format!("Continual{task}_R{round}_{group}.log"))
}

/// The log's record of one step: what the progress bar shows.
fn step_line(step: u64, m: &BTreeMap<String, f64>) -> String {
    let g = |k: &str| m.get(k).copied().unwrap_or(f64::NAN);
    format!(
        "step {step}: score {:.3}, response length {:.1}, window {}, {:.2} s",
        g("critic/score/mean"),
        g("response_length/mean"),
        g("train/window"),
        g("timing_s/step")
    )
}

/// Whether a checkpoint's files parse: config, trainer state, and every
/// safetensors file whole (its header read, its length checked, so a file
/// cut short by a full disk fails here without reading gigabytes).
fn checkpoint_is_readable(ckpt: &Path) -> Result<()> {
    let bad = |what: &Path| format!("checkpoint {} is unreadable ({})", ckpt.display(), what.display());
    tz_core::ModelDir::open(ckpt).with_context(|| bad(&ckpt.join("config.json")))?;
    TrainerState::load(ckpt).with_context(|| bad(&ckpt.join("trainer_state.json")))?;
    let mut files = tz_core::checkpoint::WeightFiles::discover(ckpt)?.files;
    files.push(ckpt.join("optimizer.safetensors"));
    for file in files {
        safetensors_complete(&file).with_context(|| bad(&file))?;
    }
    Ok(())
}

/// A safetensors file is an 8-byte header length, a JSON header giving each
/// tensor's byte range, then the data: complete when the data is all there.
fn safetensors_complete(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut n = [0u8; 8];
    file.read_exact(&mut n)?;
    let header_len = u64::from_le_bytes(n);
    anyhow::ensure!(header_len <= len.saturating_sub(8), "a header longer than the file");
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)?;
    let header: serde_json::Map<String, Value> = serde_json::from_slice(&header)?;
    let end = header
        .iter()
        .filter(|(k, _)| k.as_str() != "__metadata__")
        .filter_map(|(_, v)| v["data_offsets"][1].as_u64())
        .max()
        .unwrap_or(0);
    anyhow::ensure!(8 + header_len + end <= len, "{} bytes, {} expected", len, 8 + header_len + end);
    Ok(())
}

impl<'r> Trainer<'r> {
    fn new(
        cfg: RunConfig,
        registry: &'r Registry,
        run: RunDir,
        lock: DirLock,
        checkpoint: Option<&Path>,
    ) -> Result<Self> {
        let device = crate::device::parse_device(&cfg.model.device)?;
        let kind = parse_dtype(&cfg.model.dtype)?;
        tch::manual_seed(cfg.trainer.seed as i64);
        let task = registry.task(
            &cfg.task.name,
            &RunConfig::plugin_json(&cfg.task.plugins, &cfg.task.name),
            TracingHost::for_run(&cfg.reward_model),
        )?;
        let chain = AlgorithmChain::build(registry, &cfg.algorithm.chain, &|n| {
            RunConfig::plugin_json(&cfg.algorithm.plugins, n)
        })?;
        let loss = chain.estimator.1.loss_settings().into_result().map_err(anyhow::Error::msg)?;
        let groups: Vec<String> =
            task.groups().into_result().map_err(anyhow::Error::msg)?.iter().map(|g| g.to_string()).collect();
        let mut curricula = Curricula::build(registry, &cfg, &groups)?;
        crate::logging::log_to_file(&run.log_file())?;
        let data = data_source::RunData::load(&task, &cfg)?;
        if let Some(train) = &data.train {
            train.check_plan(&curricula.plan, cfg.curriculum.chain.iter().any(|c| c == "random"))?;
        }

        let model_path = policy::resolve_model_path(
            &cfg.model.path,
            &task,
            cfg.model.tiny_seed,
            cfg.model.tiny_sft_steps,
        )?;
        let model_cfg = tz_core::ModelConfig::from_file(&model_path.join("config.json"))?;
        let need = crate::memory_check::training(&cfg, &model_cfg, kind, loss.needs_reference());
        crate::memory_check::ensure_fits(&need, device, "this run")?;
        let mut policy = Policy::load(checkpoint.unwrap_or(&model_path), device, kind)?;
        policy.prompt_limit =
            prompts::PromptLimit::from_settings(cfg.task.max_prompt_length, &cfg.task.truncation)?;
        policy.model.set_gradient_checkpointing(cfg.trainer.gradient_checkpointing);
        let reference = if loss.needs_reference() {
            let ref_device =
                crate::device::parse_device_or("model.ref_device", &cfg.model.ref_device, device)?;
            let mut r = Policy::load(&model_path, ref_device, kind)?;
            r.vs.freeze();
            Some(r)
        } else {
            None
        };
        let critic = critic::CriticRun::create(&loss, &cfg, &model_path, checkpoint, device, kind)?;
        let opt_cfg = AdamWConfig {
            lr: cfg.trainer.lr,
            beta1: cfg.trainer.betas.0,
            beta2: cfg.trainer.betas.1,
            weight_decay: cfg.trainer.weight_decay,
            max_grad_norm: (cfg.trainer.grad_clip > 0.0).then_some(cfg.trainer.grad_clip),
            warmup_steps: cfg.trainer.warmup_steps,
            decay: cfg.trainer.lr_decay,
            min_lr_ratio: cfg.trainer.min_lr_ratio,
            total_steps: optimizer_steps(&cfg),
            ..AdamWConfig::default()
        };
        let mut opt = AdamW::from_var_store(&policy.vs, opt_cfg);
        let mut kl = KlController::from_settings(&loss.kl);
        let mut state = TrainerState::new(cfg.trainer.seed);

        // Held-out problems: from val_data, or generated with another seed; none seen in training.
        let val_samples = match (&data.val, &data.train) {
            (Some(val), _) => val.clone(),
            (None, None) => prompts::generate(
                &task,
                &groups,
                cfg.eval.size,
                cfg.trainer.seed ^ 0x5EED_7E57,
                &HashSet::new(),
            )?,
            (None, Some(train)) => {
                let generated = prompts::generate(
                    &task,
                    &groups,
                    cfg.eval.size + cfg.eval.size / 4 + 16,
                    cfg.trainer.seed ^ 0x5EED_7E57,
                    &HashSet::new(),
                )?;
                let mut kept = data.without(&task, generated, &data.keys(&task, &train.samples)?)?;
                kept.truncate(cfg.eval.size);
                kept
            }
        };

        let stages = if curricula.planned {
            Some(stages::StageTracker::new(&run.root, &cfg, &task, &groups, &curricula.plan, &model_path)?)
        } else {
            None
        };

        if let Some(ckpt) = checkpoint {
            state = TrainerState::load(ckpt)?;
            opt.load(&ckpt.join("optimizer.safetensors"))?;
            kl = state.kl;
            for (name, c) in curricula.list.iter_mut() {
                if let Some(s) = state.curricula.get(name) {
                    c.restore(s.as_str().into()).into_result().map_err(anyhow::Error::msg)?;
                }
            }
            if let Some(s) = &state.task {
                task.restore(s.as_str().into()).into_result().map_err(anyhow::Error::msg)?;
            }
        }
        let tensorboard = if cfg.logging.tensorboard {
            let mut w = tensorboard::EventWriter::create(&run.tensorboard())?;
            if checkpoint.is_some() {
                w.write_restart(state.step + 1)?;
            }
            Some(w)
        } else {
            None
        };
        let metrics = JsonlWriter::append(&run.metrics())?;
        Ok(Trainer {
            cfg,
            task,
            chain,
            loss,
            curricula,
            policy,
            reference,
            critic,
            model_path,
            opt,
            kl,
            run,
            _lock: lock,
            stop: interrupt::StopRequest::install()?,
            metrics,
            state,
            val_samples,
            groups,
            data,
            tensorboard,
            stages,
            _registry: registry,
        })
    }

    /// Training problems of a stage's group (`all` = every group).
    fn stage_pool(&self, stage: &Stage) -> Result<prompts::SamplePool> {
        let seed = self.cfg.trainer.seed.wrapping_mul(7919).wrapping_add(stage.round as u64);
        if let Some(train) = &self.data.train {
            return Ok(prompts::SamplePool::new(train.for_stage(stage), seed));
        }
        let mut exclude: HashSet<String> = self.val_samples.iter().map(|s| s.data.to_string()).collect();
        let mut samples = match &self.stages {
            Some(t) if stage.group.as_str() != "all" => {
                exclude.extend(t.test_contents());
                t.train_problems(&self.task, stage.group.as_str(), self.cfg.task.train_size, seed, &exclude)?
            }
            _ => {
                let size = self.cfg.task.train_size * self.groups.len();
                prompts::generate(&self.task, &self.groups, size, seed, &exclude)?
            }
        };
        if self.data.val.is_some() {
            samples =
                self.data.without(&self.task, samples, &self.data.keys(&self.task, &self.val_samples)?)?;
        }
        Ok(prompts::SamplePool::new(samples, seed))
    }

    /// The start (`start`) or end of stage `index` of a planned run.
    fn stage_boundary(&mut self, index: usize, start: bool, complete: bool) -> Result<()> {
        let Some(tracker) = self.stages.as_mut() else { return Ok(()) };
        if start {
            let stage = &self.curricula.plan[index];
            let log = stage_log_path(&self.run.root, &self.cfg.task.name, stage.round, stage.group.as_str());
            crate::logging::log_stage_to(Some(&log))?;
        }
        let ctx = stages::BoundaryCtx {
            task: &self.task,
            policy: &self.policy,
            cfg: &self.cfg,
            step: self.state.step,
        };
        if start {
            tracker.begin(index, self.state.stage_step > 0, &ctx)
        } else {
            let ended = tracker.end(index, complete, &ctx);
            crate::logging::log_stage_to(None)?;
            ended
        }
    }

    fn log(&mut self, step: u64, metrics: &BTreeMap<String, f64>) -> Result<()> {
        let mut obj = serde_json::Map::new();
        obj.insert("step".into(), json!(step));
        for (k, v) in metrics {
            obj.insert(k.clone(), if v.is_finite() { json!(v) } else { Value::Null });
        }
        if let Some(tb) = &mut self.tensorboard {
            tb.write_scalars(step, metrics)?;
        }
        self.metrics.write(&Value::Object(obj))
    }

    fn validate(&mut self, step: u64) -> Result<BTreeMap<String, f64>> {
        let t0 = Instant::now();
        let v = evaluate::validate(
            &self.task,
            &self.policy,
            &self.val_samples,
            &self.cfg,
            self.cfg.trainer.seed ^ 0xE7A1,
        )?;
        let mut samples = JsonlWriter::append(&self.run.samples())?;
        for e in &v.examples {
            samples.write(&json!({"step": step, "example": e}))?;
        }
        let mut m = v.metrics;
        m.insert("timing_s/testing".into(), t0.elapsed().as_secs_f64());
        Ok(m)
    }

    fn save_checkpoint(&mut self, step: u64) -> Result<()> {
        let final_dir = self.run.checkpoint(step);
        if final_dir.exists() {
            return Ok(());
        }
        let tmp = self.run.checkpoints().join(format!(".step_{step:06}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let written = self.write_checkpoint(&tmp).and_then(|()| {
            std::fs::rename(&tmp, &final_dir)
                .with_context(|| format!("cannot rename {} to {}", tmp.display(), final_dir.display()))
        });
        if let Err(e) = written {
            // A half-written checkpoint only takes space (on a full disk, the
            // space the next attempt needs).
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e.context(format!("saving checkpoint {}", final_dir.display())));
        }
        // Later checkpoints copy their tokenizer and configs from this one:
        // the directory the run started (or resumed) from may be pruned.
        self.policy.dir = tz_core::ModelDir::open(&final_dir)?;
        self.run.prune(self.cfg.trainer.keep_checkpoints);
        Ok(())
    }

    /// Everything a checkpoint holds, written into `dir`.
    fn write_checkpoint(&mut self, dir: &Path) -> Result<()> {
        let dtype = self.policy.model.kind();
        self.policy.dir.save_like(&self.policy.vs, dir, &SaveOptions { dtype, ..SaveOptions::default() })?;
        self.opt.save(&dir.join("optimizer.safetensors"))?;
        if let Some(critic) = &self.critic {
            critic.save(dir)?;
        }
        self.state.kl = self.kl;
        self.state.curricula.clear();
        for (name, c) in &self.curricula.list {
            let s = c.state().into_result().map_err(anyhow::Error::msg)?;
            self.state.curricula.insert(name.clone(), s.to_string());
        }
        self.state.task = Some(self.task.state().into_result().map_err(anyhow::Error::msg)?.into_string());
        self.state.save(dir)
    }

    fn train(&mut self) -> Result<()> {
        let cfg = self.cfg.clone();
        let started = Instant::now();
        let elapsed_before = self.state.elapsed_s;
        if self.state.step == 0 {
            let window = self.curricula.window(cfg.rollout.max_response_length)?;
            let warm = match self.curricula.plan.first().cloned() {
                Some(stage) => {
                    warm_up::warm_up(&self.task, &self.policy, &cfg, window, || self.stage_pool(&stage))?
                }
                None => BTreeMap::new(),
            };
            let mut m = self.validate(0)?;
            self.state.before = m.clone();
            m.extend(warm);
            tracing::info!(
                "before training: val/acc {:.3}, val/acc_greedy {:.3} on {} held-out problems",
                m.get("val/acc").copied().unwrap_or(0.0),
                m.get("val/acc_greedy").copied().unwrap_or(f64::NAN),
                self.val_samples.len()
            );
            self.log(0, &m)?;
        }
        let budget_s = cfg.trainer.max_minutes * 60.0;
        let mut bar = progress::TrainProgress::start(
            cfg.logging.progress,
            cfg.trainer.total_steps,
            self.state.step,
            cfg.logging.progress_every_s,
        );
        // In-loop validation time of this session: not counted as RL time.
        let mut validating_s = 0.0;
        let mut last_validation = Instant::now();
        let plan = self.curricula.plan.clone();
        let mut stop_reason = "plan finished".to_string();
        'stages: while self.state.stage < plan.len() {
            let stage = plan[self.state.stage].clone();
            let mut pool = self.stage_pool(&stage)?;
            if let Some(p) = self.state.pool {
                pool.restore(p);
            }
            let stage_steps = if plan.len() == 1
                && stage.group.as_str() == "all"
                && (cfg.trainer.total_steps > 0 || budget_s > 0.0)
            {
                u64::MAX
            } else {
                pool.steps_per_epoch(cfg.rollout.prompts_per_step) * stage.epochs as u64
            };
            self.stage_boundary(self.state.stage, true, false)?;
            while self.state.stage_step < stage_steps {
                if self.stop.requested() {
                    return self.stop_on_signal();
                }
                if cfg.trainer.total_steps > 0 && self.state.step >= cfg.trainer.total_steps {
                    stop_reason = format!("{} steps done", cfg.trainer.total_steps);
                    break 'stages;
                }
                let elapsed = elapsed_before + started.elapsed().as_secs_f64() - validating_s;
                if budget_s > 0.0 && elapsed >= budget_s {
                    stop_reason = format!("time budget of {} min reached", cfg.trainer.max_minutes);
                    break 'stages;
                }
                let step = self.state.step + 1;
                let t_step = Instant::now();
                let window = self.curricula.window(cfg.rollout.max_response_length)?;
                let samples = pool.next_batch(cfg.rollout.prompts_per_step);
                let params = SamplingParams {
                    temperature: cfg.rollout.temperature,
                    top_p: cfg.rollout.top_p,
                    top_k: cfg.rollout.top_k,
                    max_new_tokens: window,
                    seed: cfg.trainer.seed.wrapping_mul(1_000_000_007).wrapping_add(step),
                    budget: cfg.rollout.budget(),
                };
                let scored = rollout::rollout_and_score(
                    &self.task,
                    &self.policy,
                    samples,
                    &cfg.task.template,
                    cfg.rollout.n,
                    &params,
                    &cfg.rollout.stop,
                )?;
                let result = step::train_on(
                    &scored,
                    step::StepInputs {
                        cfg: &cfg,
                        chain: &self.chain,
                        loss: &self.loss,
                        policy: &self.policy,
                        reference: self.reference.as_ref(),
                        opt: &mut self.opt,
                        kl: &mut self.kl,
                        critic: self.critic.as_mut(),
                        device: self.policy.model.device(),
                        step,
                        window,
                    },
                )?;
                let mut m = result.metrics;
                // After the training batch only (validation scoring is never committed).
                for metric in self.task.end_batch().into_result().map_err(anyhow::Error::msg)?.iter() {
                    m.insert(metric.name.to_string(), metric.value);
                }
                for (_, c) in self.curricula.list.iter_mut() {
                    let observed = c.observe(&result.stats).into_result().map_err(anyhow::Error::msg)?;
                    for metric in observed.iter() {
                        m.insert(metric.name.to_string(), metric.value);
                    }
                }
                self.state.step = step;
                self.state.stage_step += 1;
                self.state.pool = Some(pool.state);
                let flat = result.rewards.windows(2).all(|w| w[0] == w[1]);
                self.state.flat_steps = if flat { self.state.flat_steps + 1 } else { 0 };
                self.state.cumulative_reward += m.get("critic/score/mean").copied().unwrap_or(0.0);
                self.state.tokens += m.get("tokens/overall_total").copied().unwrap_or(0.0) as u64;
                let step_s = t_step.elapsed().as_secs_f64();
                m.insert("timing_s/step".into(), step_s);
                m.insert(
                    "perf/throughput".into(),
                    m.get("tokens/overall_total").copied().unwrap_or(0.0) / step_s.max(1e-9),
                );
                m.insert("train/cumulative_reward".into(), f32_precision(self.state.cumulative_reward));
                m.insert("tokens/cumulative_total".into(), self.state.tokens as f64);
                m.insert("time/elapsed_s".into(), elapsed_before + started.elapsed().as_secs_f64());
                m.insert("train/stage".into(), self.state.stage as f64);
                m.insert("train/window".into(), window as f64);
                let by_steps = cfg.trainer.test_freq > 0 && step % cfg.trainer.test_freq == 0;
                let by_time = cfg.trainer.test_every_minutes > 0.0
                    && last_validation.elapsed().as_secs_f64() >= cfg.trainer.test_every_minutes * 60.0;
                if by_steps || by_time {
                    let t0 = Instant::now();
                    m.extend(self.validate(step)?);
                    validating_s += t0.elapsed().as_secs_f64();
                    last_validation = Instant::now();
                }
                self.log(step, &m)?;
                tracing::info!(target: crate::logging::STEP_TARGET, "{}", step_line(step, &m));
                bar.update(step, &m, window, step_s);
                self.state.elapsed_s = elapsed_before + started.elapsed().as_secs_f64();
                if cfg.trainer.save_freq > 0 && step % cfg.trainer.save_freq == 0 {
                    self.save_checkpoint(step)?;
                }
                if cfg.trainer.collapse_patience > 0 && self.state.flat_steps >= cfg.trainer.collapse_patience
                {
                    let r = result.rewards.first().copied().unwrap_or(0.0);
                    stop_reason = format!(
                        "collapse: every reward was {r} for {} consecutive steps (no learning signal; try a lower trainer.lr)",
                        self.state.flat_steps
                    );
                    tracing::warn!("{stop_reason}");
                    self.state.collapsed = true;
                    break 'stages;
                }
            }
            self.stage_boundary(self.state.stage, false, true)?;
            self.state.stage += 1;
            self.state.stage_step = 0;
            self.state.pool = None;
        }
        if self.state.stage < plan.len() && self.state.stage_step > 0 {
            // Stopped inside a stage: its end is where the run stopped.
            self.stage_boundary(self.state.stage, false, false)?;
        }
        bar.finish();
        self.state.elapsed_s = elapsed_before + started.elapsed().as_secs_f64();
        let after = self.validate(self.state.step)?;
        self.log(self.state.step, &after)?;
        self.save_checkpoint(self.state.step)?;
        self.finish(&after, &stop_reason)
    }

    /// After SIGINT/SIGTERM between two steps: a checkpoint of the last
    /// finished step and an unfinished summary, then an error that says how
    /// to continue (so the process exits non-zero).
    fn stop_on_signal(&mut self) -> Result<()> {
        let step = self.state.step;
        eprintln!("stopping at step {step} on a signal: saving a checkpoint (a second signal exits at once)");
        self.save_checkpoint(step)?;
        let summary = json!({
            "finished": false,
            "stop_reason": "stopped by a signal",
            "steps": step,
            "tokens": self.state.tokens,
            "wall_s": self.state.elapsed_s,
            "model": self.model_path,
        });
        write_atomic(&self.run.summary(), serde_json::to_string_pretty(&summary)?.as_bytes())?;
        bail!(
            "stopped by a signal after step {step}; continue with `tzhost resume {}`",
            self.run.root.display()
        )
    }

    fn finish(&mut self, after: &BTreeMap<String, f64>, stop_reason: &str) -> Result<()> {
        let g = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(f64::NAN);
        let before = self.state.before.clone();
        let summary = json!({
            "finished": true,
            "stop_reason": stop_reason,
            "collapsed": self.state.collapsed,
            "steps": self.state.step,
            "tokens": self.state.tokens,
            "wall_s": self.state.elapsed_s,
            "model": self.model_path,
            "val/acc_before": g(&before, "val/acc"),
            "val/acc_after": g(after, "val/acc"),
            "val/acc_greedy_before": g(&before, "val/acc_greedy"),
            "val/acc_greedy_after": g(after, "val/acc_greedy"),
            "val/size": self.val_samples.len(),
        });
        write_atomic(&self.run.summary(), serde_json::to_string_pretty(&summary)?.as_bytes())?;
        println!(
            "run finished ({stop_reason}) after {} steps, {} tokens, {:.0} s",
            self.state.step, self.state.tokens, self.state.elapsed_s
        );
        println!(
            "  val/acc        {:.3} -> {:.3}   (mean over {} samples per problem, {} held-out problems)",
            g(&before, "val/acc"),
            g(after, "val/acc"),
            self.cfg.eval.samples,
            self.val_samples.len()
        );
        if self.cfg.eval.greedy {
            println!(
                "  val/acc_greedy {:.3} -> {:.3}",
                g(&before, "val/acc_greedy"),
                g(after, "val/acc_greedy")
            );
        }
        println!("  run directory  {}", self.run.root.display());
        Ok(())
    }
}
