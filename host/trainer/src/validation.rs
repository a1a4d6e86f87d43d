//! Validation during training: success sampled at the rollout temperature
//! (`val/acc`, the mean over k samples per problem) and greedy success
//! (`val/acc_greedy`) on a fixed held-out set; and when to run it
//! ([`ValidationSchedule`]: every `trainer.test_freq` steps and every
//! `trainer.test_every_minutes` of RL time).

use std::collections::BTreeMap;

use tz_config::RunConfig;
use tz_core::sampling::SamplingParams;
use tz_core::Policy;
use tz_sdk::decimal::{f32_decimal, f32_precision};
use tz_sdk::handle::Task;
use tz_sdk::Sample;

use crate::error::Result;
use crate::rollout::{rollout_and_score_on, rollout_budget, RolloutSpec, Scored};
use tz_core::parallel::World;

/// When to validate during training. The clock is the run's RL time (time
/// spent validating is not counted), so a validation every few minutes
/// costs no training time under a time budget.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationSchedule {
    /// Every this many steps (0 = off).
    every_steps: u64,
    /// Every this many seconds of RL time (0 = off).
    every_s: f64,
    /// RL time of the last validation.
    last_s: f64,
}

impl ValidationSchedule {
    /// From `trainer.test_freq` and `trainer.test_every_minutes`; `rl_s` is
    /// the RL time now (the last validation, or the start of this session).
    pub fn new(cfg: &RunConfig, rl_s: f64) -> Self {
        ValidationSchedule {
            every_steps: cfg.trainer.test_freq,
            every_s: cfg.trainer.test_every_minutes.max(0.0) * 60.0,
            last_s: rl_s,
        }
    }

    /// Whether to validate after `step`, at RL time `rl_s`.
    pub fn due(&self, step: u64, rl_s: f64) -> bool {
        let by_steps = self.every_steps > 0 && step.is_multiple_of(self.every_steps);
        let by_time = self.every_s > 0.0 && rl_s - self.last_s >= self.every_s;
        by_steps || by_time
    }

    /// A validation ran at RL time `rl_s`.
    pub fn validated(&mut self, rl_s: f64) {
        self.last_s = rl_s;
    }
}

/// Validation figures with veRL-style names.
pub struct Validation {
    pub metrics: BTreeMap<String, f64>,
    /// A few (prompt, response, reward) examples for samples.jsonl.
    pub examples: Vec<serde_json::Value>,
}

fn accuracy(s: &Scored) -> f64 {
    s.scores.iter().filter(|x| x.correct).count() as f64 / s.scores.len().max(1) as f64
}

/// Evaluates `samples` (k sampled responses each, plus greedy when asked),
/// the prompts split across the ranks of `world` and the results shared,
/// so every rank returns the same figures.
pub fn validate(
    world: &World,
    task: &Task,
    policy: &Policy,
    samples: &[Sample],
    cfg: &RunConfig,
    seed: u64,
) -> Result<Validation> {
    let mut metrics = BTreeMap::new();
    let k = cfg.eval.samples.max(1);
    let params = SamplingParams {
        temperature: cfg.rollout.temperature,
        top_p: cfg.rollout.top_p,
        top_k: cfg.rollout.top_k,
        max_new_tokens: cfg.rollout.max_response_length,
        seed,
        budget: rollout_budget(&cfg.rollout),
    };
    let sampled = rollout_and_score_on(
        world,
        task,
        policy,
        samples.to_vec(),
        &RolloutSpec::for_run(cfg, k, params.clone())?,
    )?;
    let acc = accuracy(&sampled);
    metrics.insert("val/acc".into(), acc);
    metrics.insert(format!("val/acc/mean@{k}"), acc);
    let score =
        sampled.scores.iter().map(|s| s.reward as f64).sum::<f64>() / sampled.scores.len().max(1) as f64;
    metrics.insert("val/test_score".into(), f32_precision(score));
    let mut by_difficulty: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
    for (c, s) in sampled.completions.iter().zip(&sampled.scores) {
        let e = by_difficulty.entry(sampled.samples[c.prompt_index].difficulty).or_default();
        e.0 += s.correct as usize;
        e.1 += 1;
    }
    for (d, (ok, all)) in by_difficulty {
        metrics.insert(format!("val/difficulty/{d}_acc"), ok as f64 / all.max(1) as f64);
    }
    if cfg.eval.greedy {
        let greedy = SamplingParams { temperature: 0.0, ..params };
        let g = rollout_and_score_on(
            world,
            task,
            policy,
            samples.to_vec(),
            &RolloutSpec::for_run(cfg, 1, greedy)?,
        )?;
        metrics.insert("val/acc_greedy".into(), accuracy(&g));
    }
    let examples = sampled
        .completions
        .iter()
        .zip(&sampled.texts)
        .zip(&sampled.scores)
        .step_by(k)
        .take(cfg.logging.samples_to_log)
        .map(|((c, text), s)| {
            serde_json::json!({
                "prompt": sampled.prompts[c.prompt_index].text,
                "response": text,
                "reward": f32_decimal(s.reward),
                "correct": s.correct,
                "reason": s.reason.as_str(),
            })
        })
        .collect();
    Ok(Validation { metrics, examples })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(test_freq: u64, minutes: f64) -> ValidationSchedule {
        let mut cfg = RunConfig::default();
        cfg.trainer.test_freq = test_freq;
        cfg.trainer.test_every_minutes = minutes;
        ValidationSchedule::new(&cfg, 0.0)
    }

    #[test]
    fn validation_is_due_every_n_steps_and_every_m_minutes_of_rl_time() {
        let s = schedule(25, 0.0);
        assert!(!s.due(24, 1e9) && s.due(25, 0.0) && s.due(50, 0.0));
        let mut t = schedule(0, 2.0);
        assert!(!t.due(1, 119.0) && t.due(7, 120.0));
        t.validated(125.0);
        assert!(!t.due(8, 240.0) && t.due(9, 245.0));
        let off = schedule(0, 0.0);
        assert!(!off.due(100, 1e9));
    }
}
