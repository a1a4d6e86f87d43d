//! The traits plugin authors implement, in plain Rust.
//!
//! A plugin is a type implementing one of [`Task`], [`Shaper`], [`Estimator`]
//! or [`Curriculum`], plus [`Plugin`] (its name, description and config
//! type). It is registered with the matching macro
//! ([`crate::register_task!`], [`crate::register_shaper!`],
//! [`crate::register_estimator!`], [`crate::register_curriculum!`]), and a
//! library exports all its registered plugins with one
//! [`crate::export_plugin_library!`].

use abi_stable::std_types::{RStr, RString, RVec};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ffi::HostServicesArc;
use crate::types::*;

/// An error a plugin returns; the host prints it on one line.
pub type PluginError = String;
/// Result type of every plugin method.
pub type PluginResult<T> = Result<T, PluginError>;

/// A plugin's configuration: a serde struct with defaults, documented with doc
/// comments (they become the key docs in `tzhost plugins`).
///
/// Derive it as `#[derive(Serialize, Deserialize, JsonSchema)]` with
/// `#[serde(default, deny_unknown_fields)]` and implement `Default`.
pub trait PluginConfig: Serialize + DeserializeOwned + JsonSchema + Default {}
impl<T: Serialize + DeserializeOwned + JsonSchema + Default> PluginConfig for T {}

/// Identity and construction of a plugin type.
pub trait Plugin: Sized + Send + Sync + 'static {
    /// Unique plugin name (`countdown`, `grpo`, ...).
    const NAME: &'static str;
    /// One line for `tzhost plugins`.
    const DESCRIPTION: &'static str;
    /// The config struct, passed as JSON by the host.
    type Config: PluginConfig;
    /// Builds the plugin from its validated config.
    fn new(config: Self::Config, host: HostServices) -> PluginResult<Self>;
}

/// A problem family: data, prompts and the verifier.
pub trait Task: Plugin {
    /// Data groups the generator knows (e.g. countdown's operator groups).
    fn groups(&self) -> Vec<String>;
    /// Prompt templates by name; the first is the default.
    fn templates(&self) -> Vec<String>;
    /// `count` fresh samples of `group`, reproducible from `seed`.
    fn generate(&self, group: &str, count: u64, seed: u64) -> PluginResult<Vec<Sample>>;
    /// A sample from one data row (a parquet row as JSON, TinyZero/veRL layout).
    fn sample_from_row(&self, row: &serde_json::Value) -> PluginResult<Sample>;
    /// The data row for a sample (the inverse of `sample_from_row`), with its
    /// prompt rendered in `template`.
    fn sample_to_row(&self, sample: &Sample, template: &str) -> PluginResult<serde_json::Value>;
    /// The prompt for a sample in the named template.
    fn prompt(&self, sample: &Sample, template: &str) -> PluginResult<PromptSpec>;
    /// Scores a batch of responses, one [`Score`] each, in order.
    fn score(&self, batch: &[ScoreInput]) -> PluginResult<Vec<Score>>;
    /// A known-correct response for a sample in the named template, as the
    /// model should write it (used for SFT warm starts).
    fn reference_solution(&self, _sample: &Sample, _template: &str) -> PluginResult<Option<String>> {
        Ok(None)
    }

    // Stateful rewards (e.g. the hybrid task's reward-model calibration).
    // Scoring takes `&self`, so a task that keeps state uses interior
    // mutability (a `Mutex`); the host calls these from one thread.

    /// Responses of the initial policy the task wants to see before training
    /// (0 = no warm-up). The host samples them on training prompts, once per
    /// run (not again on resume), and passes them to [`Task::warm_up`].
    fn warm_up_size(&self) -> u64 {
        0
    }
    /// Calibrates from the warm-up responses (they are not trained on);
    /// returns metrics to log at step 0.
    fn warm_up(&self, _batch: &[ScoreInput]) -> PluginResult<Vec<Metric>> {
        Ok(Vec::new())
    }
    /// Serialisable state, saved with checkpoints (in trainer_state.json).
    fn state(&self) -> PluginResult<serde_json::Value> {
        Ok(serde_json::Value::Null)
    }
    /// Restores what [`Task::state`] returned (on resume, before any scoring).
    fn restore(&self, _state: &serde_json::Value) -> PluginResult<()> {
        Ok(())
    }
    /// Called by the host once after scoring each *training* batch (never
    /// after validation scoring): the task commits per-batch state (running
    /// statistics of the last scored batch) and returns metrics for the step.
    fn end_batch(&self) -> Vec<Metric> {
        Vec::new()
    }
}

/// Reward shaping: new per-response rewards from the task's (an algorithm
/// plugin; a run applies any number of shapers, in chain order).
pub trait Shaper: Plugin {
    /// One reward per response, in order.
    fn shape(&self, input: &ShapeInput) -> PluginResult<Vec<f32>>;
}

/// Advantage estimation over flat per-token arrays (an algorithm plugin; a
/// run has exactly one estimator, after its shapers).
pub trait Estimator: Plugin {
    /// The loss the core must apply for these advantages.
    fn loss_settings(&self) -> LossSettings {
        LossSettings::default()
    }
    /// Per-token advantages (and value targets when a critic is asked for).
    fn estimate(&self, input: &AdvantageInput) -> PluginResult<AdvantageOutput>;
}

/// Data stages and the rollout-length window.
pub trait Curriculum: Plugin {
    /// Data stages over the task's groups, or `None` to leave the data alone.
    fn plan(&self, _groups: &[String]) -> PluginResult<Option<Plan>> {
        Ok(None)
    }
    /// The max new-token limit for the next batch, or `None` for no opinion.
    fn window(&self) -> Option<u32> {
        None
    }
    /// Updates the state from the last batch; returns metrics to log.
    fn observe(&mut self, _stats: &BatchStats) -> PluginResult<Vec<Metric>> {
        Ok(Vec::new())
    }
    /// Serialisable state, saved with checkpoints.
    fn state(&self) -> PluginResult<serde_json::Value> {
        Ok(serde_json::Value::Null)
    }
    /// Restores what [`Curriculum::state`] returned.
    fn restore(&mut self, _state: &serde_json::Value) -> PluginResult<()> {
        Ok(())
    }
}

/// The host's services, handed to every plugin at construction.
#[derive(Clone)]
pub struct HostServices {
    inner: HostServicesArc,
    plugin: &'static str,
}

impl HostServices {
    pub(crate) fn new(inner: HostServicesArc, plugin: &'static str) -> Self {
        HostServices { inner, plugin }
    }

    /// Logs through the host's tracing, tagged with the plugin's name.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, RStr::from(self.plugin), RStr::from(message));
    }
    pub fn info(&self, message: &str) {
        self.log(LogLevel::Info, message)
    }
    pub fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, message)
    }
    pub fn debug(&self, message: &str) {
        self.log(LogLevel::Debug, message)
    }

    /// Scores (prompt, response) pairs with the host's neural reward model.
    /// Errors when the host has none configured or the model fails.
    pub fn reward_model_score(&self, batch: &[RewardModelRequest]) -> PluginResult<Vec<f32>> {
        self.inner
            .reward_model_score(crate::abi_types::convert_all(batch).as_rslice())
            .into_result()
            .map(RVec::into_vec)
            .map_err(RString::into_string)
    }
}
