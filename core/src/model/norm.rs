//! RMSNorm in the Hugging Face order: normalise in f32, cast back to the
//! model dtype, then multiply by the weight (so bf16 models match transformers).

use tch::{nn, Kind, Tensor};

#[derive(Debug)]
pub struct RmsNorm {
    pub weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    /// Creates `<path>.weight` of shape `[size]`, initialised to ones.
    pub fn new(p: &nn::Path, size: usize, eps: f64) -> Self {
        Self { weight: p.var("weight", &[size as i64], nn::Init::Const(1.0)), eps }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let kind = x.kind();
        let xf = x.to_kind(Kind::Float);
        let variance = xf.square().mean_dim(-1, true, Kind::Float);
        let normed = xf * (variance + self.eps).rsqrt();
        normed.to_kind(kind) * &self.weight
    }
}
