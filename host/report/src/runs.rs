//! Reading a run directory's records: `metrics.jsonl` (one JSON object per
//! line with `step` and veRL-named metrics) and `summary.json`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::{file, Result};
use serde_json::{Map, Value};

/// The metrics and summary of one run.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    pub dir: PathBuf,
    /// Every metrics line, in file order.
    pub metrics: Vec<Map<String, Value>>,
    pub summary: Option<Map<String, Value>>,
}

impl RunRecord {
    /// Loads what is there; a missing file is empty, an unreadable line (a
    /// run still writing its last line) is skipped.
    pub fn load(dir: &Path) -> Result<RunRecord> {
        let mut metrics = Vec::new();
        let path = dir.join("metrics.jsonl");
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(file("read", &path))?;
            metrics.extend(text.lines().filter_map(|l| serde_json::from_str::<Map<String, Value>>(l).ok()));
        }
        let summary = std::fs::read_to_string(dir.join("summary.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Map<String, Value>>(&t).ok());
        Ok(RunRecord { dir: dir.to_path_buf(), metrics, summary })
    }

    pub fn finished(&self) -> bool {
        self.summary.as_ref().and_then(|s| s.get("finished")).and_then(Value::as_bool).unwrap_or(false)
    }

    /// A number from `summary.json`.
    pub fn summary_f64(&self, key: &str) -> Option<f64> {
        self.summary.as_ref()?.get(key)?.as_f64()
    }

    /// `(step, value)` for every line that has `metric` (the line's index
    /// when it has no `step`).
    pub fn series(&self, metric: &str) -> Vec<(f64, f64)> {
        self.metrics
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let v = m.get(metric)?.as_f64()?;
                let step = m.get("step").and_then(Value::as_f64).unwrap_or(i as f64);
                Some((step, v))
            })
            .collect()
    }

    /// The last logged value of `metric`.
    pub fn last(&self, metric: &str) -> Option<f64> {
        self.series(metric).last().map(|p| p.1)
    }

    /// Every metric name logged at least once (besides `step`).
    pub fn metric_names(&self) -> BTreeSet<String> {
        self.metrics.iter().flat_map(|m| m.keys().filter(|k| *k != "step").cloned()).collect()
    }
}
