//! Planned curricula end to end on the tiny model (issue 6, seeds 000/001):
//! the stage schedule, snapshot names, per-stage records, the success
//! matrix, the random-split control, resume after `kill -9` across stage
//! boundaries, and `tzhost report` on the result. Each stage is one step
//! (8 training problems per group, 8 prompts per step).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

/// A tiny planned run: `curriculum` over `groups`, `rounds` rounds, one step per stage.
fn staged_cmd(out: &Path, curriculum: &str, groups: &str, rounds: u32, extra: &[&str]) -> Command {
    let mut cmd = tiny_train_cmd(out, "grpo", curriculum);
    cmd.args(staged_run_args(curriculum, groups, rounds));
    cmd.args(extra);
    cmd
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

/// The PNG's (width, height) from its IHDR chunk, after checking the signature.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
    assert_eq!(&bytes[12..16], b"IHDR", "{}: the first chunk is not IHDR", path.display());
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

#[test]
fn continual_runs_the_schedule_with_snapshots_records_and_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("continual");
    let o = staged_cmd(&run, "continual", r#"["plus","plus_minus"]"#, 2, &[]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    // Stage order: R1 plus, R1 plus_minus, R2 plus, R2 plus_minus; one step each.
    let order = [(1, "plus"), (1, "plus_minus"), (2, "plus"), (2, "plus_minus")];
    for (i, (round, group)) in order.iter().enumerate() {
        // Seed 001's names, with the model-size suffix (the embedded model: `tiny`).
        let r = json(&run.join(format!("metrics/metrics_{round}_{group}_tiny.json")));
        assert_eq!((r["stage"].as_u64(), r["finished"].as_bool()), (Some(i as u64), Some(true)), "{r}");
        assert_eq!(r["initial"]["step"], i as u64, "{r}");
        assert_eq!(r["final"]["step"], i as u64 + 1, "{r}");
        assert_eq!(r["steps"], 1);
        assert_eq!(r["final"]["snapshot"], format!("snapshots/final_{round}_{group}"));
        for g in ["plus", "plus_minus"] {
            let acc = r["final"]["eval"][g]["acc"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&acc), "{r}");
            assert_eq!(r["final"]["eval"][g]["problems"], 6);
        }
        // The stage moved the weights; its start has the previous stage's final weights.
        let wc = &r["final"]["weight_change"];
        assert!(wc["overall"].as_f64().unwrap() > 0.0, "{wc}");
        for t in
            ["embeddings", "attn_q", "attn_k", "attn_v", "attn_o", "mlp_gate", "mlp_up", "mlp_down", "norms"]
        {
            assert!(wc["by_type"][t].is_number(), "{t} missing in {wc}");
        }
        if i == 0 {
            assert!(r["initial"]["weight_change"].is_null(), "the first snapshot has no predecessor");
        } else {
            assert_eq!(r["initial"]["weight_change"]["overall"], 0.0, "{r}");
        }
        assert!(r["train"]["train/acc"].is_number(), "{r}");
        // Seed 001's per-stage log beside train.log: this stage's step only.
        let log = run.join(format!("logs/ContinualCountdown_R{round}_{group}.log"));
        let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let steps: Vec<&str> = text.lines().filter(|l| l.contains(" step ")).collect();
        assert_eq!(steps.len(), 1, "{}:\n{text}", log.display());
        assert!(steps[0].contains(&format!("step {}: score", i + 1)), "{}:\n{text}", log.display());
    }
    let all = std::fs::read_to_string(run.join("train.log")).unwrap();
    assert_eq!(all.lines().filter(|l| l.contains(" step ") && l.contains(": score")).count(), 4, "{all}");
    let mut want: Vec<String> =
        order.iter().flat_map(|(r, g)| [format!("initial_{r}_{g}"), format!("final_{r}_{g}")]).collect();
    want.sort();
    assert_eq!(dir_names(&run.join("snapshots")), want);
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(run.join("snapshots/final_2_plus_minus").join(f).is_file(), "{f}");
    }

    let m = json(&run.join("metrics/success_matrix.json"));
    assert_eq!(m["groups"], serde_json::json!(["plus", "plus_minus"]));
    assert_eq!(
        m["rows"],
        serde_json::json!(["start", "R1 plus", "R1 plus_minus", "R2 plus", "R2 plus_minus"])
    );
    assert_eq!(m["steps"], serde_json::json!([0, 1, 2, 3, 4]));
    let c = json(&run.join("metrics/consolidated_metrics_tiny.json"));
    assert_eq!((c["stages_finished"].as_u64(), c["size"].as_str()), (Some(4), Some("tiny")));
    assert_eq!(c["snapshots"].as_array().unwrap().len(), 8);
    assert!(c["forgetting"]["plus"].is_number());

    // The report: line plots of the requested size, the matrix heatmap, consolidated JSON.
    let out = dir.path().join("report");
    let o = tzhost(&["report", run.to_str().unwrap(), "--out", out.to_str().unwrap(), "--size", "640x400"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for stem in ["train_acc", "val_acc", "pg_loss", "grad_norm", "response_length", "window"] {
        assert_eq!(png_size(&out.join(format!("{stem}.png"))), (640, 400), "{stem}");
    }
    let (w, h) = png_size(&out.join("success_matrix.png"));
    assert!(w >= 480 && h >= 320, "{w}x{h}");
    // The weight change per stage and layer type, and seed 001's summary figure.
    let (w, h) = png_size(&out.join("weight_change.png"));
    assert!(w >= 480 && h >= 320, "{w}x{h}");
    assert_eq!(png_size(&out.join("plots/training_metrics_tiny.png")), (3 * 640, 3 * 420 + 40));
    let text = stdout(&o);
    assert!(text.contains("weights  ") && text.contains("plots/training_metrics_tiny.png"), "{text}");
    let r = json(&out.join("consolidated_metrics.json"));
    assert_eq!(r["runs"][0]["name"], "continual");
    // Every line plot marks these stage boundaries.
    assert_eq!(
        r["runs"][0]["stage_boundaries"],
        serde_json::json!([
            [0.0, "R1 plus"],
            [1.0, "R1 plus_minus"],
            [2.0, "R2 plus"],
            [3.0, "R2 plus_minus"]
        ])
    );
    assert_eq!(r["runs"][0]["stages"]["success_matrix"]["rows"][4], "R2 plus_minus");

    // Not a run directory: one line naming it.
    let err = assert_one_line_error(&tzhost(&["report", dir.path().to_str().unwrap()]));
    assert!(err.contains("is not a run directory"), "{err}");
}

#[test]
fn random_control_fills_its_groups_from_the_mixed_pool() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("random");
    let o =
        staged_cmd(&run, "random", r#"["0","1"]"#, 1, &["--set", "stages.snapshots=final"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let m = json(&run.join("metrics/success_matrix.json"));
    assert_eq!(m["groups"], serde_json::json!(["0", "1"]));
    assert_eq!(m["rows"], serde_json::json!(["start", "R1 0", "R1 1"]));
    let r = json(&run.join("metrics/metrics_1_1_tiny.json"));
    assert_eq!(r["final"]["eval"]["0"]["problems"], 6);
    assert!(r["initial"]["snapshot"].is_null(), "snapshots = final writes no initial_*");
    // Only final snapshots.
    assert_eq!(dir_names(&run.join("snapshots")), ["final_1_0", "final_1_1"]);

    // A typo next to real groups is an error, not a random split.
    let bad =
        staged_cmd(&dir.path().join("bad"), "continual", r#"["plus","plsu"]"#, 1, &[]).output().unwrap();
    let err = assert_one_line_error(&bad);
    assert!(err.contains("group 'plsu' is not a group of task countdown"), "{err}");
}

#[test]
fn resume_after_kill_keeps_the_stage_records_of_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--set", "trainer.save_freq=1", "--set", "trainer.keep_checkpoints=10"];
    let groups = r#"["plus","plus_minus"]"#;
    let full = dir.path().join("full");
    let o = staged_cmd(&full, "continual", groups, 2, &extra).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    // Kill -9 once the second stage's checkpoint exists (after stage boundaries were written).
    let killed = dir.path().join("killed");
    let marker = killed.join("checkpoints/step_000002/trainer_state.json");
    kill_once_written(&mut staged_cmd(&killed, "continual", groups, 2, &extra), &marker, &killed);

    let o = tiny_resume(&killed);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "success_matrix.json",
        "metrics_1_plus_tiny.json",
        "metrics_2_plus_tiny.json",
        "metrics_2_plus_minus_tiny.json",
    ] {
        assert_eq!(json(&full.join("metrics").join(f)), json(&killed.join("metrics").join(f)), "{f} differs");
    }
    assert_eq!(dir_names(&full.join("snapshots")), dir_names(&killed.join("snapshots")));
}
