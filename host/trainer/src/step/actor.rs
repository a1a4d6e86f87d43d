//! The actor update: `ppo_epochs` passes of clipped policy-gradient steps
//! over shuffled mini-batches (the core's `update_actor`), with the KL term
//! in the loss when the estimator places it there.

use tz_config::RunConfig;
use tz_core::parallel::{BatchShard, Optimizer};
use tz_core::rl_batch::RlBatch;
use tz_core::rl_update::{update_actor_parallel, ActorInputs, ActorMetrics, ActorUpdateConfig};
use tz_core::Policy;
use tz_sdk::{KlPlacement, LossSettings};

use crate::error::Result;

/// The settings of one actor update.
pub struct ActorStep<'a> {
    pub cfg: &'a RunConfig,
    pub loss: &'a LossSettings,
    /// The KL coefficient β now.
    pub kl_coef: f64,
    pub step: u64,
    /// The batch's max new tokens (the `L` of `seq-mean-token-sum-norm`).
    pub window: usize,
}

impl ActorStep<'_> {
    /// The core's update settings for this step.
    pub fn update_config(&self) -> ActorUpdateConfig {
        let cfg = self.cfg;
        ActorUpdateConfig {
            ppo_epochs: cfg.trainer.ppo_epochs,
            mini_batch_size: cfg.trainer.mini_batch_size,
            micro_batch_size: cfg.trainer.micro_batch_size,
            logit_chunk: cfg.trainer.logit_chunk,
            norm_len: self.window as f64,
            seed: cfg.trainer.seed.wrapping_mul(1_000_003).wrapping_add(self.step),
        }
    }
}

/// Updates the policy on the batch's advantages; the update's metrics.
/// Without old log-probs in the batch (an on-policy update) the core takes
/// them from its own forward. In a data-parallel job `batch` is the whole
/// batch and this rank trains on `shard`'s rows (gradients summed by `opt`).
pub fn update(
    batch: &RlBatch,
    policy: &Policy,
    opt: &mut dyn Optimizer,
    s: &ActorStep,
    shard: &BatchShard,
) -> Result<ActorMetrics> {
    let mine = batch.select_rows(shard.rows());
    let inputs = ActorInputs {
        batch: &mine.seq,
        old_logp: mine.old_logprobs_if_computed(),
        advantages: mine.advantages()?,
        ref_logp: if s.loss.kl.placement == KlPlacement::Loss { mine.ref_logprobs() } else { None },
    };
    Ok(update_actor_parallel(&policy.model, opt, &inputs, s.loss, s.kl_coef, &s.update_config(), shard)?)
}
