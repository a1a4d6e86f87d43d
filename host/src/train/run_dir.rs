//! The run directory: resolved config, metrics.jsonl, samples, checkpoints
//! and the trainer state beside them. Everything that must survive a crash
//! is written to a temporary name and renamed.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Map, Value};

/// Writes `bytes` to `path` atomically (temp file in the same directory,
/// synced, then renamed); a failure leaves no temporary file behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    tz_data::rows::atomic_write(path, |mut f| {
        f.write_all(bytes)?;
        f.sync_all()?;
        Ok(())
    })
}

/// One JSON object per line, flushed per line so a killed run keeps every
/// finished step.
pub struct JsonlWriter {
    file: File,
}

impl JsonlWriter {
    pub fn append(path: &Path) -> Result<JsonlWriter> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(JsonlWriter { file })
    }
    pub fn write(&mut self, value: &Value) -> Result<()> {
        let mut line = serde_json::to_string(value)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.flush()?;
        Ok(())
    }
}

/// Paths inside a run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    pub fn create(root: PathBuf) -> Result<RunDir> {
        std::fs::create_dir_all(root.join("checkpoints"))
            .with_context(|| format!("cannot create {}", root.display()))?;
        Ok(RunDir { root })
    }
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }
    pub fn samples(&self) -> PathBuf {
        self.root.join("samples.jsonl")
    }
    /// The log file (plain text, appended by every session of the run).
    pub fn log_file(&self) -> PathBuf {
        self.root.join("train.log")
    }
    /// TensorBoard event files (one per session of the run).
    pub fn tensorboard(&self) -> PathBuf {
        self.root.join("tensorboard")
    }
    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.json")
    }
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
    pub fn checkpoint(&self, step: u64) -> PathBuf {
        self.checkpoints().join(format!("step_{step:06}"))
    }

    /// Finished checkpoints, oldest first (temporary directories are skipped:
    /// a half-written checkpoint is never picked up).
    pub fn list_checkpoints(&self) -> Vec<(u64, PathBuf)> {
        let mut out: Vec<(u64, PathBuf)> = std::fs::read_dir(self.checkpoints())
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let step = name.strip_prefix("step_")?.parse().ok()?;
                e.path().join("trainer_state.json").is_file().then_some((step, e.path()))
            })
            .collect();
        out.sort();
        out
    }

    /// Keeps the newest `keep` checkpoints.
    pub fn prune(&self, keep: usize) {
        let all = self.list_checkpoints();
        for (_, path) in all.iter().take(all.len().saturating_sub(keep.max(1))) {
            let _ = std::fs::remove_dir_all(path);
        }
    }

    /// Drops metrics lines after `step` (used when resuming from a checkpoint
    /// taken before the run was killed), atomically.
    pub fn truncate_metrics_after(&self, step: u64) -> Result<()> {
        let path = self.metrics();
        let Ok(text) = std::fs::read_to_string(&path) else { return Ok(()) };
        let kept: String = text
            .lines()
            .filter(|l| {
                serde_json::from_str::<Map<String, Value>>(l)
                    .ok()
                    .and_then(|m| m.get("step").and_then(Value::as_u64))
                    .is_some_and(|s| s <= step)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        write_atomic(&path, kept.as_bytes())
    }
}
