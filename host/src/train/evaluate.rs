//! Validation during training: success sampled at the rollout temperature
//! (`val/acc`, the mean over k samples per problem) and greedy success
//! (`val/acc_greedy`) on a fixed held-out set.

use std::collections::BTreeMap;

use anyhow::Result;
use tz_core::sampling::SamplingParams;
use tz_sdk::decimal::{f32_decimal, f32_precision};
use tz_sdk::ffi::TaskBox;
use tz_sdk::Sample;

use super::policy::Policy;
use super::rollout::{rollout_and_score, Scored};
use crate::config::RunConfig;

/// Validation figures with veRL-style names.
pub struct Validation {
    pub metrics: BTreeMap<String, f64>,
    /// A few (prompt, response, reward) examples for samples.jsonl.
    pub examples: Vec<serde_json::Value>,
}

fn accuracy(s: &Scored) -> f64 {
    s.scores.iter().filter(|x| x.correct).count() as f64 / s.scores.len().max(1) as f64
}

/// Evaluates `samples` (k sampled responses each, plus greedy when asked).
pub fn validate(
    task: &TaskBox,
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
        budget: cfg.rollout.budget(),
    };
    let sampled =
        rollout_and_score(task, policy, samples.to_vec(), &cfg.task.template, k, &params, &cfg.rollout.stop)?;
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
        let g = rollout_and_score(
            task,
            policy,
            samples.to_vec(),
            &cfg.task.template,
            1,
            &greedy,
            &cfg.rollout.stop,
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
