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
use tz_data::commands::split::{split_random, SplitMode, SplitOptions};
use tz_data::rows::parquet_row_count;
use tz_data::{read_rows, write_parquet};
use tz_sdk::handle::Task as TaskHandle;
use tz_sdk::{FinishReason, ScoreInput};

use common::{fixture_files, run_python};

fn countdown() -> TaskHandle {
    let _ = std::any::type_name::<tz_countdown::Countdown>();
    common::task("countdown", "")
}

fn ok<T>(r: Result<T, tz_sdk::handle::CallError>) -> T {
    r.unwrap()
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
            let sample = ok(task.sample_from_row(row));
            let theirs = row["prompt"][0]["content"].as_str().unwrap();
            let ours = ok(task.prompt(&sample, template)).text;
            assert_eq!(ours.as_str(), theirs, "{}", path.display());
            // The solver finds a solution for TinyZero's rows, and it scores 1.
            let response = ok(task.reference_solution(&sample, template)).expect("solvable");
            let input = ScoreInput {
                sample: sample.clone(),
                template: template.into(),
                prompt: theirs.into(),
                response,
                finish: FinishReason::Stop,
            };
            let score = ok(task.score(std::slice::from_ref(&input))).pop().unwrap();
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
    let samples = ok(task.generate("all", 50, 1));
    let rows: Vec<Value> = samples.iter().map(|s| ok(task.sample_to_row(s, "base"))).collect();
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
    let split = split_random(Some(&task), &opts).unwrap();
    assert_eq!(split.files.len(), 8);
    assert_eq!(split.manifest.mode, SplitMode::Disjoint);
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
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!((manifest["mode"].as_str(), manifest["input_rows"].as_u64()), (Some("disjoint"), Some(64)));
    let too_many = SplitOptions { train_size: 100, ..opts };
    let err = split_random(Some(&task), &too_many).unwrap_err().to_string();
    assert!(err.contains("has 64 rows") && err.contains("120 in all"), "{err}");
}

/// Seed 000's command on a file of the size of TinyZero's train.parquet
/// (327,680 rows, written by pyarrow in TinyZero's layout): four groups of
/// 100,000 + 1,000 rows cannot be disjoint, so the groups share training
/// rows, but no test row is in any training set and no group has a row twice.
#[test]
fn split_random_of_tinyzero_sized_data_overlaps_groups_but_holds_tests_out() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("train.parquet");
    run_python(
        r#"
import sys, pyarrow as pa, pyarrow.parquet as pq
n = 327680
nums = [[1 + i % 97, 2 + (i // 97) % 89, 3 + (i // 8633) % 50] for i in range(n)]
target = [10 + i % 90 for i in range(n)]
prompt = [[{"content": f"Using the numbers {u}, create an equation that equals {t}. ({i})", "role": "user"}] for i, (u, t) in enumerate(zip(nums, target))]
table = pa.table({
    "target": target, "nums": nums, "data_source": ["countdown"] * n, "prompt": prompt, "ability": ["math"] * n,
    "reward_model": [{"ground_truth": {"numbers": u, "target": t}, "style": "rule"} for u, t in zip(nums, target)],
    "extra_info": [{"index": i, "split": "train"} for i in range(n)],
})
pq.write_table(table, sys.argv[1])
"#,
        &[input.to_str().unwrap()],
    );
    let task = countdown();
    let out = dir.path().join("random");
    let opts = SplitOptions {
        input,
        groups: 4,
        train_size: 100_000,
        test_size: 1_000,
        out: out.clone(),
        seed: 0,
        progress: false,
    };
    let split = split_random(Some(&task), &opts).unwrap();
    let m = &split.manifest;
    assert_eq!((m.mode, m.input_rows, m.train_pool_rows), (SplitMode::Overlapping, 327_680, 323_680));
    assert!(split.manifest.describe().contains("too few for 4 disjoint groups"), "{}", m.describe());
    // The row's identity: the number TinyZero-layout prompts end with.
    let id = |row: &Value| row["prompt"][0]["content"].as_str().unwrap().to_string();
    let mut tests = HashSet::new();
    let mut trains = Vec::new();
    for g in 0..4 {
        let test = read_rows(&out.join(format!("{g}/test.parquet"))).unwrap();
        let train = read_rows(&out.join(format!("{g}/train.parquet"))).unwrap();
        assert_eq!((train.len(), test.len()), (100_000, 1_000));
        assert_eq!(
            (train[5]["group"].as_str(), test[5]["extra_info"]["split"].as_str()),
            (Some(&*g.to_string()), Some("test"))
        );
        for row in &test {
            assert!(tests.insert(id(row)), "test sets are disjoint");
        }
        let own: HashSet<String> = train.iter().map(id).collect();
        assert_eq!(own.len(), 100_000, "no row twice in one group");
        trains.push(own);
    }
    for (g, own) in trains.iter().enumerate() {
        assert!(own.is_disjoint(&tests), "group {g}: a test row is in a training set");
    }
    let shared = trains[0].intersection(&trains[1]).count();
    assert_eq!(m.shared_train_rows[0], (0, 1, shared));
    assert!(shared > 20_000 && shared < 40_000, "independent draws share about 100k²/323,680 rows: {shared}");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&split.manifest_path).unwrap()).unwrap();
    assert_eq!(manifest["mode"], "overlapping");
    assert_eq!(manifest["test_rows_held_out"], true);
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
    // The format score is f32 0.1, written as the decimal 0.1 (not 0.10000000149011612).
    assert_eq!(scores, [1.0, 0.1, 0.0, 1.0, 0.0]);
    assert_eq!(results[0]["reason"], "correct");
    assert_eq!(results[3]["line"], 7);
    assert_eq!(summary.lines, 5);
    assert!((summary.accuracy - 0.4).abs() < 1e-9);

    // Rows of a parquet by index, with the row's prompt as the prompt.
    let parquet = common::fixtures_dir().join("countdown-tinyzero-base-test.parquet");
    let rows = read_rows(&parquet).unwrap();
    let sample = ok(task.sample_from_row(&rows[3]));
    let answer = ok(task.reference_solution(&sample, "base")).unwrap();
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
