//! `--data FILE`: a parquet or JSONL data file matches a task: its rows
//! parse as the task's samples and their prompts render.

use std::path::Path;

use serde_json::Value;

use super::Check;
use crate::error::{decode, DoctorError, Result};
use tz_plugin_host::{Registry, TracingHost};

/// Rows checked (from the start of the file).
pub const ROWS_CHECKED: usize = 64;

pub fn check(path: &Path, task: &str, template: Option<&str>, registry: &Registry) -> Vec<Check> {
    let name = format!("data {}", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
    let (total, columns, rows) = match read_head(path, ROWS_CHECKED) {
        Ok(r) => r,
        Err(e) => {
            return vec![Check::fail(
            name,
            format!("{e:#}"),
            "give a parquet file (as written by HF datasets / pyarrow) or JSONL with one row object per line",
        )]
        }
    };
    // Training and eval refuse a file without rows: so does the doctor.
    if total == 0 {
        return vec![Check::fail(
            name,
            format!("{} has no rows (columns: {})", path.display(), columns.join(", ")),
            "give a data file with at least one row (tzhost data gen writes one)",
        )];
    }
    let task_box = match registry.task(task, "", TracingHost::handle()) {
        Ok(t) => t,
        Err(e) => return vec![Check::fail(name, format!("{e:#}"), "pick the task with --task")],
    };
    let templates: Vec<String> = task_box.templates().unwrap_or_default();
    let template = template.map(str::to_string).or_else(|| templates.first().cloned()).unwrap_or_default();
    let mut groups: Vec<(String, usize)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let sample = match task_box.sample_from_row(row) {
            Ok(s) => s,
            Err(e) => {
                return vec![Check::fail(
                    name,
                    format!("row {i} is not a {task} sample: {e} (columns: {})", columns.join(", ")),
                    format!("check that the file was made for the {task} task (tzhost data gen writes matching files)"),
                )]
            }
        };
        if let Err(e) = task_box.prompt(&sample, &template) {
            return vec![Check::fail(
                name,
                format!("row {i}: the prompt does not render in template '{template}': {e}"),
                format!("pick a template of {task}: {}", templates.join(", ")),
            )];
        }
        let g = sample.group.clone();
        match groups.iter_mut().find(|(n, _)| *n == g) {
            Some((_, c)) => *c += 1,
            None => groups.push((g, 1)),
        }
    }
    let groups: Vec<String> =
        groups.iter().map(|(g, c)| format!("{}: {c}", if g.is_empty() { "(no group)" } else { g })).collect();
    vec![Check::ok(
        name,
        format!(
            "{total} rows; the first {} are {task} samples (groups {}) and render in template '{template}'",
            rows.len(),
            groups.join(", ")
        ),
    )]
}

/// The row count, the column names and the first `n` rows as JSON objects.
pub fn read_head(path: &Path, n: usize) -> Result<(u64, Vec<String>, Vec<Value>)> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext == "jsonl" || ext == "json" {
        let text = std::fs::read_to_string(path).map_err(|error| DoctorError::File {
            action: "read",
            path: path.into(),
            error,
        })?;
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let rows = lines
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str::<Value>(l).map_err(|error| DoctorError::NotJson { line: i + 1, error })
            })
            .collect::<Result<Vec<_>>>()?;
        let columns =
            rows.first().and_then(Value::as_object).map(|o| o.keys().cloned().collect()).unwrap_or_default();
        return Ok((lines.len() as u64, columns, rows));
    }
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).map_err(|error| DoctorError::File {
        action: "open",
        path: path.into(),
        error,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| DoctorError::NotParquet { path: path.into(), message: e.to_string() })?;
    let total = builder.metadata().file_metadata().num_rows().max(0) as u64;
    let columns = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let reader = builder.with_batch_size(n.max(1)).with_limit(n).build().map_err(decode)?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(decode)?;
        let mut writer = arrow_json::ArrayWriter::new(Vec::new());
        writer.write(&batch).map_err(decode)?;
        writer.finish().map_err(decode)?;
        let json: Value = serde_json::from_slice(&writer.into_inner()).map_err(decode)?;
        rows.extend(json.as_array().cloned().unwrap_or_default());
    }
    rows.truncate(n);
    Ok((total, columns, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parquet_written_by_hf_datasets_reads_as_json_rows() {
        let path = tz_testkit::testdata("countdown-tinyzero-base-test.parquet");
        let (total, columns, rows) = read_head(&path, 4).unwrap();
        assert_eq!(total, 16);
        assert_eq!(
            columns,
            ["target", "nums", "data_source", "prompt", "ability", "reward_model", "extra_info"]
        );
        assert_eq!(rows.len(), 4);
        let r = &rows[0];
        assert_eq!(r["data_source"], "countdown");
        assert_eq!(r["reward_model"]["ground_truth"]["target"], r["target"]);
        assert_eq!(r["prompt"][0]["role"], "user");
    }
}
