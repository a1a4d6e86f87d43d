//! One RL step after the rollout, as a pipeline over a typed batch record
//! ([`StepBatch`]), veRL's order, each stage a function of its own module:
//!
//! ```text
//! scored rollout ─► shape rewards (shapers, in chain order)      rewards::shape
//!                ─► old log-probs (unless on-policy), reference  (core batch)
//!                ─► token rewards (+ KL in reward)               rewards::token_rewards
//!                ─► critic values                                critic::CriticRun
//!                ─► advantages (the estimator)                   advantages::estimate
//!                ─► critic update (before the actor, as veRL)    critic::CriticRun
//!                ─► actor update                                 actor::update
//!                ─► metrics (every figure in one place)          metrics::step_metrics
//! ```
//!
//! Tensors stay in the core's [`RlBatch`]; stages hand plain arrays to the
//! plugins. Each stage is timed as a named phase ([`phases`]). The caller
//! gets a typed [`StepOutcome`].

pub mod actor;
pub mod advantages;
pub mod critic;
pub mod metrics;
pub mod phases;
pub mod rewards;
#[cfg(test)]
mod tests;

use tz_config::RunConfig;
use tz_core::kl::KlController;
use tz_core::parallel::{Optimizer, World};
use tz_core::rl_batch::RlBatch;
use tz_core::rollout::FinishReason;
use tz_core::Policy;
use tz_plugin_host::AlgorithmChain;
use tz_sdk::{BatchStats, KlPlacement, LossSettings};

use crate::error::{bail, Result};
use crate::rollout::Scored;
use critic::CriticRun;
use metrics::Metrics;
use phases::Phases;

/// The batch record the stages read and fill in.
pub struct StepBatch {
    /// Prompts, responses and the task's scores, prompt-major (`n` per prompt).
    pub scored: Scored,
    /// Per response: length in tokens, correctness, truncation, prompt index.
    pub lengths: Vec<u32>,
    pub correct: Vec<bool>,
    pub truncated: Vec<bool>,
    pub group_ids: Vec<u32>,
    /// The task's rewards, then the shaped ones (what the estimator sees).
    pub task_rewards: Vec<f32>,
    pub rewards: Vec<f32>,
    /// The max new-token limit the batch was generated with.
    pub window: usize,
    /// The core's tensors of the batch.
    pub tensors: RlBatch,
}

impl StepBatch {
    /// The record of a scored rollout, its sequences on `policy`'s device.
    pub fn new(scored: Scored, policy: &Policy, window: usize) -> StepBatch {
        let c = &scored.completions;
        let lengths: Vec<u32> = c.iter().map(|c| c.token_ids.len() as u32).collect();
        let correct: Vec<bool> = scored.scores.iter().map(|s| s.correct).collect();
        let truncated: Vec<bool> = c.iter().map(|c| c.finish == FinishReason::Length).collect();
        let group_ids: Vec<u32> = c.iter().map(|c| c.prompt_index as u32).collect();
        let task_rewards: Vec<f32> = scored.scores.iter().map(|s| s.reward).collect();
        let prompts: Vec<&[u32]> = c.iter().map(|c| scored.prompts[c.prompt_index].ids.as_slice()).collect();
        let responses: Vec<&[u32]> = c.iter().map(|c| c.token_ids.as_slice()).collect();
        let tensors = RlBatch::new(&prompts, &responses, policy.tokenizer.pad_id(), policy.device());
        StepBatch {
            rewards: task_rewards.clone(),
            scored,
            lengths,
            correct,
            truncated,
            group_ids,
            task_rewards,
            window,
            tensors,
        }
    }

    pub fn rows(&self) -> usize {
        self.lengths.len()
    }
}

/// The models, optimizer and settings a step updates.
pub struct StepModels<'a> {
    pub cfg: &'a RunConfig,
    pub algorithms: &'a AlgorithmChain,
    pub loss: &'a LossSettings,
    pub policy: &'a Policy,
    pub reference: Option<&'a Policy>,
    pub opt: &'a mut dyn Optimizer,
    /// The data-parallel job: this rank updates on its rows of the batch.
    pub world: &'a World,
    pub kl: &'a mut KlController,
    /// The PPO critic, when the estimator asks for one.
    pub critic: Option<&'a mut CriticRun>,
}

/// What a step did, typed: the loop and the output sinks read these fields,
/// never a metric by name.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub step: u64,
    /// The max new-token limit of the batch.
    pub window: usize,
    /// Mean task score (`critic/score/mean`).
    pub score_mean: f64,
    /// Fraction of correct responses (`train/acc`).
    pub success: f64,
    /// Mean response length in tokens (`response_length/mean`).
    pub response_length: f64,
    /// Prompt plus response tokens of the batch (`tokens/overall_total`).
    pub tokens: u64,
    /// The shaped per-response rewards (a collapse shows as all equal).
    pub rewards: Vec<f32>,
    /// What the curricula learn from.
    pub stats: BatchStats,
    /// Every figure of the step, veRL names.
    pub metrics: Metrics,
}

/// Runs the stages on a scored batch: shaping, log-probs, token rewards,
/// values, advantages, the critic and actor updates, then the metrics.
pub fn run(mut batch: StepBatch, m: StepModels, step: u64, mut phases: Phases) -> Result<StepOutcome> {
    let cfg = m.cfg;
    let micro = cfg.trainer.micro_batch_size.max(1) as i64;
    let chunk = cfg.trainer.logit_chunk;

    rewards::shape(&mut batch, &m.algorithms.shapers)?;
    let actor_step = actor::ActorStep { cfg, loss: m.loss, kl_coef: m.kl.coef(), step, window: batch.window };
    // One on-policy optimizer step: the old log-probs are the current ones
    // (ratio 1), so the update takes them from its own forward. The KL in
    // the reward still needs them.
    let kl_in_reward = m.loss.kl.placement == KlPlacement::Reward && m.reference.is_some();
    let skip_old = actor_step.update_config().is_on_policy(batch.rows()) && !kl_in_reward;
    phases.time("old_log_prob", || {
        if !skip_old {
            batch.tensors.compute_old_logprobs(&m.policy.model, micro, chunk)
        }
    });
    if let Some(reference) = m.reference {
        phases.time("ref", || batch.tensors.compute_ref_logprobs(&reference.model, micro, chunk));
    }
    let kl_in_reward = rewards::token_rewards(&mut batch, &m.loss.kl, m.kl)?;
    // β now: the KL in the reward may have moved the controller.
    let actor_step = actor::ActorStep { kl_coef: m.kl.coef(), ..actor_step };

    let mut critic = m.critic;
    match critic.as_deref() {
        Some(c) => phases.time("values", || c.compute_values(&mut batch.tensors, micro)),
        None if m.loss.needs_critic() => {
            bail!("'{}' needs a critic, but none was created", m.algorithms.estimator.name())
        }
        None => {}
    }
    let estimate = phases.time("adv", || advantages::estimate(&mut batch, &m.algorithms.estimator))?;

    let shard = crate::dist::my_rows(m.world, batch.scored.samples.len(), batch.scored.n());
    let critic_update = match critic.as_deref_mut() {
        Some(c) => Some(phases.time("update_critic", || c.update(&batch.tensors, cfg, step, &shard))?),
        None => None,
    };
    let actor_trains = critic.as_deref().is_none_or(|c| !c.warming_up(step));
    let actor_update =
        if actor_trains {
            Some(phases.time("update_actor", || {
                actor::update(&batch.tensors, m.policy, m.opt, &actor_step, &shard)
            })?)
        } else {
            None
        };

    let updates = metrics::Updates {
        old_log_prob_skipped: skip_old,
        kl_in_reward,
        kl_coef_in_loss: (m.loss.kl.placement == KlPlacement::Loss).then(|| m.kl.coef()),
        estimate: &estimate,
        critic: critic_update.as_ref(),
        actor: actor_update.as_ref(),
    };
    let metrics = metrics::step_metrics(&batch, &updates, &phases)?;
    Ok(StepOutcome {
        step,
        window: batch.window,
        score_mean: metrics.score_mean,
        success: metrics.success,
        response_length: metrics.response_length,
        tokens: metrics.tokens,
        stats: BatchStats {
            step,
            window: batch.window as u32,
            max_window: cfg.rollout.max_response_length as u32,
            lengths: batch.lengths.clone(),
            correct: batch.correct.clone(),
            truncated: batch.truncated.clone(),
        },
        rewards: batch.rewards,
        metrics: metrics.all,
    })
}
