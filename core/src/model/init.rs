//! Parameter initialisation as transformers' `PreTrainedModel._init_weights`
//! does it for these families: N(0, 0.02) for linear and embedding weights, zero biases, unit norms.
//! Checkpoints overwrite these; the values matter only for models trained from
//! scratch (the tiny preset) and for random benchmark models.

use tch::nn;

/// `initializer_range` of the supported families' configs.
pub const INITIALIZER_RANGE: f64 = 0.02;

pub fn normal_init() -> nn::Init {
    nn::Init::Randn { mean: 0.0, stdev: INITIALIZER_RANGE }
}

/// `<p>.weight` [output, input] (and `<p>.bias` [output] with `bias`).
pub fn linear(p: &nn::Path, input: usize, output: usize, bias: bool) -> nn::Linear {
    let bs_init = bias.then_some(nn::Init::Const(0.0));
    let cfg = nn::LinearConfig { ws_init: normal_init(), bs_init, bias };
    nn::linear(p, input as i64, output as i64, cfg)
}

/// Re-initialises every variable of `vs` as [`crate::model::Decoder::new`]
/// does, but from a host-side ChaCha stream seeded by `seed` instead of
/// libtorch's global generator, which any other thread may draw from at the
/// same time. Used where a model trained from scratch must be reproducible
/// (the tiny preset). Variables are visited in name order; `*norm.weight`
/// gets ones, `*.bias` zeros, everything else N(0, 0.02).
pub fn init_from_seed(vs: &nn::VarStore, seed: u64) {
    fill_from_seed(vs, seed, init_fill);
}

/// The initialisation of the variable `name` (see [`init_from_seed`]).
pub fn init_fill(name: &str) -> Fill {
    if name.ends_with("norm.weight") {
        Fill::Const(1.0)
    } else if name.ends_with(".bias") {
        Fill::Const(0.0)
    } else {
        Fill::Normal { mean: 0.0, std: INITIALIZER_RANGE }
    }
}

/// What [`fill_from_seed`] writes into one variable.
#[derive(Debug, Clone, Copy)]
pub enum Fill {
    /// Every element this value (draws nothing from the stream).
    Const(f64),
    /// Independent N(mean, std²) draws.
    Normal { mean: f64, std: f64 },
}

/// Overwrites every variable of `vs`, visited in name order, with what
/// `fill(name)` says, drawing from one ChaCha stream seeded by `seed`: the
/// same seed gives the same weights whatever other threads do with
/// libtorch's global generator.
pub fn fill_from_seed(vs: &nn::VarStore, seed: u64, fill: impl Fn(&str) -> Fill) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut vars: Vec<(String, tch::Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let _g = tch::no_grad_guard();
    for (name, mut var) in vars {
        let value = match fill(&name) {
            Fill::Const(c) => tch::Tensor::full_like(&var, c),
            Fill::Normal { mean, std } => {
                // Box-Muller on the host: a few million draws at most for the
                // models this is meant for.
                let n = var.numel();
                let mut values = Vec::with_capacity(n);
                while values.len() < n {
                    let (u1, u2): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random::<f64>());
                    let r = (-2.0 * u1.ln()).sqrt();
                    let theta = std::f64::consts::TAU * u2;
                    values.push((r * theta.cos() * std + mean) as f32);
                    values.push((r * theta.sin() * std + mean) as f32);
                }
                values.truncate(n);
                tch::Tensor::from_slice(&values).view(var.size().as_slice()).to_device(var.device())
            }
        };
        var.copy_(&value);
    }
}
