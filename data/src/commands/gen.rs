//! `tzhost data gen`: generated train/test parquet files.
//!
//! * `continual` layout: `OUT/continual/<group>/{train,test}.parquet` for
//!   every group of the task (seed 001's data for countdown);
//! * `single` layout: `OUT/<task>/{train,test}.parquet` from the task's
//!   mixed group `all`.
//!
//! Generation runs in fixed chunks with seeds derived from `--seed`, so the
//! same command gives the same files. Test rows whose prompt also occurs in
//! the train file of the same group are dropped and replaced.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{input, Result};
use serde_json::Value;
use tz_sdk::handle::Task;
use tz_sdk::rng::SplitMix64;

use super::set_split_and_index;
use crate::progress;
use crate::rows::write_parquet;

/// Directory layout of generated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `OUT/continual/<group>/{train,test}.parquet`.
    Continual,
    /// `OUT/<task>/{train,test}.parquet`.
    Single,
}

impl FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "continual" => Ok(Layout::Continual),
            "single" => Ok(Layout::Single),
            other => Err(format!("unknown layout '{other}'; expected continual or single")),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// The task's name (the directory of the `single` layout).
    pub task_name: String,
    pub layout: Layout,
    pub train_size: u64,
    pub test_size: u64,
    pub out: PathBuf,
    pub seed: u64,
    /// Prompt template of the rows; the task's default (first) when `None`.
    pub template: Option<String>,
    pub progress: bool,
}

/// One file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    pub path: PathBuf,
    pub group: String,
    pub split: String,
    pub rows: usize,
}

/// Samples per `Task::generate` call.
const CHUNK: u64 = 8192;
/// Test chunks tried beyond the needed ones before giving up on unique rows.
const MAX_EXTRA_TEST_CHUNKS: u64 = 64;

/// Generates and writes the data set; returns the files written.
pub fn generate(task: &Task, opts: &GenOptions) -> Result<Vec<WrittenFile>> {
    let templates: Vec<String> = task.templates()?;
    let template = match &opts.template {
        Some(t) if templates.contains(t) => t.clone(),
        Some(t) => {
            return Err(input!(
                "task '{}' has no template '{t}'; it has: {}",
                opts.task_name,
                templates.join(", ")
            ))
        }
        None => templates.first().cloned().ok_or_else(|| input!("the task lists no templates"))?,
    };
    let targets: Vec<(String, PathBuf)> = match opts.layout {
        Layout::Continual => task
            .groups()?
            .into_iter()
            .map(|g| {
                let dir = opts.out.join("continual").join(&g);
                (g, dir)
            })
            .collect(),
        Layout::Single => vec![("all".to_string(), opts.out.join(&opts.task_name))],
    };
    let mut written = Vec::new();
    for (group, dir) in targets {
        written.extend(generate_group(task, &group, &template, &dir, opts)?);
    }
    Ok(written)
}

fn generate_group(
    task: &Task,
    group: &str,
    template: &str,
    dir: &Path,
    opts: &GenOptions,
) -> Result<Vec<WrittenFile>> {
    let bar = progress::bar(opts.train_size + opts.test_size, &format!("{group}: generating"), opts.progress);
    let mut train_prompts = HashSet::new();
    let mut train = Vec::with_capacity(opts.train_size as usize);
    let mut chunk = 0;
    while (train.len() as u64) < opts.train_size {
        let n = CHUNK.min(opts.train_size - train.len() as u64);
        for row in rows(task, group, template, n, chunk_seed(opts.seed, chunk))? {
            train_prompts.insert(prompt_key(&row));
            train.push(row);
        }
        chunk += 1;
        bar.set_position(train.len() as u64);
    }

    let mut test = Vec::with_capacity(opts.test_size as usize);
    let test_seed = opts.seed ^ 0x7e57_7e57_7e57_7e57;
    let budget = opts.test_size.div_ceil(CHUNK) + MAX_EXTRA_TEST_CHUNKS;
    let mut chunk = 0;
    while (test.len() as u64) < opts.test_size {
        if chunk >= budget {
            return Err(input!(
                "group '{group}': only {} of {} test samples differ from the training samples; \
                 lower --test-size or --train-size, or widen the task's config",
                test.len(),
                opts.test_size
            ));
        }
        let n = CHUNK.min(opts.test_size - test.len() as u64);
        for row in rows(task, group, template, n, chunk_seed(test_seed, chunk))? {
            if (test.len() as u64) < opts.test_size && !train_prompts.contains(&prompt_key(&row)) {
                test.push(row);
            }
        }
        chunk += 1;
        bar.set_position(opts.train_size + test.len() as u64);
    }
    bar.set_message(format!("{group}: writing"));

    let mut written = Vec::new();
    for (split, mut rows) in [("train", train), ("test", test)] {
        for (i, row) in rows.iter_mut().enumerate() {
            set_split_and_index(row, split, i);
        }
        let path = dir.join(format!("{split}.parquet"));
        write_parquet(&path, &rows)?;
        written.push(WrittenFile {
            path,
            group: group.to_string(),
            split: split.to_string(),
            rows: rows.len(),
        });
    }
    bar.finish_and_clear();
    Ok(written)
}

/// `count` generated samples of `group` as data rows.
fn rows(task: &Task, group: &str, template: &str, count: u64, seed: u64) -> Result<Vec<Value>> {
    let samples = task.generate(group, count, seed)?;
    samples.iter().map(|s| Ok(task.sample_to_row(s, template)?)).collect()
}

/// A seed per chunk, so chunks are independent and the result does not
/// depend on anything but `--seed`.
fn chunk_seed(seed: u64, chunk: u64) -> u64 {
    SplitMix64::new(seed ^ chunk.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64()
}

/// Identifies a problem by its prompt.
fn prompt_key(row: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    row.get("prompt").map(Value::to_string).hash(&mut h);
    h.finish()
}
