//! Rewards, per response then per token: the shapers rewrite the task's
//! rewards in chain order; the (shaped) score goes on each response's last
//! token, minus `β · KL` on every token when the KL is placed in the reward.

use tz_core::kl::KlController;
use tz_sdk::handle::Shaper;
use tz_sdk::{KlPlacement, KlSettings, ShapeInput};

use super::StepBatch;
use crate::error::Result;

/// The KL-in-reward penalty of a batch (veRL `actor/reward_kl_penalty*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KlInReward {
    /// Batch mean of the per-response mean KL.
    pub kl: f64,
    /// The coefficient β it was weighted with (before the controller's update).
    pub coef: f64,
}

/// Applies the shapers to `batch.rewards`, in chain order.
pub fn shape(batch: &mut StepBatch, shapers: &[Shaper]) -> Result<()> {
    for shaper in shapers {
        let input = ShapeInput {
            rewards: batch.rewards.clone(),
            response_lengths: batch.lengths.clone(),
            max_length: batch.window as u32,
            correct: batch.correct.clone(),
            truncated: batch.truncated.clone(),
            group_ids: batch.group_ids.clone(),
        };
        batch.rewards = shaper.shape(&input)?;
    }
    Ok(())
}

/// Fills the batch's token rewards from `batch.rewards`, subtracting the
/// KL penalty when `kl` places it in the reward (and a reference model ran),
/// then updates the KL controller with the batch's KL.
pub fn token_rewards(
    batch: &mut StepBatch,
    kl: &KlSettings,
    ctl: &mut KlController,
) -> Result<Option<KlInReward>> {
    batch.tensors.set_outcome_rewards(&batch.rewards)?;
    if kl.placement != KlPlacement::Reward || batch.tensors.ref_logprobs().is_none() {
        return Ok(None);
    }
    let coef = ctl.coef();
    let mean_kl = batch.tensors.apply_kl_in_reward(kl.estimator, coef)?;
    ctl.update(mean_kl, batch.rows() as u64);
    Ok(Some(KlInReward { kl: mean_kl, coef }))
}
