//! Rotary position embeddings, the non-interleaved ("rotate_half") variant of
//! every supported family, with transformers' frequency scalings
//! (`modeling_rope_utils.py`): default, linear, dynamic NTK and Llama 3.
//! Frequencies and cos/sin are computed in f32 from per-row positions
//! (left-padded rows start at position 0 at their first real token), then
//! cast to the activation dtype exactly as transformers does.

use tch::{Device, Kind, Tensor};

use crate::config::{RopeConfig, RopeScaling};

#[derive(Debug)]
pub struct RotaryEmbedding {
    /// `1 / theta^(2i/d)` for i in 0..d/2 after scaling, f32.
    inv_freq: Tensor,
    /// Kept for dynamic scaling, which recomputes the frequencies per call.
    cfg: RopeConfig,
}

/// `1 / theta^(2i/d)`, the same expression as transformers: arange(0, d, 2)
/// as int64, then to float; `theta` is an f32 tensor (a scalar for a fixed
/// theta, a 0-dim tensor for dynamic scaling).
fn plain_inv_freq(theta: &Tensor, head_dim: usize, device: Device) -> Tensor {
    let exponents = Tensor::arange_start_step(0, head_dim as i64, 2, (Kind::Int64, device))
        .to_kind(Kind::Float)
        / head_dim as f64;
    theta.pow(&exponents).reciprocal()
}

fn theta_tensor(theta: f64, device: Device) -> Tensor {
    Tensor::from(theta).to_kind(Kind::Float).to_device(device)
}

/// Llama 3.1's frequency-dependent scaling (`_compute_llama3_parameters`).
fn llama3_inv_freq(
    inv_freq: &Tensor,
    factor: f64,
    low_freq_factor: f64,
    high_freq_factor: f64,
    original_max: usize,
) -> Tensor {
    let old_context = original_max as f64;
    let low_freq_wavelen = old_context / low_freq_factor;
    let high_freq_wavelen = old_context / high_freq_factor;
    let wavelen = inv_freq.reciprocal() * (2.0 * std::f64::consts::PI);
    // Long wavelengths (low frequencies) are divided by the factor.
    let scaled = inv_freq.where_self(&wavelen.le(low_freq_wavelen), &(inv_freq / factor));
    let smooth =
        ((wavelen.reciprocal() * old_context) - low_freq_factor) / (high_freq_factor - low_freq_factor);
    let smoothed = (smooth.ones_like() - &smooth) * &scaled / factor + &smooth * &scaled;
    let medium = wavelen.ge(high_freq_wavelen).logical_and(&wavelen.le(low_freq_wavelen));
    smoothed.where_self(&medium, &scaled)
}

impl RotaryEmbedding {
    pub fn new(cfg: &RopeConfig, device: Device) -> Self {
        let base = plain_inv_freq(&theta_tensor(cfg.theta, device), cfg.head_dim, device);
        let inv_freq = match cfg.scaling {
            RopeScaling::Default | RopeScaling::Dynamic { .. } => base,
            RopeScaling::Linear { factor } => base / factor,
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => llama3_inv_freq(
                &base,
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            ),
        };
        Self { inv_freq, cfg: cfg.clone() }
    }

    /// The frequencies for a forward pass whose largest position is
    /// `max_position`. Only dynamic scaling depends on it: past
    /// `max_position_embeddings` transformers grows theta to
    /// `theta · (factor·len/max − (factor − 1))^(d/(d−2))`, computed in f32.
    /// (transformers keeps the grown frequencies across calls until a short
    /// input resets them; a generation only grows, so per-call is the same.)
    fn inv_freq_for(&self, positions: &Tensor) -> Tensor {
        let RopeScaling::Dynamic { factor, max_position_embeddings } = self.cfg.scaling else {
            return self.inv_freq.shallow_clone();
        };
        let seq_len = positions.max().int64_value(&[]) + 1;
        if seq_len <= max_position_embeddings as i64 {
            return self.inv_freq.shallow_clone();
        }
        let d = self.cfg.head_dim as f64;
        let device = self.inv_freq.device();
        let ratio = (Tensor::from(seq_len).to_device(device) * factor) / max_position_embeddings as f64
            - (factor - 1.0);
        let theta = ratio.to_kind(Kind::Float).pow_tensor_scalar(d / (d - 2.0)) * self.cfg.theta;
        plain_inv_freq(&theta.to_kind(Kind::Float), self.cfg.head_dim, device)
    }

    /// cos and sin for `positions` [B, T] (i64), shaped [B, 1, T, d] in `kind`.
    pub fn cos_sin(&self, positions: &Tensor, kind: Kind) -> (Tensor, Tensor) {
        let inv_freq = self.inv_freq_for(positions);
        let freqs = positions.to_kind(Kind::Float).unsqueeze(-1) * inv_freq.view([1, 1, -1]);
        let emb = Tensor::cat(&[&freqs, &freqs], -1).unsqueeze(1);
        (emb.cos().to_kind(kind), emb.sin().to_kind(kind))
    }
}

/// `[x1, x2] -> [-x2, x1]` over the last dimension.
fn rotate_half(x: &Tensor) -> Tensor {
    let half = x.size().last().copied().unwrap_or(0) / 2;
    let x1 = x.narrow(-1, 0, half);
    let x2 = x.narrow(-1, half, half);
    Tensor::cat(&[&x2.neg(), &x1], -1)
}

/// Rotates `x` [B, heads, T, d] by the angles in `cos`/`sin` [B, 1, T, d].
pub fn apply_rotary(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
    x * cos + rotate_half(x) * sin
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t.to_kind(Kind::Double)).unwrap()
    }

    #[test]
    fn llama3_scaling_keeps_high_and_divides_low_frequencies() {
        let cfg = RopeConfig {
            theta: 500000.0,
            scaling: RopeScaling::Llama3 {
                factor: 32.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: 8192,
            },
            head_dim: 64,
        };
        let plain = floats(
            &RotaryEmbedding::new(&RopeConfig { scaling: RopeScaling::Default, ..cfg.clone() }, Device::Cpu)
                .inv_freq,
        );
        let scaled = floats(&RotaryEmbedding::new(&cfg, Device::Cpu).inv_freq);
        let wavelen = |f: f64| 2.0 * std::f64::consts::PI / f;
        for (p, s) in plain.iter().zip(&scaled) {
            if wavelen(*p) < 8192.0 / 4.0 {
                assert_eq!(p, s);
            } else if wavelen(*p) > 8192.0 {
                assert!((s - p / 32.0).abs() <= 1e-6 * p, "{p} -> {s}");
            } else {
                assert!(*s < *p && *s > p / 32.0, "{p} -> {s}");
            }
        }
    }

    #[test]
    fn dynamic_scaling_changes_nothing_within_the_trained_length() {
        let cfg = RopeConfig {
            theta: 1e4,
            scaling: RopeScaling::Dynamic { factor: 2.0, max_position_embeddings: 8 },
            head_dim: 8,
        };
        let rope = RotaryEmbedding::new(&cfg, Device::Cpu);
        let short = Tensor::arange(8, (Kind::Int64, Device::Cpu)).unsqueeze(0);
        assert_eq!(floats(&rope.inv_freq_for(&short)), floats(&rope.inv_freq));
        let long = Tensor::arange(12, (Kind::Int64, Device::Cpu)).unsqueeze(0);
        let grown = floats(&rope.inv_freq_for(&long));
        assert_eq!(grown[0], 1.0);
        assert!(grown[1..].iter().zip(&floats(&rope.inv_freq)[1..]).all(|(g, o)| g < o));
    }
}
