//! Parameter initialisation as transformers' `Qwen2PreTrainedModel._init_weights`
//! does it: N(0, 0.02) for linear and embedding weights, zero biases, unit norms.
//! Checkpoints overwrite these; the values matter only for models trained from
//! scratch (the tiny preset) and for random benchmark models.

use tch::nn;

/// `initializer_range` of Qwen2 configs.
pub const INITIALIZER_RANGE: f64 = 0.02;

pub fn normal_init() -> nn::Init {
    nn::Init::Randn { mean: 0.0, stdev: INITIALIZER_RANGE }
}

pub fn linear_with_bias(p: &nn::Path, input: usize, output: usize) -> nn::Linear {
    let cfg = nn::LinearConfig { ws_init: normal_init(), bs_init: Some(nn::Init::Const(0.0)), bias: true };
    nn::linear(p, input as i64, output as i64, cfg)
}

pub fn linear_no_bias(p: &nn::Path, input: usize, output: usize) -> nn::Linear {
    let cfg = nn::LinearConfig { ws_init: normal_init(), bs_init: None, bias: false };
    nn::linear(p, input as i64, output as i64, cfg)
}
