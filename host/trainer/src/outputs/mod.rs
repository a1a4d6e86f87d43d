//! Where a run's figures go, behind one small trait: every logged point
//! goes to every sink, so a new output needs no edit to the loop.
//!
//! The sinks of a `tzhost` run: [`jsonl::MetricsJsonl`] (metrics.jsonl),
//! [`tensorboard::TensorBoard`] (event files), and either the progress bar
//! ([`progress::ProgressBar`], on a terminal) or a progress line every
//! `logging.progress_every_s` seconds ([`progress::ProgressLog`], when the
//! bar is hidden: redirected output, CI, `nohup`).

pub mod jsonl;
pub mod progress;
pub mod tensorboard;

use crate::error::Result;
use crate::step::metrics::Metrics;
use crate::step::StepOutcome;

/// Where the run stands, for displays and stop rules.
#[derive(Debug, Clone, PartialEq)]
pub struct RunProgress {
    /// Steps done.
    pub step: u64,
    /// `trainer.total_steps` (0 = open-ended).
    pub total_steps: u64,
    /// Seconds of RL time so far (validation excluded), every session.
    pub rl_seconds: f64,
    /// `trainer.max_minutes` in seconds (0 = no budget).
    pub budget_seconds: f64,
    /// Consecutive steps whose rewards were all equal.
    pub flat_steps: u64,
}

/// An output of the run.
pub trait OutputSink {
    /// The training loop starts (after the validation before training).
    fn start(&mut self, _progress: &RunProgress) -> Result<()> {
        Ok(())
    }
    /// A logged point: a step's metrics, a validation's, or both.
    fn record(&mut self, step: u64, metrics: &Metrics) -> Result<()>;
    /// A training step finished (after its point was recorded).
    fn step_done(&mut self, _outcome: &StepOutcome, _seconds: f64, _progress: &RunProgress) -> Result<()> {
        Ok(())
    }
    /// The training loop ended (before the final validation).
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
