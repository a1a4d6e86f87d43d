//! Every figure of a step, computed in one place, with veRL's names where
//! they exist (`critic/score/mean`, `actor/pg_loss`, `response_length/*`,
//! `timing_s/*`, ...), plus the few typed ones the loop reads.

use std::collections::BTreeMap;

use tz_core::critic::CriticMetrics;
use tz_core::rl_update::ActorMetrics;
use tz_sdk::decimal::f32_precision;
use tz_sdk::AdvantageOutput;

use super::phases::Phases;
use super::rewards::KlInReward;
use super::StepBatch;
use crate::error::Result;

/// Metric name → value, sorted by name (as metrics.jsonl writes them).
pub type Metrics = BTreeMap<String, f64>;

/// What the update stages reported.
pub struct Updates<'a> {
    /// The update was on-policy: no old-log-prob pass ran.
    pub old_log_prob_skipped: bool,
    pub kl_in_reward: Option<KlInReward>,
    /// β, when the KL is in the actor loss.
    pub kl_coef_in_loss: Option<f64>,
    pub estimate: &'a AdvantageOutput,
    pub critic: Option<&'a CriticMetrics>,
    pub actor: Option<&'a ActorMetrics>,
}

/// A step's figures: the typed ones and every named one.
pub struct StepMetrics {
    pub score_mean: f64,
    pub success: f64,
    pub response_length: f64,
    pub tokens: u64,
    pub all: Metrics,
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        s / n as f64
    }
}

/// `name/mean`, `name/max`, `name/min` (nothing for an empty list).
fn put_stats(m: &mut Metrics, name: &str, v: &[f64]) {
    if v.is_empty() {
        return;
    }
    m.insert(format!("{name}/mean"), mean(v.iter().copied()));
    m.insert(format!("{name}/max"), v.iter().copied().fold(f64::MIN, f64::max));
    m.insert(format!("{name}/min"), v.iter().copied().fold(f64::MAX, f64::min));
}

/// [`put_stats`] of f32 data, at f32 precision (0.1, not 0.10000000149011612).
fn put_f32_stats(m: &mut Metrics, name: &str, v: &[f32]) {
    put_stats(m, name, &v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>());
    for stat in ["mean", "max", "min"] {
        if let Some(x) = m.get_mut(&format!("{name}/{stat}")) {
            *x = f32_precision(*x);
        }
    }
}

/// An update's figure: losses, entropy and norms of f32 tensors at f32
/// precision; learning rates as set.
fn update_figure(name: &str, v: f64) -> f64 {
    if name.ends_with("/lr") {
        v
    } else {
        f32_precision(v)
    }
}

/// The step's metrics from the batch record, the stages' reports and the phase times.
pub fn step_metrics(batch: &StepBatch, u: &Updates, phases: &Phases) -> Result<StepMetrics> {
    let mut m = Metrics::new();
    for (name, seconds) in phases.iter() {
        m.insert(format!("timing_s/{name}"), seconds);
    }
    m.insert("actor/old_log_prob_skipped".into(), f64::from(u8::from(u.old_log_prob_skipped)));
    if let Some(k) = u.kl_in_reward {
        m.insert("actor/reward_kl_penalty".into(), k.kl);
        m.insert("actor/reward_kl_penalty_coeff".into(), k.coef);
    }
    for metric in &u.estimate.metrics {
        m.insert(format!("algo/{}", metric.name), metric.value);
    }
    if let Some(c) = u.critic {
        for (k, v) in c.named() {
            m.insert(k.into(), update_figure(k, v));
        }
        put_f32_stats(&mut m, "critic/values", &batch.tensors.flat_values()?);
        put_f32_stats(&mut m, "critic/returns", &u.estimate.returns);
    }
    if let Some(a) = u.actor {
        for (k, v) in a.named() {
            m.insert(k.into(), update_figure(k, v));
        }
    }
    if let Some(coef) = u.kl_coef_in_loss {
        m.insert("actor/kl_coef".into(), coef);
    }

    // Batch metrics (veRL names where they exist).
    put_f32_stats(&mut m, "critic/score", &batch.task_rewards);
    put_f32_stats(&mut m, "critic/rewards", &batch.rewards);
    put_f32_stats(&mut m, "critic/advantages", &u.estimate.advantages);
    let lens: Vec<f64> = batch.lengths.iter().map(|&l| f64::from(l)).collect();
    put_stats(&mut m, "response_length", &lens);
    let trunc_frac = mean(batch.truncated.iter().map(|&t| t as u8 as f64));
    m.insert("response_length/clip_ratio".into(), trunc_frac);
    m.insert("completion/truncated_frac".into(), trunc_frac);
    m.insert("completion/finished_frac".into(), 1.0 - trunc_frac);
    let acc_where = |want: bool| {
        mean(
            batch
                .correct
                .iter()
                .zip(&batch.truncated)
                .filter(|(_, &t)| t == want)
                .map(|(&c, _)| c as u8 as f64),
        )
    };
    m.insert("completion/acc_truncated".into(), acc_where(true));
    m.insert("completion/acc_finished".into(), acc_where(false));
    let success = mean(batch.correct.iter().map(|&c| c as u8 as f64));
    m.insert("train/acc".into(), success);
    m.insert(
        "response_length/correct_mean".into(),
        mean(batch.lengths.iter().zip(&batch.correct).filter(|(_, &c)| c).map(|(&l, _)| f64::from(l))),
    );
    let scored = &batch.scored;
    let mut by_difficulty: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for (c, ok) in scored.completions.iter().zip(&batch.correct) {
        by_difficulty.entry(scored.samples[c.prompt_index].difficulty).or_default().push(*ok as u8 as f64);
    }
    for (d, v) in by_difficulty {
        m.insert(format!("difficulty/{d}_acc"), mean(v.into_iter()));
    }
    let prompt_tokens: usize =
        scored.completions.iter().map(|c| scored.prompts[c.prompt_index].ids.len()).sum();
    let response_tokens: usize = batch.lengths.iter().map(|&l| l as usize).sum();
    let tokens = (prompt_tokens + response_tokens) as u64;
    m.insert("tokens/prompt_total".into(), prompt_tokens as f64);
    m.insert("tokens/response_total".into(), response_tokens as f64);
    m.insert("tokens/overall_total".into(), tokens as f64);
    m.insert("critic/frac_reward_zero_std".into(), frac_flat_groups(&batch.rewards, scored.n()));

    Ok(StepMetrics {
        // As `critic/score/mean`: f32 data at f32 precision.
        score_mean: f32_precision(mean(batch.task_rewards.iter().map(|&r| f64::from(r)))),
        success,
        response_length: mean(lens.iter().copied()),
        tokens,
        all: m,
    })
}

/// The fraction of prompts whose `n` rewards are all equal (no signal).
fn frac_flat_groups(rewards: &[f32], n: usize) -> f64 {
    let groups = rewards.len() / n.max(1);
    let flat = (0..groups).filter(|g| rewards[g * n..(g + 1) * n].windows(2).all(|w| w[0] == w[1])).count();
    flat as f64 / groups.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_mean_max_min_and_empty_lists_give_none() {
        let mut m = Metrics::new();
        put_stats(&mut m, "x", &[1.0, 3.0, 2.0]);
        put_stats(&mut m, "empty", &[]);
        assert_eq!((m["x/mean"], m["x/max"], m["x/min"]), (2.0, 3.0, 1.0));
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn a_group_is_flat_when_its_rewards_are_all_equal() {
        assert_eq!(frac_flat_groups(&[1.0, 1.0, 0.0, 1.0, 0.1, 0.1], 2), 2.0 / 3.0);
        assert_eq!(frac_flat_groups(&[], 4), 0.0);
    }
}
