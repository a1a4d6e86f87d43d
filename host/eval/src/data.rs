//! Evaluation problems from a data file (TinyZero/veRL parquet, or JSONL),
//! read row by row through the task's own reader.

use std::path::Path;

use anyhow::{bail, Context, Result};
use tz_sdk::handle::Task;
use tz_sdk::Sample;

/// The samples of `path`'s rows (the first `limit` when given), indexed by row.
pub fn samples_from_file(task: &Task, path: &Path, limit: Option<usize>) -> Result<Vec<Sample>> {
    if !path.is_file() {
        bail!("data file {} does not exist", path.display());
    }
    let rows = tz_data::rows::read_rows(path)?;
    if rows.is_empty() {
        bail!("data file {} has no rows", path.display());
    }
    let take = limit.unwrap_or(rows.len()).min(rows.len());
    rows.iter()
        .take(take)
        .enumerate()
        .map(|(i, row)| {
            let mut sample =
                task.sample_from_row(row).with_context(|| format!("{}: row {i}", path.display()))?;
            sample.index = i as u64;
            Ok(sample)
        })
        .collect()
}
