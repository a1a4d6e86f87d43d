//! The hybrid task's problems: rows of a JSONL file, served through the
//! task's generator.
//!
//! With `task.plugins.hybrid.data` set, one file serves both training and
//! held-out problems: the trainer draws both from the task's `generate`,
//! which returns a seeded permutation of the file's rows (repeated when
//! `count` exceeds them), and keeps held-out problems out of the training
//! pool by content, so with `eval.size` below the row count the two sets are
//! disjoint. (`task.train_data` / `task.val_data` work too, as for `math`.)

use std::path::Path;

use serde_json::Value;
use tz_sdk::rng::SplitMix64;
use tz_sdk::Sample;

/// Reads `path` (one JSON object per line; blank lines skipped) into samples
/// with `to_sample`; errors name the file and line.
pub fn read_jsonl(
    path: &Path,
    to_sample: impl Fn(&Value) -> Result<Sample, String>,
) -> Result<Vec<Sample>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read data file {}: {e}", path.display()))?;
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: Value = serde_json::from_str(line)
            .map_err(|e| format!("{} line {}: not a JSON object: {e}", path.display(), i + 1))?;
        let mut sample = to_sample(&row).map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))?;
        sample.index = samples.len() as u64;
        samples.push(sample);
    }
    if samples.is_empty() {
        return Err(format!("data file {} has no rows", path.display()));
    }
    Ok(samples)
}

/// `count` rows in a seeded order: whole permutations of `rows` back to back.
pub fn draw(rows: &[Sample], count: u64, seed: u64) -> Vec<Sample> {
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(count as usize);
    while (out.len() as u64) < count && !rows.is_empty() {
        let mut order: Vec<usize> = (0..rows.len()).collect();
        // Fisher–Yates with the sdk's portable generator.
        for i in (1..order.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        for i in order {
            if out.len() as u64 == count {
                break;
            }
            out.push(rows[i].clone());
        }
    }
    out
}
