//! `tzhost eval` end to end on the tiny model (short warm start): figures
//! on a parquet made by `tzhost data gen` and on generated problems, their
//! consistency with the per-response records, and the one-line errors.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// `tzhost eval -q …` on the tiny model: `-q` keeps the warm start's info
/// lines (when this binary is the first to need the tiny model) out of the
/// one-line errors the tests check.
fn eval(args: &[&str]) -> std::process::Output {
    let cache = tiny_cache_dir();
    let mut all = vec!["eval", "-q", "--device", "cpu", "--tiny-sft-steps", "30", "--no-progress"];
    all.extend_from_slice(args);
    tzhost_env(&all, &[("TZ_CACHE_DIR", cache.to_str().unwrap())])
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// 1 - C(n-c, k)/C(n, k) from exact binomials (independent of the host's product form).
fn pass_at_k_exact(n: u64, c: u64, k: u64) -> f64 {
    let binomial = |n: u64, k: u64| -> f64 {
        if k > n {
            return 0.0;
        }
        (0..k).fold(1u128, |acc, i| acc * (n - i) as u128 / (i + 1) as u128) as f64
    };
    1.0 - binomial(n - c, k) / binomial(n, k)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn eval_on_a_generated_parquet_writes_consistent_figures() {
    let dir = tempfile::tempdir().unwrap();
    let gen = tzhost(&[
        "data",
        "gen",
        "--task",
        "countdown",
        "--task-config",
        r#"{"min_operands": 3, "max_operands": 4}"#,
        "--layout",
        "single",
        "--train-size",
        "2",
        "--test-size",
        "24",
        "--template",
        "compact",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(gen.status.success(), "{}", stderr(&gen));
    let data = dir.path().join("countdown/test.parquet");
    let out = dir.path().join("eval.json");
    let responses = dir.path().join("responses.jsonl");
    let o = eval(&[
        "--task",
        "countdown",
        "--data",
        data.to_str().unwrap(),
        "--samples",
        "4",
        "--temperature",
        "1.0",
        "--batch-prompts",
        "10",
        "--out",
        out.to_str().unwrap(),
        "--responses",
        responses.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    for row in ["mean@4", "pass@1", "pass@2", "pass@4", "maj@4", "truncated fraction", "difficulty", "group"]
    {
        assert!(table.contains(row), "{row} missing from the table:\n{table}");
    }

    let r = read_json(&out);
    assert_eq!(r["problems"], 24);
    assert_eq!(r["samples"], 4);
    assert_eq!(r["template"], "compact");
    let m = &r["metrics"];
    let get = |key: &str| m[key].as_f64().unwrap_or_else(|| panic!("{key} missing from {m}"));
    for key in ["mean@4", "pass@1", "pass@2", "pass@4", "maj@4", "response_length/mean", "truncated_fraction"]
    {
        let v = get(key);
        assert!(v.is_finite() && v >= 0.0, "{key} = {v}");
    }
    assert!(close(get("pass@1"), get("mean@4")), "pass@1 is mean@k");
    assert!(get("pass@1") <= get("pass@2") && get("pass@2") <= get("pass@4"), "pass@k grows with k: {m}");
    assert!(get("truncated_fraction") <= 1.0 && get("maj@4") <= 1.0);

    // Buckets cover every problem once.
    let bucket_total = |by: &str| -> u64 {
        r[by].as_object().unwrap().values().map(|b| b["problems"].as_u64().unwrap()).sum()
    };
    assert_eq!(bucket_total("by_difficulty"), 24);
    assert_eq!(bucket_total("by_group"), 24);
    let difficulties: Vec<&String> = r["by_difficulty"].as_object().unwrap().keys().collect();
    assert!(difficulties.iter().all(|d| *d == "3" || *d == "4"), "{difficulties:?}");

    // Rewards (f32) are written as their shortest decimals.
    assert_no_widened_f32(&std::fs::read_to_string(&responses).unwrap(), "responses JSONL");
    // The figures agree with the per-response records.
    let lines: Vec<Value> = std::fs::read_to_string(&responses)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 24);
    let (mut pass2, mut pass4, mut mean, mut tokens, mut truncated) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for line in &lines {
        let rs = line["responses"].as_array().unwrap();
        assert_eq!(rs.len(), 4);
        let c = rs.iter().filter(|x| x["correct"] == true).count() as u64;
        mean += c as f64 / 4.0;
        pass2 += pass_at_k_exact(4, c, 2);
        pass4 += pass_at_k_exact(4, c, 4);
        for x in rs {
            tokens += x["tokens"].as_f64().unwrap();
            truncated += (x["finish"] == "length") as u8 as f64;
            assert!(x["tokens"].as_u64().unwrap() <= 24, "the tiny recipe's 24-token limit");
        }
    }
    assert!(close(get("mean@4"), mean / 24.0));
    assert!(close(get("pass@2"), pass2 / 24.0));
    assert!(close(get("pass@4"), pass4 / 24.0));
    assert!(close(get("response_length/mean"), tokens / 96.0));
    assert!(close(get("truncated_fraction"), truncated / 96.0));
}

#[test]
fn eval_without_data_uses_generated_held_out_problems() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested/eval.json");
    let o = eval(&["--size", "8", "--samples", "2", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = read_json(&out);
    assert_eq!(r["problems"], 8);
    assert_eq!(r["problem_seed"], 1);
    assert_eq!(r["data"], Value::Null);
    assert!(r["metrics"]["pass@2"].is_number() && r["metrics"]["maj@2"].is_number());
    assert_no_widened_f32(&std::fs::read_to_string(&out).unwrap(), "eval JSON");
    // The tiny model's problems: three numbers each, spread over the groups.
    assert_eq!(r["by_difficulty"].as_object().unwrap().keys().collect::<Vec<_>>(), ["3"]);
    assert!(r["by_group"].as_object().unwrap().len() >= 2, "{}", r["by_group"]);
}

#[test]
fn eval_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.parquet");
    let e = assert_one_line_error(&eval(&["--data", missing.to_str().unwrap()]));
    assert!(e.contains("nope.parquet") && e.contains("does not exist"), "{e}");

    let no_model = dir.path().join("no-such-model");
    let e = assert_one_line_error(&eval(&["--model", no_model.to_str().unwrap(), "--size", "2"]));
    assert!(e.contains("no-such-model") && e.contains("does not exist"), "{e}");

    let e = assert_one_line_error(&eval(&["--samples", "0"]));
    assert!(e.contains("--samples"), "{e}");

    let not_parquet = dir.path().join("bad.parquet");
    std::fs::write(&not_parquet, "not a parquet file").unwrap();
    let e = assert_one_line_error(&eval(&["--data", not_parquet.to_str().unwrap()]));
    assert!(e.contains("bad.parquet"), "{e}");

    let e = assert_one_line_error(&eval(&["--size", "2", "--template", "nope"]));
    assert!(e.contains("nope") && e.contains("compact"), "{e}");
}

#[test]
fn eval_out_into_an_existing_directory_is_refused_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("results");
    std::fs::create_dir(&existing).unwrap();
    let e =
        assert_one_line_error(&eval(&["--size", "2", "--samples", "1", "--out", existing.to_str().unwrap()]));
    assert!(e.contains("--out") && e.contains("is a directory"), "{e}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["results"], "no temporary file beside the directory");
}
