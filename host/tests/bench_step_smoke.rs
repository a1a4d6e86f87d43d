//! `scripts/bench_step.sh --smoke` end to end: tzhost and the plain PyTorch
//! reference both run GRPO steps of the tiny recipe, and the report holds a
//! positive time for every phase each side runs, says these are smoke
//! figures, and records that ours skipped the old log-probs (the update is
//! on-policy).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn bench_step_smoke_times_both_sides_and_reports_the_ratio() {
    let python = repo().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/setup.sh first", python.display());
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(repo().join("scripts/bench_step.sh"))
        .args(["--smoke", "--threads", "1", "--out"])
        .arg(out.path())
        .env("TZ_BIN", env!("CARGO_BIN_EXE_tzhost"))
        .env("PYTHON", &python)
        .env_remove("OUT")
        .env_remove("TZ_PLUGIN_PATH")
        .output()
        .unwrap();
    let log = format!("{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "bench_step.sh --smoke failed:\n{log}");

    let table = std::fs::read_to_string(out.path().join("bench_step.md")).unwrap();
    assert!(table.contains("CPU SMOKE FIGURES"), "the table must say these are smoke figures:\n{table}");
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("bench_step.json")).unwrap()).unwrap();
    assert_eq!(r["smoke"], true);
    assert_eq!(r["threads"], 1);
    for side in ["ours", "reference"] {
        for phase in ["gen", "update_actor", "step"] {
            let s = r[side]["seconds"][phase].as_f64().unwrap_or(f64::NAN);
            assert!(s.is_finite() && s > 0.0, "{side} {phase}: {s}");
        }
        let response = r[side]["tokens_per_step"]["response"].as_f64().unwrap_or(0.0);
        assert!(response > 0.0, "{side} generated no response tokens");
    }
    assert_eq!(r["ours"]["rounds"][0]["old_log_prob_skipped"], 1.0);
    let ratio = r["ratio_steps_per_s"].as_f64().unwrap_or(f64::NAN);
    assert!(ratio.is_finite() && ratio > 0.0, "ratio {ratio}");
}
