//! The smallest changes that make a run fit its device.
//!
//! Each knob is tried on its own, at the least aggressive value that fits
//! (the largest micro-batch, the largest rollout budget, the fewest ranks,
//! ...). When no single change is enough, the knobs are combined in a fixed
//! order (checkpointing, rollout budget, micro-batch, logit chunk, ranks,
//! second models off the device), each taken as far as needed.

use serde::Serialize;

use crate::estimate::{estimate, rows_in_flight};
use crate::plan::Fit;
use crate::run::{Placement, RunShape};
use crate::shape::ModelShape;

/// One setting to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "change", content = "value")]
pub enum Change {
    MicroBatch(u64),
    LogitChunk(u64),
    GradientCheckpointing,
    /// A rollout budget in rows in flight (also bounds validation).
    RowsInFlight(u64),
    /// Data-parallel ranks with ZeRO-1.
    Ranks(u64),
    /// The reference policy on another device.
    ReferenceOn(String),
    /// The reward model on another device.
    RewardModelOn(String),
}

/// Changes that together make the run fit, and the peak they give.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub changes: Vec<Change>,
    pub peak: u64,
}

fn apply(run: &RunShape, change: &Change) -> RunShape {
    let mut r = run.clone();
    match change {
        Change::MicroBatch(m) => r.update.iter_mut().for_each(|u| u.micro_batch = *m),
        Change::LogitChunk(c) => r.update.iter_mut().for_each(|u| u.logit_chunk = *c),
        Change::GradientCheckpointing => r.update.iter_mut().for_each(|u| u.gradient_checkpointing = true),
        Change::RowsInFlight(n) => r.budget.rows_in_flight = Some(*n),
        Change::Ranks(n) => {
            r.ranks = *n;
            r.shard_optimizer = true;
        }
        Change::ReferenceOn(d) => r.reference = r.reference.map(|_| Placement::Other(d.clone())),
        Change::RewardModelOn(d) => {
            r.reward_model.iter_mut().for_each(|m| m.placement = Placement::Other(d.clone()))
        }
    }
    r
}

/// Halvings of `from` down to `to` (exclusive of `from`), largest first.
fn halvings(from: u64, to: u64) -> Vec<u64> {
    std::iter::successors(Some(from / 2), |v| Some(v / 2)).take_while(|&v| v >= to.max(1)).collect()
}

/// Candidate values of each knob for `run`, least aggressive first.
fn candidates(run: &RunShape) -> Vec<Vec<Change>> {
    let mut knobs = Vec::new();
    if let Some(u) = &run.update {
        if !u.gradient_checkpointing {
            knobs.push(vec![Change::GradientCheckpointing]);
        }
    }
    let most_rows = run.generations.iter().map(|g| rows_in_flight(run, g).1).max().unwrap_or(0);
    if most_rows > 1 {
        // Every row count below today's, largest first (a binary search
        // would do; rollouts are at most a few thousand rows).
        let step = (most_rows / 256).max(1);
        knobs.push((1..most_rows).rev().step_by(step as usize).map(Change::RowsInFlight).collect());
    }
    if let Some(u) = &run.update {
        knobs.push(halvings(u.micro_batch, 1).into_iter().map(Change::MicroBatch).collect());
        knobs.push(
            halvings(u.logit_chunk.min(run.response_len), 16).into_iter().map(Change::LogitChunk).collect(),
        );
    }
    knobs.push([2, 4, 8, 16].into_iter().filter(|&n| n > run.ranks).map(Change::Ranks).collect());
    if run.reference == Some(Placement::Policy) {
        knobs.push(vec![Change::ReferenceOn("cpu".into())]);
    }
    if run.reward_model.as_ref().is_some_and(|m| m.placement == Placement::Policy) {
        knobs.push(vec![Change::RewardModelOn("cpu".into())]);
    }
    knobs.retain(|k| !k.is_empty());
    knobs
}

/// Suggestions for a run whose policy device has `capacity` bytes: every
/// single change that is enough on its own, else one combination; empty when
/// the run fits already or nothing helps enough.
pub fn advise(model: &ModelShape, run: &RunShape, capacity: u64) -> Vec<Suggestion> {
    let peak = |r: &RunShape| estimate(model, r).peak();
    if Fit::check(peak(run), capacity).fits {
        return Vec::new();
    }
    let knobs = candidates(run);
    let singles: Vec<Suggestion> = knobs
        .iter()
        .filter_map(|values| {
            values.iter().find_map(|c| {
                let p = peak(&apply(run, c));
                Fit::check(p, capacity).fits.then(|| Suggestion { changes: vec![c.clone()], peak: p })
            })
        })
        .collect();
    if !singles.is_empty() {
        return singles;
    }
    // Combine: each knob as far as needed, or all the way, in order.
    let mut current = run.clone();
    let mut changes = Vec::new();
    for values in &knobs {
        let fitting = values.iter().find(|c| Fit::check(peak(&apply(&current, c)), capacity).fits);
        let best = values.iter().min_by_key(|c| peak(&apply(&current, c)));
        let Some(choice) = fitting.or(best) else { continue };
        let next = apply(&current, choice);
        if peak(&next) < peak(&current) {
            current = next;
            changes.push(choice.clone());
        }
        if Fit::check(peak(&current), capacity).fits {
            return vec![Suggestion { changes, peak: peak(&current) }];
        }
    }
    Vec::new()
}
