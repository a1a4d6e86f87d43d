//! [`Optimizer`]: what the update loops need from an optimizer, whatever
//! the data parallelism: plain [`AdamW`] (one process), [`ReplicatedAdamW`]
//! (gradients all-reduced, state replicated) or [`super::ZeroAdamW`]
//! (ZeRO-1: state sharded).

use std::path::Path;

use tch::nn::VarStore;
use tz_dist::{DistError, World};

use super::grad_sync::GradSync;
use super::zero::ZeroAdamW;
use crate::optim::{AdamW, AdamWConfig, StepInfo};

/// One optimizer step per mini-batch, with the gradients of every rank.
pub trait Optimizer {
    /// Zeroes the model's gradients (the accumulation buffers).
    fn zero_grad(&mut self);
    /// Synchronises the gradients across ranks, clips by the global norm and
    /// updates. Every rank must call it for every mini-batch; the returned
    /// norm and skip decision are the same on every rank.
    fn step(&mut self) -> Result<StepInfo, DistError>;
    /// The learning rate the next step will use.
    fn current_lr(&self) -> f64;
    /// Updates taken so far (skipped ones not counted).
    fn steps_taken(&self) -> u64;
    fn config(&self) -> &AdamWConfig;
    fn set_config(&mut self, cfg: AdamWConfig);
    /// Saves the optimizer state of a checkpoint whose single-process state
    /// file is `path` (what each rank writes, and where, is per impl).
    fn save(&self, path: &Path) -> crate::Result<()>;
    /// Restores what [`Optimizer::save`] wrote for the same world size.
    fn load(&mut self, path: &Path) -> crate::Result<()>;
}

impl Optimizer for AdamW {
    fn zero_grad(&mut self) {
        AdamW::zero_grad(self)
    }
    fn step(&mut self) -> Result<StepInfo, DistError> {
        Ok(AdamW::step(self))
    }
    fn current_lr(&self) -> f64 {
        AdamW::current_lr(self)
    }
    fn steps_taken(&self) -> u64 {
        AdamW::steps_taken(self)
    }
    fn config(&self) -> &AdamWConfig {
        AdamW::config(self)
    }
    fn set_config(&mut self, cfg: AdamWConfig) {
        AdamW::set_config(self, cfg)
    }
    fn save(&self, path: &Path) -> crate::Result<()> {
        AdamW::save(self, path)
    }
    fn load(&mut self, path: &Path) -> crate::Result<()> {
        AdamW::load(self, path)
    }
}

/// Data parallelism with a replicated optimizer (PyTorch DDP's layout):
/// gradients are summed across ranks before an ordinary AdamW step, so
/// every rank holds the same weights and the same state. Rank 0 alone saves
/// the state (one file, as one process writes); every rank loads it.
#[derive(Debug)]
pub struct ReplicatedAdamW {
    opt: AdamW,
    sync: GradSync,
}

impl ReplicatedAdamW {
    pub fn new(opt: AdamW, world: World) -> ReplicatedAdamW {
        ReplicatedAdamW { opt, sync: GradSync::new(world) }
    }

    pub fn inner(&self) -> &AdamW {
        &self.opt
    }
}

impl Optimizer for ReplicatedAdamW {
    fn zero_grad(&mut self) {
        self.opt.zero_grad()
    }
    fn step(&mut self) -> Result<StepInfo, DistError> {
        self.sync.all_reduce(&self.opt.parameters())?;
        Ok(self.opt.step())
    }
    fn current_lr(&self) -> f64 {
        self.opt.current_lr()
    }
    fn steps_taken(&self) -> u64 {
        self.opt.steps_taken()
    }
    fn config(&self) -> &AdamWConfig {
        self.opt.config()
    }
    fn set_config(&mut self, cfg: AdamWConfig) {
        self.opt.set_config(cfg)
    }
    fn save(&self, path: &Path) -> crate::Result<()> {
        if self.sync.world().is_main() {
            self.opt.save(path)?;
        }
        Ok(())
    }
    fn load(&mut self, path: &Path) -> crate::Result<()> {
        self.opt.load(path)
    }
}

/// How the optimizer state is laid out across ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateSharding {
    /// Every rank holds the whole state (DDP).
    #[default]
    Replicated,
    /// ZeRO-1: moments and f32 master weights split across ranks.
    Zero1,
}

/// The optimizer for the trainable variables of `vs` (in name order, as
/// [`AdamW::from_var_store`]) in `world`: plain AdamW in a single process,
/// else replicated or ZeRO-1 as asked.
pub fn optimizer_for(
    world: &World,
    vs: &VarStore,
    cfg: AdamWConfig,
    sharding: StateSharding,
) -> Result<Box<dyn Optimizer>, DistError> {
    if !world.is_distributed() {
        return Ok(Box::new(AdamW::from_var_store(vs, cfg)));
    }
    Ok(match sharding {
        StateSharding::Replicated => {
            Box::new(ReplicatedAdamW::new(AdamW::from_var_store(vs, cfg), world.clone()))
        }
        StateSharding::Zero1 => Box::new(ZeroAdamW::from_var_store(world.clone(), vs, cfg)?),
    })
}
