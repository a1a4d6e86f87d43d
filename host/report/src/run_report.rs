//! `tzhost report RUN_DIR [RUN_DIR ...]`: the plots seeds 000/001/002 make
//! from their training logs, with several runs overlaid (legend = run name):
//! success rate (`train/acc`, `val/acc`), policy-gradient loss, grad norm,
//! response length and the rollout window; the success matrix of each
//! planned run as a heatmap (side by side for several runs); and one
//! `consolidated_metrics.json` over all runs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde_json::{json, Map, Value};

use super::plot::{heatmaps, line_plot_sized, Heatmap, LinePlot, Series};
use super::runs::RunRecord;

/// The curves of the report: (metric, file stem, title).
pub const CURVES: [(&str, &str, &str); 6] = [
    ("train/acc", "train_acc", "Training success rate"),
    ("val/acc", "val_acc", "Held-out success rate (mean@k)"),
    ("actor/pg_loss", "pg_loss", "Policy-gradient loss"),
    ("actor/grad_norm", "grad_norm", "Gradient norm"),
    ("response_length/mean", "response_length", "Mean response length (tokens)"),
    // The window each step was generated with, logged for every run, so
    // adaptive, fixed and full overlay (adaptive_window/* only exists for one).
    ("train/window", "window", "Rollout window (max new tokens)"),
];

/// Options of a report.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub out: PathBuf,
    /// Pixel size of the line plots.
    pub size: (u32, u32),
    /// Trailing moving average over this many steps for per-step curves (1 = raw).
    pub smooth: usize,
}

/// What a report wrote.
#[derive(Debug, Clone, Default)]
pub struct ReportFiles {
    pub plots: Vec<PathBuf>,
    pub success_matrix: Option<PathBuf>,
    pub consolidated: PathBuf,
    /// Metrics of [`CURVES`] no run logged.
    pub skipped: Vec<String>,
}

/// A run directory loaded for the report.
pub struct ReportRun {
    pub name: String,
    pub record: RunRecord,
    /// `metrics/consolidated_metrics.json` of a planned run.
    pub stages: Option<Value>,
}

/// Loads a run directory; anything that is not one is a one-line error.
pub fn load_run(dir: &Path) -> Result<ReportRun> {
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    if !dir.join("metrics.jsonl").is_file() {
        bail!("{} is not a run directory (it has no metrics.jsonl)", dir.display());
    }
    let record = RunRecord::load(dir)?;
    let stages_path = dir.join("metrics/consolidated_metrics.json");
    let stages = match std::fs::read_to_string(&stages_path) {
        Ok(text) => Some(
            serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{} is not valid JSON: {e}", stages_path.display()))?,
        ),
        Err(_) => None,
    };
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .unwrap_or_else(|| dir.display().to_string());
    Ok(ReportRun { name, record, stages })
}

/// Run names as legends: the directory name, with its parent's when two runs share it.
fn unique_names(runs: &mut [ReportRun], dirs: &[PathBuf]) {
    let names: Vec<String> = runs.iter().map(|r| r.name.clone()).collect();
    for (i, run) in runs.iter_mut().enumerate() {
        if names.iter().filter(|n| **n == run.name).count() > 1 {
            let parent = dirs[i].canonicalize().ok().and_then(|p| {
                p.parent().and_then(|q| q.file_name()).map(|n| n.to_string_lossy().to_string())
            });
            if let Some(p) = parent {
                run.name = format!("{p}/{}", run.name);
            }
        }
    }
}

/// Trailing moving average over `k` points.
pub fn smooth(points: &[(f64, f64)], k: usize) -> Vec<(f64, f64)> {
    if k <= 1 {
        return points.to_vec();
    }
    let mut out = Vec::with_capacity(points.len());
    let mut sum = 0.0;
    for (i, &(x, y)) in points.iter().enumerate() {
        sum += y;
        if i >= k {
            sum -= points[i - k].1;
        }
        out.push((x, sum / (i + 1).min(k) as f64));
    }
    out
}

/// The points of a curve: training lines only for per-step metrics (a
/// validation line shares the step of a training line), each step once.
fn curve(run: &RunRecord, metric: &str) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = run.series(metric).into_iter().filter(|p| p.1.is_finite()).collect();
    pts.dedup_by(|b, a| a.0 == b.0);
    pts
}

/// A planned run's success matrix as a heatmap.
fn matrix_heatmap(run: &ReportRun) -> Option<Heatmap> {
    let m = run.stages.as_ref()?.get("success_matrix")?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    let groups = strings(&m["groups"]);
    let rows = strings(&m["rows"]);
    let values: Vec<Vec<Option<f64>>> = m["acc"]
        .as_array()?
        .iter()
        .map(|r| r.as_array().map(|c| c.iter().map(Value::as_f64).collect()).unwrap_or_default())
        .collect();
    if rows.is_empty() || groups.is_empty() {
        return None;
    }
    Some(Heatmap {
        title: format!("{}: success rate", run.name),
        x_label: "evaluated group".into(),
        y_label: "after stage".into(),
        col_labels: groups,
        row_labels: rows,
        values,
        range: Some((0.0, 1.0)),
    })
}

/// Writes the report of `dirs` into `opts.out`.
pub fn report(dirs: &[PathBuf], opts: &ReportOptions) -> Result<ReportFiles> {
    if dirs.is_empty() {
        bail!("no run directory given");
    }
    let mut runs = dirs.iter().map(|d| load_run(d)).collect::<Result<Vec<_>>>()?;
    unique_names(&mut runs, dirs);
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", opts.out.display()))?;
    let mut files = ReportFiles::default();
    for (metric, stem, title) in CURVES {
        let per_step = metric != "val/acc";
        let series: Vec<Series> = runs
            .iter()
            .map(|r| {
                let pts = curve(&r.record, metric);
                Series {
                    label: r.name.clone(),
                    points: if per_step { smooth(&pts, opts.smooth) } else { pts },
                    band: vec![],
                }
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        if series.is_empty() {
            files.skipped.push(metric.to_string());
            continue;
        }
        let smoothed =
            if per_step && opts.smooth > 1 { format!(" ({}-step mean)", opts.smooth) } else { String::new() };
        let plot = LinePlot {
            title: format!("{title}{smoothed}"),
            x_label: "step".into(),
            y_label: metric.into(),
            series,
        };
        let path = opts.out.join(format!("{stem}.png"));
        line_plot_sized(&path, &plot, opts.size)?;
        files.plots.push(path);
    }
    let maps: Vec<Heatmap> = runs.iter().filter_map(matrix_heatmap).collect();
    if !maps.is_empty() {
        let path = opts.out.join("success_matrix.png");
        heatmaps(&path, &maps)?;
        files.success_matrix = Some(path);
    }
    files.consolidated = opts.out.join("consolidated_metrics.json");
    let runs_json: Vec<Value> = runs.iter().map(run_json).collect();
    let doc = json!({ "runs": runs_json });
    tz_run_dir::write_atomic(&files.consolidated, serde_json::to_string_pretty(&doc)?.as_bytes())?;
    Ok(files)
}

/// One run in the consolidated JSON: the last value of every curve, the
/// summary, and the stage records of a planned run.
fn run_json(r: &ReportRun) -> Value {
    let mut last = Map::new();
    for (metric, _, _) in CURVES {
        if let Some(v) = curve(&r.record, metric).last() {
            last.insert(metric.to_string(), json!(v.1));
        }
    }
    json!({
        "name": r.name,
        "dir": r.record.dir,
        "finished": r.record.finished(),
        "summary": r.record.summary,
        "last": last,
        "stages": r.stages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_average_is_trailing() {
        let pts = [(1.0, 1.0), (2.0, 3.0), (3.0, 5.0), (4.0, 7.0)];
        assert_eq!(smooth(&pts, 1), pts);
        assert_eq!(smooth(&pts, 2), [(1.0, 1.0), (2.0, 2.0), (3.0, 4.0), (4.0, 6.0)]);
    }

    #[test]
    fn a_directory_without_metrics_is_not_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_run(dir.path()).err().unwrap().to_string();
        assert!(err.contains("is not a run directory"), "{err}");
        let err = load_run(&dir.path().join("missing")).err().unwrap().to_string();
        assert!(err.contains("is not a directory"), "{err}");
    }
}
