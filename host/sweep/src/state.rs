//! What a run directory says about its run, by the trainer's contract:
//! `summary.json` with `"finished": true` once the run completed, and
//! `checkpoints/step_N/` directories along the way (complete once they hold
//! `trainer_state.json`).

use std::path::{Path, PathBuf};

/// The state of one run directory.
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    /// No directory, or one holding only the config the sweep wrote.
    NotStarted,
    /// Started but neither finished nor checkpointed: start again.
    Incomplete,
    /// Started, not finished, with a checkpoint to resume from (the newest).
    Interrupted { checkpoint: PathBuf, step: u64 },
    /// `summary.json` says `finished: true`.
    Finished,
}

/// Files the sweep itself writes into a run directory before the trainer runs.
pub const SWEEP_FILES: &[&str] = &["config.toml", "console.log"];

pub fn inspect(run_dir: &Path) -> RunState {
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return RunState::NotStarted;
    };
    if is_finished(run_dir) {
        return RunState::Finished;
    }
    if let Some((step, checkpoint)) = latest_checkpoint(run_dir) {
        return RunState::Interrupted { checkpoint, step };
    }
    let trainer_wrote_something = entries
        .filter_map(|e| e.ok())
        .any(|e| !SWEEP_FILES.contains(&e.file_name().to_string_lossy().as_ref()));
    if trainer_wrote_something {
        RunState::Incomplete
    } else {
        RunState::NotStarted
    }
}

/// Whether `summary.json` exists and says `"finished": true`.
pub fn is_finished(run_dir: &Path) -> bool {
    read_summary(run_dir)
        .and_then(|s| s.get("finished").and_then(serde_json::Value::as_bool))
        .unwrap_or(false)
}

/// The parsed `summary.json`, if it exists and is JSON.
pub fn read_summary(run_dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(run_dir.join("summary.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The file a checkpoint directory holds once it is complete.
pub const CHECKPOINT_DONE: &str = "trainer_state.json";

/// The newest complete `checkpoints/step_N` directory (one holding
/// `trainer_state.json`, as `tzhost resume` requires).
pub fn latest_checkpoint(run_dir: &Path) -> Option<(u64, PathBuf)> {
    std::fs::read_dir(run_dir.join("checkpoints"))
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(CHECKPOINT_DONE).is_file())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("step_")?.parse::<u64>().ok()?;
            Some((step, e.path()))
        })
        .max_by_key(|(step, _)| *step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_follow_the_trainer_contract() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("r");
        assert_eq!(inspect(&run), RunState::NotStarted);
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("config.toml"), "").unwrap();
        assert_eq!(inspect(&run), RunState::NotStarted);
        std::fs::write(run.join("metrics.jsonl"), "{\"step\": 1}\n").unwrap();
        assert_eq!(inspect(&run), RunState::Incomplete);
        // A checkpoint directory still being written does not count.
        std::fs::create_dir_all(run.join("checkpoints/step_000005")).unwrap();
        assert_eq!(inspect(&run), RunState::Incomplete);
        for step in ["step_000005", "step_000010"] {
            std::fs::create_dir_all(run.join("checkpoints").join(step)).unwrap();
            std::fs::write(run.join("checkpoints").join(step).join(CHECKPOINT_DONE), "{}").unwrap();
        }
        std::fs::create_dir_all(run.join("checkpoints/step_000020")).unwrap();
        std::fs::create_dir_all(run.join("checkpoints/.tmp-step_30")).unwrap();
        assert_eq!(
            inspect(&run),
            RunState::Interrupted { checkpoint: run.join("checkpoints/step_000010"), step: 10 }
        );
        std::fs::write(run.join("summary.json"), r#"{"finished": false}"#).unwrap();
        assert!(matches!(inspect(&run), RunState::Interrupted { .. }));
        std::fs::write(run.join("summary.json"), r#"{"finished": true, "steps": 10}"#).unwrap();
        assert_eq!(inspect(&run), RunState::Finished);
    }
}
