//! Where the policy comes from: `model.path` (a directory or hub id), or
//! the embedded tiny model, warm-started on the task's compact reference
//! solutions on first use (cached per seed and SFT length).

use std::path::PathBuf;

use tz_core::presets::{default_models_dir, ensure_tiny_countdown, TinyCountdownRecipe};
use tz_sdk::handle::Task;

use crate::error::Result;

/// The model directory of a run.
pub fn resolve_model_path(
    model_path: &str,
    task: &Task,
    tiny_seed: u64,
    sft_steps: usize,
) -> Result<PathBuf> {
    if !model_path.is_empty() {
        return Ok(tz_core::hub::resolve_model(model_path)?);
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
        compact_pairs(task, n, tiny_seed).map_err(|e| tz_core::CoreError::Callback(Box::new(e)))
    })?;
    Ok(dir)
}

/// (prompt, response) pairs in the `compact` template from the task's
/// generator, spread over its groups.
fn compact_pairs(task: &Task, n: usize, seed: u64) -> Result<Vec<(String, String)>> {
    let groups = task.groups()?;
    let per_group = (n / groups.len().max(1)).max(1) as u64;
    let mut pairs = Vec::with_capacity(n);
    for (g, group) in groups.iter().enumerate() {
        let samples = task.generate(group, per_group, seed.wrapping_mul(1000).wrapping_add(g as u64 + 17))?;
        for s in &samples {
            let prompt = task.prompt(s, "compact")?;
            if let Some(r) = task.reference_solution(s, "compact")? {
                pairs.push((prompt.text, r));
            }
        }
    }
    Ok(pairs)
}
