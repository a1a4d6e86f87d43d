//! tz-data with the countdown task: the Python-written fixtures load, files
//! we write load in pyarrow with the fixtures' types, and the data and
//! reward commands do what they say.

mod common;

use std::collections::HashSet;
use std::path::Path;

use serde_json::{json, Value};
use tz_data::commands::gen::{generate, GenOptions, Layout};
use tz_data::commands::reward::score_lines;
use tz_data::commands::show::show;
use tz_data::commands::split::{split_random, SplitOptions};
use tz_data::rows::parquet_row_count;
use tz_data::{read_rows, write_parquet};
use tz_sdk::ffi::TaskBox;
use tz_sdk::{FinishReason, ScoreInput};

use common::{fixture_files, run_python};

fn countdown() -> TaskBox {
    let _ = std::any::type_name::<tz_countdown::Countdown>();
    common::task("countdown", "")
}

fn ok<T>(r: abi_stable::std_types::RResult<T, abi_stable::std_types::RString>) -> T {
    r.into_result().unwrap()
}

#[test]
fn every_fixture_loads_and_its_prompts_are_our_templates_verbatim() {
    let task = countdown();
    for path in fixture_files() {
        let rows = read_rows(&path).unwrap();
        assert_eq!(rows.len() as u64, parquet_row_count(&path).unwrap());
        assert!(rows.len() >= 16, "{}", path.display());
        let template = if path.to_string_lossy().contains("instruct") { "qwen-instruct" } else { "base" };
        for row in &rows {
            let sample = ok(task.sample_from_row(row.to_string().as_str().into()));
            let theirs = row["prompt"][0]["content"].as_str().unwrap();
            let ours = ok(task.prompt(&sample, template.into())).text;
            assert_eq!(ours.as_str(), theirs, "{}", path.display());
            // The solver finds a solution for TinyZero's rows, and it scores 1.
            let response = ok(task.reference_solution(&sample, template.into())).expect("solvable");
            let input = ScoreInput {
                sample: sample.clone(),
                template: template.into(),
                prompt: theirs.into(),
                response,
                finish: FinishReason::Stop,
            };
            let score = ok(task.score(std::slice::from_ref(&input).into())).pop().unwrap();
            assert_eq!(score.reward, 1.0, "{score:?} {row}");
        }
    }
}

const COMPARE_TYPES: &str = r#"
import sys, pyarrow.parquet as pq
ours = pq.read_table(sys.argv[1]).schema
ref = pq.read_table(sys.argv[2]).schema
assert ours.names[:len(ref.names)] == ref.names, (ours.names, ref.names)
for f in ref:
    assert ours.field(f.name).type == f.type, (f.name, ours.field(f.name).type, f.type)
extra = {f.name: str(f.type) for f in ours if f.name not in ref.names}
print(extra)
"#;

#[test]
fn files_we_write_load_in_pyarrow_with_the_fixture_column_types() {
    let task = countdown();
    let dir = tempfile::tempdir().unwrap();
    let samples = ok(task.generate("all".into(), 50, 1));
    let rows: Vec<Value> = samples
        .iter()
        .map(|s| serde_json::from_str(&ok(task.sample_to_row(s, "base".into()))).unwrap())
        .collect();
    let ours = dir.path().join("ours.parquet");
    write_parquet(&ours, &rows).unwrap();
    for fixture in fixture_files() {
        let extra = run_python(COMPARE_TYPES, &[ours.to_str().unwrap(), fixture.to_str().unwrap()]);
        assert_eq!(extra.trim(), "{'group': 'string', 'difficulty': 'int64'}");
    }
}

#[test]
fn fixture_rows_survive_our_writer_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    for fixture in fixture_files() {
        let copy = dir.path().join("copy.parquet");
        write_parquet(&copy, &read_rows(&fixture).unwrap()).unwrap();
        let same = run_python(
            "import sys, pyarrow.parquet as pq\na, b = pq.read_table(sys.argv[1]), pq.read_table(sys.argv[2])\n\
             print(a.to_pylist() == b.to_pylist() and a.schema.types == b.schema.types)",
            &[copy.to_str().unwrap(), fixture.to_str().unwrap()],
        );
        assert_eq!(same.trim(), "True", "{}", fixture.display());
    }
}

fn gen_options(out: &Path, layout: Layout, seed: u64) -> GenOptions {
    GenOptions {
        task_name: "countdown".into(),
        layout,
        train_size: 300,
        test_size: 40,
        out: out.to_path_buf(),
        seed,
        template: None,
        progress: false,
    }
}

fn prompts(rows: &[Value]) -> HashSet<String> {
    rows.iter().map(|r| r["prompt"].to_string()).collect()
}

#[test]
fn data_gen_continual_writes_every_group_reproducibly() {
    let task = countdown();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let written = generate(&task, &gen_options(a.path(), Layout::Continual, 7)).unwrap();
    generate(&task, &gen_options(b.path(), Layout::Continual, 7)).unwrap();
    assert_eq!(written.len(), 8);
    for group in ["plus", "plus_minus", "plus_minus_mul", "plus_minus_mul_div"] {
        let dir = a.path().join("continual").join(group);
        let train = read_rows(&dir.join("train.parquet")).unwrap();
        let test = read_rows(&dir.join("test.parquet")).unwrap();
        assert_eq!((train.len(), test.len()), (300, 40));
        for (split, rows) in [("train", &train), ("test", &test)] {
            for (i, row) in rows.iter().enumerate() {
                assert_eq!(row["group"], group);
                assert_eq!(row["extra_info"], json!({"split": split, "index": i}));
                assert_eq!(
                    row["difficulty"].as_u64().unwrap() as usize,
                    row["nums"].as_array().unwrap().len()
                );
                assert_eq!(row["data_source"], "countdown");
            }
        }
        assert!(prompts(&train).is_disjoint(&prompts(&test)), "{group}: test rows also in train");
        let again = read_rows(&b.path().join("continual").join(group).join("train.parquet")).unwrap();
        assert_eq!(again, train, "same seed, same data");
    }
    let other = tempfile::tempdir().unwrap();
    let mut opts = gen_options(other.path(), Layout::Continual, 8);
    opts.train_size = 20;
    generate(&task, &opts).unwrap();
    let first = read_rows(&a.path().join("continual/plus/train.parquet")).unwrap();
    let changed = read_rows(&other.path().join("continual/plus/train.parquet")).unwrap();
    assert_ne!(first[..20], changed[..]);
}

#[test]
fn data_gen_single_mixes_groups_and_takes_a_template() {
    let task = countdown();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = gen_options(dir.path(), Layout::Single, 3);
    opts.template = Some("compact".into());
    generate(&task, &opts).unwrap();
    let train = read_rows(&dir.path().join("countdown/train.parquet")).unwrap();
    let groups: HashSet<&str> = train.iter().map(|r| r["group"].as_str().unwrap()).collect();
    assert_eq!(groups.len(), 4, "{groups:?}");
    let content = train[0]["prompt"][0]["content"].as_str().unwrap();
    assert!(content.ends_with(':') && content.contains('>'), "{content}");
    opts.template = Some("fancy".into());
    let err = generate(&task, &opts).unwrap_err().to_string();
    assert!(err.contains("no template 'fancy'"), "{err}");
}

#[test]
fn split_random_makes_disjoint_random_groups() {
    let task = countdown();
    let dir = tempfile::tempdir().unwrap();
    let input = common::fixtures_dir().join("countdown-tinyzero-base-train.parquet");
    let opts = SplitOptions {
        input: input.clone(),
        groups: 4,
        train_size: 10,
        test_size: 5,
        out: dir.path().to_path_buf(),
        seed: 0,
        progress: false,
    };
    let written = split_random(Some(&task), &opts).unwrap();
    assert_eq!(written.len(), 8);
    let source: Vec<Value> = read_rows(&input).unwrap();
    let mut seen = HashSet::new();
    for g in 0..4 {
        for (split, n) in [("train", 10), ("test", 5)] {
            let rows = read_rows(&dir.path().join(g.to_string()).join(format!("{split}.parquet"))).unwrap();
            assert_eq!(rows.len(), n);
            for row in rows {
                assert_eq!(row["group"], g.to_string());
                assert_eq!(
                    row["difficulty"].as_u64().unwrap() as usize,
                    row["nums"].as_array().unwrap().len()
                );
                assert!(seen.insert(row["prompt"].to_string()), "a row was used twice");
                assert!(source.iter().any(|s| s["prompt"] == row["prompt"] && s["target"] == row["target"]));
            }
        }
    }
    let too_many = SplitOptions { train_size: 100, ..opts };
    let err = split_random(Some(&task), &too_many).unwrap_err().to_string();
    assert!(err.contains("has 64 rows") && err.contains("need 420"), "{err}");
}

#[test]
fn show_prints_schema_count_and_rows() {
    let path = common::fixtures_dir().join("countdown-tinyzero-base-test.parquet");
    let text = show(&path, 2).unwrap();
    assert!(text.contains("rows: 16"), "{text}");
    assert!(text.contains("  target: int64\n"), "{text}");
    assert!(text.contains("  extra_info: struct<split: string, index: int64>\n"), "{text}");
    assert!(text.contains("first 2 rows:") && text.contains("[1] {\"target\": "), "{text}");
    assert!(text.contains("chars)"), "long prompts are shortened: {text}");
}

#[test]
fn reward_command_scores_lines_and_joins_with_parquet() {
    let task = countdown();
    let truth = json!({"target": 49, "numbers": [12, 7, 30]});
    let mut input = Vec::new();
    for (response, prompt) in [
        ("Assistant: ok </think>\n<answer> 30 + 12 + 7 </answer>", None),
        ("Assistant: ok </think>\n<answer> 30 + 12 - 7 </answer>", None),
        ("Assistant: no idea", None),
        (
            " </think>\n<answer> 30 + 12 + 7 </answer>",
            Some("...\nAssistant: Let me solve this step by step.\n<think>"),
        ),
    ] {
        let mut line = json!({"ground_truth": truth, "response": response});
        if let Some(p) = prompt {
            line["prompt"] = p.into();
        }
        input.extend(line.to_string().bytes());
        input.extend(b"\n\n");
    }
    // Bytes that are not UTF-8 inside a response are replaced, not fatal.
    input.extend(
        b"{\"ground_truth\": {\"target\": 1, \"numbers\": [1]}, \"response\": \"Assistant: \xff\xfe\"}\n",
    );
    let mut out = Vec::new();
    let summary =
        score_lines(&task, &mut input.as_slice(), "in.jsonl", None, "base", &mut out, false).unwrap();
    let results: Vec<Value> =
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let scores: Vec<f64> = results.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert_eq!(scores, [1.0, 0.10000000149011612, 0.0, 1.0, 0.0]);
    assert_eq!(results[0]["reason"], "correct");
    assert_eq!(results[3]["line"], 7);
    assert_eq!(summary.lines, 5);
    assert!((summary.accuracy - 0.4).abs() < 1e-9);

    // Rows of a parquet by index, with the row's prompt as the prompt.
    let parquet = common::fixtures_dir().join("countdown-tinyzero-base-test.parquet");
    let rows = read_rows(&parquet).unwrap();
    let sample = ok(task.sample_from_row(rows[3].to_string().as_str().into()));
    let answer = ok(task.reference_solution(&sample, "base".into())).unwrap();
    let line = json!({"index": 3, "response": answer}).to_string();
    let mut out = Vec::new();
    score_lines(&task, &mut line.as_bytes(), "in.jsonl", Some(&parquet), "base", &mut out, false).unwrap();
    assert!(String::from_utf8(out).unwrap().contains("\"score\":1.0"));
}

#[test]
fn reward_command_errors_name_the_line_and_empty_input_is_empty() {
    let task = countdown();
    let mut out = Vec::new();
    let summary = score_lines(&task, &mut "".as_bytes(), "in.jsonl", None, "base", &mut out, false).unwrap();
    assert_eq!((summary.lines, out.len()), (0, 0));
    let bad = "{\"ground_truth\": {\"target\": 1, \"numbers\": [1]}, \"response\": \"x\"}\n\nnot json\n";
    let err = format!(
        "{:#}",
        score_lines(&task, &mut bad.as_bytes(), "in.jsonl", None, "base", &mut out, false).unwrap_err()
    );
    assert!(err.contains("in.jsonl:3: not valid JSON"), "{err}");
    let no_truth = "{\"response\": \"x\"}\n";
    let err = format!(
        "{:#}",
        score_lines(&task, &mut no_truth.as_bytes(), "in.jsonl", None, "base", &mut out, false).unwrap_err()
    );
    assert!(err.contains("in.jsonl:1: no 'ground_truth'"), "{err}");
}
