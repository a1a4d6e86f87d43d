//! Expanding a sweep into runs: the product of its dimensions, each run a
//! fully resolved config in its own run directory named after its labels.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use toml::Value;

use super::spec::SweepSpec;
use crate::error::{Result, SweepError};
use tz_config::{flatten, Layers, Origin, Resolved};

/// One run of a sweep.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// The run directory's name: the labels joined by `-`.
    pub name: String,
    /// The name without the seed label: runs of one group differ only in
    /// their seed, and the report averages over them.
    pub group: String,
    /// The seed label (`seed1`), when the sweep has a seed axis.
    pub seed: Option<String>,
    /// `(dimension, label)` for every dimension.
    pub labels: Vec<(String, String)>,
    pub resolved: Resolved,
}

impl PlannedRun {
    pub fn run_dir(&self, sweep_dir: &Path) -> PathBuf {
        sweep_dir.join(&self.name)
    }
}

/// A sweep expanded into runs, with the directory that holds them.
#[derive(Debug, Clone)]
pub struct Plan {
    pub spec: SweepSpec,
    pub dir: PathBuf,
    pub runs: Vec<PlannedRun>,
}

/// Expands `spec`: every combination of its dimensions (the first dimension
/// varies slowest), each resolved as defaults < base config < `[config]` <
/// the combination's keys < `sets` (command-line `--set`). `out` overrides
/// the sweep directory.
pub fn expand(spec: &SweepSpec, sets: &[String], out: Option<&Path>) -> Result<Plan> {
    let base = base_layers(spec, sets)?;
    let dir = match (out, &spec.out) {
        (Some(o), _) => o.to_path_buf(),
        (None, Some(o)) => o.clone(),
        (None, None) => base.clone().resolve()?.config.logging.runs_dir.join(&spec.name),
    };
    let seed_dim = spec.seed_dimension().map(|d| d.name.clone());
    let mut runs: Vec<PlannedRun> = Vec::new();
    for combo in combinations(&spec.dimensions.iter().map(|d| d.choices.len()).collect::<Vec<_>>()) {
        let mut layers = base.clone();
        let mut labels = Vec::new();
        for (dim, &i) in spec.dimensions.iter().zip(&combo) {
            let choice = &dim.choices[i];
            let origin = Origin::Sweep(format!("{} = {}", dim.name, choice.label));
            for (key, value) in &choice.set {
                layers.set_value(key, value.clone(), origin.clone())?;
            }
            labels.push((dim.name.clone(), choice.label.clone()));
        }
        // --set wins over the sweep's own keys, as on the command line.
        for s in sets {
            layers.set(s, Origin::Flag(format!("--set {s}")))?;
        }
        let name = if labels.is_empty() {
            spec.name.clone()
        } else {
            labels.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>().join("-")
        };
        let seed = labels.iter().find(|(d, _)| Some(d) == seed_dim.as_ref()).map(|(_, l)| l.clone());
        let group_labels: Vec<&str> =
            labels.iter().filter(|(d, _)| Some(d) != seed_dim.as_ref()).map(|(_, l)| l.as_str()).collect();
        let group = if group_labels.is_empty() { spec.name.clone() } else { group_labels.join("-") };
        // Each run writes into its own directory under the sweep's, and its
        // output goes to a log file, so no progress bar.
        let here = Origin::Sweep("run directory".into());
        layers.set_value("logging.runs_dir", Value::String(dir.display().to_string()), here.clone())?;
        layers.set_value("logging.run_name", Value::String(name.clone()), here.clone())?;
        layers.set_value("logging.progress", Value::Boolean(false), here)?;
        // Resolution applies the presets (origin-dependent defaults): the
        // child trains from the fully written config, where every key looks user-set.
        let resolved = layers
            .resolve()
            .map_err(|error| SweepError::RunConfig { run: name.clone(), error: Box::new(error) })?;
        if let Some(other) = runs.iter().find(|r| r.name == name) {
            return Err(SweepError::DuplicateRun(other.name.clone()));
        }
        runs.push(PlannedRun { name, group, seed, labels, resolved });
    }
    let plan = Plan { spec: spec.clone(), dir, runs };
    check_compared(&plan)?;
    Ok(plan)
}

/// A config key whose value differs between the arms of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyDiff {
    pub key: String,
    /// `(arm, value)` for every arm (a run group); `(unset)` where the key is absent.
    pub values: Vec<(String, String)>,
}

/// The resolved config keys that differ between the sweep's arms (its runs
/// without the seed), i.e. everything a comparison of the arms confounds.
/// Values a preset filled in follow from the keys that chose the preset
/// (PPO's critic lr on the tiny model follows from `algorithm.chain`), so
/// they are not arms of their own; nor is an empty table.
pub fn differing_keys(plan: &Plan) -> Vec<KeyDiff> {
    let mut arms: Vec<(&str, BTreeMap<String, String>)> = Vec::new();
    for run in &plan.runs {
        if arms.iter().any(|(g, _)| *g == run.group) {
            continue;
        }
        let origins = &run.resolved.origins;
        let leaves = flatten(&run.resolved.table())
            .into_iter()
            .filter(|(k, v)| {
                !matches!(v, toml::Value::Table(t) if t.is_empty())
                    && !matches!(origins.get(k), Some(Origin::Preset(_)))
            })
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        arms.push((run.group.as_str(), leaves));
    }
    let ignored = ["logging.run_name", plan.spec.seed_key.as_str()];
    let keys: BTreeSet<&String> = arms.iter().flat_map(|(_, leaves)| leaves.keys()).collect();
    keys.into_iter()
        .filter(|k| !ignored.contains(&k.as_str()))
        .filter_map(|k| {
            let values: Vec<(String, String)> = arms
                .iter()
                .map(|(g, leaves)| {
                    (g.to_string(), leaves.get(k).cloned().unwrap_or_else(|| "(unset)".into()))
                })
                .collect();
            values.iter().any(|(_, v)| *v != values[0].1).then(|| KeyDiff { key: k.clone(), values })
        })
        .collect()
}

/// With `sweep.compares`, the arms may differ only in those keys (a key or a
/// section prefix such as `algorithm`).
fn check_compared(plan: &Plan) -> Result<()> {
    let compares = &plan.spec.compares;
    if compares.is_empty() {
        return Ok(());
    }
    let covered = |key: &str| compares.iter().any(|c| key == c || key.starts_with(&format!("{c}.")));
    let stray: Vec<String> = differing_keys(plan)
        .into_iter()
        .filter(|d| !covered(&d.key))
        .map(|d| {
            let values: Vec<String> = d.values.iter().map(|(g, v)| format!("{g}: {v}")).collect();
            format!("{} ({})", d.key, values.join(", "))
        })
        .collect();
    if !stray.is_empty() {
        return Err(SweepError::Confounded {
            sweep: plan.spec.name.clone(),
            stray,
            compares: compares.clone(),
        });
    }
    Ok(())
}

/// Defaults < base config file < the sweep's `[config]` table.
fn base_layers(spec: &SweepSpec, sets: &[String]) -> Result<Layers> {
    let mut layers = Layers::defaults();
    if let Some(base) = &spec.base_config {
        layers.merge_file(base)?;
    }
    layers.merge_table(&spec.config, Origin::File(spec.file.clone()));
    // Check the command-line keys once, before any run, so a typo is one error.
    let mut probe = layers.clone();
    for s in sets {
        probe.set(s, Origin::Flag(format!("--set {s}")))?;
    }
    probe.resolve()?;
    Ok(layers)
}

/// Every index combination of dimensions with these sizes, the first
/// dimension varying slowest. No dimensions: one empty combination.
pub fn combinations(sizes: &[usize]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    for &n in sizes {
        out = out
            .into_iter()
            .flat_map(|prefix| (0..n).map(move |i| [prefix.clone(), vec![i]].concat()))
            .collect();
    }
    out
}
