//! The policy model and its tokenizer: a Hugging Face directory (or hub id),
//! or the embedded tiny model, warm-started on the task's reference
//! solutions on first use.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tch::nn::VarStore;
use tch::{Device, Kind};
use tz_core::presets::{default_models_dir, ensure_tiny_countdown, TinyCountdownRecipe};
use tz_core::rollout::TokenDecoder;
use tz_core::sft::TokenEncoder;
use tz_core::{ModelDir, Qwen2, TextTokenizer};
use tz_sdk::ffi::TaskBox;

/// A loaded model: weights in a VarStore, the forward pass, the tokenizer.
pub struct Policy {
    pub dir: ModelDir,
    pub vs: VarStore,
    pub model: Qwen2,
    pub tokenizer: Tokenizer,
    /// `task.max_prompt_length` and `task.truncation` (none outside training).
    pub prompt_limit: super::prompts::PromptLimit,
}

/// [`TextTokenizer`] with the core's encoder/decoder traits.
pub struct Tokenizer(pub TextTokenizer);

impl TokenDecoder for Tokenizer {
    fn decode(&self, ids: &[u32]) -> Result<String> {
        self.0.decode(ids, false)
    }
    fn eos_token_ids(&self) -> Vec<u32> {
        self.0.eos_token_ids().to_vec()
    }
}

impl TokenEncoder for Tokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.0.encode(text, false)
    }
}

impl Tokenizer {
    pub fn pad_id(&self) -> u32 {
        self.0.pad_token_id().or_else(|| self.0.eos_token_ids().first().copied()).unwrap_or(0)
    }
}

/// `f32` or `bf16`.
pub fn parse_dtype(name: &str) -> Result<Kind> {
    match name {
        "f32" | "float32" => Ok(Kind::Float),
        "bf16" | "bfloat16" => Ok(Kind::BFloat16),
        other => anyhow::bail!("model.dtype '{other}' is not one of f32, bf16"),
    }
}

impl Policy {
    /// Loads the model directory onto `device` in `kind`.
    pub fn load(dir: &Path, device: Device, kind: Kind) -> Result<Policy> {
        let dir = ModelDir::open(dir)?;
        let mut vs = VarStore::new(device);
        let model = Qwen2::new(&vs.root(), dir.config());
        if kind != Kind::Float {
            vs.set_kind(kind);
        }
        dir.load_weights(&vs).with_context(|| format!("loading weights from {}", dir.root().display()))?;
        let tokenizer = Tokenizer(dir.tokenizer()?);
        Ok(Policy { dir, vs, model, tokenizer, prompt_limit: Default::default() })
    }
}

/// Where the policy comes from: `model_path` (a directory or hub id), or
/// the tiny model trained on `task`'s compact reference solutions.
pub fn resolve_model_path(
    model_path: &str,
    task: &TaskBox,
    tiny_seed: u64,
    sft_steps: usize,
) -> Result<PathBuf> {
    if !model_path.is_empty() {
        return tz_core::hub::resolve_model(model_path);
    }
    let mut cache = default_models_dir();
    let mut recipe = TinyCountdownRecipe::default();
    if sft_steps > 0 && sft_steps as u64 != recipe.sft.steps {
        recipe.sft.steps = sft_steps as u64;
        recipe.sft.optimizer.total_steps = sft_steps as u64;
        recipe.num_pairs = recipe.num_pairs.min(sft_steps * recipe.sft.batch_size).max(recipe.sft.batch_size);
        cache = cache.join(format!("sft-{sft_steps}-steps"));
    }
    let dir = ensure_tiny_countdown(&cache, tiny_seed, &recipe, |n| {
        tracing::info!(
            "warm-starting the tiny model on {n} reference solutions (cached in {})",
            cache.display()
        );
        compact_pairs(task, n, tiny_seed)
    })?;
    Ok(dir)
}

/// (prompt, response) pairs in the `compact` template from the task's
/// generator, spread over its groups.
fn compact_pairs(task: &TaskBox, n: usize, seed: u64) -> Result<Vec<(String, String)>> {
    let groups = task.groups().into_result().map_err(anyhow::Error::msg)?;
    let per_group = (n / groups.len().max(1)).max(1) as u64;
    let mut pairs = Vec::with_capacity(n);
    for (g, group) in groups.iter().enumerate() {
        let samples = task
            .generate(group.as_rstr(), per_group, seed.wrapping_mul(1000).wrapping_add(g as u64 + 17))
            .into_result()
            .map_err(anyhow::Error::msg)?;
        for s in samples.iter() {
            let prompt = task.prompt(s, "compact".into()).into_result().map_err(anyhow::Error::msg)?;
            let response =
                task.reference_solution(s, "compact".into()).into_result().map_err(anyhow::Error::msg)?;
            if let Some(r) = response.into_option() {
                pairs.push((prompt.text.to_string(), r.to_string()));
            }
        }
    }
    Ok(pairs)
}
