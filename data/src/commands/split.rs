//! `tzhost data split-random`: random groups from one data set, the control
//! experiment of seed 000 (groups `0`..`N-1`, each with its own train and
//! test rows).
//!
//! Seed 000 draws 4 × (100,000 train + 1,000 test) rows from TinyZero's
//! train.parquet, which has only 327,680 rows, so its groups cannot all be
//! disjoint. What holds in every case:
//! * test rows are drawn first, disjoint across groups, and are in no
//!   group's training set;
//! * a group's training rows are distinct (no row twice in one group);
//! * when the rest of the input holds `groups × train_size` rows, the
//!   training sets are disjoint ([`SplitMode::Disjoint`]); otherwise each
//!   group draws its training rows independently from that rest, so a row
//!   may be in several groups ([`SplitMode::Overlapping`], sampling with
//!   replacement across groups).
//!
//! The mode and the overlap are written to `OUT/manifest.json` and said on
//! stderr by the CLI ([`SplitManifest::describe`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::{at, input, Result};
use arrow_array::{RecordBatch, UInt32Array};
use serde::Serialize;
use serde_json::Value;
use tz_sdk::handle::Task;
use tz_sdk::rng::SplitMix64;

use super::gen::WrittenFile;
use super::set_split_and_index;
use crate::progress;
use crate::rows::{atomic_write, batch_to_json, read_batches, read_jsonl, write_parquet};

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

/// How the training sets relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitMode {
    /// No row in two groups.
    Disjoint,
    /// Each group's training rows drawn independently from the non-test rows.
    Overlapping,
}

/// `OUT/manifest.json`: how the groups were drawn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitManifest {
    pub input: String,
    pub input_rows: usize,
    pub groups: usize,
    pub train_size: u64,
    pub test_size: u64,
    pub seed: u64,
    pub mode: SplitMode,
    /// Rows available to training after the test rows were taken out.
    pub train_pool_rows: usize,
    /// Distinct input rows in some training set.
    pub distinct_train_rows: usize,
    /// `[a, b, n]`: groups `a` and `b` share `n` training rows (overlapping mode).
    pub shared_train_rows: Vec<(usize, usize, usize)>,
    /// Always true: no test row is in any training set, test sets are disjoint.
    pub test_rows_held_out: bool,
}

impl SplitManifest {
    /// One sentence for stderr.
    pub fn describe(&self) -> String {
        let need = self.groups as u64 * self.train_size;
        match self.mode {
            SplitMode::Disjoint => format!(
                "{} rows: {} disjoint groups of {} train + {} test rows",
                self.input_rows, self.groups, self.train_size, self.test_size
            ),
            SplitMode::Overlapping => format!(
                "{} rows are too few for {} disjoint groups ({} test + {need} train rows): the {} test sets are disjoint and held out of every training set, and each group draws its {} training rows independently from the other {} rows, so groups share rows ({} distinct training rows in all; pairs share {})",
                self.input_rows,
                self.groups,
                self.groups as u64 * self.test_size,
                self.groups,
                self.train_size,
                self.train_pool_rows,
                self.distinct_train_rows,
                self.shared_train_rows.iter().map(|(a, b, n)| format!("{a}&{b}: {n}")).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// What `split_random` wrote.
#[derive(Debug, Clone)]
pub struct Split {
    pub files: Vec<WrittenFile>,
    pub manifest: SplitManifest,
    pub manifest_path: PathBuf,
}

/// The input rows, kept as Arrow data for parquet so that only the rows of
/// one output file exist as JSON at a time.
enum Source {
    Parquet(RecordBatch),
    Json(Vec<Value>),
}

impl Source {
    fn read(path: &Path) -> Result<Source> {
        if matches!(path.extension().and_then(|e| e.to_str()), Some("jsonl" | "json" | "ndjson")) {
            return Ok(Source::Json(read_jsonl(path)?));
        }
        let (schema, batches) = read_batches(path, None)?;
        let batch = arrow_select::concat::concat_batches(&schema, &batches)
            .map_err(at(format!("{}: cannot read its rows", path.display())))?;
        Ok(Source::Parquet(batch))
    }

    fn len(&self) -> usize {
        match self {
            Source::Parquet(b) => b.num_rows(),
            Source::Json(rows) => rows.len(),
        }
    }

    /// The rows at `indices`, in that order.
    fn rows(&self, indices: &[usize]) -> Result<Vec<Value>> {
        match self {
            Source::Json(rows) => Ok(indices.iter().map(|&i| rows[i].clone()).collect()),
            Source::Parquet(batch) => {
                let idx = UInt32Array::from(indices.iter().map(|&i| i as u32).collect::<Vec<_>>());
                batch_to_json(&arrow_select::take::take_record_batch(batch, &idx)?)
            }
        }
    }
}

/// Draws the row indices of every group: `(train, test)` per group.
fn draw(rows: usize, opts: &SplitOptions) -> Result<(SplitMode, Vec<(Vec<usize>, Vec<usize>)>)> {
    let (g, train, test) = (opts.groups, opts.train_size as usize, opts.test_size as usize);
    let tests = test.checked_mul(g).ok_or_else(|| input!("sizes overflow"))?;
    if rows < tests + train {
        return Err(input!(
            "{} has {rows} rows; {g} groups need {tests} test rows plus at least {train} training rows ({} in all)",
            opts.input.display(),
            tests + train
        ));
    }
    let mut rng = SplitMix64::new(opts.seed);
    let mut order: Vec<usize> = (0..rows).collect();
    shuffle_prefix(&mut order, rows, &mut rng);
    let (test_rows, pool) = order.split_at(tests);
    let disjoint = pool.len() >= train * g;
    let mut groups = Vec::with_capacity(g);
    for i in 0..g {
        let test_set = test_rows[i * test..(i + 1) * test].to_vec();
        let train_set = if disjoint {
            pool[i * train..(i + 1) * train].to_vec()
        } else {
            let mut mine = pool.to_vec();
            let mut group_rng =
                SplitMix64::new(opts.seed ^ (0xD1B5_4A32_D192_ED03u64.wrapping_mul(i as u64 + 1)));
            shuffle_prefix(&mut mine, train, &mut group_rng);
            mine.truncate(train);
            mine
        };
        groups.push((train_set, test_set));
    }
    Ok((if disjoint { SplitMode::Disjoint } else { SplitMode::Overlapping }, groups))
}

/// Fisher-Yates: the first `k` entries become a uniform random draw without replacement.
fn shuffle_prefix(v: &mut [usize], k: usize, rng: &mut SplitMix64) {
    let n = v.len();
    for i in 0..k.min(n.saturating_sub(1)) {
        let j = i + rng.range(0, (n - i - 1) as u64) as usize;
        v.swap(i, j);
    }
}

/// Writes `OUT/<g>/{train,test}.parquet` for `g` in `0..groups` and
/// `OUT/manifest.json`. Rows get the columns `group` (`"0"`, `"1"`, ...)
/// and, when a task is given, `difficulty` as the task reads it.
pub fn split_random(task: Option<&Task>, opts: &SplitOptions) -> Result<Split> {
    if opts.groups == 0 {
        return Err(input!("--groups must be at least 1"));
    }
    if opts.train_size == 0 {
        return Err(input!("--train-size must be at least 1"));
    }
    let source = Source::read(&opts.input)?;
    let (mode, groups) = draw(source.len(), opts)?;
    let total: u64 = groups.iter().map(|(a, b)| (a.len() + b.len()) as u64).sum();
    let bar = progress::bar(total, "splitting", opts.progress);
    let mut files = Vec::new();
    for (g, (train, test)) in groups.iter().enumerate() {
        for (split, indices) in [("train", train), ("test", test)] {
            let mut out = source.rows(indices)?;
            for (i, (row, &from)) in out.iter_mut().zip(indices.iter()).enumerate() {
                label_row(task, row, g, split, i)
                    .map_err(at(format!("{} row {from}", opts.input.display())))?;
                bar.inc(1);
            }
            let path = opts.out.join(g.to_string()).join(format!("{split}.parquet"));
            write_parquet(&path, &out)?;
            files.push(WrittenFile { path, group: g.to_string(), split: split.to_string(), rows: out.len() });
        }
    }
    bar.finish_and_clear();
    let manifest = manifest(&source, &groups, mode, opts);
    let manifest_path = opts.out.join("manifest.json");
    atomic_write(&manifest_path, |mut f| {
        serde_json::to_writer_pretty(&mut f, &manifest)?;
        Ok(())
    })?;
    Ok(Split { files, manifest, manifest_path })
}

fn manifest(
    source: &Source,
    groups: &[(Vec<usize>, Vec<usize>)],
    mode: SplitMode,
    opts: &SplitOptions,
) -> SplitManifest {
    let sets: Vec<HashSet<usize>> = groups.iter().map(|(t, _)| t.iter().copied().collect()).collect();
    let mut shared = Vec::new();
    for a in 0..sets.len() {
        for b in a + 1..sets.len() {
            shared.push((a, b, sets[a].intersection(&sets[b]).count()));
        }
    }
    let distinct: HashSet<usize> = sets.iter().flatten().copied().collect();
    let tests = opts.groups * opts.test_size as usize;
    SplitManifest {
        input: opts.input.display().to_string(),
        input_rows: source.len(),
        groups: opts.groups,
        train_size: opts.train_size,
        test_size: opts.test_size,
        seed: opts.seed,
        mode,
        train_pool_rows: source.len() - tests,
        distinct_train_rows: distinct.len(),
        shared_train_rows: shared,
        test_rows_held_out: true,
    }
}

fn label_row(task: Option<&Task>, row: &mut Value, group: usize, split: &str, index: usize) -> Result<()> {
    if let Some(task) = task {
        let sample = task.sample_from_row(row)?;
        row["difficulty"] = sample.difficulty.into();
    }
    row["group"] = group.to_string().into();
    set_split_and_index(row, split, index);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(groups: usize, train: u64, test: u64) -> SplitOptions {
        SplitOptions {
            input: "in.parquet".into(),
            groups,
            train_size: train,
            test_size: test,
            out: "out".into(),
            seed: 3,
            progress: false,
        }
    }

    #[test]
    fn large_inputs_give_disjoint_groups() {
        let (mode, groups) = draw(100, &opts(4, 20, 5)).unwrap();
        assert_eq!(mode, SplitMode::Disjoint);
        let all: Vec<usize> = groups.iter().flat_map(|(a, b)| a.iter().chain(b)).copied().collect();
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), 100);
    }

    #[test]
    fn small_inputs_overlap_across_groups_only() {
        let (mode, groups) = draw(60, &opts(4, 20, 5)).unwrap();
        assert_eq!(mode, SplitMode::Overlapping);
        let tests: HashSet<usize> = groups.iter().flat_map(|(_, t)| t.iter().copied()).collect();
        assert_eq!(tests.len(), 20, "test sets are disjoint");
        for (train, test) in &groups {
            let own: HashSet<usize> = train.iter().copied().collect();
            assert_eq!((own.len(), test.len()), (20, 5), "no row twice in a group");
            assert!(own.is_disjoint(&tests), "no test row in any train set");
        }
        assert_ne!(groups[0].0, groups[1].0, "groups draw independently");
        let err = draw(24, &opts(4, 5, 5)).unwrap_err().to_string();
        assert!(err.contains("has 24 rows") && err.contains("25 in all"), "{err}");
    }

    #[test]
    fn the_same_seed_draws_the_same_groups() {
        assert_eq!(draw(60, &opts(4, 20, 5)).unwrap().1, draw(60, &opts(4, 20, 5)).unwrap().1);
        let mut other = opts(4, 20, 5);
        other.seed = 4;
        assert_ne!(draw(60, &opts(4, 20, 5)).unwrap().1, draw(60, &other).unwrap().1);
    }
}
