//! Checkpoints, saved and restored as a pair, so what one writes the other
//! reads: `checkpoints/step_N/` holds the policy in the Hugging Face layout,
//! `optimizer.safetensors`, the critic (`critic/`, PPO only) and
//! `trainer_state.json` (step, stage, pool reader, KL controller, clocks,
//! every curriculum's and the task's own state).
//!
//! A checkpoint is written into a temporary directory and renamed into
//! place, so a killed run never leaves half of one (`list_checkpoints`
//! skips temporary names; a failed save removes its temporary); the layout
//! is the one written before the trainer became a library, so older run
//! directories resume. Each checkpoint is complete on its own: its
//! tokenizer and configs are copied from the newest saved one, so pruning
//! the directory a run started or resumed from loses nothing.
//! [`check_readable`] tells a whole checkpoint from one a full disk cut short.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use tz_core::ModelDir;

use crate::dist;
use crate::error::{ensure, Context, Result, TrainError};
use crate::state::TrainerState;
use crate::Trainer;

/// The optimizer state inside a checkpoint.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";

impl Trainer {
    /// Writes `checkpoints/step_N` for the current step (nothing when it
    /// exists), then keeps the newest `trainer.keep_checkpoints`. Every rank
    /// of a data-parallel job calls it: rank 0 writes the checkpoint, each
    /// rank adds what its optimizer keeps (ZeRO-1 shards), and rank 0
    /// renames it into place once all have written.
    pub fn save_checkpoint(&mut self) -> Result<PathBuf> {
        let step = self.state.step;
        let main = self.world.is_main();
        let final_dir = self.run.checkpoint(step);
        if dist::any(&self.world, main && final_dir.exists())? {
            return Ok(final_dir);
        }
        // One temporary for all ranks; a single process keeps its pid in the name.
        let owner =
            if self.world.is_distributed() { "ranks".to_string() } else { std::process::id().to_string() };
        let tmp = self.run.checkpoints().join(format!(".step_{step:06}.tmp-{owner}"));
        // Rank 0 writes the model directories first (each replaces its
        // directory whole); then every rank adds its optimizer part.
        let models = if main {
            let _ = std::fs::remove_dir_all(&tmp);
            self.write_models(&tmp)
        } else {
            Ok(())
        };
        self.world.barrier()?;
        let written = models.and_then(|()| self.write_states(&tmp));
        let failed_somewhere = dist::any(&self.world, written.is_err())?;
        let written = match (written, failed_somewhere) {
            (Ok(()), true) => Err(TrainError::Invalid("another rank failed to write its part".into())),
            (result, _) => result,
        };
        let written = written.and_then(|()| {
            if !main {
                return Ok(());
            }
            std::fs::rename(&tmp, &final_dir)
                .with_context(|| format!("cannot rename {} to {}", tmp.display(), final_dir.display()))
        });
        if let Err(e) = written {
            // A half-written checkpoint only takes space (on a full disk, the
            // space the next attempt needs).
            if main {
                let _ = std::fs::remove_dir_all(&tmp);
            }
            return Err(e).with_context(|| format!("saving checkpoint {}", final_dir.display()));
        }
        if main {
            tz_run_dir::sync_dir(&self.run.checkpoints())?;
            // Later checkpoints copy their tokenizer and configs from this one:
            // the directory the run started (or resumed) from may be pruned.
            self.policy.dir = ModelDir::open(&final_dir)?;
            self.run.prune(self.cfg.trainer.keep_checkpoints);
        }
        // No rank reads the new checkpoint before rank 0 has renamed it.
        self.world.barrier()?;
        Ok(final_dir)
    }

    /// The policy (and the critic) in the Hugging Face layout, into `dir` (rank 0).
    fn write_models(&self, dir: &Path) -> Result<()> {
        self.policy.save_model_dir(dir)?;
        if let Some(critic) = &self.critic {
            critic.save_weights(dir)?;
        }
        Ok(())
    }

    /// The optimizer states (every rank: its part) and the trainer state
    /// (rank 0), into `dir` after [`Trainer::write_models`].
    fn write_states(&mut self, dir: &Path) -> Result<()> {
        self.opt.save(&dir.join(OPTIMIZER_FILE))?;
        if let Some(critic) = &self.critic {
            critic.save_optimizer(dir)?;
        }
        if !self.world.is_main() {
            return Ok(());
        }
        self.state.kl = self.kl;
        self.state.curricula.clear();
        for c in &self.curricula.list {
            self.state.curricula.insert(c.name().to_string(), c.state()?);
        }
        self.state.task = Some(self.task.state()?);
        self.state.save(dir)
    }

    /// Restores what [`Trainer::save_checkpoint`] wrote into `ckpt` (the
    /// policy and critic weights are loaded when they are built).
    pub(crate) fn restore(&mut self, ckpt: &Path) -> Result<()> {
        self.state = TrainerState::load(ckpt)?;
        self.opt.load(&ckpt.join(OPTIMIZER_FILE))?;
        self.kl = self.state.kl;
        for c in self.curricula.list.iter_mut() {
            if let Some(s) = self.state.curricula.get(c.name()) {
                c.restore(s)?;
            }
        }
        if let Some(s) = &self.state.task {
            self.task.restore(s)?;
        }
        Ok(())
    }
}

/// Whether a checkpoint's files parse: config, trainer state, and every
/// safetensors file whole (its header read, its length checked, so a file
/// cut short by a full disk fails here without reading gigabytes).
pub fn check_readable(ckpt: &Path) -> Result<()> {
    let bad = |what: &Path| format!("checkpoint {} is unreadable ({})", ckpt.display(), what.display());
    // Opening finds the weight files (a missing one fails here).
    let model = ModelDir::open(ckpt).with_context(|| bad(&ckpt.join("config.json")))?;
    TrainerState::load(ckpt).with_context(|| bad(&ckpt.join("trainer_state.json")))?;
    let mut files = model.weight_files().files.clone();
    files.extend(optimizer_files(ckpt));
    for file in files {
        safetensors_complete(&file).with_context(|| bad(&file))?;
    }
    Ok(())
}

/// The optimizer state of a checkpoint: one replicated file, or the
/// ZeRO-1 shards of every rank (`optimizer.zero1-rank<r>-of-<W>.safetensors`).
fn optimizer_files(ckpt: &Path) -> Vec<PathBuf> {
    let replicated = ckpt.join(OPTIMIZER_FILE);
    let stem = OPTIMIZER_FILE.trim_end_matches(".safetensors");
    let mut shards: Vec<PathBuf> = std::fs::read_dir(ckpt)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{stem}.zero1-rank")) && n.ends_with(".safetensors"))
        })
        .collect();
    if shards.is_empty() || replicated.exists() {
        return vec![replicated];
    }
    shards.sort();
    shards
}

/// A safetensors file is an 8-byte header length, a JSON header giving each
/// tensor's byte range, then the data: complete when the data is all there.
fn safetensors_complete(path: &Path) -> Result<()> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut n = [0u8; 8];
    file.read_exact(&mut n)?;
    let header_len = u64::from_le_bytes(n);
    ensure!(header_len <= len.saturating_sub(8), "a header longer than the file");
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)?;
    let header: Map<String, Value> = serde_json::from_slice(&header)?;
    let end = header
        .iter()
        .filter(|(k, _)| k.as_str() != "__metadata__")
        .filter_map(|(_, v)| v["data_offsets"][1].as_u64())
        .max()
        .unwrap_or(0);
    ensure!(8 + header_len + end <= len, "{} bytes, {} expected", len, 8 + header_len + end);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_safetensors_file_cut_short_is_incomplete_and_a_whole_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let header = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0u8; 8]);
        let path = dir.path().join("model.safetensors");
        std::fs::write(&path, &bytes).unwrap();
        safetensors_complete(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let err = safetensors_complete(&path).unwrap_err().to_string();
        assert!(err.contains("expected"), "{err}");
        std::fs::write(&path, &bytes[..4]).unwrap();
        assert!(safetensors_complete(&path).is_err());
    }
}
