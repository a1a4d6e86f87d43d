//! tz-data with the multiplication task: TinyZero's arithmetic layout.

mod common;

use tz_data::commands::gen::{generate, GenOptions, Layout};
use tz_data::read_rows;

#[test]
fn generated_multiplication_files_have_tinyzero_arith_columns() {
    let _ = std::any::type_name::<tz_multiplication::Multiplication>();
    let task = common::task("multiplication", "");
    let dir = tempfile::tempdir().unwrap();
    let opts = GenOptions {
        task_name: "multiplication".into(),
        layout: Layout::Single,
        train_size: 200,
        test_size: 20,
        out: dir.path().to_path_buf(),
        seed: 1,
        template: None,
        progress: false,
    };
    generate(&task, &opts).unwrap();
    let path = dir.path().join("multiplication/train.parquet");
    let rows = read_rows(&path).unwrap();
    assert_eq!(rows.len(), 200);
    for row in &rows {
        let product = row["num1"].as_i64().unwrap() * row["num2"].as_i64().unwrap();
        assert_eq!(row["result"], product);
        assert_eq!(row["reward_model"]["ground_truth"], product);
    }
    let schema = common::run_python(
        "import sys, pyarrow.parquet as pq\nprint(', '.join(f'{f.name}: {f.type}' for f in pq.read_table(sys.argv[1]).schema))",
        &[path.to_str().unwrap()],
    );
    assert_eq!(
        schema.trim(),
        "num1: int64, num2: int64, result: int64, operation: string, data_source: string, \
         prompt: list<item: struct<role: string, content: string>>, ability: string, \
         reward_model: struct<style: string, ground_truth: int64>, extra_info: struct<split: string, index: int64>, \
         group: string, difficulty: int64"
    );
}
