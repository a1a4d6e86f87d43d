//! The per-stage records of a planned run, in seed 001's layout under
//! `<run>/metrics/`: `metrics_{round}_{group}_{size}.json` per stage (the
//! groups' accuracies at its start and end, the weight change, the steps and
//! the training means), `success_matrix.json` (stage × group at the end of
//! each stage) and `consolidated_metrics_{size}.json`, where `{size}` is the
//! model-size suffix of seed 001's files (`1.5b`; `stages.size_label`). The
//! last two are derived from the stage files, so rebuilding them is
//! idempotent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tz_core::weight_change::WeightChange;
use tz_run_dir::write_atomic;

use super::eval::GroupEval;
use crate::error::{Context, Result};

/// A stage boundary (its start or its end).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Boundary {
    /// Global step at the boundary.
    pub step: u64,
    /// The snapshot directory, relative to the run directory (None when not written).
    pub snapshot: Option<String>,
    /// Accuracy on every group's test set.
    pub eval: BTreeMap<String, GroupEval>,
    /// Relative L2 change since the previous snapshot (None for the first).
    pub weight_change: Option<WeightChange>,
}

/// `metrics_{round}_{group}.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// Index into the plan.
    pub stage: usize,
    pub round: u32,
    pub group: String,
    pub epochs: u32,
    pub initial: Boundary,
    #[serde(rename = "final")]
    pub final_: Option<Boundary>,
    /// Training steps in the stage.
    pub steps: u64,
    /// Means over the stage's steps of the main training metrics.
    pub train: BTreeMap<String, f64>,
    pub finished: bool,
}

/// Training metrics averaged per stage (veRL names).
pub const STAGE_TRAIN_METRICS: [&str; 6] = [
    "train/acc",
    "critic/score/mean",
    "actor/pg_loss",
    "actor/grad_norm",
    "response_length/mean",
    "adaptive_window/current_window",
];

pub fn metrics_dir(run: &Path) -> PathBuf {
    run.join("metrics")
}

pub fn record_path(run: &Path, round: u32, group: &str, size: &str) -> PathBuf {
    metrics_dir(run).join(format!("metrics_{round}_{group}_{size}.json"))
}

pub fn consolidated_path(run: &Path, size: &str) -> PathBuf {
    metrics_dir(run).join(format!("consolidated_metrics_{size}.json"))
}

impl StageRecord {
    pub fn read(path: &Path) -> Result<Option<StageRecord>> {
        if !path.exists() {
            return Ok(None);
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let r = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a stage record", path.display()))?;
        Ok(Some(r))
    }

    pub fn write(&self, run: &Path, size: &str) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        Ok(write_atomic(&record_path(run, self.round, &self.group, size), text.as_bytes())?)
    }

    /// `R{round} {group}`, the matrix's row label.
    pub fn label(&self) -> String {
        format!("R{} {}", self.round, self.group)
    }
}

/// Means of [`STAGE_TRAIN_METRICS`] over metrics.jsonl lines with `from < step <= to`.
pub fn train_means(metrics_jsonl: &Path, from: u64, to: u64) -> BTreeMap<String, f64> {
    let text = std::fs::read_to_string(metrics_jsonl).unwrap_or_default();
    let mut sums: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for line in text.lines() {
        let Ok(m) = serde_json::from_str::<serde_json::Map<String, Value>>(line) else { continue };
        let Some(step) = m.get("step").and_then(Value::as_u64) else { continue };
        // Validation lines carry no train/acc; only training steps count.
        if step <= from || step > to || !m.contains_key("train/acc") {
            continue;
        }
        for k in STAGE_TRAIN_METRICS {
            if let Some(v) = m.get(k).and_then(Value::as_f64).filter(|v| v.is_finite()) {
                let e = sums.entry(k).or_default();
                e.0 += v;
                e.1 += 1;
            }
        }
    }
    sums.into_iter().map(|(k, (s, n))| (k.to_string(), s / n as f64)).collect()
}

/// Stage × group accuracies: the first row is the start of the first stage,
/// then one row at the end of each finished stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuccessMatrix {
    pub groups: Vec<String>,
    pub rows: Vec<String>,
    pub steps: Vec<u64>,
    /// Mean@k success rate at the rollout temperature.
    pub acc: Vec<Vec<Option<f64>>>,
    /// Greedy success rate (empty cells when greedy evaluation is off).
    pub acc_greedy: Vec<Vec<Option<f64>>>,
}

impl SuccessMatrix {
    pub fn from_records(groups: &[String], records: &[StageRecord]) -> SuccessMatrix {
        let mut m = SuccessMatrix {
            groups: groups.to_vec(),
            rows: Vec::new(),
            steps: Vec::new(),
            acc: Vec::new(),
            acc_greedy: Vec::new(),
        };
        let mut push = |label: String, b: &Boundary| {
            m.rows.push(label);
            m.steps.push(b.step);
            m.acc.push(groups.iter().map(|g| b.eval.get(g).map(|e| e.acc)).collect());
            m.acc_greedy.push(groups.iter().map(|g| b.eval.get(g).and_then(|e| e.acc_greedy)).collect());
        };
        if let Some(first) = records.first() {
            push("start".into(), &first.initial);
        }
        for r in records {
            if let Some(f) = &r.final_ {
                // A run stopped inside a stage (step or time budget) ends it early.
                let label = if r.finished { r.label() } else { format!("{} (partial)", r.label()) };
                push(label, f);
            }
        }
        m
    }

    /// Per group: the best accuracy at any earlier row minus the last row's
    /// (positive = forgotten since its best).
    pub fn forgetting(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        let Some(last) = self.acc.last() else { return out };
        for (j, g) in self.groups.iter().enumerate() {
            let best = self.acc.iter().filter_map(|row| row[j]).fold(f64::NEG_INFINITY, f64::max);
            if let (true, Some(now)) = (best.is_finite(), last[j]) {
                out.insert(g.clone(), best - now);
            }
        }
        out
    }
}

/// Rewrites `success_matrix.json` and `consolidated_metrics_{size}.json`
/// from the stage records on disk.
pub fn rebuild_summaries(
    run: &Path,
    groups: &[String],
    plan: &[(u32, String)],
    size: &str,
) -> Result<SuccessMatrix> {
    let mut records = Vec::new();
    for (round, group) in plan {
        if let Some(r) = StageRecord::read(&record_path(run, *round, group, size))? {
            records.push(r);
        }
    }
    let matrix = SuccessMatrix::from_records(groups, &records);
    let dir = metrics_dir(run);
    write_atomic(&dir.join("success_matrix.json"), serde_json::to_string_pretty(&matrix)?.as_bytes())?;
    let snapshots: Vec<Value> = records
        .iter()
        .flat_map(|r| {
            let name = |kind: &str| format!("{kind}_{}_{}", r.round, r.group);
            std::iter::once((name("initial"), &r.initial))
                .chain(r.final_.as_ref().map(|f| (name("final"), f)))
        })
        .map(|(name, b)| {
            json!({
                "name": name,
                "step": b.step,
                "snapshot": b.snapshot,
                "weight_change": b.weight_change,
            })
        })
        .collect();
    let consolidated = json!({
        "run": run.file_name().map(|n| n.to_string_lossy().to_string()),
        "size": size,
        "groups": groups,
        "stages_planned": plan.len(),
        "stages_finished": records.iter().filter(|r| r.finished).count(),
        "success_matrix": matrix,
        "forgetting": matrix.forgetting(),
        "snapshots": snapshots,
        "stages": records,
    });
    write_atomic(&consolidated_path(run, size), serde_json::to_string_pretty(&consolidated)?.as_bytes())?;
    Ok(matrix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boundary(step: u64, accs: &[(&str, f64)]) -> Boundary {
        Boundary {
            step,
            snapshot: None,
            eval: accs
                .iter()
                .map(|(g, a)| {
                    (g.to_string(), GroupEval { acc: *a, acc_greedy: None, score: *a, problems: 10 })
                })
                .collect(),
            weight_change: None,
        }
    }

    fn record(stage: usize, group: &str, start: Boundary, end: Option<Boundary>) -> StageRecord {
        StageRecord {
            stage,
            round: 1,
            group: group.into(),
            epochs: 1,
            initial: start,
            finished: end.is_some(),
            final_: end,
            steps: 4,
            train: BTreeMap::new(),
        }
    }

    #[test]
    fn matrix_rows_are_the_start_then_each_finished_stage() {
        let groups = vec!["a".to_string(), "b".to_string()];
        let records = vec![
            record(
                0,
                "a",
                boundary(0, &[("a", 0.1), ("b", 0.2)]),
                Some(boundary(4, &[("a", 0.6), ("b", 0.3)])),
            ),
            record(
                1,
                "b",
                boundary(4, &[("a", 0.6), ("b", 0.3)]),
                Some(boundary(8, &[("a", 0.4), ("b", 0.7)])),
            ),
            record(2, "a", boundary(8, &[("a", 0.4), ("b", 0.7)]), None),
        ];
        let mut stopped = records.clone();
        stopped[2].final_ = Some(boundary(9, &[("a", 0.5), ("b", 0.6)]));
        let m = SuccessMatrix::from_records(&groups, &stopped);
        assert_eq!(m.rows[3], "R1 a (partial)", "a stage the run stopped in is marked");
        let m = SuccessMatrix::from_records(&groups, &records);
        assert_eq!(m.rows, ["start", "R1 a", "R1 b"]);
        assert_eq!(m.steps, [0, 4, 8]);
        assert_eq!(m.acc[1], [Some(0.6), Some(0.3)]);
        assert_eq!(m.acc_greedy[2], [None, None]);
        let f = m.forgetting();
        assert!((f["a"] - 0.2).abs() < 1e-12, "a peaked at 0.6 and ends at 0.4");
        assert_eq!(f["b"], 0.0);
    }

    #[test]
    fn records_round_trip_with_the_seeds_file_names() {
        let dir = tempfile::tempdir().unwrap();
        let r = record(0, "plus", boundary(0, &[("plus", 0.5)]), Some(boundary(3, &[("plus", 0.75)])));
        r.write(dir.path(), "1.5b").unwrap();
        let path = dir.path().join("metrics/metrics_1_plus_1.5b.json");
        assert_eq!(StageRecord::read(&path).unwrap(), Some(r));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"final\""), "{text}");
        let plan = [(1, "plus".into()), (2, "plus".into())];
        let m = rebuild_summaries(dir.path(), &["plus".into()], &plan, "1.5b").unwrap();
        assert_eq!(m.acc, [[Some(0.5)], [Some(0.75)]]);
        let c: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("metrics/consolidated_metrics_1.5b.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(c["stages_planned"], 2);
        assert_eq!(c["stages_finished"], 1);
        assert_eq!(c["snapshots"][1]["name"], "final_1_plus");
    }

    #[test]
    fn stage_means_skip_validation_lines_and_other_stages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let lines = [
            r#"{"step":0,"val/acc":0.1}"#,
            r#"{"step":1,"train/acc":0.2,"actor/pg_loss":1.0}"#,
            r#"{"step":2,"train/acc":0.4,"actor/pg_loss":null}"#,
            r#"{"step":2,"val/acc":0.9}"#,
            r#"{"step":3,"train/acc":0.9}"#,
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        let m = train_means(&path, 0, 2);
        assert!((m["train/acc"] - 0.3).abs() < 1e-12);
        assert_eq!(m["actor/pg_loss"], 1.0);
        assert!(!m.contains_key("response_length/mean"));
    }
}
