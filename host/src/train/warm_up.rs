//! The task's warm-up before training (the sdk's `Task::warm_up`): the
//! initial policy answers a few training prompts and the task calibrates on
//! the responses (the hybrid task: the reward model's score bounds). They
//! are not trained on. Runs once per run, never again on resume: what the
//! task learned is in its saved state.

use std::collections::{BTreeMap, HashSet};

use anyhow::Result;
use tz_core::sampling::SamplingParams;
use tz_sdk::abi_stable::std_types::RSlice;
use tz_sdk::ffi::TaskBox;
use tz_sdk::Sample;

use super::policy::Policy;
use super::prompts;
use super::rollout::rollout;
use crate::config::RunConfig;

/// Seed offset of the warm-up prompts and sampling (apart from training's).
const WARM_UP_SEED: u64 = 0x3A8F_11C0;

/// Samples `task.warm_up_size()` responses (rounded up to whole groups of
/// `rollout.n`) on training prompts not in `held_out`, hands them to the
/// task, and returns its metrics (empty when the task wants no warm-up).
pub fn warm_up(
    task: &TaskBox,
    policy: &Policy,
    cfg: &RunConfig,
    groups: &[String],
    held_out: &[Sample],
    window: usize,
) -> Result<BTreeMap<String, f64>> {
    let size = task.warm_up_size().into_result().map_err(anyhow::Error::msg)? as usize;
    if size == 0 {
        return Ok(BTreeMap::new());
    }
    let n = cfg.rollout.n.max(1);
    let exclude: HashSet<String> = held_out.iter().map(|s| s.data.to_string()).collect();
    let seed = cfg.trainer.seed ^ WARM_UP_SEED;
    let samples = prompts::generate(task, groups, size.div_ceil(n), seed, &exclude)?;
    let params = SamplingParams {
        temperature: cfg.rollout.temperature,
        top_p: cfg.rollout.top_p,
        top_k: cfg.rollout.top_k,
        max_new_tokens: window,
        seed,
        max_batch_rows: 0,
    };
    let rolled = rollout(task, policy, samples, &cfg.task.template, n, &params, &cfg.rollout.stop)?;
    let metrics =
        task.warm_up(RSlice::from_slice(&rolled.inputs)).into_result().map_err(anyhow::Error::msg)?;
    let metrics: BTreeMap<String, f64> = metrics.iter().map(|m| (m.name.to_string(), m.value)).collect();
    let shown: Vec<String> = metrics.iter().map(|(k, v)| format!("{k}={v:.4}")).collect();
    println!("warm-up on {} responses: {}", rolled.inputs.len(), shown.join(" "));
    Ok(metrics)
}
