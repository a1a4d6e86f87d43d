//! `tzhost data split-random`: random groups from one data set, the control
//! experiment of seed 000 (groups `0`..`N-1`, each with its own train and
//! test rows, no row used twice).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tz_sdk::ffi::TaskBox;
use tz_sdk::rng::SplitMix64;

use super::gen::WrittenFile;
use super::{ffi, set_split_and_index};
use crate::progress;
use crate::rows::{read_rows, write_parquet};

/// What to split.
#[derive(Debug, Clone)]
pub struct SplitOptions {
    pub input: PathBuf,
    pub groups: usize,
    pub train_size: u64,
    pub test_size: u64,
    pub out: PathBuf,
    pub seed: u64,
    pub progress: bool,
}

/// Writes `OUT/<g>/{train,test}.parquet` for `g` in `0..groups`, each row
/// drawn at random (without replacement) from the input and given the
/// columns `group` (`"0"`, `"1"`, ...) and, when a task is given,
/// `difficulty` as the task reads it.
pub fn split_random(task: Option<&TaskBox>, opts: &SplitOptions) -> Result<Vec<WrittenFile>> {
    if opts.groups == 0 {
        bail!("--groups must be at least 1");
    }
    let rows = read_rows(&opts.input)?;
    let per_group = (opts.train_size + opts.test_size) as usize;
    let needed = per_group.checked_mul(opts.groups).context("sizes overflow")?;
    if rows.len() < needed {
        bail!(
            "{} has {} rows; {} groups of {} train + {} test rows need {needed}",
            opts.input.display(),
            rows.len(),
            opts.groups,
            opts.train_size,
            opts.test_size
        );
    }
    // Fisher-Yates over the row indices, seeded.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut rng = SplitMix64::new(opts.seed);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.range(0, i as u64) as usize);
    }
    let bar = progress::bar(needed as u64, "splitting", opts.progress);
    let mut written = Vec::new();
    for g in 0..opts.groups {
        let picked = &order[g * per_group..(g + 1) * per_group];
        let (train, test) = picked.split_at(opts.train_size as usize);
        for (split, indices) in [("train", train), ("test", test)] {
            let mut out = Vec::with_capacity(indices.len());
            for (i, &source) in indices.iter().enumerate() {
                out.push(grouped_row(task, &rows[source], g, split, i, &opts.input, source)?);
                bar.inc(1);
            }
            let path = opts.out.join(g.to_string()).join(format!("{split}.parquet"));
            write_parquet(&path, &out)?;
            written.push(WrittenFile {
                path,
                group: g.to_string(),
                split: split.to_string(),
                rows: out.len(),
            });
        }
    }
    bar.finish_and_clear();
    Ok(written)
}

fn grouped_row(
    task: Option<&TaskBox>,
    row: &Value,
    group: usize,
    split: &str,
    index: usize,
    input: &Path,
    source: usize,
) -> Result<Value> {
    let mut row = row.clone();
    if let Some(task) = task {
        let sample = ffi(task.sample_from_row(row.to_string().as_str().into()))
            .with_context(|| format!("{} row {source}", input.display()))?;
        row["difficulty"] = sample.difficulty.into();
    }
    row["group"] = group.to_string().into();
    set_split_and_index(&mut row, split, index);
    Ok(row)
}
