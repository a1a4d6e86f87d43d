//! The SwiGLU feed-forward block: `down(silu(gate(x)) * up(x))`, with biases
//! only where Llama's `mlp_bias` asks for them.

use tch::{nn, nn::Module, Tensor};

use super::init::linear;

#[derive(Debug)]
pub struct Mlp {
    gate_proj: nn::Linear,
    up_proj: nn::Linear,
    down_proj: nn::Linear,
}

impl Mlp {
    pub fn new(p: &nn::Path, hidden: usize, intermediate: usize, bias: bool) -> Self {
        Self {
            gate_proj: linear(&(p / "gate_proj"), hidden, intermediate, bias),
            up_proj: linear(&(p / "up_proj"), hidden, intermediate, bias),
            down_proj: linear(&(p / "down_proj"), intermediate, hidden, bias),
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let gated = self.gate_proj.forward(x).silu() * self.up_proj.forward(x);
        self.down_proj.forward(&gated)
    }
}
