//! Advantages from the chain's estimator, over flat per-token arrays; the
//! result goes back into the batch's tensors.

use tz_sdk::handle::Estimator;
use tz_sdk::{AdvantageInput, AdvantageOutput};

use super::StepBatch;
use crate::error::{ensure, Result};

/// Asks the estimator for per-token advantages (and value targets when a
/// critic ran) and stores them in the batch; the estimator's output.
pub fn estimate(batch: &mut StepBatch, estimator: &Estimator) -> Result<AdvantageOutput> {
    let input = AdvantageInput {
        token_rewards: batch.tensors.flat_token_rewards()?,
        offsets: batch.tensors.offsets(),
        group_ids: batch.group_ids.clone(),
        values: batch.tensors.flat_values()?,
    };
    let out = estimator.estimate(&input)?;
    batch.tensors.set_advantages(&out.advantages)?;
    if !input.values.is_empty() {
        ensure!(
            out.returns.len() == out.advantages.len(),
            "'{}' returned {} value targets for {} tokens",
            estimator.name(),
            out.returns.len(),
            out.advantages.len()
        );
        batch.tensors.set_returns(&out.returns)?;
    }
    Ok(out)
}
