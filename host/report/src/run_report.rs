//! `tzhost report RUN_DIR [RUN_DIR ...]`: the plots seeds 000/001/002 make
//! from their training logs, with several runs overlaid (legend = run name):
//! success rate (`train/acc`, `val/acc`), policy-gradient loss, grad norm,
//! response length and the rollout window, each with the stage boundaries
//! of planned runs marked; the success matrix and the weight change per
//! stage and layer type of each planned run as heatmaps (side by side for
//! several runs); seed 001's summary figure
//! `plots/training_metrics_{size}.png` per model size; and one
//! `consolidated_metrics.json` over all runs. Titles say how many problems
//! each evaluation used.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::{file, ReportError, Result};
use serde_json::{json, Map, Value};

use super::plot::{heatmaps, line_plot_grid, line_plot_sized, Heatmap, LinePlot, Marker, Series};
use super::runs::RunRecord;
use super::stage_plots;

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
    pub weight_change: Option<PathBuf>,
    /// `plots/training_metrics_{size}.png`, one per model size.
    pub summaries: Vec<PathBuf>,
    pub consolidated: PathBuf,
    /// Metrics of [`CURVES`] no run logged.
    pub skipped: Vec<String>,
}

/// A run directory loaded for the report.
pub struct ReportRun {
    pub name: String,
    pub record: RunRecord,
    /// `metrics/consolidated_metrics_{size}.json` of a planned run.
    pub stages: Option<Value>,
    /// The model-size suffix (`1.5b`): from the stage files' names, else
    /// from the run's config.
    pub size: String,
}

/// Loads a run directory; anything that is not one is a one-line error.
pub fn load_run(dir: &Path) -> Result<ReportRun> {
    if !dir.is_dir() {
        return Err(ReportError::NotADirectory(dir.to_path_buf()));
    }
    if !dir.join("metrics.jsonl").is_file() {
        return Err(ReportError::NotARun(dir.to_path_buf()));
    }
    let record = RunRecord::load(dir)?;
    let (stages, file_size) = match stage_plots::consolidated_file(dir) {
        Some((path, size)) => {
            let text = std::fs::read_to_string(&path).map_err(file("read", &path))?;
            let value = serde_json::from_str(&text).map_err(|source| ReportError::Json { path, source })?;
            (Some(value), size)
        }
        None => (None, None),
    };
    let size = file_size
        .or_else(|| tz_config::RunConfig::from_file(&dir.join("config.toml")).ok().map(|c| c.size_label()))
        .unwrap_or_else(|| "model".into());
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .unwrap_or_else(|| dir.display().to_string());
    Ok(ReportRun { name, record, stages, size })
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

/// The stage boundaries of every planned run, each in its run's colour.
fn stage_markers(runs: &[&ReportRun]) -> Vec<Marker> {
    runs.iter()
        .enumerate()
        .filter_map(|(i, r)| r.stages.as_ref().map(|c| stage_plots::boundaries(c, i)))
        .flatten()
        .collect()
}

/// ` (N held-out problems)` from the runs' summaries, when they say.
fn held_out_problems(runs: &[&ReportRun]) -> String {
    let sizes: BTreeSet<u64> =
        runs.iter().filter_map(|r| r.record.summary_f64("val/size")).map(|n| n as u64).collect();
    match sizes.len() {
        0 => String::new(),
        _ => format!(
            " ({} held-out problems)",
            sizes.iter().map(u64::to_string).collect::<Vec<_>>().join(" / ")
        ),
    }
}

/// The line plot of one of [`CURVES`] over `runs`, or None when no run logged it.
fn curve_plot(runs: &[&ReportRun], metric: &str, title: &str, smooth_k: usize) -> Option<LinePlot> {
    let per_step = metric != "val/acc";
    let series: Vec<Series> = runs
        .iter()
        .map(|r| {
            let pts = curve(&r.record, metric);
            Series {
                label: r.name.clone(),
                points: if per_step { smooth(&pts, smooth_k) } else { pts },
                band: vec![],
            }
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    if series.is_empty() {
        return None;
    }
    let smoothed = if per_step && smooth_k > 1 { format!(" ({smooth_k}-step mean)") } else { String::new() };
    let problems = if metric == "val/acc" { held_out_problems(runs) } else { String::new() };
    Some(LinePlot {
        title: format!("{title}{smoothed}{problems}"),
        x_label: "step".into(),
        y_label: metric.into(),
        series,
        markers: stage_markers(runs),
    })
}

/// Seed 001's summary figure for the runs of one model size: the curves
/// and the overall weight change per stage, in one grid.
fn summary_figure(runs: &[&ReportRun], size: &str, out: &Path, smooth_k: usize) -> Result<Option<PathBuf>> {
    let mut panels: Vec<LinePlot> =
        CURVES.iter().filter_map(|(metric, _, title)| curve_plot(runs, metric, title, smooth_k)).collect();
    let changes: Vec<Series> = runs
        .iter()
        .filter_map(|r| r.stages.as_ref().map(|c| stage_plots::weight_change_curve(&r.name, c)))
        .filter(|s| !s.points.is_empty())
        .collect();
    if !changes.is_empty() {
        panels.push(LinePlot {
            title: "Weight change per stage (relative L2)".into(),
            x_label: "step (stage end)".into(),
            y_label: "weight change".into(),
            series: changes,
            markers: stage_markers(runs),
        });
    }
    if panels.is_empty() {
        return Ok(None);
    }
    let path = out.join("plots").join(format!("training_metrics_{size}.png"));
    line_plot_grid(&path, &format!("Training metrics, {size}"), &panels, 3, (640, 420))?;
    Ok(Some(path))
}

/// Writes the report of `dirs` into `opts.out`.
pub fn report(dirs: &[PathBuf], opts: &ReportOptions) -> Result<ReportFiles> {
    if dirs.is_empty() {
        return Err(ReportError::NoRuns);
    }
    let mut runs = dirs.iter().map(|d| load_run(d)).collect::<Result<Vec<_>>>()?;
    unique_names(&mut runs, dirs);
    std::fs::create_dir_all(&opts.out).map_err(file("create", &opts.out))?;
    let mut files = ReportFiles::default();
    let all: Vec<&ReportRun> = runs.iter().collect();
    for (metric, stem, title) in CURVES {
        let Some(plot) = curve_plot(&all, metric, title, opts.smooth) else {
            files.skipped.push(metric.to_string());
            continue;
        };
        let path = opts.out.join(format!("{stem}.png"));
        line_plot_sized(&path, &plot, opts.size)?;
        files.plots.push(path);
    }
    let planned: Vec<(&ReportRun, &Value)> =
        runs.iter().filter_map(|r| Some((r, r.stages.as_ref()?))).collect();
    let maps: Vec<Heatmap> =
        planned.iter().filter_map(|(r, c)| stage_plots::matrix_heatmap(&r.name, c)).collect();
    if !maps.is_empty() {
        let path = opts.out.join("success_matrix.png");
        heatmaps(&path, &maps)?;
        files.success_matrix = Some(path);
    }
    let maps: Vec<Heatmap> =
        planned.iter().filter_map(|(r, c)| stage_plots::weight_change_heatmap(&r.name, c)).collect();
    if !maps.is_empty() {
        let path = opts.out.join("weight_change.png");
        heatmaps(&path, &maps)?;
        files.weight_change = Some(path);
    }
    let sizes: BTreeSet<&str> = runs.iter().map(|r| r.size.as_str()).collect();
    for size in sizes {
        let of_size: Vec<&ReportRun> = runs.iter().filter(|r| r.size == size).collect();
        files.summaries.extend(summary_figure(&of_size, size, &opts.out, opts.smooth)?);
    }
    files.consolidated = opts.out.join("consolidated_metrics.json");
    let runs_json: Vec<Value> = runs.iter().map(run_json).collect();
    let doc = json!({ "runs": runs_json });
    let text = serde_json::to_string_pretty(&doc).expect("a JSON value serialises");
    tz_run_dir::write_atomic(&files.consolidated, text.as_bytes())?;
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
    let boundaries: Vec<Value> = r
        .stages
        .as_ref()
        .map(|c| stage_plots::boundaries(c, 0).into_iter().map(|m| json!([m.x, m.label])).collect())
        .unwrap_or_default();
    json!({
        "name": r.name,
        "dir": r.record.dir,
        "size": r.size,
        "stage_boundaries": boundaries,
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
