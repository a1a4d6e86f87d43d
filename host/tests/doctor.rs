//! `tzhost doctor` (issue 7): one line per check, a fix with every failure,
//! and a non-zero exit when anything fails.

mod common;

use common::*;

fn fixture(name: &str) -> std::path::PathBuf {
    tz_testkit::testdata(name)
}

/// Every output line is one check: a status, a name, a detail.
fn lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| !l.trim().is_empty()).collect()
}

#[test]
fn a_working_setup_passes_with_one_line_per_check() {
    let o = tzhost(&[
        "doctor",
        "--data",
        fixture("countdown-tinyzero-base-test.parquet").to_str().unwrap(),
        "--task",
        "countdown",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    let lines = lines(&out);
    assert_eq!(lines.last(), Some(&"all checks passed"));
    for l in &lines[..lines.len() - 1] {
        assert!(["ok    ", "skip  ", "warn  "].iter().any(|s| l.starts_with(s)), "unexpected line: {l}");
    }
    for name in [
        "libtorch:",
        "libtorch ops:",
        "cuda library:",
        "cuda devices:",
        "plugins:",
        "data countdown-tinyzero-base-test.parquet:",
    ] {
        assert!(lines.iter().any(|l| l[6..].starts_with(name)), "no '{name}' check in:\n{out}");
    }
    let data = lines.iter().find(|l| l.contains("data countdown-tinyzero")).unwrap();
    assert!(data.contains("16 rows") && data.contains("countdown samples"), "{data}");
    assert!(lines.iter().any(|l| l.contains("libtz_countdown")), "{out}");
}

#[test]
fn failures_name_the_fix_and_make_the_exit_status_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let rows = dir.path().join("rows.jsonl");
    std::fs::write(&rows, "{\"question\": \"What is 2 + 2?\", \"answer\": \"4\"}\n").unwrap();
    let o = tzhost(&[
        "doctor",
        "--data",
        rows.to_str().unwrap(),
        "--task",
        "countdown",
        "--model",
        dir.path().join("nope").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let out = stdout(&o);
    let fails: Vec<&str> = lines(&out).into_iter().filter(|l| l.starts_with("FAIL  ")).collect();
    assert_eq!(fails.len(), 2, "{out}");
    assert!(fails.iter().all(|l| l.contains("; fix: ")), "{out}");
    assert!(fails.iter().any(|l| l.contains("model files") && l.contains("does not exist")), "{out}");
    assert!(
        fails.iter().any(|l| l.contains("rows.jsonl") && l.contains("row 0 is not a countdown sample")),
        "{out}"
    );
    assert_eq!(stderr(&o).trim(), "error: 2 checks failed");
}

#[test]
fn a_config_is_checked_against_the_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("run.toml");
    std::fs::write(&cfg, "[algorithm]\nchain = [\"grpo\"]\n[algorithm.plugins.grpo]\nkl_coef = \"high\"\n")
        .unwrap();
    let o = tzhost(&["doctor", "--config", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    let out = stdout(&o);
    let line = lines(&out).into_iter().find(|l| l.contains("config ")).unwrap();
    assert!(line.starts_with("FAIL") && line.contains("kl_coef"), "{line}");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/tiny/countdown.toml");
    let o = tzhost(&["doctor", "--config", shipped.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stdout(&o));
}

/// Training refuses a data file without rows; the doctor must not pass it.
#[test]
fn a_parquet_with_no_rows_fails_the_data_check() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ArrowWriter;
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.parquet");
    // The fixture's schema (countdown columns), zero rows.
    let source = std::fs::File::open(fixture("countdown-tinyzero-base-test.parquet")).unwrap();
    let schema = ParquetRecordBatchReaderBuilder::try_new(source).unwrap().schema().clone();
    ArrowWriter::try_new(std::fs::File::create(&empty).unwrap(), schema, None).unwrap().close().unwrap();

    let o = tzhost(&["doctor", "--data", empty.to_str().unwrap(), "--task", "countdown"]);
    assert!(!o.status.success());
    let out = stdout(&o);
    let line = lines(&out).into_iter().find(|l| l.contains("data empty.parquet")).unwrap();
    assert!(line.starts_with("FAIL") && line.contains("has no rows"), "{line}");
}
