//! The task's warm-up before training (the sdk's `Task::warm_up`): the
//! initial policy answers a few training prompts and the task calibrates on
//! the responses (the hybrid task: the reward model's score bounds). They
//! are not trained on. Runs once per run, never again on resume: what the
//! task learned is in its saved state.

use std::collections::BTreeMap;

use tz_config::RunConfig;
use tz_core::sampling::SamplingParams;
use tz_core::Policy;
use tz_sdk::handle::Task;

use crate::error::{ensure, Result};
use crate::prompts::SamplePool;
use crate::rollout::{rollout, rollout_budget, RolloutSpec};

/// Seed offset of the warm-up's prompt order and sampling (apart from training's).
const WARM_UP_SEED: u64 = 0x3A8F_11C0;

/// Samples `task.warm_up_size()` responses (rounded up to whole groups of
/// `rollout.n`) on prompts of the first stage's training pool (`pool`, built
/// only when the task wants a warm-up; held-out problems are not in it),
/// hands them to the task, and returns its metrics (empty when the task
/// wants no warm-up).
pub fn warm_up(
    task: &Task,
    policy: &Policy,
    cfg: &RunConfig,
    window: usize,
    pool: impl FnOnce() -> Result<SamplePool>,
) -> Result<BTreeMap<String, f64>> {
    let size = task.warm_up_size()? as usize;
    if size == 0 {
        return Ok(BTreeMap::new());
    }
    let n = cfg.rollout.n.max(1);
    let seed = cfg.trainer.seed ^ WARM_UP_SEED;
    let mut pool = SamplePool::new(pool()?.samples, seed);
    let samples = pool.next_batch(size.div_ceil(n));
    ensure!(!samples.is_empty(), "the warm-up found no training problems");
    let params = SamplingParams {
        temperature: cfg.rollout.temperature,
        top_p: cfg.rollout.top_p,
        top_k: cfg.rollout.top_k,
        max_new_tokens: window,
        seed,
        budget: rollout_budget(&cfg.rollout),
    };
    let rolled = rollout(task, policy, samples, &RolloutSpec::for_run(cfg, n, params)?)?;
    let metrics: BTreeMap<String, f64> =
        task.warm_up(&rolled.inputs)?.into_iter().map(|m| (m.name, m.value)).collect();
    let shown: Vec<String> = metrics.iter().map(|(k, v)| format!("{k}={v:.4}")).collect();
    println!("warm-up on {} responses: {}", rolled.inputs.len(), shown.join(" "));
    Ok(metrics)
}
