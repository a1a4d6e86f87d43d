//! The PPO critic inside a run: created only when the estimator asks for one
//! (`LossSettings.critic`), its own copy of the base model's decoder with a
//! value head ([`tz_core::critic::Critic`]), its own AdamW and learning rate.
//!
//! Each step it gives the estimator per-token values (GAE), then learns from
//! the estimator's returns with the clipped value loss. During the first
//! `critic_warmup_steps` steps only the critic trains (veRL `critic_warmup`).
//!
//! A checkpoint holds it in `step_N/critic/`: a Hugging Face-style directory
//! (`config.json`, `model.safetensors` with `model.*` and
//! `value_head.{weight,bias}`, the tokenizer files) plus
//! `critic_optimizer.safetensors`, so `tzhost resume` continues exactly.

use std::path::Path;

use tz_config::RunConfig;
use tz_core::critic::{update_critic_parallel, Critic, CriticInputs, CriticMetrics, CriticUpdateConfig};
use tz_core::optim::{AdamWConfig, Decay};
use tz_core::parallel::{broadcast_parameters, optimizer_for, BatchShard, Optimizer, World};
use tz_core::rl_batch::RlBatch;
use tz_core::{Device, Kind, ModelDir};
use tz_sdk::{CriticSettings, LossSettings};

use crate::error::{ensure, Context, Result};

/// The critic's directory inside a checkpoint.
pub const CRITIC_DIR: &str = "critic";
/// Its optimizer state, inside [`CRITIC_DIR`].
pub const CRITIC_OPTIMIZER: &str = "critic_optimizer.safetensors";

/// The critic of a run and its optimizer.
pub struct CriticRun {
    critic: Critic,
    opt: Box<dyn Optimizer>,
    settings: CriticSettings,
    /// The base model's directory: its config and tokenizer files go into saves.
    base: ModelDir,
}

impl CriticRun {
    /// The critic when `loss` asks for one: from the base model at
    /// `model_path` for a new run, from `checkpoint/critic` on resume; in a
    /// data-parallel job rank 0's weights on every rank, its optimizer
    /// laid out as `dist.zero1` says.
    pub fn create(
        world: &World,
        loss: &LossSettings,
        cfg: &RunConfig,
        model_path: &Path,
        checkpoint: Option<&Path>,
        device: Device,
        kind: Kind,
    ) -> Result<Option<CriticRun>> {
        let Some(settings) = loss.critic else {
            return Ok(None);
        };
        let base = ModelDir::open(model_path)?;
        let opt_cfg = AdamWConfig {
            lr: f64::from(settings.lr),
            beta1: cfg.trainer.betas.0,
            beta2: cfg.trainer.betas.1,
            weight_decay: cfg.trainer.weight_decay,
            max_grad_norm: (cfg.trainer.grad_clip > 0.0).then_some(cfg.trainer.grad_clip),
            warmup_steps: 0,
            decay: Decay::Constant,
            ..AdamWConfig::default()
        };
        let (mut critic, opt) = match checkpoint {
            None => {
                let critic = Critic::from_base(&base, device, kind)?;
                broadcast_parameters(world, &critic.vs, 0)?;
                let opt = optimizer_for(world, &critic.vs, opt_cfg, crate::dist::sharding(cfg))?;
                (critic, opt)
            }
            Some(ckpt) => {
                let dir = ckpt.join(CRITIC_DIR);
                ensure!(
                    dir.is_dir(),
                    "checkpoint {} has no {CRITIC_DIR}/ directory, but this run trains a critic",
                    ckpt.display()
                );
                let critic = Critic::from_checkpoint(&ModelDir::open(&dir)?, device, kind)?;
                let mut opt = optimizer_for(world, &critic.vs, opt_cfg, crate::dist::sharding(cfg))?;
                opt.load(&dir.join(CRITIC_OPTIMIZER))?;
                (critic, opt)
            }
        };
        critic.backbone.set_gradient_checkpointing(cfg.trainer.gradient_checkpointing);
        Ok(Some(CriticRun { critic, opt, settings, base }))
    }

    /// Writes `checkpoint_dir/critic/` (weights, config, tokenizer), replacing
    /// that directory whole: before [`CriticRun::save_optimizer`].
    pub fn save_weights(&self, checkpoint_dir: &Path) -> Result<()> {
        let dir = checkpoint_dir.join(CRITIC_DIR);
        self.critic.save(&self.base, &dir).with_context(|| format!("saving the critic to {}", dir.display()))
    }

    /// Writes the critic's optimizer state into `checkpoint_dir/critic/`
    /// (which file each rank writes is the optimizer's rule).
    pub fn save_optimizer(&self, checkpoint_dir: &Path) -> Result<()> {
        Ok(self.opt.save(&checkpoint_dir.join(CRITIC_DIR).join(CRITIC_OPTIMIZER))?)
    }

    /// True while only the critic trains (steps are 1-based).
    pub fn warming_up(&self, step: u64) -> bool {
        step <= u64::from(self.settings.warmup_steps)
    }

    /// The batch's per-token values under the critic (for GAE), zero at padding.
    pub fn compute_values(&self, batch: &mut RlBatch, micro: i64) {
        batch.set_values(self.critic.values(&batch.seq, micro));
    }

    /// One critic update from the values it gave towards the estimator's
    /// value targets (both in `batch`).
    pub fn update(
        &mut self,
        batch: &RlBatch,
        cfg: &RunConfig,
        step: u64,
        shard: &BatchShard,
    ) -> Result<CriticMetrics> {
        let update_cfg = CriticUpdateConfig {
            ppo_epochs: cfg.trainer.ppo_epochs,
            mini_batch_size: cfg.trainer.mini_batch_size,
            micro_batch_size: cfg.trainer.micro_batch_size,
            clip_value: f64::from(self.settings.clip_value),
            // Another shuffle than the actor's.
            seed: cfg.trainer.seed.wrapping_mul(2_000_003).wrapping_add(step) ^ 0x00C4_171C,
        };
        let mine = batch.select_rows(shard.rows());
        let inputs = CriticInputs { batch: &mine.seq, old_values: mine.values()?, returns: mine.returns()? };
        Ok(update_critic_parallel(&self.critic, self.opt.as_mut(), &inputs, &update_cfg, shard)?)
    }
}
