//! The evaluation at a stage boundary: every group's held-out test set with
//! the run's validation settings (mean@k at the rollout temperature, and
//! greedy when `eval.greedy`), always with the same sampling seed so two
//! boundaries differ only by their weights.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tz_config::RunConfig;
use tz_core::Policy;
use tz_sdk::handle::Task;
use tz_sdk::Sample;

use crate::error::Result;
use crate::validation::validate;

/// One group's figures at one boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupEval {
    /// Success rate: mean over k samples per problem (`val/acc`).
    pub acc: f64,
    /// Greedy success rate (`val/acc_greedy`); absent when greedy is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc_greedy: Option<f64>,
    /// Mean reward (`val/test_score`).
    pub score: f64,
    /// Problems evaluated.
    pub problems: usize,
}

/// Evaluates the policy on each `(group, test set)`.
pub fn evaluate_groups(
    task: &Task,
    policy: &Policy,
    tests: &[(String, Vec<Sample>)],
    cfg: &RunConfig,
    seed: u64,
) -> Result<BTreeMap<String, GroupEval>> {
    let mut out = BTreeMap::new();
    for (group, samples) in tests {
        if samples.is_empty() {
            continue;
        }
        // Planned runs are single-process (see crate::dist).
        let v = validate(&tz_core::parallel::World::single(), task, policy, samples, cfg, seed)?;
        let get = |k: &str| v.metrics.get(k).copied();
        out.insert(
            group.clone(),
            GroupEval {
                acc: get("val/acc").unwrap_or(f64::NAN),
                acc_greedy: get("val/acc_greedy"),
                score: get("val/test_score").unwrap_or(f64::NAN),
                problems: samples.len(),
            },
        );
    }
    Ok(out)
}
