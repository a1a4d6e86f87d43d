//! A run config turned into the planner's inputs: the model's shape (from
//! its `config.json`, no weights) and the run's shape.
//!
//! Settings that other parts of the trainer add over time are read by key
//! from the resolved config when it has them, and can be given as
//! `tzhost plan` flags meanwhile ([`PlanOptions`]); this file is the one
//! place that maps config keys to planner inputs.

use std::path::Path;

use anyhow::{Context, Result};
use tz_core::hub::{HubSettings, ModelRef};
use tz_plan::{
    Attention, DeviceKind, Dtype, Generation, ModelShape, Placement, RewardModel, RolloutBudget, RunShape,
    Update,
};
use tz_sdk::{LossAggregation, LossSettings};

use tz_config::RunConfig;

/// Planner inputs that are not (yet) config keys, or that override them.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Data-parallel processes.
    pub nproc: Option<u64>,
    /// ZeRO-1 optimizer sharding.
    pub zero1: bool,
    /// Overrides `trainer.gradient_checkpointing`.
    pub gradient_checkpointing: Option<bool>,
    /// Overrides `rollout.max_rows_in_flight`.
    pub rows_in_flight: Option<u64>,
    /// Overrides `rollout.kv_budget_tokens`.
    pub kv_budget_tokens: Option<u64>,
    /// Overrides `task.max_prompt_length` (default [`DEFAULT_PROMPT_LEN`]).
    pub prompt_len: Option<u64>,
    /// The attention kernel, when not the device's default (math on CUDA, flash on the CPU).
    pub attention: Option<Attention>,
}

/// TinyZero's `max_prompt_length`, assumed when the config has none.
pub const DEFAULT_PROMPT_LEN: u64 = 256;

/// Config keys the planner reads when the resolved config has them (added
/// by the rollout budget, activation checkpointing and prompt-length work).
pub const KEY_ROWS_IN_FLIGHT: &str = "rollout.max_rows_in_flight";
pub const KEY_KV_BUDGET: &str = "rollout.kv_budget_tokens";
pub const KEY_CHECKPOINTING: &str = "trainer.gradient_checkpointing";
pub const KEY_PROMPT_LEN: &str = "task.max_prompt_length";

/// A dotted key of a resolved config, when the schema has it.
fn lookup<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

/// Whether the config schema has `key` (a feature the trainer honours).
pub fn has_key(table: &toml::Table, key: &str) -> bool {
    lookup(table, key).is_some()
}

/// A positive integer key (0 or absent = unset).
fn positive(table: &toml::Table, key: &str) -> Option<u64> {
    lookup(table, key).and_then(toml::Value::as_integer).filter(|&v| v > 0).map(|v| v as u64)
}

/// Where a model's shape was read from.
#[derive(Debug, Clone)]
pub struct ShapeSource {
    pub shape: ModelShape,
    /// `config.json` path, `the built-in shape of ...`, `the tiny preset`.
    pub from: String,
}

/// The shape of `spec` (`model.path`): a directory's `config.json`, a hub
/// id's cached `config.json` (no weights needed), else the built-in shape
/// of that hub id; empty = the embedded tiny model.
pub fn model_shape(spec: &str) -> Result<ShapeSource> {
    if spec.is_empty() {
        let cfg = serde_json::to_value(tz_core::presets::tiny_config())?;
        let map = cfg.as_object().context("the tiny config is an object")?;
        return Ok(ShapeSource { shape: ModelShape::from_config_map(map)?, from: "the tiny preset".into() });
    }
    let from_file = |path: &Path| -> Result<ShapeSource> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let shape = ModelShape::from_config_json(&text).with_context(|| path.display().to_string())?;
        Ok(ShapeSource { shape, from: path.display().to_string() })
    };
    match ModelRef::parse(spec)? {
        ModelRef::Dir(dir) => from_file(&dir.join("config.json")),
        ModelRef::Hub { repo_id, revision } => {
            let hub = HubSettings::from_env();
            if let Some(snapshot) = hub.cached_snapshot(&repo_id, &revision) {
                if snapshot.join("config.json").is_file() {
                    return from_file(&snapshot.join("config.json"));
                }
            }
            let shape = tz_plan::known_shape(&repo_id).with_context(|| {
                format!(
                    "model '{spec}' is not in the Hugging Face cache ({}) and has no built-in shape; \
                     pass a directory holding its config.json",
                    hub.repo_cache_dir(&repo_id).display()
                )
            })?;
            Ok(ShapeSource { shape, from: format!("the built-in shape of {repo_id} (not in the HF cache)") })
        }
    }
}

/// `cuda` and `cuda:0` are one device; `auto` and empty follow `policy`.
fn placement(spec: &str, policy: &str) -> Placement {
    let norm = |s: &str| match s {
        "" | "auto" => "auto".to_string(),
        "cuda" => "cuda:0".to_string(),
        s => s.to_string(),
    };
    let (spec, policy) = (norm(spec), norm(policy));
    if spec == "auto" || spec == policy {
        Placement::Policy
    } else {
        Placement::Other(spec)
    }
}

/// The run's shape from its resolved config and the estimator's loss
/// settings (which say whether a reference and a critic are loaded).
pub fn run_shape(
    cfg: &RunConfig,
    loss: &LossSettings,
    device: DeviceKind,
    opts: &PlanOptions,
) -> Result<RunShape> {
    let table = cfg.to_table();
    let dtype = Dtype::parse(&cfg.model.dtype).context("model.dtype")?;
    let ranks = opts.nproc.unwrap_or(1).max(1);
    let r = &cfg.rollout;
    let mut generations = vec![Generation {
        label: "rollout".into(),
        prompts: r.prompts_per_step as u64,
        samples: r.n as u64,
        greedy: r.temperature == 0.0,
        top_p: r.top_p < 1.0,
    }];
    let eval_prompts = if cfg.eval.size > 0 { cfg.eval.size } else { r.prompts_per_step } as u64;
    if cfg.eval.samples > 0 {
        generations.push(Generation {
            label: "validation (sampled)".into(),
            prompts: eval_prompts,
            samples: cfg.eval.samples as u64,
            greedy: r.temperature == 0.0,
            top_p: r.top_p < 1.0,
        });
    }
    if cfg.eval.greedy {
        generations.push(Generation {
            label: "validation (greedy)".into(),
            prompts: eval_prompts,
            samples: 1,
            greedy: true,
            top_p: false,
        });
    }
    let rows_per_rank = (r.prompts_per_step as u64).div_ceil(ranks).saturating_mul(r.n as u64);
    let t = &cfg.trainer;
    let mini = if t.mini_batch_size == 0 { rows_per_rank } else { t.mini_batch_size as u64 };
    // The actor update puts whole responses in one chunk for per-sequence means.
    let chunk = if loss.aggregation == LossAggregation::SeqMeanTokenMean {
        r.max_response_length as u64
    } else {
        t.logit_chunk.max(1) as u64
    };
    let update = Update {
        micro_batch: (t.micro_batch_size.max(1) as u64).min(mini.max(1)).min(rows_per_rank.max(1)),
        logit_chunk: chunk,
        gradient_checkpointing: opts
            .gradient_checkpointing
            .or_else(|| lookup(&table, KEY_CHECKPOINTING).and_then(toml::Value::as_bool))
            .unwrap_or(false),
        critic: loss.needs_critic(),
    };
    let reward_model = if cfg.reward_model.path.is_empty() {
        None
    } else {
        let rm = &cfg.reward_model;
        Some(RewardModel {
            shape: model_shape(&rm.path).context("reward_model.path")?.shape,
            dtype: Dtype::parse(&rm.dtype).context("reward_model.dtype")?,
            placement: placement(&rm.device, &cfg.model.device),
            batch_size: rm.batch_size.max(1) as u64,
            max_length: rm.max_length.max(1) as u64,
        })
    };
    let run = RunShape {
        device,
        dtype,
        ranks,
        shard_optimizer: opts.zero1 && ranks > 1,
        prompt_len: opts
            .prompt_len
            .or_else(|| positive(&table, KEY_PROMPT_LEN))
            .unwrap_or(DEFAULT_PROMPT_LEN),
        response_len: r.max_response_length as u64,
        generations,
        budget: RolloutBudget {
            rows_in_flight: opts.rows_in_flight.or_else(|| positive(&table, KEY_ROWS_IN_FLIGHT)),
            kv_tokens: opts.kv_budget_tokens.or_else(|| positive(&table, KEY_KV_BUDGET)),
        },
        attention: opts.attention.unwrap_or(Attention::default_for(device)),
        update: Some(update),
        reference: loss.needs_reference().then(|| placement(&cfg.model.ref_device, &cfg.model.device)),
        reward_model,
    };
    run.validate()?;
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_and_cuda0_are_the_same_device_and_auto_follows_the_policy() {
        assert_eq!(placement("", "cuda"), Placement::Policy);
        assert_eq!(placement("cuda:0", "cuda"), Placement::Policy);
        assert_eq!(placement("auto", "cuda:1"), Placement::Policy);
        assert_eq!(placement("cpu", "cuda"), Placement::Other("cpu".into()));
        assert_eq!(placement("cuda:1", "cuda"), Placement::Other("cuda:1".into()));
    }

    #[test]
    fn keys_the_schema_lacks_are_simply_absent() {
        let table: toml::Table =
            toml::from_str("[rollout]\nmax_rows_in_flight = 64\n[task]\nname = 'x'").unwrap();
        assert_eq!(positive(&table, KEY_ROWS_IN_FLIGHT), Some(64));
        assert_eq!(positive(&table, KEY_PROMPT_LEN), None);
        assert_eq!(lookup(&table, "rollout.max_rows_in_flight.deeper"), None);
    }
}
