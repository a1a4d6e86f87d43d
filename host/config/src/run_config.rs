//! The resolved settings of a run. Defaults reproduce the tiny-model recipe
//! of the README's main job; `configs/` holds the paper-scale ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Result};

/// How the learning rate moves after warmup (the core's `optim::Decay`;
/// its own copy here, so the config needs no tensor library).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decay {
    Constant,
    Linear,
    Cosine,
}

/// A plugin's config table, passed to the plugin as JSON.
pub type PluginTable = toml::Table;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    pub model: ModelSection,
    pub task: TaskSection,
    pub algorithm: AlgorithmSection,
    pub curriculum: CurriculumSection,
    pub rollout: RolloutSection,
    pub trainer: TrainerSection,
    pub eval: EvalSection,
    pub stages: StagesSection,
    pub logging: LoggingSection,
    pub reward_model: RewardModelSection,
    pub dist: DistSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSection {
    /// A Hugging Face model directory or hub id; empty = the embedded tiny model.
    pub path: String,
    /// `auto`, `cpu`, `cuda`, `cuda:N`.
    pub device: String,
    /// Weights and activations: `f32` or `bf16` (optimizer moments stay f32).
    pub dtype: String,
    /// Where the frozen reference policy (KL on) lives: `auto`, `cpu`,
    /// `cuda`, `cuda:N`; empty = `model.device`. Another GPU or the CPU
    /// frees the policy's device of its weights (see `tzhost plan`).
    pub ref_device: String,
    /// Seed of the tiny model's warm start.
    pub tiny_seed: u64,
    /// SFT steps of the tiny model's warm start; 0 = the preset's recipe
    /// (a shorter warm start is cached separately; tests use it).
    pub tiny_sft_steps: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskSection {
    /// Task plugin name.
    pub name: String,
    /// Prompt template (`compact` for the tiny model, `base`, `qwen-instruct`, `chat`).
    pub template: String,
    /// Training data: a parquet (or JSONL) file in the TinyZero/veRL layout,
    /// or a directory with `train.parquet` or `<group>/train.parquet`; empty =
    /// generated on the fly by the task plugin. A curriculum stage of group
    /// `g` trains on the rows whose `group` column (else directory) is `g`;
    /// rows with no group are in every stage.
    pub train_data: String,
    /// Held-out data: a file, or a directory with `test.parquet` or
    /// `<group>/test.parquet` (groups taken in turn); at most `eval.size`
    /// rows (0 = all); empty = generated.
    pub val_data: String,
    /// Generated training problems per data group (when `train_data` is empty).
    pub train_size: usize,
    /// Longest prompt in tokens (TinyZero: 256); 0 = no limit.
    pub max_prompt_length: usize,
    /// A longer prompt is an error naming its row (`error`, veRL's default),
    /// or keeps its last (`left`) or first (`right`) `max_prompt_length` tokens.
    pub truncation: String,
    /// Plugin configs by plugin name.
    pub plugins: BTreeMap<String, PluginTable>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlgorithmSection {
    /// Shapers then one estimator, e.g. `["cosine", "grpo"]`.
    pub chain: Vec<String>,
    pub plugins: BTreeMap<String, PluginTable>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CurriculumSection {
    /// At most one data curriculum and one window curriculum.
    pub chain: Vec<String>,
    pub plugins: BTreeMap<String, PluginTable>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolloutSection {
    /// Prompts per training step.
    pub prompts_per_step: usize,
    /// Responses sampled per prompt (the GRPO group size).
    pub n: usize,
    pub temperature: f64,
    pub top_p: f64,
    pub top_k: usize,
    /// The largest max-new-token limit (curricula choose a window below it).
    pub max_response_length: usize,
    /// Extra stop strings besides the task's.
    pub stop: Vec<String>,
    /// At most this many sequences decode at once (training, validation,
    /// warm-up, `tzhost eval`); the rest wait for a finished row's slot.
    /// 0 = no limit of its own.
    pub max_rows_in_flight: usize,
    /// At most this many KV-cache positions (rows × (prompt + new tokens))
    /// at once; 0 = derived from the device's free memory.
    pub kv_budget_tokens: usize,
    /// Replay the decode step from CUDA graphs (CUDA only).
    pub cuda_graphs: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainerSection {
    pub seed: u64,
    /// Number of RL steps; 0 = as many as the curriculum plan / time budget allows.
    /// The main job is step-budgeted (the same steps, so the same learning, on
    /// any machine) with `max_minutes` as a cap for slow or loaded ones.
    pub total_steps: u64,
    /// Wall-clock budget in minutes for the RL phase (a cap when `total_steps` is set); 0 = none.
    pub max_minutes: f64,
    pub lr: f64,
    pub warmup_steps: u64,
    /// Learning rate after warmup: `constant`, or `linear` / `cosine` decay to
    /// `min_lr_ratio × lr` at `total_steps` (constant when `total_steps` is 0).
    pub lr_decay: Decay,
    /// The final learning rate of `linear` / `cosine` as a fraction of `lr`.
    pub min_lr_ratio: f64,
    pub weight_decay: f64,
    pub betas: (f64, f64),
    pub grad_clip: f64,
    /// Passes over each batch.
    pub ppo_epochs: usize,
    /// Responses per optimizer step (0 = the whole batch).
    pub mini_batch_size: usize,
    /// Responses per forward/backward (gradient accumulation inside a mini-batch).
    pub micro_batch_size: usize,
    /// Sequence positions per chunk of the LM head (no [batch, seq, vocab] tensor).
    pub logit_chunk: i64,
    /// Recompute each decoder layer in backward instead of keeping its
    /// activations (actor and critic): less memory, one more forward.
    pub gradient_checkpointing: bool,
    /// Checkpoint every N steps (0 = only at the end).
    pub save_freq: u64,
    /// Validation every N steps (0 = only before and after, and by time).
    pub test_freq: u64,
    /// Validation every M minutes of RL time, besides test_freq (0 = off);
    /// the time spent validating is not counted in max_minutes.
    pub test_every_minutes: f64,
    /// Checkpoints kept (the newest K).
    pub keep_checkpoints: usize,
    /// Stop when every reward of this many consecutive steps is identical
    /// (no learning signal, e.g. the well-formed-but-wrong collapse); 0 = never.
    pub collapse_patience: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalSection {
    /// Held-out problems evaluated before and after training.
    pub size: usize,
    /// Samples per problem for val/acc (mean@k at the rollout temperature).
    pub samples: usize,
    /// Also evaluate greedy decoding (val/acc_greedy).
    pub greedy: bool,
}

/// Stage boundaries of a planned curriculum (`continual`, `random`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StagesSection {
    /// Model snapshots at stage boundaries: `all` (snapshots/initial_* and
    /// final_*), `final` (final_* only), `none`.
    pub snapshots: String,
    /// Held-out problems per group evaluated at every stage boundary (the
    /// success matrix; at most the group's whole test set); 0 = no boundary
    /// evaluation. Paper configs use 1000, the seeds' whole test sets.
    pub eval_size: usize,
    /// Model-size suffix of the stage files (`metrics_{round}_{group}_{size}.json`,
    /// seed 001); empty = from the model's name (`Qwen2.5-1.5B` → `1.5b`, the
    /// tiny model → `tiny`, a name without a size → `model`).
    pub size_label: String,
}

impl Default for StagesSection {
    fn default() -> Self {
        StagesSection { snapshots: "all".into(), eval_size: 100, size_label: String::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingSection {
    /// Parent directory of run directories.
    pub runs_dir: PathBuf,
    /// The run directory's name; empty = `<task>-<algos>-<curricula>-<timestamp>`.
    pub run_name: String,
    /// Write TensorBoard event files to `<run>/tensorboard/` (the same scalars as metrics.jsonl).
    pub tensorboard: bool,
    /// Show a progress bar with live reward and success (only when stderr is a terminal).
    pub progress: bool,
    /// Without a progress bar (not a terminal, or progress = false), log a
    /// progress line every this many seconds (0 = after every step).
    pub progress_every_s: f64,
    /// Prompt/response samples written to samples.jsonl per validation.
    pub samples_to_log: usize,
}

/// The neural reward model served to task plugins (`HostServices::reward_model_score`),
/// e.g. for the `hybrid` task. Loaded only when `path` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RewardModelSection {
    /// A `*ForSequenceClassification` directory or hub id of a supported family (one label,
    /// with a chat template); empty = no reward model.
    pub path: String,
    /// `auto`, `cpu`, `cuda`, `cuda:N`, independent of `model.device`.
    pub device: String,
    /// `f32` or `bf16`.
    pub dtype: String,
    /// (prompt, response) pairs per forward pass.
    pub batch_size: usize,
    /// Longest input in tokens; longer ones keep their last tokens.
    pub max_length: usize,
    /// System message before the question (AceMath-RM: "Please reason step
    /// by step, and check your final answer within \\boxed{}."); empty = none.
    pub system_prompt: String,
}

impl Default for RewardModelSection {
    fn default() -> Self {
        RewardModelSection {
            path: String::new(),
            device: "auto".into(),
            dtype: "f32".into(),
            batch_size: 8,
            max_length: 4096,
            system_prompt: String::new(),
        }
    }
}

/// Data-parallel training when launched by torchrun (ignored in a single
/// process): see the README's data-parallel section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistSection {
    /// Shard the optimizer state across ranks (ZeRO-1) instead of replicating it.
    pub zero1: bool,
    /// Seconds a rank waits for its peers (joining, every collective) before
    /// the job ends with an error naming the rank.
    pub timeout_s: f64,
}

impl Default for DistSection {
    fn default() -> Self {
        DistSection { zero1: false, timeout_s: 600.0 }
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            model: ModelSection::default(),
            task: TaskSection::default(),
            algorithm: AlgorithmSection::default(),
            curriculum: CurriculumSection::default(),
            rollout: RolloutSection::default(),
            trainer: TrainerSection::default(),
            eval: EvalSection::default(),
            stages: StagesSection::default(),
            logging: LoggingSection::default(),
            reward_model: RewardModelSection::default(),
            dist: DistSection::default(),
        }
    }
}

impl Default for AlgorithmSection {
    fn default() -> Self {
        AlgorithmSection { chain: vec!["grpo".into()], plugins: BTreeMap::new() }
    }
}

impl Default for CurriculumSection {
    fn default() -> Self {
        CurriculumSection { chain: vec!["adaptive".into()], plugins: BTreeMap::new() }
    }
}

impl Default for ModelSection {
    fn default() -> Self {
        ModelSection {
            path: String::new(),
            device: "auto".into(),
            dtype: "f32".into(),
            ref_device: String::new(),
            tiny_seed: 0,
            tiny_sft_steps: 0,
        }
    }
}

impl Default for TaskSection {
    fn default() -> Self {
        TaskSection {
            name: "countdown".into(),
            template: "compact".into(),
            train_data: String::new(),
            val_data: String::new(),
            train_size: 20_000,
            max_prompt_length: 0,
            truncation: "error".into(),
            plugins: BTreeMap::new(),
        }
    }
}

impl Default for RolloutSection {
    /// The tiny-model recipe: 32 prompts × 8 samples, temperature 1, 24 new tokens.
    fn default() -> Self {
        RolloutSection {
            prompts_per_step: 32,
            n: 8,
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            max_response_length: 24,
            stop: Vec::new(),
            max_rows_in_flight: 0,
            kv_budget_tokens: 0,
            cuda_graphs: true,
        }
    }
}

impl Default for TrainerSection {
    fn default() -> Self {
        TrainerSection {
            seed: 1,
            total_steps: 2000,
            max_minutes: 8.0,
            lr: 2e-4,
            warmup_steps: 0,
            lr_decay: Decay::Cosine,
            min_lr_ratio: 0.1,
            weight_decay: 0.0,
            betas: (0.9, 0.999),
            grad_clip: 1.0,
            ppo_epochs: 1,
            mini_batch_size: 0,
            micro_batch_size: 64,
            logit_chunk: 1024,
            gradient_checkpointing: false,
            save_freq: 50,
            test_freq: 0,
            test_every_minutes: 2.0,
            keep_checkpoints: 2,
            collapse_patience: 10,
        }
    }
}

impl Default for EvalSection {
    fn default() -> Self {
        EvalSection { size: 500, samples: 4, greedy: true }
    }
}

impl Default for LoggingSection {
    fn default() -> Self {
        LoggingSection {
            runs_dir: PathBuf::from("runs"),
            run_name: String::new(),
            tensorboard: true,
            progress: true,
            progress_every_s: 30.0,
            samples_to_log: 16,
        }
    }
}

impl RunConfig {
    /// The model-size suffix of seed 001's file names: `stages.size_label`,
    /// else read from the model's name ([`size_from_model_name`]).
    pub fn size_label(&self) -> String {
        if !self.stages.size_label.is_empty() {
            return self.stages.size_label.clone();
        }
        if self.model.path.is_empty() {
            return "tiny".into();
        }
        size_from_model_name(&self.model.path).unwrap_or_else(|| "model".into())
    }

    /// Reads a TOML file; unknown keys and wrong types are one-line errors
    /// naming the file and the key.
    pub fn from_file(path: &Path) -> Result<RunConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::from_toml_str(&text)
            .map_err(|e| ConfigError::InFile { path: path.to_path_buf(), source: Box::new(e) })
    }

    pub fn from_toml_str(text: &str) -> Result<RunConfig> {
        let value: toml::Table = toml::from_str(text)
            .map_err(|e| ConfigError::Syntax { file: None, message: one_line(&e.to_string()) })?;
        Self::from_table(value)
    }

    /// Checks a (possibly overridden) table against the schema, deserialises
    /// it, then checks every numeric setting's range ([`super::ranges`]).
    /// Errors name the key and the closest valid key, the expected type or
    /// the range.
    pub fn from_table(table: toml::Table) -> Result<RunConfig> {
        super::validate::check(&table, &RunConfig::default().to_table())
            .map_err(|error| ConfigError::Key { error, origin: None })?;
        let config = Self::deserialize_table(table)?;
        super::ranges::check(&config)?;
        Ok(config)
    }

    /// Deserialises a table already checked by [`super::validate::check`]
    /// (no range checks); serde's own errors (e.g. a negative count) still
    /// name the key.
    pub(crate) fn deserialize_table(table: toml::Table) -> Result<RunConfig> {
        let de = toml::Value::Table(table);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Deserialize { key, message: one_line(&e.into_inner().to_string()) }
        })
    }

    pub fn to_table(&self) -> toml::Table {
        toml::Table::try_from(self).expect("RunConfig serialises to TOML")
    }

    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).expect("RunConfig serialises to TOML")
    }

    /// The JSON config of a plugin (empty object when none is set).
    pub fn plugin_json(tables: &BTreeMap<String, PluginTable>, name: &str) -> String {
        tables.get(name).map(|t| serde_json::to_string(t).expect("TOML table is JSON")).unwrap_or_default()
    }
}

/// TOML and serde errors span several lines (with a caret); keep the message.
pub fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('|') && !l.starts_with('^'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The parameter count in a model's name, lowercased: the last `-`/`_`
/// separated part like `1.5B`, `500M` or `7b` (`Qwen/Qwen2.5-1.5B-Instruct`
/// → `1.5b`, `deepseek-ai/DeepSeek-R1-Distill-Qwen-7B@main` → `7b`).
pub fn size_from_model_name(path: &str) -> Option<String> {
    let name = path.trim_end_matches('/').rsplit('/').next()?.split('@').next()?;
    name.split(['-', '_']).rev().find_map(|part| {
        let lower = part.to_ascii_lowercase();
        let digits = lower.strip_suffix('b').or_else(|| lower.strip_suffix('m'))?;
        let is_number = !digits.is_empty()
            && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
            && digits.chars().next().is_some_and(|c| c.is_ascii_digit());
        is_number.then_some(lower)
    })
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn model_sizes_come_from_the_name() {
        let size = |p: &str| size_from_model_name(p);
        assert_eq!(size("Qwen/Qwen2.5-1.5B").as_deref(), Some("1.5b"));
        assert_eq!(size("Qwen/Qwen2.5-3B-Instruct").as_deref(), Some("3b"));
        assert_eq!(size("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B@abc").as_deref(), Some("7b"));
        assert_eq!(size("/models/qwen2_500M/").as_deref(), Some("500m"));
        assert_eq!(size("runs/x/checkpoints/step_000100"), None);
        let mut cfg = RunConfig::default();
        assert_eq!(cfg.size_label(), "tiny");
        cfg.model.path = "runs/x/checkpoints/step_000100".into();
        assert_eq!(cfg.size_label(), "model");
        cfg.stages.size_label = "1.5b".into();
        assert_eq!(cfg.size_label(), "1.5b");
    }
}
