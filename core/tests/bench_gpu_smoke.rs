//! `scripts/bench_gpu.sh --smoke` end to end on the CPU: both sides of every
//! phase run, and the report holds the figures and says they are smoke
//! figures. (What it measures on a GPU is recorded in docs/perf.md.)

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `cargo test` builds the examples beside the test binaries' `deps/`.
fn bench_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir.join("examples").join("bench_gpu");
    assert!(
        bin.is_file(),
        "{} is missing: build it (cargo build --release -p tz-core --example bench_gpu)",
        bin.display()
    );
    bin
}

#[test]
fn bench_gpu_smoke_measures_both_sides_of_every_phase() {
    let python = repo().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/setup.sh first", python.display());
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(repo().join("scripts/bench_gpu.sh"))
        .args(["--smoke", "--device", "cpu", "--out"])
        .arg(out.path())
        .env("TZ_BENCH_BIN", bench_bin())
        .env("PYTHON", &python)
        .env_remove("OUT")
        .output()
        .unwrap();
    let log = format!("{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "bench_gpu.sh --smoke failed:\n{log}");

    let table = std::fs::read_to_string(out.path().join("bench_gpu.md")).unwrap();
    assert!(table.contains("CPU SMOKE FIGURES"), "the table must say these are smoke figures:\n{table}");
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("bench_gpu.json")).unwrap()).unwrap();
    assert_eq!(r["smoke"], true);
    let positive = |v: &Value, what: &str| {
        let x = v.as_f64().unwrap_or_else(|| panic!("{what} missing"));
        assert!(x.is_finite() && x > 0.0, "{what} = {x}");
        x
    };
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
    // Every row generated exactly the requested tokens on both sides.
    for side in ["ours", "reference"] {
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
