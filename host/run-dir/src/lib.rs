//! # tz-run-dir: the run directory
//!
//! Where a run keeps everything: the resolved config, metrics.jsonl,
//! samples, checkpoints with the trainer state beside them, the log, the
//! TensorBoard events and the summary. The trainer writes it; reports,
//! sweeps and `tzhost eval` read it, so its layout is defined once, here.
//!
//! Everything that must survive a crash is written with [`write_atomic`]:
//! a temporary file beside the target, fsynced, renamed over the target, and
//! the directory fsynced, so after a crash (or power loss) a reader sees the
//! old file or the new one, never half of one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// A failed file operation, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct RunDirError {
    /// What was attempted: "write", "create", "rename", "open", ...
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

pub type Result<T, E = RunDirError> = std::result::Result<T, E>;

/// Attaches the action and path to an I/O result.
trait At<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T>;
}

impl<T> At<T> for std::io::Result<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| RunDirError { action, path: path.to_path_buf(), source })
    }
}

/// Writes `bytes` to `path` atomically and durably: a temporary file in the
/// same directory (created if missing), fsynced, renamed over `path`, then
/// the directory fsynced so the rename itself survives a crash.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).at("create", dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = File::create(&tmp).at("write", &tmp)?;
        f.write_all(bytes).at("write", &tmp)?;
        f.sync_all().at("write", &tmp)?;
    }
    std::fs::rename(&tmp, path).at("write", path)?;
    sync_dir(dir)
}

/// Fsyncs a directory, so renames and new entries in it are durable.
/// (Opening a directory to fsync it works on Unix; elsewhere it is a no-op.)
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).at("sync", dir)?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// One JSON object per line, flushed per line so a killed run keeps every
/// finished step.
pub struct JsonlWriter {
    file: File,
    path: PathBuf,
}

impl JsonlWriter {
    pub fn append(path: &Path) -> Result<JsonlWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path).at("open", path)?;
        Ok(JsonlWriter { file, path: path.to_path_buf() })
    }
    pub fn write(&mut self, value: &Value) -> Result<()> {
        let mut line = value.to_string();
        line.push('\n');
        self.file.write_all(line.as_bytes()).at("write", &self.path)?;
        self.file.flush().at("write", &self.path)
    }
}

/// Paths inside a run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    pub fn create(root: PathBuf) -> Result<RunDir> {
        std::fs::create_dir_all(root.join("checkpoints")).at("create", &root)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/summary.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["summary.json"]);
        // A path through a file cannot be written.
        let err = write_atomic(&path.join("x"), b"").unwrap_err();
        assert!(err.to_string().starts_with("cannot "), "{err}");
    }

    #[test]
    fn checkpoints_are_listed_by_step_without_temporary_or_unfinished_ones() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().join("run")).unwrap();
        for (name, finished) in [
            ("step_000010", true),
            ("step_000002", true),
            (".step_000011.tmp-1", true),
            ("step_000012", false),
        ] {
            let d = run.checkpoints().join(name);
            std::fs::create_dir_all(&d).unwrap();
            if finished {
                std::fs::write(d.join("trainer_state.json"), "{}").unwrap();
            }
        }
        let steps: Vec<u64> = run.list_checkpoints().iter().map(|(s, _)| *s).collect();
        assert_eq!(steps, [2, 10]);
        run.prune(1);
        let steps: Vec<u64> = run.list_checkpoints().iter().map(|(s, _)| *s).collect();
        assert_eq!(steps, [10]);
    }

    #[test]
    fn truncating_metrics_keeps_the_lines_up_to_a_step() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path().to_path_buf()).unwrap();
        std::fs::write(run.metrics(), "{\"step\":0}\n{\"step\":1}\n{\"step\":2}\nnot json\n").unwrap();
        run.truncate_metrics_after(1).unwrap();
        assert_eq!(std::fs::read_to_string(run.metrics()).unwrap(), "{\"step\":0}\n{\"step\":1}\n");
    }
}
