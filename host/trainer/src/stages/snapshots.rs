//! Model snapshots at the stage boundaries of a planned curriculum:
//! `<run>/snapshots/initial_{round}_{group}` and `final_{round}_{group}`, each
//! a Hugging Face model directory (config, weights, tokenizer), as seed 001
//! keeps them.

use std::path::{Path, PathBuf};

use tz_core::Policy;

use crate::error::{bail, Context, Result};

/// Which snapshot directories a planned run writes (`stages.snapshots`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    /// `initial_*` and `final_*` of every stage.
    All,
    /// Only `final_*` (the initial one of a stage is the previous final).
    Final,
    /// None (the weight change is still measured, in memory).
    None,
}

impl SnapshotMode {
    pub fn parse(s: &str) -> Result<SnapshotMode> {
        match s {
            "all" => Ok(SnapshotMode::All),
            "final" => Ok(SnapshotMode::Final),
            "none" => Ok(SnapshotMode::None),
            other => bail!("stages.snapshots: '{other}' is not one of all, final, none"),
        }
    }

    /// Whether a boundary of this kind (`initial` or `final`) gets a directory.
    pub fn writes(self, kind: &str) -> bool {
        match self {
            SnapshotMode::All => true,
            SnapshotMode::Final => kind == "final",
            SnapshotMode::None => false,
        }
    }
}

/// `<run>/snapshots/{kind}_{round}_{group}`.
pub fn snapshot_dir(run: &Path, kind: &str, round: u32, group: &str) -> PathBuf {
    run.join("snapshots").join(format!("{kind}_{round}_{group}"))
}

/// Removes half-written snapshot directories (`*.tmp-PID`) that a killed run left.
pub fn remove_stale(run: &Path) {
    for entry in std::fs::read_dir(run.join("snapshots")).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().contains(".tmp-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Writes the policy as a model directory at `dir` (atomically: the core
/// saves into a temporary directory and renames). An existing snapshot is
/// kept: boundaries redone after a resume see the same weights.
pub fn save(policy: &Policy, dir: &Path) -> Result<()> {
    if dir.join("config.json").is_file() {
        return Ok(());
    }
    policy.save_model_dir(dir).with_context(|| format!("saving snapshot {}", dir.display()))
}

/// Makes `to` a copy of the snapshot `from` (the same weights), hard-linking
/// the files when the file system allows it; atomic like [`save`].
pub fn link(from: &Path, to: &Path) -> Result<()> {
    if to.join("config.json").is_file() {
        return Ok(());
    }
    let parent = to.parent().context("snapshot path has no parent")?;
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        to.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let dst = tmp.join(entry.file_name());
        if std::fs::hard_link(entry.path(), &dst).is_err() {
            std::fs::copy(entry.path(), &dst)
                .with_context(|| format!("cannot copy {} to {}", entry.path().display(), dst.display()))?;
        }
    }
    std::fs::rename(&tmp, to).with_context(|| format!("cannot rename {} to {}", tmp.display(), to.display()))
}
