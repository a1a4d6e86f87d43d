//! The training progress bar: step, live reward and success rate, window and
//! speed. It is a tracing span drawn by tracing-indicatif (see
//! [`crate::logging`]), so log lines are printed above it instead of through
//! it. Hidden when stderr is not a terminal or `logging.progress = false`.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use indicatif::ProgressStyle;
use tracing::Span;
use tracing_indicatif::span_ext::IndicatifSpanExt;

pub struct TrainProgress {
    span: Option<Span>,
}

impl TrainProgress {
    /// Starts the bar at `step` of `total_steps` (0 = open-ended: a spinner).
    pub fn start(enabled: bool, total_steps: u64, step: u64) -> TrainProgress {
        if !enabled || !std::io::stderr().is_terminal() {
            return TrainProgress { span: None };
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
        TrainProgress { span: Some(span) }
    }

    /// Shows the step just finished and its figures.
    pub fn update(&self, step: u64, m: &BTreeMap<String, f64>, window: usize, step_s: f64) {
        let Some(span) = &self.span else { return };
        let get = |k: &str| m.get(k).copied().unwrap_or(f64::NAN);
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
