//! `scripts/device_check.sh --smoke` end to end on the CPU, from this
//! checkout's release build: every step of the GPU machine's check runs with
//! tiny sizes (doctor, a parity test, the tiny main job, GRPO steps, and
//! `scripts/bench_gpu.sh --smoke` with both sides of every phase), and the
//! summary and figures come out. What the check measures on a GPU is in
//! docs/perf.md.
//!
//! Needs the whole workspace built with its tests and examples (what
//! `cargo test --release --workspace` builds before running any test).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn positive(v: &Value, what: &str) -> f64 {
    let x = v.as_f64().unwrap_or_else(|| panic!("{what} missing"));
    assert!(x.is_finite() && x > 0.0, "{what} = {x}");
    x
}

#[test]
fn device_check_smoke_runs_every_step_on_the_cpu() {
    let python = repo().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/setup.sh first", python.display());
    // The release directory this test was built into (CARGO_TARGET_DIR may move it).
    let release = Path::new(env!("CARGO_BIN_EXE_tzhost")).parent().unwrap().to_path_buf();
    assert!(
        release.join("examples/bench_gpu").is_file(),
        "{}/examples/bench_gpu is missing: cargo test --release --workspace builds it \
         (or cargo build --release -p tz-core --example bench_gpu)",
        release.display()
    );
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(repo().join("scripts/device_check.sh"))
        .args(["--smoke", "--from-target", "--out"])
        .arg(out.path())
        .env("CARGO_TARGET_DIR", release.parent().unwrap())
        .env("PYTHON", &python)
        .env_remove("OUT")
        .output()
        .unwrap();
    let summary = std::fs::read_to_string(out.path().join("summary.md")).unwrap_or_default();
    let log = std::fs::read_to_string(out.path().join("device_check.log")).unwrap_or_default();
    assert!(
        o.status.success(),
        "device_check.sh --smoke failed:\n{}\n{summary}\n{log}",
        String::from_utf8_lossy(&o.stderr)
    );
    for step in ["doctor", "parity", "tiny", "grpo", "bench"] {
        assert!(summary.contains(&format!("| {step} | ok |")), "step {step} not ok:\n{summary}");
    }
    assert!(summary.contains("SMOKE"), "the summary must say these are smoke figures:\n{summary}");

    // The tiny job's learning curve comes back.
    let metrics = std::fs::read_to_string(out.path().join("tiny_metrics.jsonl")).unwrap();
    assert!(metrics.lines().any(|l| l.contains("\"step\"")), "no step in tiny_metrics.jsonl:\n{metrics}");

    // GRPO steps: every part timed, every row generated exactly its tokens.
    let g = read_json(&out.path().join("grpo.json"));
    let steps = g["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    for s in steps {
        for part in ["rollout_seconds", "old_logprob_seconds", "update_seconds"] {
            positive(&s[part], part);
        }
        assert_eq!(s["generated_tokens"], 2 * 4 * 8, "{s}");
        assert_eq!(s["updates_skipped"], 0, "{s}");
    }
    positive(&g["peak_rss_bytes"], "grpo peak RSS");

    // bench_gpu.sh --smoke: both sides of every phase, eager beside the default decode.
    let table = std::fs::read_to_string(out.path().join("bench_gpu.md")).unwrap();
    assert!(table.contains("CPU SMOKE FIGURES"), "the table must say these are smoke figures:\n{table}");
    let r = read_json(&out.path().join("bench_gpu.json"));
    assert_eq!(r["smoke"], true);
    positive(&r["ceilings"]["copy_bandwidth_bytes_per_s"], "copy bandwidth");
    positive(&r["ceilings"]["bf16_matmul_flops_per_s"], "matmul rate");
    for phase in ["decode_4x2", "decode_8x1", "update"] {
        let p = &r["phases"][phase];
        for side in ["ours", "reference"] {
            positive(&p[side]["tokens_per_s"], &format!("{phase} {side} tokens/s"));
            positive(&p[side]["peak_rss_bytes"], &format!("{phase} {side} peak RSS"));
            let eff = if phase == "update" { "mfu" } else { "roofline_fraction" };
            positive(&p[side][eff], &format!("{phase} {side} {eff}"));
        }
        let speedup = positive(&p["speedup"], &format!("{phase} speedup"));
        let ratio =
            p["ours"]["tokens_per_s"].as_f64().unwrap() / p["reference"]["tokens_per_s"].as_f64().unwrap();
        assert!((speedup - ratio).abs() < 1e-9 * ratio);
    }
    for phase in ["decode_4x2", "decode_8x1"] {
        let p = &r["phases"][phase];
        positive(&p["ours_eager"]["tokens_per_s"], &format!("{phase} eager tokens/s"));
        positive(&p["graph_speedup"], &format!("{phase} graphs / eager"));
    }
    for side in ["ours", "ours_eager", "reference"] {
        let d = &r["phases"]["decode_4x2"][side];
        assert_eq!(d["generated_tokens"], 4 * 2 * 8, "{side}: {d}");
    }
    // The update's MFU is 6 N T / t over the measured matmul rate.
    let u = &r["phases"]["update"]["ours"];
    let mfu = 6.0 * u["params"].as_f64().unwrap() * u["tokens"].as_f64().unwrap()
        / u["seconds"].as_f64().unwrap()
        / r["ceilings"]["bf16_matmul_flops_per_s"].as_f64().unwrap();
    assert!((mfu - u["mfu"].as_f64().unwrap()).abs() < 1e-9 * mfu);
}
