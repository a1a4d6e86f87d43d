//! Running a trainer: the stages of the curriculum plan, each a sequence of
//! steps, until the plan is done or a stop rule fires; validation before
//! training, on schedule, and after; checkpoints every `save_freq` steps and
//! at the end.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use serde_json::json;
use tz_core::sampling::SamplingParams;
use tz_run_dir::JsonlWriter;
use tz_sdk::decimal::f32_precision;
use tz_sdk::Stage;

use crate::clock::RunClock;
use crate::dist;
use crate::error::{bail, Result};
use crate::outputs::RunProgress;
use crate::prompts::{self, SamplePool};
use crate::rollout::{rollout_and_score_on, rollout_budget, RolloutSpec};
use crate::stages::BoundaryCtx;
use crate::step::metrics::Metrics;
use crate::step::phases::Phases;
use crate::step::{self, StepBatch, StepModels, StepOutcome};
use crate::stop::Stop;
use crate::summary::Summary;
use crate::validation::{validate, ValidationSchedule};
use crate::warm_up::warm_up;
use crate::Trainer;

/// Seed offset of the validation's sampling.
const VALIDATION_SAMPLING_SEED: u64 = 0xE7A1;

/// The log's record of one step: what the progress bar shows.
fn step_line(step: u64, m: &Metrics) -> String {
    let g = |k: &str| m.get(k).copied().unwrap_or(f64::NAN);
    format!(
        "step {step}: score {:.3}, response length {:.1}, window {}, {:.2} s",
        g("critic/score/mean"),
        g("response_length/mean"),
        g("train/window"),
        g("timing_s/step")
    )
}

/// The stage being trained: its problems and how many steps it has.
pub(crate) struct ActiveStage {
    pool: SamplePool,
    steps: u64,
}

impl Trainer {
    /// Trains until the plan is done or a stop rule fires, then validates,
    /// saves the last checkpoint and writes the summary.
    pub fn run(&mut self) -> Result<Summary> {
        self.clock = RunClock::start(self.state.elapsed_s, self.state.validation_s);
        self.schedule = ValidationSchedule::new(&self.cfg, self.clock.rl_elapsed());
        if self.state.step == 0 {
            self.before_training()?;
        }
        let progress = self.progress();
        for sink in self.outputs.iter_mut() {
            sink.start(&progress)?;
        }
        let stop = self.train_until_stop()?;
        if stop.interrupted {
            for sink in self.outputs.iter_mut() {
                sink.finish()?;
            }
            self.sync_clock();
            return self.stop_on_signal(&stop);
        }
        if self.state.stage < self.curricula.plan.len() && self.state.stage_step > 0 {
            // Stopped inside a stage: its end is where the run stopped.
            self.stage_boundary(false, false)?;
        }
        for sink in self.outputs.iter_mut() {
            sink.finish()?;
        }
        self.sync_clock();
        let after = self.validate()?;
        self.record(self.state.step, &after)?;
        self.save_checkpoint()?;
        self.log_weights_digest();
        self.finish(&after, stop)
    }

    /// Each rank's digest of its weights (equal digests: identical replicas).
    fn log_weights_digest(&self) {
        if self.world.is_distributed() {
            tracing::info!(
                "rank {}/{}: weights digest {:016x} after step {}",
                self.world.rank(),
                self.world.size(),
                self.weights_digest(),
                self.state.step
            );
        }
    }

    /// Warm-up of a stateful task, then the validation before training (step 0).
    fn before_training(&mut self) -> Result<()> {
        let window = self.curricula.window(self.cfg.rollout.max_response_length)?;
        let warm = match self.curricula.plan.first().cloned() {
            Some(stage) => warm_up(&self.task, &self.policy, &self.cfg, window, || self.stage_pool(&stage))?,
            None => BTreeMap::new(),
        };
        let mut m = self.validate()?;
        self.state.before = m.clone();
        m.extend(warm);
        if !self.world.is_main() {
            return Ok(());
        }
        tracing::info!(
            "before training: val/acc {:.3}, val/acc_greedy {:.3} on {} held-out problems",
            m.get("val/acc").copied().unwrap_or(0.0),
            m.get("val/acc_greedy").copied().unwrap_or(f64::NAN),
            self.val_samples.len()
        );
        self.record(0, &m)
    }

    /// The plan's stages from where the run stands, until a rule stops it.
    fn train_until_stop(&mut self) -> Result<Stop> {
        while self.state.stage < self.curricula.plan.len() {
            self.enter_stage()?;
            while self.state.stage_step < self.stage.as_ref().map_or(0, |s| s.steps) {
                let progress = self.progress();
                let local = self.stops.iter_mut().find_map(|r| r.before_step(&progress));
                if let Some(stop) = dist::agree_stop(&self.world, local)? {
                    return Ok(stop);
                }
                let t_step = Instant::now();
                let outcome = self.step()?;
                let seconds = t_step.elapsed().as_secs_f64();
                let mut m = outcome.metrics.clone();
                let rl = self.clock.rl_elapsed();
                // Rank 0's clock decides for all.
                if dist::any(&self.world, self.world.is_main() && self.schedule.due(outcome.step, rl))? {
                    m.extend(self.validate()?);
                    self.schedule.validated(rl);
                }
                self.record(outcome.step, &m)?;
                if self.world.is_main() {
                    tracing::info!(target: tz_logging::STEP_TARGET, "{}", step_line(outcome.step, &m));
                }
                let progress = self.progress();
                for sink in self.outputs.iter_mut() {
                    sink.step_done(&outcome, seconds, &progress)?;
                }
                self.sync_clock();
                if self.cfg.trainer.save_freq > 0 && outcome.step % self.cfg.trainer.save_freq == 0 {
                    self.save_checkpoint()?;
                }
                let local = self.stops.iter_mut().find_map(|r| r.after_step(&outcome, &progress));
                if let Some(stop) = dist::agree_stop(&self.world, local)? {
                    if stop.collapsed {
                        tracing::warn!("{}", stop.reason);
                        self.state.collapsed = true;
                    }
                    return Ok(stop);
                }
            }
            self.stage_boundary(false, true)?;
            self.state.stage += 1;
            self.state.stage_step = 0;
            self.state.pool = None;
            self.stage = None;
        }
        Ok(Stop::new("plan finished"))
    }

    /// One training step: the window, a batch of problems, the rollout and
    /// its scores, the update ([`step::run`]), the curricula and the task's
    /// per-batch state. The step's point is not logged here (see [`Trainer::run`]).
    pub fn step(&mut self) -> Result<StepOutcome> {
        self.enter_stage()?;
        let t_step = Instant::now();
        let collective_s = self.world.collective_seconds();
        let cfg = &self.cfg;
        let step = self.state.step + 1;
        let window = self.curricula.window(cfg.rollout.max_response_length)?;
        let stage = self.stage.as_mut().expect("entered above");
        let samples = stage.pool.next_batch(cfg.rollout.prompts_per_step);
        let params = SamplingParams {
            temperature: cfg.rollout.temperature,
            top_p: cfg.rollout.top_p,
            top_k: cfg.rollout.top_k,
            max_new_tokens: window,
            seed: cfg.trainer.seed.wrapping_mul(1_000_000_007).wrapping_add(step),
            budget: rollout_budget(&cfg.rollout),
        };
        let scored = rollout_and_score_on(
            &self.world,
            &self.task,
            &self.policy,
            samples,
            &RolloutSpec::for_run(cfg, cfg.rollout.n, params)?,
        )?;
        let phases = Phases::with(&[("gen", scored.gen_seconds), ("reward", scored.reward_seconds)]);
        let batch = StepBatch::new(scored, &self.policy, window);
        let models = StepModels {
            cfg,
            algorithms: &self.algorithms,
            loss: &self.loss,
            policy: &self.policy,
            reference: self.reference.as_ref(),
            opt: self.opt.as_mut(),
            world: &self.world,
            kl: &mut self.kl,
            critic: self.critic.as_mut(),
        };
        let mut outcome = step::run(batch, models, step, phases)?;
        // After the training batch only (validation scoring is never committed).
        for metric in self.task.end_batch()? {
            outcome.metrics.insert(metric.name, metric.value);
        }
        for metric in self.curricula.observe(&outcome.stats)? {
            outcome.metrics.insert(metric.name, metric.value);
        }

        let stage_pool = self.stage.as_ref().expect("entered above").pool.state;
        let s = &mut self.state;
        s.step = step;
        s.stage_step += 1;
        s.pool = Some(stage_pool);
        let flat = outcome.rewards.windows(2).all(|w| w[0] == w[1]);
        s.flat_steps = if flat { s.flat_steps + 1 } else { 0 };
        s.cumulative_reward += outcome.score_mean;
        s.tokens += outcome.tokens;
        let step_s = t_step.elapsed().as_secs_f64();
        let m = &mut outcome.metrics;
        m.insert("timing_s/step".into(), step_s);
        if self.world.is_distributed() {
            // Every collective of the step: gradient all-reduces, the rollout's
            // gathers, decisions, and the wait for slower ranks inside them.
            m.insert("timing_s/allreduce".into(), self.world.collective_seconds() - collective_s);
        }
        m.insert("perf/throughput".into(), outcome.tokens as f64 / step_s.max(1e-9));
        m.insert("train/cumulative_reward".into(), f32_precision(s.cumulative_reward));
        m.insert("tokens/cumulative_total".into(), s.tokens as f64);
        m.insert("time/elapsed_s".into(), self.clock.elapsed());
        m.insert("train/stage".into(), s.stage as f64);
        m.insert("train/window".into(), window as f64);
        Ok(outcome)
    }

    /// Builds the current stage's pool (restoring a saved reader) and runs
    /// its start boundary, unless that is done.
    fn enter_stage(&mut self) -> Result<()> {
        if self.stage.is_some() {
            return Ok(());
        }
        let cfg = &self.cfg;
        let plan = &self.curricula.plan;
        let Some(stage) = plan.get(self.state.stage).cloned() else {
            bail!("the curriculum plan is done: all {} stages are trained", plan.len());
        };
        let mut pool = self.stage_pool(&stage)?;
        if let Some(p) = self.state.pool {
            pool.restore(p);
        }
        // One open-ended stage over everything: run until a stop rule says so.
        let open_ended = plan.len() == 1
            && stage.group.as_str() == "all"
            && (cfg.trainer.total_steps > 0 || cfg.trainer.max_minutes > 0.0);
        let steps = if open_ended {
            u64::MAX
        } else {
            pool.steps_per_epoch(cfg.rollout.prompts_per_step) * stage.epochs as u64
        };
        self.stage = Some(ActiveStage { pool, steps });
        self.stage_boundary(true, false)
    }

    /// Training problems of a stage's group (`all` = every group).
    fn stage_pool(&self, stage: &Stage) -> Result<SamplePool> {
        let seed = self.cfg.trainer.seed.wrapping_mul(7919).wrapping_add(stage.round as u64);
        if let Some(train) = &self.data.train {
            return Ok(SamplePool::new(train.for_stage(stage), seed));
        }
        let mut exclude: HashSet<String> = self.val_samples.iter().map(|s| s.data.clone()).collect();
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
        Ok(SamplePool::new(samples, seed))
    }

    /// The start (`start`) or end of the current stage of a planned run.
    fn stage_boundary(&mut self, start: bool, complete: bool) -> Result<()> {
        let Some(tracker) = self.stages.as_mut() else { return Ok(()) };
        // Rank 0 alone snapshots, evaluates and writes the records: the work
        // holds no collective and changes no state the step reads, so the
        // other ranks go on and wait at the next step's first collective.
        if !self.world.is_main() {
            return Ok(());
        }
        let index = self.state.stage;
        let ctx =
            BoundaryCtx { task: &self.task, policy: &self.policy, cfg: &self.cfg, step: self.state.step };
        if start {
            let stage = &self.curricula.plan[index];
            let log = self.run.stage_log(&self.cfg.task.name, stage.round, stage.group.as_str());
            tz_logging::log_stage_to(Some(&log))?;
            tracker.begin(index, self.state.stage_step > 0, &ctx)
        } else {
            let ended = tracker.end(index, complete, &ctx);
            tz_logging::log_stage_to(None)?;
            ended
        }
    }

    /// Validates on the held-out problems at the current step; a few
    /// examples go to samples.jsonl. Its time is kept out of the RL clock.
    fn validate(&mut self) -> Result<Metrics> {
        let t0 = Instant::now();
        let seed = self.cfg.trainer.seed ^ VALIDATION_SAMPLING_SEED;
        let v = validate(&self.world, &self.task, &self.policy, &self.val_samples, &self.cfg, seed)?;
        if self.world.is_main() {
            let mut samples = JsonlWriter::append(&self.run.samples())?;
            for e in &v.examples {
                samples.write(&json!({"step": self.state.step, "example": e}))?;
            }
        }
        let mut m = v.metrics;
        let seconds = t0.elapsed().as_secs_f64();
        m.insert("timing_s/testing".into(), seconds);
        self.clock.add_validation(seconds);
        Ok(m)
    }

    /// Sends a point to every output.
    fn record(&mut self, step: u64, metrics: &Metrics) -> Result<()> {
        for sink in self.outputs.iter_mut() {
            sink.record(step, metrics)?;
        }
        Ok(())
    }

    /// Where the run stands now.
    fn progress(&self) -> RunProgress {
        RunProgress {
            step: self.state.step,
            total_steps: self.cfg.trainer.total_steps,
            rl_seconds: self.clock.rl_elapsed(),
            budget_seconds: self.cfg.trainer.max_minutes * 60.0,
            flat_steps: self.state.flat_steps,
        }
    }

    /// The clocks into the state (saved with the next checkpoint).
    fn sync_clock(&mut self) {
        self.state.elapsed_s = self.clock.elapsed();
        self.state.validation_s = self.clock.validation();
    }
}
