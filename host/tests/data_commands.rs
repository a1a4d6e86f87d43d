//! `tzhost data gen|split-random|show` and `tzhost reward` through the real
//! binary, with the task plugins built beside it (issue 4).

mod common;

use std::path::PathBuf;

use common::*;

fn fixture(name: &str) -> PathBuf {
    tz_testkit::testdata(name)
}

fn count_rows(path: &std::path::Path) -> usize {
    let o = tzhost(&["data", "show", path.to_str().unwrap(), "--rows", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let line = text.lines().find(|l| l.starts_with("rows: ")).unwrap();
    line["rows: ".len()..].parse().unwrap()
}

#[test]
fn data_gen_writes_the_continual_layout() {
    library("tz_countdown");
    let out = tempfile::tempdir().unwrap();
    let o = tzhost(&[
        "data",
        "gen",
        "--task",
        "countdown",
        "--layout",
        "continual",
        "--train-size",
        "200",
        "--test-size",
        "20",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 8);
    for group in ["plus", "plus_minus", "plus_minus_mul", "plus_minus_mul_div"] {
        let dir = out.path().join("continual").join(group);
        assert_eq!(count_rows(&dir.join("train.parquet")), 200);
        assert_eq!(count_rows(&dir.join("test.parquet")), 20);
    }
    let o = tzhost(&[
        "data",
        "gen",
        "--layout",
        "single",
        "--train-size",
        "30",
        "--test-size",
        "5",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(count_rows(&out.path().join("countdown/train.parquet")), 30);
}

#[test]
fn data_gen_errors_are_one_line() {
    library("tz_math");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let line = assert_one_line_error(&tzhost(&["data", "gen", "--task", "math", "--out", dir]));
    assert!(line.contains("no generator"), "{line}");
    let line = assert_one_line_error(&tzhost(&[
        "data",
        "gen",
        "--task-config",
        "{\"max_operands\": 9}",
        "--out",
        dir,
    ]));
    assert!(line.contains("max_operands"), "{line}");
    let o = tzhost(&["data", "gen", "--layout", "spiral", "--out", dir]);
    assert!(!o.status.success() && stderr(&o).contains("unknown layout 'spiral'"), "{}", stderr(&o));
}

#[test]
fn data_show_and_split_random_on_a_tinyzero_file() {
    library("tz_countdown");
    let input = fixture("countdown-tinyzero-base-train.parquet");
    let o = tzhost(&["data", "show", input.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("rows: 64") && text.contains("  target: int64") && text.contains("first 3 rows:"),
        "{text}"
    );

    let out = tempfile::tempdir().unwrap();
    let o = tzhost(&[
        "data",
        "split-random",
        "--input",
        input.to_str().unwrap(),
        "--groups",
        "4",
        "--train-size",
        "12",
        "--test-size",
        "3",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for g in 0..4 {
        assert_eq!(count_rows(&out.path().join(g.to_string()).join("train.parquet")), 12);
        assert_eq!(count_rows(&out.path().join(g.to_string()).join("test.parquet")), 3);
    }
    assert!(stderr(&o).contains("4 disjoint groups of 12 train + 3 test rows"), "{}", stderr(&o));
    // Too few rows for disjoint groups: they share training rows, and say so.
    let shared = out.path().join("shared");
    let o = tzhost(&[
        "data",
        "split-random",
        "--input",
        input.to_str().unwrap(),
        "--train-size",
        "20",
        "--test-size",
        "3",
        "--out",
        shared.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("too few for 4 disjoint groups"), "{}", stderr(&o));
    let manifest = std::fs::read_to_string(shared.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"mode\": \"overlapping\""), "{manifest}");
    assert_eq!(count_rows(&shared.join("3/train.parquet")), 20);
    let line = assert_one_line_error(&tzhost(&["data", "show", "/no/such/file.parquet"]));
    assert!(line.contains("does not exist"), "{line}");
}

/// TinyZero's format score is the Python float 0.1; ours is f32 0.1, which
/// widened to f64 would print as 0.10000000149011612 and mismatch on every
/// format-score line of a diff against another stack.
#[test]
fn reward_prints_a_format_score_as_0_1() {
    library("tz_countdown");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("one.jsonl");
    let line = r#"{"ground_truth": {"target": 49, "numbers": [12, 7, 30]}, "response": "Assistant: </think>\n<answer> 30 + 12 </answer>"}"#;
    std::fs::write(&input, format!("{line}\n")).unwrap();
    let o = tzhost(&["reward", "--task", "countdown", "--data", input.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(r#""score":0.1,"#), "{out}");
    assert!(!out.contains("0.1000000"), "{out}");
}

#[test]
fn reward_scores_a_jsonl_file() {
    library("tz_countdown");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("responses.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"ground_truth": {"target": 49, "numbers": [12, 7, 30]}, "response": "Assistant: </think>\n<answer> 30 + 12 + 7 </answer>"}"#, "\n",
            r#"{"ground_truth": {"target": 49, "numbers": [12, 7, 30]}, "response": "Assistant: </think>\n<answer> 30 + 12 </answer>"}"#, "\n",
            r#"{"ground_truth": {"target": 49, "numbers": [12, 7, 30]}, "response": "30+12+7", "template": "compact"}"#, "\n",
        ),
    )
    .unwrap();
    let o = tzhost(&["reward", "--task", "countdown", "--data", input.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let results: Vec<serde_json::Value> =
        stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let scores: Vec<f64> = results.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert_eq!(scores, [1.0, 0.1, 1.0]);
    assert_eq!(results[1]["reason"], "numbers differ from [12, 7, 30]");
    assert!(stderr(&o).contains("scored 3 lines"), "{}", stderr(&o));

    // binary format_score 0 via the task config, written to a file.
    let out = dir.path().join("scores.jsonl");
    let o = tzhost(&[
        "reward",
        "--data",
        input.to_str().unwrap(),
        "--task-config",
        "{\"format_score\": 0.0}",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&out).unwrap().lines().nth(1).unwrap().contains("\"score\":0.0"));

    std::fs::write(&input, "{\"response\": \"x\"}\n").unwrap();
    let line = assert_one_line_error(&tzhost(&["reward", "--data", input.to_str().unwrap()]));
    assert!(line.contains("responses.jsonl:1: no 'ground_truth'"), "{line}");
}
