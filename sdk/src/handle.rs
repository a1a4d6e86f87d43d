//! Typed host-side handles over the FFI boxes.
//!
//! A host (tzhost, a test, an embedding program) holds plugins through
//! these: every method takes and returns plain Rust types ([`crate::types`])
//! and a `Result` whose error is the plugin's one-line message. The
//! conversions to and from the `#[repr(C)]` mirrors happen here, once, so
//! no caller writes `.into_result().map_err(...)` or builds an `RString`.
//!
//! An algorithm plugin has one FFI object for both roles; [`Algorithm::new`]
//! asks its role once and hands back a [`Shaper`] or an [`Estimator`], so
//! the role is checked in one place and a shaper can never be asked for
//! advantages.

use abi_stable::std_types::{RResult, RString};

use crate::abi_types::{convert_all, from_all, FfiSample};
use crate::ffi::{AlgorithmBox, CurriculumBox, TaskBox};
use crate::types::*;

/// A plugin call failed: the plugin's own one-line message (it names the
/// plugin, e.g. "plugin 'countdown': ..." or "plugin 'x' panicked in score: ...").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CallError {
    pub message: String,
}

impl From<RString> for CallError {
    fn from(message: RString) -> Self {
        CallError { message: message.into_string() }
    }
}

impl From<String> for CallError {
    fn from(message: String) -> Self {
        CallError { message }
    }
}

pub type CallResult<T> = Result<T, CallError>;

fn call<T>(r: RResult<T, RString>) -> CallResult<T> {
    r.into_result().map_err(CallError::from)
}

fn strings(v: abi_stable::std_types::RVec<RString>) -> Vec<String> {
    v.into_iter().map(RString::into_string).collect()
}

/// A task plugin instance.
pub struct Task {
    name: String,
    inner: TaskBox,
}

impl Task {
    pub fn new(name: impl Into<String>, inner: TaskBox) -> Self {
        Task { name: name.into(), inner }
    }
    /// The plugin's name (`countdown`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Data groups the generator knows.
    pub fn groups(&self) -> CallResult<Vec<String>> {
        call(self.inner.groups()).map(strings)
    }
    /// Prompt templates by name; the first is the default.
    pub fn templates(&self) -> CallResult<Vec<String>> {
        call(self.inner.templates()).map(strings)
    }
    /// `count` fresh samples of `group`, reproducible from `seed`.
    pub fn generate(&self, group: &str, count: u64, seed: u64) -> CallResult<Vec<Sample>> {
        call(self.inner.generate(group.into(), count, seed)).map(from_all)
    }
    /// A sample from one data row (a parquet row as JSON).
    pub fn sample_from_row(&self, row: &serde_json::Value) -> CallResult<Sample> {
        call(self.inner.sample_from_row(row.to_string().as_str().into())).map(Sample::from)
    }
    /// The data row of a sample with its prompt in `template`.
    pub fn sample_to_row(&self, sample: &Sample, template: &str) -> CallResult<serde_json::Value> {
        let text = call(self.inner.sample_to_row(&FfiSample::from(sample.clone()), template.into()))?;
        serde_json::from_str(&text).map_err(|e| {
            CallError::from(format!("plugin '{}': sample_to_row returned invalid JSON: {e}", self.name))
        })
    }
    /// The prompt of a sample in `template`.
    pub fn prompt(&self, sample: &Sample, template: &str) -> CallResult<PromptSpec> {
        call(self.inner.prompt(&FfiSample::from(sample.clone()), template.into())).map(PromptSpec::from)
    }
    /// One score per response, in order.
    pub fn score(&self, batch: &[ScoreInput]) -> CallResult<Vec<Score>> {
        call(self.inner.score(convert_all(batch).as_rslice())).map(from_all)
    }
    /// A known-correct response, when the task has one.
    pub fn reference_solution(&self, sample: &Sample, template: &str) -> CallResult<Option<String>> {
        call(self.inner.reference_solution(&FfiSample::from(sample.clone()), template.into()))
            .map(|r| r.into_option().map(RString::into_string))
    }
    /// Responses of the initial policy the task wants before training (0 = none).
    pub fn warm_up_size(&self) -> CallResult<u64> {
        call(self.inner.warm_up_size())
    }
    /// Hands the warm-up responses to the task; its metrics.
    pub fn warm_up(&self, batch: &[ScoreInput]) -> CallResult<Vec<Metric>> {
        call(self.inner.warm_up(convert_all(batch).as_rslice())).map(from_all)
    }
    /// The task's state as JSON text (saved with checkpoints as it is).
    pub fn state(&self) -> CallResult<String> {
        call(self.inner.state()).map(RString::into_string)
    }
    /// Restores what [`Task::state`] returned.
    pub fn restore(&self, state_json: &str) -> CallResult<()> {
        call(self.inner.restore(state_json.into()))
    }
    /// After each training batch: the task commits its per-batch state.
    pub fn end_batch(&self) -> CallResult<Vec<Metric>> {
        call(self.inner.end_batch()).map(from_all)
    }
}

/// An algorithm plugin, by the role it declared.
pub enum Algorithm {
    Shaper(Shaper),
    Estimator(Estimator),
}

impl Algorithm {
    /// Asks the plugin its role (once) and wraps it accordingly.
    pub fn new(name: impl Into<String>, inner: AlgorithmBox) -> CallResult<Algorithm> {
        let name = name.into();
        Ok(match call(inner.role())? {
            AlgorithmRole::Shaper => Algorithm::Shaper(Shaper { name, inner }),
            AlgorithmRole::Estimator => Algorithm::Estimator(Estimator { name, inner }),
        })
    }
    pub fn name(&self) -> &str {
        match self {
            Algorithm::Shaper(s) => s.name(),
            Algorithm::Estimator(e) => e.name(),
        }
    }
    pub fn role(&self) -> AlgorithmRole {
        match self {
            Algorithm::Shaper(_) => AlgorithmRole::Shaper,
            Algorithm::Estimator(_) => AlgorithmRole::Estimator,
        }
    }
}

/// A reward shaper.
pub struct Shaper {
    name: String,
    inner: AlgorithmBox,
}

impl Shaper {
    pub fn name(&self) -> &str {
        &self.name
    }
    /// New per-response rewards (as many as `input.rewards`).
    pub fn shape(&self, input: &ShapeInput) -> CallResult<Vec<f32>> {
        call(self.inner.shape(&input.clone().into())).map(|v| v.into_vec())
    }
}

/// An advantage estimator.
pub struct Estimator {
    name: String,
    inner: AlgorithmBox,
}

impl Estimator {
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The loss the core must apply.
    pub fn loss_settings(&self) -> CallResult<LossSettings> {
        call(self.inner.loss_settings()).map(LossSettings::from)
    }
    /// Per-token advantages (and value targets).
    pub fn estimate(&self, input: &AdvantageInput) -> CallResult<AdvantageOutput> {
        call(self.inner.estimate(&input.clone().into())).map(AdvantageOutput::from)
    }
}

/// A curriculum plugin instance.
pub struct Curriculum {
    name: String,
    inner: CurriculumBox,
}

impl Curriculum {
    pub fn new(name: impl Into<String>, inner: CurriculumBox) -> Self {
        Curriculum { name: name.into(), inner }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Data stages over `groups`, or `None` to leave the data alone.
    pub fn plan(&self, groups: &[String]) -> CallResult<Option<Plan>> {
        let groups: Vec<RString> = groups.iter().map(|g| RString::from(g.as_str())).collect();
        call(self.inner.plan(groups.as_slice().into())).map(|p| p.into_option().map(Plan::from))
    }
    /// The max new-token limit for the next batch, or `None` for no opinion.
    pub fn window(&self) -> CallResult<Option<u32>> {
        call(self.inner.window()).map(|w| w.into_option())
    }
    /// Learns from the batch just trained on; its metrics.
    pub fn observe(&mut self, stats: &BatchStats) -> CallResult<Vec<Metric>> {
        call(self.inner.observe(&stats.clone().into())).map(from_all)
    }
    /// The curriculum's state as JSON text.
    pub fn state(&self) -> CallResult<String> {
        call(self.inner.state()).map(RString::into_string)
    }
    /// Restores what [`Curriculum::state`] returned.
    pub fn restore(&mut self, state_json: &str) -> CallResult<()> {
        call(self.inner.restore(state_json.into()))
    }
}
