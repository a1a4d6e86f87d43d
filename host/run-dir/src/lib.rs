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

pub mod lock;

pub use lock::{DirLock, LockError, LOCK_FILE};

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
    let written = File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .at("write", &tmp)
        .and_then(|()| std::fs::rename(&tmp, path).at("write", path));
    if written.is_err() {
        // A full disk must not also leave a half-written temporary behind.
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
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
    /// Seed 001's per-stage log: `logs/ContinualCountdown_R{round}_{group}.log`
    /// (the task's name in place of Countdown for other tasks).
    pub fn stage_log(&self, task: &str, round: u32, group: &str) -> PathBuf {
        let mut chars = task.chars();
        let task: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
        self.root.join("logs").join(format!("Continual{task}_R{round}_{group}.log"))
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
        for entry in std::fs::read_dir(&self.root).at("list", &self.root)? {
            let path = entry.at("list", &self.root)?.path();
            if path.file_name().is_some_and(|n| n == LOCK_FILE) {
                continue;
            }
            let removed =
                if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            removed.at("delete", &path)?;
        }
        std::fs::create_dir_all(self.checkpoints()).at("create", &self.checkpoints())
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

    #[test]
    fn stage_logs_are_named_as_seed_001_names_them() {
        let run = RunDir { root: PathBuf::from("runs/x") };
        assert_eq!(
            run.stage_log("countdown", 2, "plus"),
            Path::new("runs/x/logs/ContinualCountdown_R2_plus.log")
        );
    }

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
