//! The data plugins and the host exchange, in plain Rust.
//!
//! These are the types plugin authors read and write (`String`, `Vec`,
//! `Option`). What actually crosses the boundary are their `#[repr(C)]`
//! mirrors in [`crate::ffi`] (abi_stable's `RString`, `RVec`, ...); the
//! adapters convert on each call, so no author ever touches an abi_stable
//! type. Only strings, integers, floats and vectors of them cross: never
//! tensors (the host owns every tensor, see docs/architecture.md).
//! Task-specific payloads travel as JSON text so the sdk does not have to
//! know every task's fields.
//!
//! The enums and the fixed-size settings structs below have no heap data:
//! they are `#[repr]` + `StableAbi` themselves and used on both sides.

use abi_stable::StableAbi;
use serde::{Deserialize, Serialize};

/// The three kinds of plugin a library can export.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// Data, prompts and rewards for one problem family (countdown, math, ...).
    Task,
    /// Reward shaping or advantage estimation, plus the loss settings.
    Algorithm,
    /// Data stages over groups and per-step rollout-length control.
    Curriculum,
}

impl PluginKind {
    /// Lower-case name as used on the command line (`task`, `algorithm`, `curriculum`).
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Task => "task",
            PluginKind::Algorithm => "algorithm",
            PluginKind::Curriculum => "curriculum",
        }
    }
}

/// What a library says about one plugin it exports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginDescriptor {
    /// Unique name, e.g. `countdown`, `grpo`, `adaptive`.
    pub name: String,
    pub kind: PluginKind,
    /// The plugin crate's version.
    pub version: String,
    /// One line for `tzhost plugins`.
    pub description: String,
    /// The config struct's defaults, as JSON.
    pub default_config: String,
    /// JSON Schema of the config struct (with each key's doc comment).
    pub config_schema: String,
}

/// One problem instance of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Position in its data set (the parquet row index, or the generator's counter).
    pub index: u64,
    /// The data group it belongs to (e.g. the operator group `plus_minus`).
    pub group: String,
    /// Task-defined difficulty (countdown: the number of operands).
    pub difficulty: u32,
    /// Task-specific content as JSON, e.g. `{"target": 24, "nums": [3, 8, 1]}`.
    pub data: String,
}

/// One message of a chat prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage { role: role.into(), content: content.into() }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// How to prompt the model for a sample: either ready text, or chat messages
/// that the host renders with the model's own chat template.
///
/// Build one with [`PromptSpec::text`] or [`PromptSpec::chat`] and the
/// `with_*` methods:
///
/// ```
/// use tz_sdk::{ChatMessage, PromptSpec};
/// let plain = PromptSpec::text("Reverse: abc\nAnswer: ").stop_at("\n");
/// let chat = PromptSpec::chat(vec![ChatMessage::user("Reverse abc")]).with_generation_prompt();
/// assert!(plain.messages.is_empty() && chat.add_generation_prompt);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PromptSpec {
    /// The prompt text, used as is when `messages` is empty.
    pub text: String,
    /// Chat messages, rendered by the model's chat template when not empty.
    pub messages: Vec<ChatMessage>,
    /// Render with `add_generation_prompt` (start a fresh assistant turn).
    pub add_generation_prompt: bool,
    /// Leave the last (assistant) message open, as transformers'
    /// `continue_final_message=True` does.
    pub continue_final_message: bool,
    /// Generation stops once the response contains one of these strings.
    pub stop: Vec<String>,
}

impl PromptSpec {
    /// A plain-text prompt, used verbatim.
    pub fn text(text: impl Into<String>) -> Self {
        PromptSpec { text: text.into(), ..PromptSpec::default() }
    }
    /// A chat prompt, rendered with the model's chat template.
    pub fn chat(messages: Vec<ChatMessage>) -> Self {
        PromptSpec { messages, ..PromptSpec::default() }
    }
    /// Starts a fresh assistant turn after the messages.
    pub fn with_generation_prompt(mut self) -> Self {
        self.add_generation_prompt = true;
        self
    }
    /// Leaves the last (assistant) message open for the model to continue.
    pub fn continuing_final_message(mut self) -> Self {
        self.continue_final_message = true;
        self
    }
    /// Also stops generation once the response contains `stop`.
    pub fn stop_at(mut self, stop: impl Into<String>) -> Self {
        self.stop.push(stop.into());
        self
    }
}

/// Why a response ended.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// End-of-sequence token or a stop string.
    Stop,
    /// The max new-token limit was reached.
    Length,
}

/// One (sample, response) pair to score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreInput {
    pub sample: Sample,
    /// The prompt template the response was generated with (extraction
    /// rules can depend on it, e.g. countdown's `compact` has no tags).
    pub template: String,
    /// The prompt text the model saw.
    pub prompt: String,
    /// The decoded response (special tokens kept, as TinyZero decodes).
    pub response: String,
    pub finish: FinishReason,
}

/// A task's verdict on one response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The scalar reward (TinyZero countdown: 0, format_score or 1).
    pub reward: f32,
    /// The answer is right.
    pub correct: bool,
    /// An answer was found in the expected format.
    pub formatted: bool,
    /// The extracted answer, normalised, for majority voting (maj@k).
    pub answer: Option<String>,
    /// A short reason ("correct", "no <answer> tag", "numbers differ", ...).
    pub reason: String,
}

/// Per-sample data a reward shaper sees (all vectors have one entry per response).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShapeInput {
    pub rewards: Vec<f32>,
    pub response_lengths: Vec<u32>,
    /// The max new-token limit the batch was generated with.
    pub max_length: u32,
    pub correct: Vec<bool>,
    pub truncated: Vec<bool>,
    /// Responses with the same id answer the same prompt.
    pub group_ids: Vec<u32>,
}

/// Per-token data an advantage estimator sees. Token arrays are flattened:
/// response `i` owns `[offsets[i], offsets[i + 1])`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AdvantageInput {
    /// The task score (after shaping) sits on each response's last token;
    /// a KL-in-reward penalty, when on, is already subtracted per token.
    pub token_rewards: Vec<f32>,
    /// `len = responses + 1`, starting at 0.
    pub offsets: Vec<u32>,
    pub group_ids: Vec<u32>,
    /// Critic values per response token; empty when there is no critic.
    pub values: Vec<f32>,
}

/// An estimator's output, aligned with `AdvantageInput::offsets`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AdvantageOutput {
    pub advantages: Vec<f32>,
    /// Value targets per token (PPO); empty when there is no critic.
    pub returns: Vec<f32>,
    pub metrics: Vec<Metric>,
}

/// Whether an algorithm shapes rewards or estimates advantages.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlgorithmRole {
    /// Rewrites per-sample rewards (cosine, overlong). Any number, in order.
    Shaper,
    /// Turns rewards into advantages (grpo, ppo). Exactly one, last.
    Estimator,
}

/// Where a KL penalty to the frozen reference model goes.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KlPlacement {
    /// No KL term: no reference model is loaded.
    None,
    /// Added to the actor loss (GRPO style, `use_kl_loss`).
    Loss,
    /// Subtracted from token rewards (PPO style, `use_kl_in_reward`).
    Reward,
}

/// The per-token KL estimator (names as in veRL).
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KlEstimator {
    /// `logp - ref`
    K1,
    /// `|logp - ref|`
    Abs,
    /// `0.5 (logp - ref)^2`
    K2,
    /// `exp(ref - logp) - (ref - logp) - 1`, clamped (veRL's low_var_kl).
    K3,
}

/// How per-token losses are reduced to one number (veRL's `loss_agg_mode`).
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LossAggregation {
    #[serde(rename = "token-mean")]
    TokenMean,
    #[serde(rename = "seq-mean-token-sum")]
    SeqMeanTokenSum,
    #[serde(rename = "seq-mean-token-mean")]
    SeqMeanTokenMean,
    /// Dr. GRPO: token sums divided by a constant (the max response length).
    #[serde(rename = "seq-mean-token-sum-norm")]
    SeqMeanTokenSumNorm,
}

/// The KL settings an estimator asks the core to apply.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KlSettings {
    pub placement: KlPlacement,
    pub estimator: KlEstimator,
    /// The (initial) coefficient beta.
    pub coef: f32,
    /// Adaptive controller target; `<= 0` keeps the coefficient fixed.
    pub adaptive_target: f32,
    /// Adaptive controller horizon (veRL `kl_ctrl.horizon`).
    pub adaptive_horizon: f32,
}

/// The critic an estimator needs (PPO).
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CriticSettings {
    pub lr: f32,
    /// Value clip range (veRL `critic.cliprange_value`).
    pub clip_value: f32,
    pub warmup_steps: u32,
}

/// Everything the core's loss must do for the chosen estimator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossSettings {
    pub clip_low: f32,
    pub clip_high: f32,
    /// Dual-clip constant c (> 1); `<= 0` turns dual clip off.
    pub dual_clip: f32,
    pub kl: KlSettings,
    pub entropy_coef: f32,
    pub aggregation: LossAggregation,
    /// Present when the estimator needs a value model.
    pub critic: Option<CriticSettings>,
}

impl LossSettings {
    /// A frozen reference model is needed exactly when a KL term is on.
    pub fn needs_reference(&self) -> bool {
        self.kl.placement != KlPlacement::None
    }
    pub fn needs_critic(&self) -> bool {
        self.critic.is_some()
    }
}

impl Default for LossSettings {
    /// veRL HEAD's actor defaults with no KL and no critic.
    fn default() -> Self {
        LossSettings {
            clip_low: 0.2,
            clip_high: 0.2,
            dual_clip: 0.0,
            kl: KlSettings {
                placement: KlPlacement::None,
                estimator: KlEstimator::K3,
                coef: 0.001,
                adaptive_target: 0.0,
                adaptive_horizon: 10_000.0,
            },
            entropy_coef: 0.0,
            aggregation: LossAggregation::TokenMean,
            critic: None,
        }
    }
}

/// One stage of a data curriculum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// 1-based round.
    pub round: u32,
    /// The data group trained on in this stage.
    pub group: String,
    /// Passes over the group's training data.
    pub epochs: u32,
}

/// The ordered data stages of a run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Plan {
    pub stages: Vec<Stage>,
}

/// What a curriculum learns about the batch just trained on.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BatchStats {
    pub step: u64,
    /// The max new-token limit the batch was generated with.
    pub window: u32,
    /// The largest window allowed (the run's max_response_length).
    pub max_window: u32,
    /// Response lengths in tokens.
    pub lengths: Vec<u32>,
    pub correct: Vec<bool>,
    pub truncated: Vec<bool>,
}

/// A named scalar for metrics.jsonl and TensorBoard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
}

impl Metric {
    pub fn new(name: impl Into<String>, value: f64) -> Self {
        Metric { name: name.into(), value }
    }
}

/// Severity of a plugin's log line, forwarded to the host's tracing.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// A (prompt, response) pair for the host's neural reward model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardModelRequest {
    pub prompt: String,
    pub response: String,
}
