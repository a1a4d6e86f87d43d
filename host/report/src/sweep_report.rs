//! The report of a sweep: per variant (the runs that differ only in their
//! seed), val/acc before, final and best as mean ± std over seeds, greedy
//! accuracy, tokens and wall time, as markdown (`report.md`) and CSV
//! (`report.csv`); and one overlay plot per metric (`plots/*.png`, the mean
//! over seeds with a min–max band).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::Result;

use super::plot::{line_plot, LinePlot, Series};
use super::runs::RunRecord;
use super::stats::{aggregate_curves, mean_std};
use tz_sweep::manifest::Manifest;
use tz_sweep::spec::DEFAULT_METRICS;

/// One row of the table: a group of runs that differ only in their seed.
#[derive(Debug, Clone, Default)]
pub struct GroupRow {
    pub group: String,
    pub runs: usize,
    pub finished: usize,
    /// One value per run that has it.
    pub acc_before: Vec<f64>,
    pub final_acc: Vec<f64>,
    pub best_acc: Vec<f64>,
    pub final_acc_greedy: Vec<f64>,
    pub tokens: Vec<f64>,
    pub wall_s: Vec<f64>,
}

/// A sweep's report.
#[derive(Debug, Clone)]
pub struct SweepReport {
    pub manifest: Manifest,
    pub rows: Vec<GroupRow>,
    /// `(metric, png path relative to the sweep directory)`.
    pub plots: Vec<(String, PathBuf)>,
}

/// A run's final val/acc: the summary's `val/acc_after`, else the last logged.
fn final_of(run: &RunRecord, metric: &str) -> Option<f64> {
    run.summary_f64(&format!("{metric}_after")).or_else(|| run.last(metric))
}

/// The best val/acc after training started (step > 0, or the final value).
fn best_of(run: &RunRecord, metric: &str) -> Option<f64> {
    run.series(metric)
        .into_iter()
        .filter(|(step, _)| *step > 0.0)
        .map(|p| p.1)
        .chain(final_of(run, metric))
        .reduce(f64::max)
}

/// val/acc before training: the summary's `val/acc_before`, else a step-0 value.
fn before_of(run: &RunRecord, metric: &str) -> Option<f64> {
    run.summary_f64(&format!("{metric}_before"))
        .or_else(|| run.series(metric).into_iter().find(|(s, _)| *s == 0.0).map(|p| p.1))
}

/// Reads every run of the sweep at `dir`.
pub fn load(dir: &Path) -> Result<(Manifest, Vec<(String, RunRecord)>)> {
    let manifest = Manifest::read_or_scan(dir)?;
    let mut runs = Vec::new();
    for r in &manifest.runs {
        runs.push((r.group.clone(), RunRecord::load(&dir.join(&r.name))?));
    }
    Ok((manifest, runs))
}

/// Groups in first-seen order with their table values.
pub fn rows(runs: &[(String, RunRecord)]) -> Vec<GroupRow> {
    let mut rows: Vec<GroupRow> = Vec::new();
    for (group, run) in runs {
        let i = match rows.iter().position(|r| &r.group == group) {
            Some(i) => i,
            None => {
                rows.push(GroupRow { group: group.clone(), ..Default::default() });
                rows.len() - 1
            }
        };
        let row = &mut rows[i];
        row.runs += 1;
        row.finished += run.finished() as usize;
        row.acc_before.extend(before_of(run, "val/acc"));
        row.final_acc.extend(final_of(run, "val/acc"));
        row.best_acc.extend(best_of(run, "val/acc"));
        row.final_acc_greedy.extend(final_of(run, "val/acc_greedy"));
        row.tokens.extend(run.summary_f64("tokens"));
        row.wall_s.extend(run.summary_f64("wall_s").or_else(|| run.last("time/elapsed_s")));
    }
    rows
}

/// Builds the report of the sweep at `dir` and writes `report.md`,
/// `report.csv` and `plots/` there.
pub fn write_report(dir: &Path) -> Result<SweepReport> {
    let (manifest, runs) = load(dir)?;
    let rows = rows(&runs);
    let plots = write_plots(dir, &manifest, &runs)?;
    let report = SweepReport { manifest, rows, plots };
    tz_run_dir::write_atomic(&dir.join("report.md"), report.markdown().as_bytes())?;
    tz_run_dir::write_atomic(&dir.join("report.csv"), report.csv().as_bytes())?;
    Ok(report)
}

/// Per metric present in any run: one line per group (the mean over its
/// runs at each step) with a min–max band; plus val/acc against wall time.
fn write_plots(
    dir: &Path,
    manifest: &Manifest,
    runs: &[(String, RunRecord)],
) -> Result<Vec<(String, PathBuf)>> {
    let metrics: Vec<String> = if manifest.metrics.is_empty() {
        DEFAULT_METRICS.iter().map(|s| s.to_string()).collect()
    } else {
        manifest.metrics.clone()
    };
    let mut groups: Vec<&str> = Vec::new();
    for (g, _) in runs {
        if !groups.contains(&g.as_str()) {
            groups.push(g);
        }
    }
    let mut written = Vec::new();
    for metric in &metrics {
        let series = group_series(&groups, runs, |run| run.series(metric));
        if series.iter().all(|s| s.points.is_empty()) {
            continue;
        }
        let file = PathBuf::from("plots").join(format!("{}.png", file_stem(metric)));
        let plot = LinePlot {
            title: format!("{} — {}", manifest.name, metric),
            x_label: "step".into(),
            y_label: metric.clone(),
            series,
            markers: vec![],
        };
        line_plot(&dir.join(&file), &plot)?;
        written.push((metric.clone(), file));
    }
    // val/acc against wall-clock minutes (compute efficiency).
    let by_time = group_series(&groups, runs, |run| {
        let elapsed = run.series("time/elapsed_s");
        run.series("val/acc")
            .into_iter()
            .filter_map(|(step, acc)| {
                let t = elapsed.iter().find(|(s, _)| *s == step).map(|p| p.1)?;
                Some((t / 60.0, acc))
            })
            .collect()
    });
    if by_time.iter().any(|s| s.points.len() > 1) {
        let file = PathBuf::from("plots").join("val_acc_vs_minutes.png");
        let plot = LinePlot {
            title: format!("{} — val/acc against wall time", manifest.name),
            x_label: "minutes".into(),
            y_label: "val/acc".into(),
            series: by_time,
            markers: vec![],
        };
        line_plot(&dir.join(&file), &plot)?;
        written.push(("val/acc vs minutes".into(), file));
    }
    Ok(written)
}

/// One series per group: the per-x mean of its runs' curves, with a band
/// when the group has several runs.
fn group_series(
    groups: &[&str],
    runs: &[(String, RunRecord)],
    curve: impl Fn(&RunRecord) -> Vec<(f64, f64)>,
) -> Vec<Series> {
    groups
        .iter()
        .map(|g| {
            let curves: Vec<Vec<(f64, f64)>> = runs
                .iter()
                .filter(|(rg, _)| rg == g)
                .map(|(_, r)| curve(r))
                .filter(|c| !c.is_empty())
                .collect();
            let agg = aggregate_curves(&curves);
            Series {
                label: if curves.len() > 1 { format!("{g} (n={})", curves.len()) } else { g.to_string() },
                points: agg.iter().map(|a| (a.x, a.mean)).collect(),
                band: if curves.len() > 1 {
                    agg.iter().map(|a| (a.x, a.min, a.max)).collect()
                } else {
                    Vec::new()
                },
            }
        })
        .collect()
}

/// `val/acc` → `val_acc`.
pub fn file_stem(metric: &str) -> String {
    metric.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect()
}

/// `0.412 ± 0.021`, `0.412` for one value, `—` for none.
fn pm(values: &[f64], digits: usize) -> String {
    match mean_std(values) {
        None => "—".into(),
        Some((m, _)) if values.len() == 1 => format!("{m:.digits$}"),
        Some((m, s)) => format!("{m:.digits$} ± {s:.digits$}"),
    }
}

/// `1.23M`, `45.6k`.
fn human_count(v: f64) -> String {
    match v.abs() {
        x if x >= 1e9 => format!("{:.2}G", v / 1e9),
        x if x >= 1e6 => format!("{:.2}M", v / 1e6),
        x if x >= 1e3 => format!("{:.1}k", v / 1e3),
        _ => format!("{v:.0}"),
    }
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl SweepReport {
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Sweep {}\n", self.manifest.name);
        if !self.manifest.description.is_empty() {
            let _ = writeln!(md, "{}\n", self.manifest.description);
        }
        let seeds = self.manifest.seed_dimension.as_deref().unwrap_or("seed");
        let _ = writeln!(
            md,
            "Mean ± std over {seeds}s (sample std); final = after training, best = the best validation after step 0.\n"
        );
        md.push_str(
            "| variant | runs | val/acc before | final val/acc | best val/acc | final val/acc_greedy | tokens | wall time |\n",
        );
        md.push_str("|---|---|---|---|---|---|---|---|\n");
        for r in &self.rows {
            let tokens = mean_std(&r.tokens).map(|(m, _)| human_count(m)).unwrap_or_else(|| "—".into());
            let wall = mean_std(&r.wall_s)
                .map(|(m, _)| {
                    tz_sweep::execute::human_duration(std::time::Duration::from_secs_f64(m.max(0.0)))
                })
                .unwrap_or_else(|| "—".into());
            let _ = writeln!(
                md,
                "| {} | {}/{} | {} | {} | {} | {} | {} | {} |",
                r.group,
                r.finished,
                r.runs,
                pm(&r.acc_before, 3),
                pm(&r.final_acc, 3),
                pm(&r.best_acc, 3),
                pm(&r.final_acc_greedy, 3),
                tokens,
                wall
            );
        }
        if !self.plots.is_empty() {
            md.push_str("\n## Plots\n\n");
            for (metric, file) in &self.plots {
                let _ = writeln!(md, "![{metric}]({})", file.display());
            }
        }
        md
    }

    pub fn csv(&self) -> String {
        let mut csv = String::from(
            "variant,runs,finished,acc_before_mean,acc_before_std,final_acc_mean,final_acc_std,best_acc_mean,\
             best_acc_std,final_acc_greedy_mean,final_acc_greedy_std,tokens_mean,wall_s_mean\n",
        );
        let ms = |v: &[f64]| match mean_std(v) {
            Some((m, s)) => (format!("{m}"), format!("{s}")),
            None => (String::new(), String::new()),
        };
        for r in &self.rows {
            let (b, bs) = ms(&r.acc_before);
            let (f, fs) = ms(&r.final_acc);
            let (best, best_s) = ms(&r.best_acc);
            let (g, gs) = ms(&r.final_acc_greedy);
            let (t, _) = ms(&r.tokens);
            let (w, _) = ms(&r.wall_s);
            let _ = writeln!(
                csv,
                "{},{},{},{b},{bs},{f},{fs},{best},{best_s},{g},{gs},{t},{w}",
                csv_cell(&r.group),
                r.runs,
                r.finished
            );
        }
        csv
    }
}
