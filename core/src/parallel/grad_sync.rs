//! Gradient synchronisation and weight broadcast for replicated models.
//!
//! Losses in a data-parallel update are normalised by the GLOBAL token and
//! sequence counts (see [`super::BatchShard`]), so each rank's gradient is
//! its share of the global loss's gradient and the ranks' gradients are
//! summed, not averaged: the result is the gradient one process would get
//! for the whole batch, whatever the split.

use tch::nn::VarStore;
use tch::Tensor;
use tz_dist::{DistError, ReduceOp, World};

/// Sums the gradients of a model's parameters over the ranks, bucketed
/// (one collective per bucket, plus one tiny one to agree on which
/// gradients exist).
#[derive(Debug, Clone)]
pub struct GradSync {
    world: World,
}

impl GradSync {
    pub fn new(world: World) -> GradSync {
        GradSync { world }
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    /// After it, every rank holds the summed gradients. A gradient that is
    /// undefined on every rank stays undefined (the optimizer skips that
    /// parameter, as one process would); one that is undefined only here (no
    /// rows on this rank) becomes zeros first. Call it on every rank with
    /// the same parameters in the same order.
    pub fn all_reduce(&self, params: &[Tensor]) -> Result<(), DistError> {
        if !self.world.is_distributed() {
            return Ok(());
        }
        let defined = agree_on_defined_grads(&self.world, params)?;
        let grads: Vec<Tensor> =
            params.iter().zip(&defined).filter(|(_, &d)| d).map(|(p, _)| p.grad()).collect();
        self.world.all_reduce(&grads, ReduceOp::Sum)
    }
}

/// Which parameters have a gradient on at least one rank; those with none
/// here get a zero gradient, so every rank enters the same reduction.
pub(crate) fn agree_on_defined_grads(world: &World, params: &[Tensor]) -> Result<Vec<bool>, DistError> {
    let mut flags: Vec<f64> = params.iter().map(|p| f64::from(u8::from(p.grad().defined()))).collect();
    world.all_reduce_f64(&mut flags, ReduceOp::Max)?;
    let _no_grad = tch::no_grad_guard();
    for (p, &flag) in params.iter().zip(&flags) {
        if flag > 0.0 && !p.grad().defined() {
            tz_dist::set_grad(p, &p.zeros_like()).map_err(|e| DistError::Usage {
                op: "zero gradient",
                rank: world.rank(),
                world: world.size(),
                problem: e.to_string(),
            })?;
        }
    }
    Ok(flags.iter().map(|&f| f > 0.0).collect())
}

/// Copies rank `root`'s variables (trainable or not, in name order) into
/// every rank's `vs`: all replicas start from the same weights.
pub fn broadcast_parameters(world: &World, vs: &VarStore, root: usize) -> Result<(), DistError> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let tensors: Vec<Tensor> = named.into_iter().map(|(_, t)| t).collect();
    world.broadcast(&tensors, root)
}

/// A digest of every variable of `vs` (name order, raw bytes): equal on two
/// ranks exactly when their weights are bit-identical. Cheap enough to log
/// at the end of a run.
pub fn parameters_digest(vs: &VarStore) -> u64 {
    use std::hash::Hasher;
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    // SipHash with fixed keys: the same on every process of one build.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for (name, t) in named {
        hasher.write(name.as_bytes());
        let t = t.detach().to_device(tch::Device::Cpu).contiguous();
        let mut bytes = vec![0u8; t.numel() * t.kind().elt_size_in_bytes()];
        t.copy_data_u8(&mut bytes, t.numel());
        hasher.write(&bytes);
    }
    hasher.finish()
}
