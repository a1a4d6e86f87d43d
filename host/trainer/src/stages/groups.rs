//! The data groups of a planned curriculum. `continual` names the task's own
//! groups (countdown's operator groups); `random` (the control of seed 000)
//! names groups `0..3` that the task does not know: each is a random, equal
//! share of the task's mixed pool (`all`), fixed by the seed, so both runs
//! see the same schedule over the same amount of data.

use std::collections::HashSet;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tz_sdk::handle::Task;
use tz_sdk::{Sample, Stage};

use crate::error::{bail, Result, TrainError};
use crate::prompts;

/// The task's mixed group.
pub const MIXED: &str = "all";

/// Where the groups of a plan come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupSource {
    /// The task generates each group itself.
    Task,
    /// Random equal splits of the task's mixed pool, in this order.
    RandomSplits(Vec<String>),
}

/// The distinct groups of a plan in order of first appearance (`all` left out).
pub fn plan_groups(plan: &[Stage]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in plan {
        let g = s.group.to_string();
        if g != MIXED && !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

/// Task groups when the task knows every planned group, random splits when
/// it knows none of them; a mix is an error naming the unknown group.
pub fn resolve(planned: &[String], task_groups: &[String], task: &str) -> Result<GroupSource> {
    let unknown: Vec<&String> = planned.iter().filter(|g| !task_groups.contains(g)).collect();
    if unknown.is_empty() {
        return Ok(GroupSource::Task);
    }
    if unknown.len() == planned.len() {
        return Ok(GroupSource::RandomSplits(planned.to_vec()));
    }
    bail!(
        "curriculum plan: group '{}' is not a group of task {task} (it has: {}); use only task groups, or only random split names",
        unknown[0],
        task_groups.join(", ")
    )
}

/// Splits `samples` into `n` equal parts by a seeded shuffle (the remainder
/// of an uneven count is left out), indices renumbered per part.
pub fn split(mut samples: Vec<Sample>, n: usize, seed: u64) -> Vec<Vec<Sample>> {
    let n = n.max(1);
    samples.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x5B11_7000));
    let per = samples.len() / n;
    (0..n)
        .map(|i| {
            let mut part = samples[i * per..(i + 1) * per].to_vec();
            for (j, s) in part.iter_mut().enumerate() {
                s.index = j as u64;
            }
            part
        })
        .collect()
}

/// `count` problems of `group`, generated from `seed`, none in `exclude`.
pub fn problems(
    task: &Task,
    source: &GroupSource,
    group: &str,
    count: usize,
    seed: u64,
    exclude: &HashSet<String>,
) -> Result<Vec<Sample>> {
    match source {
        GroupSource::RandomSplits(names) if group != MIXED => {
            let Some(i) = names.iter().position(|n| n == group) else {
                bail!("group '{group}' is not one of the random splits {}", names.join(", "))
            };
            let mixed = prompts::generate(task, &[MIXED.to_string()], count * names.len(), seed, exclude)?;
            Ok(split(mixed, names.len(), seed).swap_remove(i))
        }
        _ => prompts::generate(task, &[group.to_string()], count, seed, exclude),
    }
}

/// The held-out test set of every group (`count` each): the first `count`
/// rows of `<layout>/<group>/test.parquet` where that file exists (seed 001's
/// data layout), else generated: one generation per task group, or one mixed
/// pool split into the random groups.
pub fn test_sets(
    task: &Task,
    source: &GroupSource,
    groups: &[String],
    count: usize,
    seed: u64,
    layout: Option<&Path>,
) -> Result<Vec<(String, Vec<Sample>)>> {
    let mut sets = generated_test_sets(task, source, groups, count, seed)?;
    let Some(layout) = layout else { return Ok(sets) };
    for (group, samples) in sets.iter_mut() {
        let file = layout.join(group.as_str()).join("test.parquet");
        if file.is_file() {
            *samples = read_samples(task, &file, count)?;
        }
    }
    Ok(sets)
}

/// The first `count` rows of a data file as the task's samples.
fn read_samples(task: &Task, file: &Path, count: usize) -> Result<Vec<Sample>> {
    let rows = tz_data::read_rows(file).map_err(TrainError::Data)?;
    rows.iter()
        .take(count)
        .enumerate()
        .map(|(i, row)| {
            let mut s = task
                .sample_from_row(row)
                .map_err(|e| TrainError::Invalid(format!("{} row {i}: {e}", file.display())))?;
            s.index = i as u64;
            Ok(s)
        })
        .collect()
}

fn generated_test_sets(
    task: &Task,
    source: &GroupSource,
    groups: &[String],
    count: usize,
    seed: u64,
) -> Result<Vec<(String, Vec<Sample>)>> {
    let none = HashSet::new();
    match source {
        GroupSource::RandomSplits(names) => {
            let mixed = prompts::generate(task, &[MIXED.to_string()], count * names.len(), seed, &none)?;
            Ok(names.iter().cloned().zip(split(mixed, names.len(), seed)).collect())
        }
        GroupSource::Task => groups
            .iter()
            .map(|g| Ok((g.clone(), prompts::generate(task, std::slice::from_ref(g), count, seed, &none)?)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: u64) -> Sample {
        Sample { index: i, group: "all".into(), difficulty: 3, data: format!("p{i}") }
    }

    fn stage(round: u32, group: &str) -> Stage {
        Stage { round, group: group.into(), epochs: 1 }
    }

    #[test]
    fn plan_groups_are_distinct_in_order() {
        let plan = [stage(1, "b"), stage(1, "a"), stage(2, "b"), stage(2, "a"), stage(3, "all")];
        assert_eq!(plan_groups(&plan), ["b", "a"]);
    }

    #[test]
    fn unknown_groups_are_random_splits_and_a_mix_is_an_error() {
        let task: Vec<String> = ["plus", "plus_minus"].map(String::from).to_vec();
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(resolve(&names(&["plus_minus", "plus"]), &task, "countdown").unwrap(), GroupSource::Task);
        assert_eq!(
            resolve(&names(&["0", "1"]), &task, "countdown").unwrap(),
            GroupSource::RandomSplits(names(&["0", "1"]))
        );
        let err = resolve(&names(&["plus", "plsu"]), &task, "countdown").unwrap_err().to_string();
        assert!(err.contains("group 'plsu' is not a group of task countdown"), "{err}");
    }

    #[test]
    fn random_splits_are_equal_disjoint_and_fixed_by_the_seed() {
        let all: Vec<Sample> = (0..103).map(sample).collect();
        let parts = split(all.clone(), 4, 7);
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [25, 25, 25, 25]);
        let mut seen = HashSet::new();
        for p in &parts {
            for s in p {
                assert!(seen.insert(s.data.to_string()), "{} is in two splits", s.data);
            }
            assert_eq!(p.iter().map(|s| s.index).collect::<Vec<_>>(), (0..25).collect::<Vec<_>>());
        }
        let again = split(all.clone(), 4, 7);
        let other = split(all, 4, 8);
        let data = |ps: &Vec<Vec<Sample>>| ps[0].iter().map(|s| s.data.to_string()).collect::<Vec<_>>();
        assert_eq!(data(&parts), data(&again));
        assert_ne!(data(&parts), data(&other));
    }
}
