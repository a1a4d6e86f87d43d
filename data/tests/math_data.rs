//! tz-data with the math task: the JSONL example and parquet round trips.

mod common;

use std::path::PathBuf;

use serde_json::Value;
use tz_data::{read_rows, write_parquet};

#[test]
fn math_rows_from_jsonl_survive_a_parquet_round_trip() {
    let _ = std::any::type_name::<tz_math::Math>();
    let task = common::task("math", "");
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/data/dummy_math_tasks.jsonl");
    let rows = read_rows(&example).unwrap();
    assert_eq!(rows.len(), 16);
    let samples: Vec<_> = rows
        .iter()
        .map(|r| task.sample_from_row(r.to_string().as_str().into()).into_result().unwrap())
        .collect();
    let written: Vec<Value> = samples
        .iter()
        .map(|s| serde_json::from_str(&task.sample_to_row(s, "chat".into()).into_result().unwrap()).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("math.parquet");
    write_parquet(&path, &written).unwrap();
    let back = read_rows(&path).unwrap();
    for (row, sample) in back.iter().zip(&samples) {
        let again = task.sample_from_row(row.to_string().as_str().into()).into_result().unwrap();
        assert_eq!(&again, sample);
    }
    let types = common::run_python(
        "import sys, pyarrow.parquet as pq\nprint([str(f.type) for f in pq.read_table(sys.argv[1]).schema])",
        &[path.to_str().unwrap()],
    );
    assert!(types.contains("'list<item: struct<role: string, content: string>>'"), "{types}");
    assert!(types.contains("'struct<style: string, ground_truth: string>'"), "{types}");
}
