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

use anyhow::{Context, Result};
use tch::{Device, Kind, Tensor};
use tz_core::critic::{update_critic, Critic, CriticInputs, CriticUpdateConfig};
use tz_core::optim::{AdamW, AdamWConfig, Decay};
use tz_core::rl_batch::SequenceBatch;
use tz_core::ModelDir;
use tz_sdk::{CriticSettings, LossSettings};

use crate::config::{Origin, Resolved, RunConfig};

/// The critic's directory inside a checkpoint.
pub const CRITIC_DIR: &str = "critic";
/// Its optimizer state, inside [`CRITIC_DIR`].
pub const CRITIC_OPTIMIZER: &str = "critic_optimizer.safetensors";

/// The critic of a run and its optimizer.
pub struct CriticRun {
    critic: Critic,
    opt: AdamW,
    settings: CriticSettings,
    /// The base model's directory: its config and tokenizer files go into saves.
    base: ModelDir,
}

impl CriticRun {
    /// The critic when `loss` asks for one: from the base model at
    /// `model_path` for a new run, from `checkpoint/critic` on resume.
    pub fn create(
        loss: &LossSettings,
        cfg: &RunConfig,
        model_path: &Path,
        checkpoint: Option<&Path>,
        device: Device,
        kind: Kind,
    ) -> Result<Option<CriticRun>> {
        let Some(settings) = loss.critic.into_option() else {
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
                let opt = AdamW::from_var_store(&critic.vs, opt_cfg);
                (critic, opt)
            }
            Some(ckpt) => {
                let dir = ckpt.join(CRITIC_DIR);
                anyhow::ensure!(
                    dir.is_dir(),
                    "checkpoint {} has no {CRITIC_DIR}/ directory, but this run trains a critic",
                    ckpt.display()
                );
                let critic = Critic::from_checkpoint(&ModelDir::open(&dir)?, device, kind)?;
                let mut opt = AdamW::from_var_store(&critic.vs, opt_cfg);
                opt.load(&dir.join(CRITIC_OPTIMIZER))?;
                (critic, opt)
            }
        };
        critic.backbone.set_gradient_checkpointing(cfg.trainer.gradient_checkpointing);
        Ok(Some(CriticRun { critic, opt, settings, base }))
    }

    /// Writes `checkpoint_dir/critic/` (weights, config, tokenizer, optimizer).
    pub fn save(&self, checkpoint_dir: &Path) -> Result<()> {
        let dir = checkpoint_dir.join(CRITIC_DIR);
        self.critic
            .save(&self.base, &dir)
            .with_context(|| format!("saving the critic to {}", dir.display()))?;
        self.opt.save(&dir.join(CRITIC_OPTIMIZER))
    }

    /// True while only the critic trains (steps are 1-based).
    pub fn warming_up(&self, step: u64) -> bool {
        step <= u64::from(self.settings.warmup_steps)
    }

    /// Per-token values of the batch's responses, `[N, R]`, zero at padding.
    pub fn values(&self, batch: &SequenceBatch, micro: i64) -> Tensor {
        self.critic.values(batch, micro)
    }

    /// One critic update towards `returns`; the metrics with veRL's names.
    pub fn update(
        &mut self,
        batch: &SequenceBatch,
        old_values: &Tensor,
        returns: &Tensor,
        cfg: &RunConfig,
        step: u64,
    ) -> Vec<(&'static str, f64)> {
        let update_cfg = CriticUpdateConfig {
            ppo_epochs: cfg.trainer.ppo_epochs,
            mini_batch_size: cfg.trainer.mini_batch_size,
            micro_batch_size: cfg.trainer.micro_batch_size,
            clip_value: f64::from(self.settings.clip_value),
            // Another shuffle than the actor's.
            seed: cfg.trainer.seed.wrapping_mul(2_000_003).wrapping_add(step) ^ 0xC417_1C,
        };
        let inputs = CriticInputs { batch, old_values, returns };
        update_critic(&self.critic, &mut self.opt, &inputs, &update_cfg).named()
    }
}

/// PPO settings for the tiny default model, applied only where the user set
/// nothing (see the README):
/// - `critic_lr` 1e-3: TinyZero's 1e-5 is tuned for billion-parameter
///   models; a ~1M-parameter critic barely moves at it in the few hundred
///   steps of the main job (3e-3 was measured worse than 1e-3).
/// - `kl_placement = "none"`: TinyZero's k1 penalty of 0.001 in the reward
///   is ~1e-5 per token here, far below the 0.1/1 rewards, yet it costs a
///   reference-model forward each step; the tiny GRPO recipe has no KL either.
///
/// The actor learning rate is set where origins are known:
/// [`apply_tiny_ppo_lr`].
pub fn apply_tiny_ppo_defaults(cfg: &mut RunConfig) {
    if !cfg.model.path.is_empty() || !cfg.algorithm.chain.iter().any(|a| a == "ppo") {
        return;
    }
    let ppo = cfg.algorithm.plugins.entry("ppo".into()).or_default();
    ppo.entry("critic_lr").or_insert(toml::Value::Float(1e-3));
    ppo.entry("kl_placement").or_insert(toml::Value::String("none".into()));
}

/// `trainer.lr` 1e-4 instead of the GRPO recipe's 2e-4 for PPO on the tiny
/// model, unless the user set a learning rate (in a file, a flag or a sweep):
/// whitened per-token advantages give every token a unit-scale signal
/// (GRPO's are zero on groups with equal rewards), and at 2e-4 the policy's
/// entropy collapsed and greedy success fell by about 5 points within 300
/// steps. Needs the origins, so it runs on the resolved config before the
/// trainer starts (`tzhost train`, `config show`); a resumed run reads the
/// value from its saved config.
pub fn apply_tiny_ppo_lr(resolved: &mut Resolved) {
    let cfg = &resolved.config;
    let tiny_ppo = cfg.model.path.is_empty() && cfg.algorithm.chain.iter().any(|a| a == "ppo");
    let user_set = !matches!(resolved.origins.get("trainer.lr"), None | Some(Origin::Default));
    if tiny_ppo && !user_set {
        resolved.apply(Origin::Preset("the tiny model".into()), |c| c.trainer.lr = TINY_PPO_ACTOR_LR);
    }
}

/// The tiny model's PPO actor learning rate (see [`apply_tiny_ppo_defaults`]).
pub const TINY_PPO_ACTOR_LR: f64 = 1e-4;
