//! The end of a run: `summary.json` (why it stopped, steps, tokens, time,
//! held-out success before and after, and the validation curve) and the
//! same on stdout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tz_run_dir::write_atomic;

use crate::error::{Result, TrainError};
use crate::stop::Stop;
use crate::Trainer;

/// A validation point of the run: step, sampled and greedy success.
#[derive(Debug, Clone, PartialEq)]
pub struct ValPoint {
    pub step: u64,
    pub acc: f64,
    pub acc_greedy: Option<f64>,
}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub stop: Stop,
    pub steps: u64,
    pub tokens: u64,
    pub wall_seconds: f64,
    pub run_dir: PathBuf,
    /// Every validation of the run, in step order (before training first).
    pub curve: Vec<ValPoint>,
}

/// The validation points in a metrics.jsonl (lines that carry `val/acc`).
pub fn validation_curve(metrics_jsonl: &Path) -> Vec<ValPoint> {
    let text = std::fs::read_to_string(metrics_jsonl).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            Some(ValPoint {
                step: v.get("step")?.as_u64()?,
                acc: v.get("val/acc")?.as_f64()?,
                acc_greedy: v.get("val/acc_greedy").and_then(Value::as_f64),
            })
        })
        .collect()
}

/// At most `n` points, evenly spread, first and last kept.
fn thin(curve: &[ValPoint], n: usize) -> Vec<&ValPoint> {
    if curve.len() <= n {
        return curve.iter().collect();
    }
    (0..n).map(|i| &curve[i * (curve.len() - 1) / (n - 1)]).collect()
}

impl Trainer {
    /// Writes summary.json and prints the summary.
    pub(crate) fn finish(&mut self, after: &BTreeMap<String, f64>, stop: Stop) -> Result<Summary> {
        let g = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(f64::NAN);
        let before = self.state.before.clone();
        let curve = validation_curve(&self.run.metrics());
        let summary = json!({
            "finished": true,
            "stop_reason": stop.reason,
            "collapsed": self.state.collapsed,
            "steps": self.state.step,
            "tokens": self.state.tokens,
            "wall_s": self.state.elapsed_s,
            "validation_s": self.state.validation_s,
            "model": self.model_path,
            "val/acc_before": g(&before, "val/acc"),
            "val/acc_after": g(after, "val/acc"),
            "val/acc_greedy_before": g(&before, "val/acc_greedy"),
            "val/acc_greedy_after": g(after, "val/acc_greedy"),
            "val/size": self.val_samples.len(),
            "val/curve": curve
                .iter()
                .map(|p| json!({"step": p.step, "val/acc": p.acc, "val/acc_greedy": p.acc_greedy}))
                .collect::<Vec<_>>(),
        });
        // Rank 0 alone writes and prints; every rank returns the summary.
        if self.world.is_main() {
            write_atomic(&self.run.summary(), serde_json::to_string_pretty(&summary)?.as_bytes())?;
            println!(
                "run finished ({}) after {} steps, {} tokens, {:.0} s",
                stop.reason, self.state.step, self.state.tokens, self.state.elapsed_s
            );
            println!(
                "  val/acc        {:.3} -> {:.3}   (mean over {} samples per problem, {} held-out problems)",
                g(&before, "val/acc"),
                g(after, "val/acc"),
                self.cfg.eval.samples,
                self.val_samples.len()
            );
            if self.cfg.eval.greedy {
                println!(
                    "  val/acc_greedy {:.3} -> {:.3}",
                    g(&before, "val/acc_greedy"),
                    g(after, "val/acc_greedy")
                );
            }
            if curve.len() > 2 {
                let points: Vec<String> =
                    thin(&curve, 12).iter().map(|p| format!("{}:{:.3}", p.step, p.acc)).collect();
                println!("  val/acc curve  {} (step:acc)", points.join(" "));
            }
            println!("  run directory  {}", self.run.root.display());
        }
        Ok(Summary {
            stop,
            steps: self.state.step,
            tokens: self.state.tokens,
            wall_seconds: self.state.elapsed_s,
            run_dir: self.run.root.clone(),
            curve,
        })
    }
}

impl Trainer {
    /// After SIGINT/SIGTERM between two steps: a checkpoint of the last
    /// finished step and an unfinished summary, then an error that says how
    /// to continue (so the process exits non-zero).
    pub(crate) fn stop_on_signal(&mut self, stop: &Stop) -> Result<Summary> {
        let step = self.state.step;
        eprintln!("stopping at step {step} on a signal: saving a checkpoint (a second signal exits at once)");
        self.save_checkpoint()?;
        let summary = json!({
            "finished": false,
            "stop_reason": stop.reason,
            "steps": step,
            "tokens": self.state.tokens,
            "wall_s": self.state.elapsed_s,
            "model": self.model_path,
        });
        if self.world.is_main() {
            write_atomic(&self.run.summary(), serde_json::to_string_pretty(&summary)?.as_bytes())?;
        }
        Err(TrainError::Interrupted { step, dir: self.run.root.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curve_is_the_lines_with_val_acc_and_thinning_keeps_the_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let lines = [
            r#"{"step":0,"val/acc":0.1,"val/acc_greedy":0.2}"#,
            r#"{"step":1,"train/acc":0.5}"#,
            r#"{"step":2,"val/acc":0.3}"#,
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        let curve = validation_curve(&path);
        assert_eq!(
            curve,
            [
                ValPoint { step: 0, acc: 0.1, acc_greedy: Some(0.2) },
                ValPoint { step: 2, acc: 0.3, acc_greedy: None }
            ]
        );
        let many: Vec<ValPoint> =
            (0..100).map(|s| ValPoint { step: s, acc: 0.0, acc_greedy: None }).collect();
        let steps: Vec<u64> = thin(&many, 5).iter().map(|p| p.step).collect();
        assert_eq!(steps, [0, 24, 49, 74, 99]);
    }
}
