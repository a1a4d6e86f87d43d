//! The SwiGLU feed-forward block: `down(silu(gate(x)) * up(x))`, no biases.

use tch::{nn, nn::Module, Tensor};

use super::init::linear_no_bias;

#[derive(Debug)]
pub struct Mlp {
    gate_proj: nn::Linear,
    up_proj: nn::Linear,
    down_proj: nn::Linear,
}

impl Mlp {
    pub fn new(p: &nn::Path, hidden: usize, intermediate: usize) -> Self {
        Self {
            gate_proj: linear_no_bias(&(p / "gate_proj"), hidden, intermediate),
            up_proj: linear_no_bias(&(p / "up_proj"), hidden, intermediate),
            down_proj: linear_no_bias(&(p / "down_proj"), intermediate, hidden),
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let gated = self.gate_proj.forward(x).silu() * self.up_proj.forward(x);
        self.down_proj.forward(&gated)
    }
}
