//! When a run stops before its curriculum plan is done, behind one small
//! trait: a new rule needs no edit to the loop.
//!
//! A run always has [`StepLimit`] (`trainer.total_steps`), [`TimeBudget`]
//! (`trainer.max_minutes` of RL time: validation is not counted) and
//! [`Collapse`] (`trainer.collapse_patience`), checked in that order; more
//! can be added with `Trainer::add_stop_rule`. `tzhost` adds [`Signal`]
//! (SIGINT/SIGTERM: finish the step, save, exit non-zero).

use crate::interrupt::StopRequest;
use crate::outputs::RunProgress;
use crate::step::StepOutcome;

/// Why a run stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    /// One line for the summary ("20 steps done", "time budget of 4 min reached", ...).
    pub reason: String,
    /// The run stopped because learning collapsed (recorded in the summary).
    pub collapsed: bool,
    /// A signal asked the process to stop: save and exit, not finish the run.
    pub interrupted: bool,
}

impl Stop {
    pub fn new(reason: impl Into<String>) -> Stop {
        Stop { reason: reason.into(), collapsed: false, interrupted: false }
    }
}

/// A stop condition, asked before each step and after it.
pub trait StopRule {
    /// Checked before a step starts.
    fn before_step(&mut self, _progress: &RunProgress) -> Option<Stop> {
        None
    }
    /// Checked after a step (its point logged, its checkpoint saved).
    fn after_step(&mut self, _outcome: &StepOutcome, _progress: &RunProgress) -> Option<Stop> {
        None
    }
}

/// Stops once `total` steps are done (0 = never).
pub struct StepLimit(pub u64);

impl StopRule for StepLimit {
    fn before_step(&mut self, p: &RunProgress) -> Option<Stop> {
        (self.0 > 0 && p.step >= self.0).then(|| Stop::new(format!("{} steps done", self.0)))
    }
}

/// Stops once the RL time reaches `max_minutes` (0 = never).
pub struct TimeBudget(pub f64);

impl StopRule for TimeBudget {
    fn before_step(&mut self, p: &RunProgress) -> Option<Stop> {
        let budget = self.0 * 60.0;
        (budget > 0.0 && p.rl_seconds >= budget)
            .then(|| Stop::new(format!("time budget of {} min reached", self.0)))
    }
}

/// Stops when every reward of `patience` consecutive steps was the same
/// (0 = never): no learning signal, e.g. the well-formed-but-wrong collapse.
pub struct Collapse(pub u64);

impl StopRule for Collapse {
    fn after_step(&mut self, outcome: &StepOutcome, p: &RunProgress) -> Option<Stop> {
        if self.0 == 0 || p.flat_steps < self.0 {
            return None;
        }
        let r = outcome.rewards.first().copied().unwrap_or(0.0);
        Some(Stop {
            reason: format!(
                "collapse: every reward was {r} for {} consecutive steps (no learning signal; try a lower trainer.lr)",
                p.flat_steps
            ),
            collapsed: true,
            interrupted: false,
        })
    }
}

/// Stops before the next step once SIGINT or SIGTERM arrived (the step in
/// flight finishes first).
pub struct Signal(pub StopRequest);

impl StopRule for Signal {
    fn before_step(&mut self, _p: &RunProgress) -> Option<Stop> {
        self.0.requested().then(|| Stop { interrupted: true, ..Stop::new("stopped by a signal") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::metrics::Metrics;

    fn at(step: u64, rl_seconds: f64, flat_steps: u64) -> RunProgress {
        RunProgress { step, total_steps: 0, rl_seconds, budget_seconds: 0.0, flat_steps }
    }

    #[test]
    fn step_limit_and_time_budget_stop_before_a_step() {
        assert_eq!(StepLimit(20).before_step(&at(19, 0.0, 0)), None);
        assert_eq!(StepLimit(20).before_step(&at(20, 0.0, 0)).unwrap().reason, "20 steps done");
        assert_eq!(StepLimit(0).before_step(&at(1_000, 0.0, 0)), None);
        assert_eq!(TimeBudget(4.0).before_step(&at(3, 239.0, 0)), None);
        assert_eq!(
            TimeBudget(4.0).before_step(&at(3, 240.0, 0)).unwrap().reason,
            "time budget of 4 min reached"
        );
    }

    #[test]
    fn a_signal_stops_before_the_next_step_as_an_interruption() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let flag = Arc::new(AtomicBool::new(false));
        let mut rule = Signal(StopRequest::from_flag(Arc::clone(&flag)));
        assert_eq!(rule.before_step(&at(3, 0.0, 0)), None);
        flag.store(true, Ordering::Relaxed);
        let stop = rule.before_step(&at(3, 0.0, 0)).unwrap();
        assert!(stop.interrupted && !stop.collapsed && stop.reason == "stopped by a signal", "{stop:?}");
    }

    #[test]
    fn collapse_stops_after_patience_flat_steps_naming_the_reward() {
        let outcome = StepOutcome {
            step: 5,
            window: 8,
            score_mean: 0.1,
            success: 0.0,
            response_length: 3.0,
            tokens: 10,
            rewards: vec![0.1, 0.1],
            stats: Default::default(),
            metrics: Metrics::new(),
        };
        assert_eq!(Collapse(10).after_step(&outcome, &at(5, 0.0, 9)), None);
        let stop = Collapse(10).after_step(&outcome, &at(5, 0.0, 10)).unwrap();
        assert!(
            stop.collapsed && stop.reason.starts_with("collapse: every reward was 0.1 for 10"),
            "{stop:?}"
        );
    }
}
