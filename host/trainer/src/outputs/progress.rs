//! Progress while training, on a terminal or off it.
//!
//! * [`ProgressBar`]: step, live reward and success rate, window and speed
//!   in a bar. It is a tracing span drawn by tracing-indicatif (see
//!   `tz-logging`), so log lines are printed above it instead of through it.
//! * [`ProgressLog`]: where the bar is hidden (stderr is not a terminal, or
//!   `logging.progress = false`), one log line every
//!   `logging.progress_every_s` seconds with the same figures and an ETA,
//!   so a redirected run (CI, `nohup`, a cluster job) is never silent for
//!   minutes. The line goes through tracing, so also into `train.log`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::ProgressStyle;
use tracing::Span;
use tracing_indicatif::span_ext::IndicatifSpanExt;

use super::{OutputSink, RunProgress};
use crate::error::Result;
use crate::step::metrics::Metrics;
use crate::step::StepOutcome;

/// The progress display a run gets: the bar on a terminal when enabled,
/// else the periodic log line.
pub fn for_run(enabled: bool, every_s: f64) -> Box<dyn OutputSink> {
    if enabled && std::io::stderr().is_terminal() {
        Box::new(ProgressBar { span: None })
    } else {
        Box::new(ProgressLog::new(Duration::from_secs_f64(every_s.max(0.0))))
    }
}

/// "reward 0.512 success 0.31 len 9.1 win 16 0.42s/step".
fn figures(outcome: &StepOutcome, seconds: f64) -> String {
    format!(
        "reward {:.3} success {:.2} len {:.1} win {} {seconds:.2}s/step",
        outcome.score_mean, outcome.success, outcome.response_length, outcome.window
    )
}

/// The training progress bar.
pub struct ProgressBar {
    span: Option<Span>,
}

impl OutputSink for ProgressBar {
    fn start(&mut self, p: &RunProgress) -> Result<()> {
        // The field only marks the span for the bar layer; it is never printed.
        let span = tracing::info_span!("train", indicatif.pb_show = tracing::field::Empty);
        let template = if p.total_steps > 0 {
            "{spinner} {elapsed_precise} [{bar:16}] {pos}/{len} {wide_msg}"
        } else {
            "{spinner} {elapsed_precise} step {pos} {wide_msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            span.pb_set_style(&style.progress_chars("=> "));
        }
        if p.total_steps > 0 {
            span.pb_set_length(p.total_steps);
        }
        span.pb_set_position(p.step);
        span.pb_start();
        self.span = Some(span);
        Ok(())
    }

    fn record(&mut self, _step: u64, _metrics: &Metrics) -> Result<()> {
        Ok(())
    }

    fn step_done(&mut self, outcome: &StepOutcome, seconds: f64, p: &RunProgress) -> Result<()> {
        if let Some(span) = &self.span {
            span.pb_set_position(p.step);
            span.pb_set_message(&figures(outcome, seconds));
        }
        Ok(())
    }

    /// Removes the bar (closing the span clears it).
    fn finish(&mut self) -> Result<()> {
        self.span = None;
        Ok(())
    }
}

/// A progress line every `every` (of wall-clock time).
pub struct ProgressLog {
    every: Duration,
    last: Instant,
}

impl ProgressLog {
    pub fn new(every: Duration) -> ProgressLog {
        ProgressLog { every, last: Instant::now() }
    }

    /// The line for a step, or `None` when the last line is too recent.
    pub fn line_at(
        &mut self,
        now: Instant,
        outcome: &StepOutcome,
        seconds: f64,
        p: &RunProgress,
    ) -> Option<String> {
        if now.duration_since(self.last) < self.every {
            return None;
        }
        self.last = now;
        let of = if p.total_steps > 0 { format!("/{}", p.total_steps) } else { String::new() };
        let eta = eta_seconds(p, seconds).map(|s| format!(" ETA {}", short_duration(s))).unwrap_or_default();
        Some(format!("step {}{of} {}{eta}", p.step, figures(outcome, seconds)))
    }
}

impl OutputSink for ProgressLog {
    fn start(&mut self, _p: &RunProgress) -> Result<()> {
        self.last = Instant::now();
        Ok(())
    }

    fn record(&mut self, _step: u64, _metrics: &Metrics) -> Result<()> {
        Ok(())
    }

    fn step_done(&mut self, outcome: &StepOutcome, seconds: f64, p: &RunProgress) -> Result<()> {
        if let Some(line) = self.line_at(Instant::now(), outcome, seconds, p) {
            tracing::info!("{line}");
        }
        Ok(())
    }
}

/// Seconds until the run stops: the nearer of the step limit (at the last
/// step's pace) and the time budget; `None` when neither is set.
pub fn eta_seconds(p: &RunProgress, step_seconds: f64) -> Option<f64> {
    let by_steps = (p.total_steps > 0).then(|| p.total_steps.saturating_sub(p.step) as f64 * step_seconds);
    let by_budget = (p.budget_seconds > 0.0).then(|| (p.budget_seconds - p.rl_seconds).max(0.0));
    match (by_steps, by_budget) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// "45s", "3m05s", "2h10m".
pub fn short_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome() -> StepOutcome {
        StepOutcome {
            step: 12,
            window: 16,
            score_mean: 0.5126,
            success: 0.3126,
            response_length: 9.06,
            tokens: 100,
            rewards: Vec::new(),
            stats: Default::default(),
            metrics: Metrics::new(),
        }
    }

    fn progress(total_steps: u64, budget_seconds: f64) -> RunProgress {
        RunProgress { step: 12, total_steps, rl_seconds: 100.0, budget_seconds, flat_steps: 0 }
    }

    #[test]
    fn a_line_every_interval_with_the_figures_and_the_eta() {
        let t0 = Instant::now();
        let mut log = ProgressLog { every: Duration::from_secs(30), last: t0 };
        assert_eq!(log.line_at(t0 + Duration::from_secs(29), &outcome(), 0.5, &progress(0, 480.0)), None);
        let line = log.line_at(t0 + Duration::from_secs(30), &outcome(), 0.5, &progress(0, 480.0)).unwrap();
        assert_eq!(line, "step 12 reward 0.513 success 0.31 len 9.1 win 16 0.50s/step ETA 6m20s");
        assert_eq!(log.line_at(t0 + Duration::from_secs(45), &outcome(), 0.5, &progress(0, 480.0)), None);
        let line = log.line_at(t0 + Duration::from_secs(61), &outcome(), 2.0, &progress(20, 0.0)).unwrap();
        assert!(line.starts_with("step 12/20 ") && line.ends_with(" ETA 16s"), "{line}");
    }

    #[test]
    fn eta_takes_the_nearer_limit_and_none_without_limits() {
        assert_eq!(eta_seconds(&progress(0, 0.0), 1.0), None);
        assert_eq!(eta_seconds(&progress(112, 0.0), 1.5), Some(150.0));
        assert_eq!(eta_seconds(&progress(112, 160.0), 1.5), Some(60.0));
        assert_eq!(short_duration(3725.0), "1h02m");
    }
}
