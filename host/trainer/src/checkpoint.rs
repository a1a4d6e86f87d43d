//! Checkpoints, saved and restored as a pair, so what one writes the other
//! reads: `checkpoints/step_N/` holds the policy in the Hugging Face layout,
//! `optimizer.safetensors`, the critic (`critic/`, PPO only) and
//! `trainer_state.json` (step, stage, pool reader, KL controller, clocks,
//! every curriculum's and the task's own state).
//!
//! A checkpoint is written into a temporary directory and renamed into
//! place, so a killed run never leaves half of one (`list_checkpoints`
//! skips temporary names); the layout is the one written before the trainer
//! became a library, so older run directories resume.

use std::path::{Path, PathBuf};

use crate::error::{Context, Result};
use crate::state::TrainerState;
use crate::Trainer;

/// The optimizer state inside a checkpoint.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";

impl Trainer {
    /// Writes `checkpoints/step_N` for the current step (nothing when it
    /// exists), then keeps the newest `trainer.keep_checkpoints`.
    pub fn save_checkpoint(&mut self) -> Result<PathBuf> {
        let step = self.state.step;
        let final_dir = self.run.checkpoint(step);
        if final_dir.exists() {
            return Ok(final_dir);
        }
        let tmp = self.run.checkpoints().join(format!(".step_{step:06}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        self.policy.save_model_dir(&tmp)?;
        self.opt.save(&tmp.join(OPTIMIZER_FILE))?;
        if let Some(critic) = &self.critic {
            critic.save(&tmp)?;
        }
        self.state.kl = self.kl;
        self.state.curricula.clear();
        for c in &self.curricula.list {
            self.state.curricula.insert(c.name().to_string(), c.state()?);
        }
        self.state.task = Some(self.task.state()?);
        self.state.save(&tmp)?;
        std::fs::rename(&tmp, &final_dir)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), final_dir.display()))?;
        tz_run_dir::sync_dir(&self.run.checkpoints())?;
        self.run.prune(self.cfg.trainer.keep_checkpoints);
        Ok(final_dir)
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
