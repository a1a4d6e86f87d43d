//! Training on data files (`task.train_data` / `task.val_data`) and the run
//! directory's logs: TensorBoard event files and `train.log`.

mod common;
#[path = "common/events.rs"]
mod events;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    tz_testkit::testdata("")
}

/// A short tiny-model run writing to `out`.
fn train(out: &Path, curriculum: &str, extra: &[&str]) -> Output {
    tiny_train_cmd(out, "grpo", curriculum).args(SMALL_RUN).args(extra).output().unwrap()
}

/// `tzhost data gen` into `out` (countdown: 3-number problems, as the tiny model learned).
fn data_gen(out: &Path, task: &str, layout: &str, train: u32, test: u32) {
    let config = if task == "countdown" { r#"{"min_operands": 3, "max_operands": 3}"# } else { "" };
    let o = tzhost(&[
        "data",
        "gen",
        "--task",
        task,
        "--layout",
        layout,
        "--train-size",
        &train.to_string(),
        "--test-size",
        &test.to_string(),
        "--out",
        out.to_str().unwrap(),
        "--seed",
        "5",
        "--task-config",
        config,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn summary(run: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn training_on_generated_parquet_writes_tensorboard_events_and_a_plain_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    data_gen(&data, "countdown", "continual", 48, 8);
    let continual = data.join("continual");
    let run = dir.path().join("run");
    let o = train(
        &run,
        "adaptive",
        &[
            "--set",
            &format!("task.train_data={}", continual.display()),
            "--set",
            &format!("task.val_data={}", continual.display()),
            "--set",
            "trainer.total_steps=2",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // Four groups x 8 test rows, capped at eval.size = 16.
    let s = summary(&run);
    assert_eq!(
        (s["finished"].as_bool(), s["steps"].as_u64(), s["val/size"].as_u64()),
        (Some(true), Some(2), Some(16))
    );

    // The log file: the console's lines, without colour codes.
    let log = std::fs::read_to_string(run.join("train.log")).unwrap();
    assert!(log.contains("training data: 192 rows from"), "{log}");
    assert!(log.contains("held-out data: 16 rows from"), "{log}");
    assert!(log.contains("before training: val/acc"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in train.log:\n{log}");
    assert!(stderr(&o).contains("before training: val/acc"), "{}", stderr(&o));

    // TensorBoard: one scalar per metric per logged step, equal to metrics.jsonl.
    let files = events::event_files(&run);
    assert_eq!(files.len(), 1, "{files:?}");
    let events = events::read_events(&files[0]);
    assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
    let lines = metrics(&run);
    assert_eq!(events.len() - 1, lines.len(), "one event per metrics.jsonl line");
    for (e, line) in events[1..].iter().zip(&lines) {
        assert_eq!(e.step, line["step"].as_i64().unwrap());
        let numbers: Vec<(&String, f64)> = line
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "step")
            .filter_map(|(k, v)| Some((k, v.as_f64()?)))
            .collect();
        assert_eq!(e.scalars.len(), numbers.len(), "step {}", e.step);
        for (k, v) in numbers {
            let got = e
                .scalars
                .iter()
                .find(|(t, _)| t == k)
                .unwrap_or_else(|| panic!("{k} missing at step {}", e.step));
            assert_eq!(got.1, v as f32, "{k} at step {}", e.step);
        }
    }
    assert!(events[2].scalars.iter().any(|(t, _)| t == "critic/score/mean"));
}

#[test]
fn training_reads_the_tinyzero_fixture_and_stages_use_its_ungrouped_rows() {
    let fixtures = fixtures_dir();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let o = train(
        &run,
        "continual",
        &[
            "--set",
            &format!("task.train_data={}", fixtures.join("countdown-tinyzero-base-train.parquet").display()),
            "--set",
            &format!("task.val_data={}", fixtures.join("countdown-tinyzero-base-test.parquet").display()),
            "--set",
            "trainer.total_steps=1",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(&run);
    assert_eq!((s["steps"].as_u64(), s["val/size"].as_u64()), (Some(1), Some(16)));
    // The rows have no `group`: the continual plan's stages all train on them, and the user is told.
    let log = std::fs::read_to_string(run.join("train.log")).unwrap();
    assert!(log.contains("training data: 64 rows"), "{log}");
    assert!(log.contains("64 rows carry no 'group' column"), "{log}");
    let m = metrics(&run);
    assert!(m[1]["critic/score/mean"].is_number(), "{}", m[1]);
}

#[test]
fn bad_data_settings_are_one_line_errors_naming_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let quiet = |out: &Path, curriculum: &str, key: &str, value: &Path| {
        train(out, curriculum, &["--set", &format!("{key}={}", value.display()), "-q"])
    };

    // A missing file: named, and no run directory is left behind.
    let missing = dir.path().join("nope/train.parquet");
    let run = dir.path().join("r1");
    let line = assert_one_line_error(&quiet(&run, "adaptive", "task.train_data", &missing));
    assert!(
        line.contains("task.train_data")
            && line.contains("nope/train.parquet")
            && line.contains("does not exist"),
        "{line}"
    );
    assert!(!run.exists(), "a run directory was created for a failed start");

    // A directory without the expected layout.
    let line = assert_one_line_error(&quiet(&dir.path().join("r2"), "adaptive", "task.val_data", dir.path()));
    assert!(line.contains("task.val_data") && line.contains("test.parquet"), "{line}");

    // Another task's rows: the file, the row and the missing column are named.
    let data = dir.path().join("data");
    data_gen(&data, "multiplication", "single", 8, 2);
    let wrong = data.join("multiplication/train.parquet");
    let line = assert_one_line_error(&quiet(&dir.path().join("r3"), "adaptive", "task.train_data", &wrong));
    assert!(line.contains("multiplication/train.parquet: row 0") && line.contains("'target'"), "{line}");

    // Rows grouped by operators, a curriculum planning other groups.
    data_gen(&data, "countdown", "continual", 8, 2);
    let line = assert_one_line_error(&quiet(
        &dir.path().join("r4"),
        "random",
        "task.train_data",
        &data.join("continual"),
    ));
    assert!(line.contains("no rows of group '0'") && line.contains("plus, plus_minus"), "{line}");
}

#[test]
fn a_resumed_run_marks_a_restart_so_tensorboard_drops_the_lost_steps() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let o = train(
        &run,
        "adaptive",
        &[
            "--set",
            "trainer.total_steps=4",
            "--set",
            "trainer.save_freq=2",
            "--set",
            "trainer.keep_checkpoints=10",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // As if killed after step 4 but before its checkpoint: resume from step 2.
    std::fs::remove_dir_all(run.join("checkpoints/step_000004")).unwrap();
    std::fs::remove_file(run.join("summary.json")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100)); // a new file name (seconds)
    let o = tiny_resume(&run);
    assert!(o.status.success(), "{}", stderr(&o));

    let files = events::event_files(&run);
    assert_eq!(files.len(), 2, "{files:?}");
    let second = events::read_events(&files[1]);
    assert_eq!(
        (second[1].session_status, second[1].step),
        (Some(1), 3),
        "a START event at the first re-run step"
    );
    // TensorBoard's reading: a START at step s drops earlier events of steps >= s.
    let mut kept: Vec<events::Event> = Vec::new();
    for e in files.iter().flat_map(|f| events::read_events(f)) {
        if e.session_status == Some(1) {
            kept.retain(|k| k.step < e.step);
        } else if !e.scalars.is_empty() {
            kept.push(e);
        }
    }
    let score = |e: &events::Event| e.scalars.iter().find(|(t, _)| t == "critic/score/mean").map(|(_, v)| *v);
    let seen: Vec<(i64, f32)> = kept.iter().filter_map(|e| Some((e.step, score(e)?))).collect();
    let want: Vec<(i64, f32)> = metrics(&run)
        .iter()
        .filter_map(|l| Some((l["step"].as_i64()?, l["critic/score/mean"].as_f64()? as f32)))
        .collect();
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(seen, want);
    let log = std::fs::read_to_string(run.join("train.log")).unwrap();
    assert!(log.contains("resuming") && log.matches("before training").count() == 1, "{log}");
}
