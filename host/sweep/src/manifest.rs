//! `sweep.json`: what a sweep directory holds (its runs, their groups and
//! seeds, the metrics to plot), written when a sweep runs and read by
//! `tzhost sweep report DIR`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::plan::Plan;
use crate::error::{file, Result, SweepError};

pub const MANIFEST: &str = "sweep.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub sweep_file: String,
    #[serde(default)]
    pub dimensions: Vec<String>,
    #[serde(default)]
    pub seed_dimension: Option<String>,
    #[serde(default)]
    pub metrics: Vec<String>,
    pub runs: Vec<ManifestRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRun {
    /// The run directory's name (inside the sweep directory).
    pub name: String,
    /// Runs of one group differ only in their seed.
    pub group: String,
    #[serde(default)]
    pub seed: Option<String>,
    /// `[dimension, label]` pairs.
    #[serde(default)]
    pub labels: Vec<(String, String)>,
}

impl Manifest {
    pub fn from_plan(plan: &Plan) -> Manifest {
        Manifest {
            name: plan.spec.name.clone(),
            description: plan.spec.description.clone(),
            sweep_file: plan.spec.file.display().to_string(),
            dimensions: plan.spec.dimensions.iter().map(|d| d.name.clone()).collect(),
            seed_dimension: plan.spec.seed_dimension().map(|d| d.name.clone()),
            metrics: plan.spec.metrics.clone(),
            runs: plan
                .runs
                .iter()
                .map(|r| ManifestRun {
                    name: r.name.clone(),
                    group: r.group.clone(),
                    seed: r.seed.clone(),
                    labels: r.labels.clone(),
                })
                .collect(),
        }
    }

    pub fn write(&self, sweep_dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("a manifest serialises to JSON");
        Ok(tz_run_dir::write_atomic(&sweep_dir.join(MANIFEST), text.as_bytes())?)
    }

    /// The manifest of `sweep_dir`; without one, every sub-directory holding
    /// a run (`config.toml`, `metrics.jsonl` or `summary.json`) is its own group.
    pub fn read_or_scan(sweep_dir: &Path) -> Result<Manifest> {
        let path = sweep_dir.join(MANIFEST);
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(file("read", &path))?;
            return serde_json::from_str(&text).map_err(|source| SweepError::Manifest { path, source });
        }
        let entries = std::fs::read_dir(sweep_dir).map_err(file("read", sweep_dir))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| {
                let p = e.path();
                ["config.toml", "metrics.jsonl", "summary.json"].iter().any(|f| p.join(f).exists())
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        if names.is_empty() {
            return Err(SweepError::NotASweep(sweep_dir.to_path_buf()));
        }
        Ok(Manifest {
            name: sweep_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            description: String::new(),
            sweep_file: String::new(),
            dimensions: Vec::new(),
            seed_dimension: None,
            metrics: Vec::new(),
            runs: names
                .into_iter()
                .map(|n| ManifestRun { group: n.clone(), name: n, seed: None, labels: Vec::new() })
                .collect(),
        })
    }
}
