//! AdamW over plain tensors, with a state that saves and restores exactly
//! (tch's optimizer wraps libtorch's C++ AdamW and exposes no state).
//!
//! - Decoupled weight decay as in PyTorch's `AdamW` (`w -= lr·wd·w`), applied
//!   to matrices only (`dim >= 2`); biases and norm weights are not decayed,
//!   the usual transformers `Trainer` grouping.
//! - Learning rate: linear warmup over `warmup_steps` (step `s` gets
//!   `lr·(s+1)/warmup`, so the first update is not wasted at lr 0), then
//!   constant, linear or cosine decay to `min_lr_ratio·lr` at `total_steps`.
//! - Global grad-norm clipping; the norm is returned for logging. A
//!   non-finite norm skips the update (and is reported) instead of writing
//!   NaN into the weights.
//! - Parameters held in bf16/f16 get an f32 master copy, so small updates are
//!   not lost to rounding; moments are always f32.
//! - [`AdamW::save`]/[`AdamW::load`]: one safetensors file with the moments,
//!   the master copies and (in its metadata) the step count and config.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, View};
use serde::{Deserialize, Serialize};
use tch::{nn::VarStore, Kind, Tensor};

use crate::error::{bail, ensure, Context, CoreError};

/// How the learning rate moves after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decay {
    Constant,
    Linear,
    Cosine,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamWConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Clip the global gradient L2 norm to this; `None` disables.
    pub max_grad_norm: Option<f64>,
    pub warmup_steps: u64,
    /// Steps over which `decay` runs (ignored for constant).
    pub total_steps: u64,
    pub decay: Decay,
    /// Final learning rate as a fraction of `lr` (linear/cosine).
    pub min_lr_ratio: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            lr: 1e-6,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            max_grad_norm: Some(1.0),
            warmup_steps: 0,
            total_steps: 0,
            decay: Decay::Constant,
            min_lr_ratio: 0.0,
        }
    }
}

impl AdamWConfig {
    /// The learning rate of update number `step` (0-based).
    pub fn lr_at(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps);
        if self.decay == Decay::Constant || span == 0 {
            return self.lr;
        }
        let progress = ((step - self.warmup_steps) as f64 / span as f64).min(1.0);
        let factor = match self.decay {
            Decay::Linear => 1.0 - progress,
            Decay::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
            Decay::Constant => 1.0,
        };
        self.lr * (self.min_lr_ratio + (1.0 - self.min_lr_ratio) * factor)
    }
}

/// What one [`AdamW::step`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepInfo {
    pub lr: f64,
    /// Global L2 norm of the gradients before clipping.
    pub grad_norm: f64,
    /// The update was skipped because the norm was not finite.
    pub skipped: bool,
}

#[derive(Debug)]
struct ParamState {
    name: String,
    param: Tensor,
    decay: bool,
    m: Tensor,
    v: Tensor,
    /// f32 copy of a low-precision parameter.
    master: Option<Tensor>,
}

#[derive(Debug)]
pub struct AdamW {
    cfg: AdamWConfig,
    params: Vec<ParamState>,
    steps: u64,
}

impl AdamW {
    /// Optimises the given named parameters (names key the saved state).
    pub fn new(named: Vec<(String, Tensor)>, cfg: AdamWConfig) -> Self {
        let named = named.into_iter().map(|(name, param)| {
            let decay = param.dim() >= 2;
            (name, param, decay)
        });
        Self::with_decay(named.collect(), cfg)
    }

    /// [`AdamW::new`] with the weight-decay choice given per parameter
    /// (ZeRO-1 optimises flat slices whose original shape decides it).
    pub fn with_decay(named: Vec<(String, Tensor, bool)>, cfg: AdamWConfig) -> Self {
        let _g = tch::no_grad_guard();
        let params = named
            .into_iter()
            .map(|(name, param, decay)| {
                let zeros = || Tensor::zeros(param.size(), (Kind::Float, param.device()));
                let master = (param.kind() != Kind::Float).then(|| param.detach().to_kind(Kind::Float));
                ParamState { decay, m: zeros(), v: zeros(), master, name, param }
            })
            .collect();
        Self { cfg, params, steps: 0 }
    }

    /// Every trainable variable of `vs`, in name order.
    pub fn from_var_store(vs: &VarStore, cfg: AdamWConfig) -> Self {
        let mut named: Vec<(String, Tensor)> =
            vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        Self::new(named, cfg)
    }

    pub fn config(&self) -> &AdamWConfig {
        &self.cfg
    }

    /// Updates taken so far (skipped ones not counted).
    pub fn steps_taken(&self) -> u64 {
        self.steps
    }

    /// The learning rate the next step will use.
    pub fn current_lr(&self) -> f64 {
        self.cfg.lr_at(self.steps)
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.param.zero_grad();
        }
    }

    /// Global L2 norm of the current gradients (one device sync).
    pub fn grad_norm(&self) -> f64 {
        let _g = tch::no_grad_guard();
        let squares: Vec<Tensor> = self
            .params
            .iter()
            .map(|p| p.param.grad())
            .filter(|g| g.defined())
            .map(|g| g.to_kind(Kind::Float).square().sum(Kind::Float))
            .collect();
        if squares.is_empty() {
            return 0.0;
        }
        Tensor::stack(&squares, 0).sum(Kind::Float).sqrt().double_value(&[])
    }

    /// The optimised parameters, in order (handles sharing their storage).
    pub fn parameters(&self) -> Vec<Tensor> {
        self.params.iter().map(|p| p.param.shallow_clone()).collect()
    }

    /// Clips, then applies one AdamW update to every parameter that has a gradient.
    pub fn step(&mut self) -> StepInfo {
        let grad_norm = self.grad_norm();
        self.step_with_norm(grad_norm)
    }

    /// [`AdamW::step`] with the global gradient norm computed by the caller
    /// (ZeRO-1: each rank holds a slice of the gradients).
    pub fn step_with_norm(&mut self, grad_norm: f64) -> StepInfo {
        let _g = tch::no_grad_guard();
        let lr = self.current_lr();
        if !grad_norm.is_finite() {
            return StepInfo { lr, grad_norm, skipped: true };
        }
        let clip = match self.cfg.max_grad_norm {
            Some(max) if grad_norm > max => max / (grad_norm + 1e-6),
            _ => 1.0,
        };
        self.steps += 1;
        let t = self.steps as i32;
        let (b1, b2) = (self.cfg.beta1, self.cfg.beta2);
        let bias1 = 1.0 - b1.powi(t);
        let bias2_sqrt = (1.0 - b2.powi(t)).sqrt();
        for p in &mut self.params {
            let grad = p.param.grad();
            if !grad.defined() {
                continue;
            }
            let g = grad.to_kind(Kind::Float) * clip;
            let _ = p.m.lerp_(&g, 1.0 - b1);
            let _ = p.v.g_mul_scalar_(b2);
            let _ = p.v.addcmul_(&g, &(&g * (1.0 - b2)));
            let denom = p.v.sqrt() / bias2_sqrt + self.cfg.eps;
            let update = &p.m / denom * (lr / bias1);
            let weights = p.master.as_mut().unwrap_or(&mut p.param);
            if p.decay && self.cfg.weight_decay != 0.0 {
                let _ = weights.g_mul_scalar_(1.0 - lr * self.cfg.weight_decay);
            }
            let _ = weights.g_sub_(&update);
            if let Some(master) = &p.master {
                p.param.copy_(&master.to_kind(p.param.kind()));
            }
        }
        StepInfo { lr, grad_norm, skipped: false }
    }

    /// Writes the state to `path` (safetensors; temp file + rename).
    pub fn save(&self, path: &Path) -> crate::Result<()> {
        let mut tensors: Vec<(String, F32View)> = Vec::new();
        for p in &self.params {
            tensors.push((format!("m.{}", p.name), F32View::of(&p.m)?));
            tensors.push((format!("v.{}", p.name), F32View::of(&p.v)?));
            if let Some(master) = &p.master {
                tensors.push((format!("master.{}", p.name), F32View::of(master)?));
            }
        }
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), "tinyzero-rs adamw v1".to_string());
        meta.insert("steps".to_string(), self.steps.to_string());
        meta.insert("config".to_string(), serde_json::to_string(&self.cfg)?);
        let tmp = path.with_extension("safetensors.tmp");
        safetensors::serialize_to_file(tensors, Some(meta), &tmp)
            .with_context(|| format!("cannot write optimizer state {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot move optimizer state to {}", path.display()))?;
        Ok(())
    }

    /// Restores a state written by [`AdamW::save`] for the same parameter
    /// names and shapes. The config is restored too (a resumed run continues
    /// its schedule); use [`AdamW::set_config`] afterwards to override it.
    pub fn load(&mut self, path: &Path) -> crate::Result<()> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read optimizer state {}", path.display()))?;
        let file = SafeTensors::deserialize(&bytes).map_err(|e| {
            CoreError::Checkpoint(format!("{} is not a safetensors file: {e}", path.display()))
        })?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| CoreError::Checkpoint(format!("{}: {e}", path.display())))?;
        let meta = header.metadata().clone().unwrap_or_default();
        ensure!(
            meta.get("format").map(String::as_str) == Some("tinyzero-rs adamw v1"),
            Checkpoint: "{} is not an optimizer state written by tinyzero-rs",
            path.display()
        );
        let steps: u64 =
            meta.get("steps").and_then(|s| s.parse().ok()).context("optimizer state has no step count")?;
        let cfg: AdamWConfig = serde_json::from_str(meta.get("config").map(String::as_str).unwrap_or(""))
            .with_context(|| format!("{}: bad optimizer config", path.display()))?;
        let _g = tch::no_grad_guard();
        for p in &mut self.params {
            let restore = |prefix: &str, dst: &mut Tensor| -> crate::Result<()> {
                let key = format!("{prefix}.{}", p.name);
                let view = file.tensor(&key).map_err(|_| {
                    CoreError::Checkpoint(format!(
                        "{}: no entry '{key}' for parameter {}",
                        path.display(),
                        p.name
                    ))
                })?;
                let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
                ensure!(view.dtype() == Dtype::F32, Checkpoint: "{}: '{key}' is not f32", path.display());
                ensure!(
                    shape == dst.size(),
                    Checkpoint: "{}: '{key}' has shape {:?}, expected {:?}",
                    path.display(),
                    shape,
                    dst.size()
                );
                let src = Tensor::f_from_data_size(view.data(), &shape, Kind::Float)?;
                dst.copy_(&src);
                Ok(())
            };
            restore("m", &mut p.m)?;
            restore("v", &mut p.v)?;
            if let Some(master) = p.master.as_mut() {
                restore("master", master)?;
            }
        }
        let known: usize = self.params.iter().map(|p| 2 + p.master.is_some() as usize).sum();
        if file.len() != known {
            bail!(
                Checkpoint: "{}: has {} entries, this optimizer expects {known} (different model?)",
                path.display(),
                file.len()
            );
        }
        self.steps = steps;
        self.cfg = cfg;
        Ok(())
    }

    pub fn set_config(&mut self, cfg: AdamWConfig) {
        self.cfg = cfg;
    }
}

/// An f32 tensor copied to host memory, for the safetensors writer.
struct F32View {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl F32View {
    fn of(t: &Tensor) -> crate::Result<Self> {
        let t = t.to_kind(Kind::Float).to_device(tch::Device::Cpu).contiguous();
        let shape = t.size().iter().map(|&d| d as usize).collect();
        let values = Vec::<f32>::try_from(t.view([-1]))?;
        Ok(Self { shape, bytes: values.iter().flat_map(|x| x.to_le_bytes()).collect() })
    }
}

impl View for F32View {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        (&self.bytes).into()
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        let cfg = AdamWConfig {
            lr: 1.0,
            warmup_steps: 4,
            total_steps: 14,
            decay: Decay::Cosine,
            min_lr_ratio: 0.1,
            ..Default::default()
        };
        assert_eq!(cfg.lr_at(0), 0.25);
        assert_eq!(cfg.lr_at(3), 1.0);
        assert_eq!(cfg.lr_at(4), 1.0);
        assert!((cfg.lr_at(9) - 0.55).abs() < 1e-12);
        assert!((cfg.lr_at(14) - 0.1).abs() < 1e-12);
        assert!((cfg.lr_at(100) - 0.1).abs() < 1e-12);
        let constant = AdamWConfig { lr: 2.0, ..Default::default() };
        assert_eq!(constant.lr_at(1000), 2.0);
    }

    #[test]
    fn one_step_matches_the_adamw_formula() {
        let w = Tensor::from_slice(&[1.0f32, -2.0, 3.0, 0.5]).view([2, 2]).set_requires_grad(true);
        let cfg = AdamWConfig { lr: 0.1, weight_decay: 0.5, max_grad_norm: None, ..Default::default() };
        let mut opt = AdamW::new(vec![("w".into(), w.shallow_clone())], cfg);
        (&w * &w).sum(Kind::Float).backward(); // grad = 2w
        opt.step();
        // First step: m̂ = g, v̂ = g², so the update is lr·g/(|g|+eps) ≈ lr·sign(g).
        let got = Vec::<f32>::try_from(w.detach().view([-1])).unwrap();
        let expect: Vec<f32> =
            [1.0f32, -2.0, 3.0, 0.5].iter().map(|x| x * (1.0 - 0.1 * 0.5) - 0.1 * x.signum()).collect();
        // A few f32 operations per element, possibly fused or ordered otherwise.
        tz_testkit::assert_all_close("weights after one step", &got, &expect, tz_testkit::Tol::f32_ops(8));
    }

    #[test]
    fn clipping_reports_the_unclipped_norm_and_skips_non_finite_gradients() {
        let w = Tensor::from_slice(&[3.0f32, 4.0]).set_requires_grad(true);
        let mut opt =
            AdamW::new(vec![("w".into(), w.shallow_clone())], AdamWConfig { lr: 0.1, ..Default::default() });
        (&w * 1.0).sum(Kind::Float).backward();
        let info = opt.step();
        assert!((info.grad_norm - 2f64.sqrt()).abs() < 1e-6 && !info.skipped);
        opt.zero_grad();
        (&w * f64::NAN).sum(Kind::Float).backward();
        let before = Vec::<f32>::try_from(w.detach()).unwrap();
        let info = opt.step();
        assert!(info.skipped);
        assert_eq!(Vec::<f32>::try_from(w.detach()).unwrap(), before);
        assert_eq!(opt.steps_taken(), 1);
    }
}
