//! The training progress bar: step, live reward and success rate, window and
//! speed. It is a tracing span drawn by tracing-indicatif (see
//! [`crate::logging`]), so log lines are printed above it instead of through
//! it. Hidden when stderr is not a terminal or `logging.progress = false`;
//! then a log line every `logging.progress_every_s` seconds says the same,
//! with an ETA, so a redirected run (CI, nohup, a cluster job) is not silent.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::ProgressStyle;
use tracing::Span;
use tracing_indicatif::span_ext::IndicatifSpanExt;

pub struct TrainProgress {
    span: Option<Span>,
    heartbeat: Option<Heartbeat>,
}

/// The periodic line of a hidden bar.
struct Heartbeat {
    every: Duration,
    total_steps: u64,
    started: Instant,
    start_step: u64,
    last: Instant,
}

impl TrainProgress {
    /// Starts the bar at `step` of `total_steps` (0 = open-ended: a spinner).
    /// `every_s`: the period of the log line that replaces a hidden bar (0 = none).
    pub fn start(enabled: bool, total_steps: u64, step: u64, every_s: f64) -> TrainProgress {
        if !enabled || !std::io::stderr().is_terminal() {
            let now = Instant::now();
            let heartbeat = (every_s > 0.0).then(|| Heartbeat {
                every: Duration::from_secs_f64(every_s),
                total_steps,
                started: now,
                start_step: step,
                last: now,
            });
            return TrainProgress { span: None, heartbeat };
        }
        // The field only marks the span for the bar layer; it is never printed.
        let span = tracing::info_span!("train", indicatif.pb_show = tracing::field::Empty);
        let template = if total_steps > 0 {
            "{spinner} {elapsed_precise} [{bar:16}] {pos}/{len} {wide_msg}"
        } else {
            "{spinner} {elapsed_precise} step {pos} {wide_msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            span.pb_set_style(&style.progress_chars("=> "));
        }
        if total_steps > 0 {
            span.pb_set_length(total_steps);
        }
        span.pb_set_position(step);
        span.pb_start();
        TrainProgress { span: Some(span), heartbeat: None }
    }

    /// Shows the step just finished and its figures.
    pub fn update(&mut self, step: u64, m: &BTreeMap<String, f64>, window: usize, step_s: f64) {
        let get = |k: &str| m.get(k).copied().unwrap_or(f64::NAN);
        if let Some(h) = &mut self.heartbeat {
            if h.last.elapsed() >= h.every {
                h.last = Instant::now();
                let done = step.saturating_sub(h.start_step).max(1);
                let mean_s = h.started.elapsed().as_secs_f64() / done as f64;
                let of = if h.total_steps > 0 { format!("/{}", h.total_steps) } else { String::new() };
                let eta = if h.total_steps > step {
                    format!(", ETA {}", minutes((h.total_steps - step) as f64 * mean_s))
                } else {
                    String::new()
                };
                tracing::info!(
                    "step {step}{of}: reward {:.3}, success {:.2}, response length {:.1}, window {window}, {mean_s:.2} s/step{eta}",
                    get("critic/score/mean"),
                    get("train/acc"),
                    get("response_length/mean"),
                );
            }
        }
        let Some(span) = &self.span else { return };
        span.pb_set_position(step);
        span.pb_set_message(&format!(
            "reward {:.3} success {:.2} len {:.1} win {window} {step_s:.2}s/step",
            get("critic/score/mean"),
            get("train/acc"),
            get("response_length/mean"),
        ));
    }

    /// Removes the bar (closing the span clears it).
    pub fn finish(&mut self) {
        self.span = None;
    }
}

/// `95 s` as "1m 35s".
fn minutes(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}
