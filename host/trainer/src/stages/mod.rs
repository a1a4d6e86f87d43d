//! Stage-boundary work of a planned (multi-stage) curriculum, as seed 001
//! does it: at the start and end of every stage a snapshot
//! (`snapshots/initial_{round}_{group}`, `final_{round}_{group}`), an
//! evaluation on every group's test set, and the weight change since the
//! previous snapshot; the results go to the stage records ([`records`]).
//! The machinery: [`groups`] (where a stage's problems come from),
//! [`snapshots`], [`eval`] (every group's test set), the weight change
//! (`tz_core::weight_change`) and [`records`].
//!
//! Resume: a boundary whose record is on disk is not redone (training is
//! deterministic, so a run resumed from an earlier checkpoint reaches the same
//! weights); records and snapshots are written atomically.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub mod eval;
pub mod groups;
pub mod records;
pub mod snapshots;

use tz_config::RunConfig;
use tz_core::weight_change::{read_weights, weight_change, Weights};
use tz_core::Policy;
use tz_sdk::handle::Task;
use tz_sdk::{Sample, Stage};

use crate::error::{Context, Result};
use eval::evaluate_groups;
use groups::GroupSource;
use records::{rebuild_summaries, record_path, train_means, Boundary, StageRecord};
use snapshots::SnapshotMode;

/// What the tracker needs from the trainer at a boundary.
pub struct BoundaryCtx<'a> {
    pub task: &'a Task,
    pub policy: &'a Policy,
    pub cfg: &'a RunConfig,
    /// The global step (steps done so far).
    pub step: u64,
}

/// The stage-boundary state of a planned run.
pub struct StageTracker {
    run: PathBuf,
    mode: SnapshotMode,
    source: GroupSource,
    plan: Vec<Stage>,
    /// Groups evaluated at every boundary, in plan order.
    groups: Vec<String>,
    tests: Vec<(String, Vec<Sample>)>,
    /// The model the run started from (the weights before the first stage).
    base_model: PathBuf,
    /// The weights of the previous snapshot.
    prev: Option<Weights>,
    /// The model-size suffix of the stage files (`1.5b`).
    size: String,
}

impl StageTracker {
    pub fn new(
        run: &Path,
        cfg: &RunConfig,
        task: &Task,
        task_groups: &[String],
        plan: &[Stage],
        base_model: &Path,
    ) -> Result<StageTracker> {
        let mode = SnapshotMode::parse(&cfg.stages.snapshots)?;
        let groups = groups::plan_groups(plan);
        let source = groups::resolve(&groups, task_groups, &cfg.task.name)?;
        if let GroupSource::RandomSplits(names) = &source {
            tracing::info!(
                "groups {} are random equal splits of the task's mixed pool (the control)",
                names.join(", ")
            );
        }
        let tests = if cfg.stages.eval_size > 0 {
            // Seed 001's layout: <val_data>/<group>/test.parquet where present.
            let layout = Path::new(&cfg.task.val_data);
            let layout = (!cfg.task.val_data.is_empty() && layout.is_dir()).then_some(layout);
            let seed = cfg.trainer.seed ^ 0x7E57_5E75;
            groups::test_sets(task, &source, &groups, cfg.stages.eval_size, seed, layout)?
        } else {
            Vec::new()
        };
        Ok(StageTracker {
            run: run.to_path_buf(),
            mode,
            source,
            plan: plan.to_vec(),
            groups,
            tests,
            base_model: base_model.to_path_buf(),
            prev: None,
            size: cfg.size_label(),
        })
    }

    /// The contents of every test problem (kept out of the training pools).
    pub fn test_contents(&self) -> impl Iterator<Item = String> + '_ {
        self.tests.iter().flat_map(|(_, s)| s.iter().map(|x| x.data.to_string()))
    }

    /// A stage's training problems (`count` of its group).
    pub fn train_problems(
        &self,
        task: &Task,
        group: &str,
        count: usize,
        seed: u64,
        exclude: &HashSet<String>,
    ) -> Result<Vec<Sample>> {
        groups::problems(task, &self.source, group, count, seed, exclude)
    }

    fn eval_seed(cfg: &RunConfig) -> u64 {
        cfg.trainer.seed ^ 0x57A6_E0E7
    }

    fn snapshot_rel(&self, kind: &str, stage: &Stage) -> String {
        format!("snapshots/{kind}_{}_{}", stage.round, stage.group)
    }

    /// The weights at the start of stage `index` from disk: its initial
    /// snapshot, the previous stage's final one, or the base model.
    fn weights_at_start(&self, index: usize) -> Option<Weights> {
        let s = &self.plan[index];
        let mut candidates = vec![snapshots::snapshot_dir(&self.run, "initial", s.round, &s.group)];
        if index > 0 {
            let p = &self.plan[index - 1];
            candidates.push(snapshots::snapshot_dir(&self.run, "final", p.round, &p.group));
        } else {
            candidates.push(self.base_model.clone());
        }
        candidates.iter().find(|d| d.is_dir()).and_then(|d| read_weights(d).ok())
    }

    /// Start of stage `index`. `mid_stage`: the run resumed inside the stage.
    pub fn begin(&mut self, index: usize, mid_stage: bool, ctx: &BoundaryCtx) -> Result<()> {
        let stage = self.plan[index].clone();
        let path = record_path(&self.run, stage.round, &stage.group, &self.size);
        if StageRecord::read(&path)?.is_some() {
            self.prev = if mid_stage {
                let w = self.weights_at_start(index);
                if w.is_none() {
                    tracing::warn!(
                        "resumed inside stage {index}: its initial weights are not on disk (stages.snapshots = \"none\"), so its weight change is not measured"
                    );
                }
                w
            } else {
                Some(ctx.policy.weights())
            };
            return Ok(());
        }
        let snapshot = if self.mode.writes("initial") {
            let dir = snapshots::snapshot_dir(&self.run, "initial", stage.round, &stage.group);
            let prev_final = (index > 0).then(|| {
                let p = &self.plan[index - 1];
                snapshots::snapshot_dir(&self.run, "final", p.round, &p.group)
            });
            match prev_final.filter(|d| d.join("config.json").is_file()) {
                Some(from) => snapshots::link(&from, &dir)?,
                None => snapshots::save(ctx.policy, &dir)?,
            }
            Some(self.snapshot_rel("initial", &stage))
        } else {
            None
        };
        let current = ctx.policy.weights();
        if self.prev.is_none() && index > 0 {
            self.prev = self.weights_at_start(index);
        }
        let change = self.prev.as_ref().map(|p| weight_change(p, &current)).transpose()?;
        // The start of a stage has the previous stage's final weights: reuse its evaluation.
        let previous_final = if index > 0 {
            let p = &self.plan[index - 1];
            StageRecord::read(&record_path(&self.run, p.round, &p.group, &self.size))?.and_then(|r| r.final_)
        } else {
            None
        };
        let eval = match previous_final {
            Some(f) if f.step == ctx.step => f.eval,
            _ => evaluate_groups(ctx.task, ctx.policy, &self.tests, ctx.cfg, Self::eval_seed(ctx.cfg))?,
        };
        log_eval(&format!("start of R{} {}", stage.round, stage.group), &eval);
        let record = StageRecord {
            stage: index,
            round: stage.round,
            group: stage.group.to_string(),
            epochs: stage.epochs,
            initial: Boundary { step: ctx.step, snapshot, eval, weight_change: change },
            final_: None,
            steps: 0,
            train: Default::default(),
            finished: false,
        };
        record.write(&self.run, &self.size)?;
        self.prev = Some(current);
        Ok(())
    }

    /// End of stage `index`: snapshot, evaluation, weight change since the
    /// stage's start, the stage's training means; then the summaries.
    /// `complete`: false when the run stopped inside the stage (step or time budget).
    pub fn end(&mut self, index: usize, complete: bool, ctx: &BoundaryCtx) -> Result<()> {
        let stage = self.plan[index].clone();
        let path = record_path(&self.run, stage.round, &stage.group, &self.size);
        let mut record = StageRecord::read(&path)?
            .with_context(|| format!("{} is missing at the end of its stage", path.display()))?;
        let plan: Vec<(u32, String)> = self.plan.iter().map(|s| (s.round, s.group.to_string())).collect();
        if record.final_.is_some() {
            // Done before a kill; the summaries may not have been rewritten.
            rebuild_summaries(&self.run, &self.groups, &plan, &self.size)?;
            self.prev = Some(ctx.policy.weights());
            return Ok(());
        }
        let snapshot = if self.mode.writes("final") {
            let dir = snapshots::snapshot_dir(&self.run, "final", stage.round, &stage.group);
            snapshots::save(ctx.policy, &dir)?;
            Some(self.snapshot_rel("final", &stage))
        } else {
            None
        };
        let current = ctx.policy.weights();
        let change = self.prev.as_ref().map(|p| weight_change(p, &current)).transpose()?;
        let eval = evaluate_groups(ctx.task, ctx.policy, &self.tests, ctx.cfg, Self::eval_seed(ctx.cfg))?;
        log_eval(&format!("end of R{} {}", stage.round, stage.group), &eval);
        if let Some(c) = &change {
            tracing::info!(
                "weight change over R{} {}: {:.3e} (relative L2)",
                stage.round,
                stage.group,
                c.overall
            );
        }
        record.steps = ctx.step - record.initial.step;
        record.train = train_means(&self.run.join("metrics.jsonl"), record.initial.step, ctx.step);
        record.final_ = Some(Boundary { step: ctx.step, snapshot, eval, weight_change: change });
        record.finished = complete;
        record.write(&self.run, &self.size)?;
        rebuild_summaries(&self.run, &self.groups, &plan, &self.size)?;
        self.prev = Some(current);
        Ok(())
    }
}

fn log_eval(when: &str, eval: &std::collections::BTreeMap<String, eval::GroupEval>) {
    if eval.is_empty() {
        return;
    }
    let parts: Vec<String> = eval.iter().map(|(g, e)| format!("{g} {:.3}", e.acc)).collect();
    tracing::info!("{when}: {}", parts.join(", "));
}
