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

    /// What in this directory a run wrote (metrics, samples, summary,
    /// checkpoints), by name; empty for a new directory or one that holds
    /// only a config (as a sweep prepares it).
    pub fn output_files(&self) -> Vec<String> {
        let mut found: Vec<String> = [self.metrics(), self.samples(), self.summary()]
            .iter()
            .filter(|p| p.metadata().is_ok_and(|m| m.len() > 0))
            .map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned())
            .collect();
        let checkpoints = std::fs::read_dir(self.checkpoints()).into_iter().flatten().flatten().count();
        if checkpoints > 0 {
            found.push(format!("{checkpoints} entries in checkpoints/"));
        }
        found
    }

    /// Deletes everything in the directory but its lock (`--overwrite`).
    pub fn delete_output(&self) -> Result<()> {
        for entry in
            std::fs::read_dir(&self.root).with_context(|| format!("cannot list {}", self.root.display()))?
        {
            let path = entry?.path();
            if path.file_name().is_some_and(|n| n == crate::run_lock::LOCK_FILE) {
                continue;
            }
            let removed =
                if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            removed.with_context(|| format!("cannot delete {}", path.display()))?;
        }
        std::fs::create_dir_all(self.checkpoints())
            .with_context(|| format!("cannot create {}", self.checkpoints().display()))
    }

    /// Removes half-written files and directories (`.NAME.tmp-PID`) a killed
    /// process left anywhere in the run. Call it holding the run's lock, so
    /// no live writer's temporary is removed.
    pub fn remove_stale_temporaries(&self) {
        let mut dirs = vec![self.root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if name.starts_with('.') && name.contains(".tmp-") {
                    let removed = if is_dir {
                        std::fs::remove_dir_all(entry.path())
                    } else {
                        std::fs::remove_file(entry.path())
                    };
                    match removed {
                        Ok(()) => {
                            tracing::info!("removed {}, left by a killed process", entry.path().display())
                        }
                        Err(e) => tracing::warn!("cannot remove {}: {e}", entry.path().display()),
                    }
                } else if is_dir {
                    dirs.push(entry.path());
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_metrics_line_is_dropped_on_resume() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().to_path_buf()).unwrap();
        std::fs::write(run.metrics(), "{\"step\":0}\n{\"step\":1}\n{\"step\":2}\n{\"step\":3,\"lo").unwrap();
        run.truncate_metrics_after(2).unwrap();
        assert_eq!(
            std::fs::read_to_string(run.metrics()).unwrap(),
            "{\"step\":0}\n{\"step\":1}\n{\"step\":2}\n"
        );
    }

    #[test]
    fn stale_temporaries_are_removed_at_any_depth_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().to_path_buf()).unwrap();
        let nested = run.checkpoints().join(".step_000005.tmp-123");
        std::fs::create_dir_all(nested.join(".model.safetensors.tmp-123")).unwrap();
        std::fs::write(run.root.join(".summary.json.tmp-9"), "x").unwrap();
        std::fs::create_dir_all(run.checkpoint(4)).unwrap();
        std::fs::write(run.checkpoint(4).join(".config.json.tmp-7"), "x").unwrap();
        std::fs::write(run.metrics(), "{}\n").unwrap();
        run.remove_stale_temporaries();
        assert!(!nested.exists() && !run.root.join(".summary.json.tmp-9").exists());
        assert!(!run.checkpoint(4).join(".config.json.tmp-7").exists());
        assert!(run.checkpoint(4).is_dir() && run.metrics().is_file());
    }

    #[test]
    fn output_of_an_earlier_run_is_found_and_a_prepared_config_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().to_path_buf()).unwrap();
        std::fs::write(run.config(), "x = 1\n").unwrap();
        assert!(run.output_files().is_empty());
        std::fs::write(run.metrics(), "{\"step\":0}\n").unwrap();
        assert_eq!(run.output_files(), ["metrics.jsonl"]);
        run.delete_output().unwrap();
        assert!(run.output_files().is_empty() && !run.config().exists() && run.checkpoints().is_dir());
    }
}
