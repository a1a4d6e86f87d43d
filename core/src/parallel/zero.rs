//! ZeRO-1 (Rajbhandari et al. 2020, stage 1): the AdamW moments and f32
//! master weights are split across the ranks; weights and gradients stay
//! whole on every rank.
//!
//! Layout: the trainable parameters (name order) are laid end to end in one
//! flat vector, padded to a multiple of the world size; rank `r` owns
//! elements `[r·S, (r+1)·S)`. Its part of each parameter is a *segment*,
//! a view of its shard of the weights, and an ordinary [`AdamW`] optimises
//! the segments (moments, and an f32 master for low-precision weights, per
//! segment: a 1/W share of the replicated state). One step:
//!
//! 1. the model's gradients, flattened, are reduce-scattered (sum): each
//!    rank receives the summed gradient of its shard;
//! 2. the global norm is one all-reduce of the shards' squared norms; a
//!    non-finite norm skips the step on every rank, as one process would;
//! 3. AdamW updates the shard (clipping by the global norm);
//! 4. the shards are all-gathered back into the model's parameters.
//!
//! Element for element this is the replicated AdamW's arithmetic, so the
//! weights match it up to the summation order of the gradient norm.
//! State files: one per rank (`<stem>.zero1-rank<r>-of-<W>.safetensors`),
//! resumable on the same world size only.

use std::ops::Range;
use std::path::{Path, PathBuf};

use tch::nn::VarStore;
use tch::{Kind, Tensor};
use tz_dist::{DistError, ReduceOp, World};

use super::grad_sync::agree_on_defined_grads;
use super::optimizer::Optimizer;
use crate::error::{bail, Context};
use crate::optim::{AdamW, AdamWConfig, StepInfo};

/// A piece of one parameter inside this rank's shard.
#[derive(Debug)]
struct Segment {
    param: usize,
    in_shard: Range<usize>,
    /// The view of the shard's weights that the inner AdamW updates.
    weights: Tensor,
}

/// AdamW with ZeRO-1 state sharding (see the module doc).
#[derive(Debug)]
pub struct ZeroAdamW {
    world: World,
    /// The model's trainable parameters, in name order.
    params: Vec<Tensor>,
    /// Where each parameter starts in the flat vector.
    offsets: Vec<usize>,
    shard_len: usize,
    /// This rank's `[shard_len]` slice of the flat weights (padding zeros at the end).
    shard: Tensor,
    segments: Vec<Segment>,
    inner: AdamW,
    /// `[world · shard_len]`: the flat gradients, then the gathered weights.
    flat: Tensor,
}

impl ZeroAdamW {
    /// Shards the optimizer of `vs`'s trainable variables (name order, as
    /// [`AdamW::from_var_store`]). The weights must already be equal on all
    /// ranks ([`super::broadcast_parameters`]).
    pub fn from_var_store(world: World, vs: &VarStore, cfg: AdamWConfig) -> Result<ZeroAdamW, DistError> {
        let mut named: Vec<(String, Tensor)> =
            vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        ZeroAdamW::new(world, named, cfg)
    }

    /// Shards the optimizer of `named` (same names, shapes and order on every rank).
    pub fn new(world: World, named: Vec<(String, Tensor)>, cfg: AdamWConfig) -> Result<ZeroAdamW, DistError> {
        let usage = |problem: String| DistError::Usage {
            op: "ZeRO-1",
            rank: world.rank(),
            world: world.size(),
            problem,
        };
        let Some((_, first)) = named.first() else { return Err(usage("no parameters to optimise".into())) };
        let (kind, device) = (first.kind(), first.device());
        if let Some((name, t)) = named.iter().find(|(_, t)| t.kind() != kind || t.device() != device) {
            return Err(usage(format!(
                "all parameters must share one dtype and device: {name} is {:?} on {:?}, the first is {kind:?} on {device:?}",
                t.kind(),
                t.device()
            )));
        }
        let _no_grad = tch::no_grad_guard();
        let mut offsets = Vec::with_capacity(named.len());
        let mut total = 0;
        for (_, t) in &named {
            offsets.push(total);
            total += t.numel();
        }
        let size = world.size();
        let shard_len = total.div_ceil(size).max(1);
        let mine = world.rank() * shard_len..(world.rank() + 1) * shard_len;
        let shard = Tensor::zeros([shard_len as i64], (kind, device));
        let mut segments = Vec::new();
        let mut inner_params = Vec::new();
        for (i, ((name, t), &start)) in named.iter().zip(&offsets).enumerate() {
            let overlap = start.max(mine.start)..(start + t.numel()).min(mine.end);
            if overlap.is_empty() {
                continue;
            }
            let in_shard = overlap.start - mine.start..overlap.end - mine.start;
            let within = overlap.start - start..overlap.end - start;
            let weights = shard.narrow(0, in_shard.start as i64, in_shard.len() as i64);
            weights.shallow_clone().copy_(&t.detach().reshape([-1]).narrow(
                0,
                within.start as i64,
                within.len() as i64,
            ));
            let label = format!("{name}[{}..{}]", within.start, within.end);
            inner_params.push((label, weights.shallow_clone(), t.dim() >= 2));
            segments.push(Segment { param: i, in_shard, weights });
        }
        let inner = AdamW::with_decay(inner_params, cfg);
        let flat = Tensor::zeros([(shard_len * size) as i64], (kind, device));
        let params = named.into_iter().map(|(_, t)| t).collect();
        Ok(ZeroAdamW { world, params, offsets, shard_len, shard, segments, inner, flat })
    }

    /// Elements of the flat parameter vector this rank optimises.
    pub fn shard_len(&self) -> usize {
        self.shard_len
    }

    /// This rank's state file for a checkpoint whose single-process state
    /// file is `path`.
    pub fn rank_file(&self, path: &Path) -> PathBuf {
        rank_file(path, self.world.rank(), self.world.size())
    }

    fn flat_slice(&self, param: usize) -> Tensor {
        let p = &self.params[param];
        self.flat.narrow(0, self.offsets[param] as i64, p.numel() as i64)
    }
}

/// `<dir>/<stem>.zero1-rank<r>-of-<W>.safetensors`.
fn rank_file(path: &Path, rank: usize, world: usize) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("optimizer");
    path.with_file_name(format!("{stem}.zero1-rank{rank}-of-{world}.safetensors"))
}

/// Why `path`'s checkpoint has no ZeRO-1 state for `world` ranks.
fn missing_state(path: &Path, world: usize) -> String {
    if path.exists() {
        return format!(
            "{} holds a replicated optimizer state; this run shards it with ZeRO-1 over {world} ranks (resume with the settings that saved it)",
            path.display()
        );
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("optimizer");
    let prefix = format!("{stem}.zero1-rank0-of-");
    let dir = path.parent().unwrap_or(Path::new("."));
    let saved_by = std::fs::read_dir(dir).into_iter().flatten().flatten().find_map(|entry| {
        let name = entry.file_name().into_string().ok()?;
        name.strip_prefix(&prefix)?.strip_suffix(".safetensors")?.parse::<usize>().ok()
    });
    if let Some(other) = saved_by {
        return format!(
            "{}: the ZeRO-1 optimizer state was saved by {other} ranks, this run has {world} (resume on the same world size)",
            dir.display()
        );
    }
    format!("no optimizer state next to {}", path.display())
}

impl Optimizer for ZeroAdamW {
    fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.zero_grad();
        }
    }

    fn step(&mut self) -> Result<StepInfo, DistError> {
        let _no_grad = tch::no_grad_guard();
        let defined = agree_on_defined_grads(&self.world, &self.params)?;
        let _ = self.flat.zero_();
        for (i, p) in self.params.iter().enumerate() {
            if defined[i] {
                self.flat_slice(i).copy_(&p.grad().reshape([-1]));
            }
        }
        let grads = Tensor::empty([self.shard_len as i64], (self.flat.kind(), self.flat.device()));
        self.world.reduce_scatter_flat(&grads, &self.flat, ReduceOp::Sum)?;
        let mut square = [grads.to_kind(Kind::Float).square().sum(Kind::Float).double_value(&[])];
        self.world.all_reduce_f64(&mut square, ReduceOp::Sum)?;
        let grad_norm = square[0].sqrt();
        for seg in &self.segments {
            let grad = if defined[seg.param] {
                grads.narrow(0, seg.in_shard.start as i64, seg.in_shard.len() as i64)
            } else {
                Tensor::new() // undefined: the inner AdamW skips it
            };
            tz_dist::set_grad(&seg.weights, &grad).map_err(|e| DistError::Usage {
                op: "ZeRO-1 step",
                rank: self.world.rank(),
                world: self.world.size(),
                problem: e.to_string(),
            })?;
        }
        let info = self.inner.step_with_norm(grad_norm);
        if info.skipped {
            return Ok(info);
        }
        self.world.all_gather_flat(&self.flat, &self.shard)?;
        for (i, p) in self.params.iter().enumerate() {
            p.shallow_clone().copy_(&self.flat_slice(i).view(p.size().as_slice()));
        }
        Ok(info)
    }

    fn current_lr(&self) -> f64 {
        self.inner.current_lr()
    }
    fn steps_taken(&self) -> u64 {
        self.inner.steps_taken()
    }
    fn config(&self) -> &AdamWConfig {
        self.inner.config()
    }
    fn set_config(&mut self, cfg: AdamWConfig) {
        self.inner.set_config(cfg)
    }

    /// Every rank writes its own file next to `path`.
    fn save(&self, path: &Path) -> crate::Result<()> {
        self.inner.save(&self.rank_file(path))
    }

    fn load(&mut self, path: &Path) -> crate::Result<()> {
        let file = self.rank_file(path);
        if !file.exists() {
            bail!(Checkpoint: "rank {}: {}", self.world.rank(), missing_state(path, self.world.size()));
        }
        // Restores the moments and the f32 masters of low-precision weights;
        // the weights themselves come from the checkpoint's model files.
        self.inner
            .load(&file)
            .with_context(|| format!("rank {}: loading ZeRO-1 state", self.world.rank()))?;
        Ok(())
    }
}
