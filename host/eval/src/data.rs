//! Evaluation problems from a data file (TinyZero/veRL parquet, or JSONL),
//! read row by row through the task's own reader.

use std::path::Path;

use crate::error::{EvalError, Result};
use tz_sdk::handle::Task;
use tz_sdk::Sample;

/// The samples of `path`'s rows (the first `limit` when given), indexed by row.
pub fn samples_from_file(task: &Task, path: &Path, limit: Option<usize>) -> Result<Vec<Sample>> {
    if !path.is_file() {
        return Err(EvalError::DataFile { path: path.into(), problem: "does not exist".into() });
    }
    let rows = tz_data::rows::read_rows(path)?;
    if rows.is_empty() {
        return Err(EvalError::DataFile { path: path.into(), problem: "has no rows".into() });
    }
    let take = limit.unwrap_or(rows.len()).min(rows.len());
    rows.iter()
        .take(take)
        .enumerate()
        .map(|(i, row)| {
            let mut sample = task.sample_from_row(row).map_err(|source| EvalError::Row {
                path: path.into(),
                index: i,
                source,
            })?;
            sample.index = i as u64;
            Ok(sample)
        })
        .collect()
}
