//! Rotary position embeddings, the non-interleaved ("rotate_half") variant that
//! Qwen2 uses. Frequencies and cos/sin are computed in f32 from per-row
//! positions (left-padded rows start at position 0 at their first real token),
//! then cast to the activation dtype exactly as transformers does.

use tch::{Device, Kind, Tensor};

#[derive(Debug)]
pub struct RotaryEmbedding {
    /// `1 / theta^(2i/d)` for i in 0..d/2, f32.
    inv_freq: Tensor,
}

impl RotaryEmbedding {
    pub fn new(head_dim: usize, theta: f64, device: Device) -> Self {
        // Same expression as transformers: arange(0, d, 2) as int64, then to float.
        let exponents = Tensor::arange_start_step(0, head_dim as i64, 2, (Kind::Int64, device))
            .to_kind(Kind::Float)
            / head_dim as f64;
        let inv_freq =
            Tensor::from(theta).to_kind(Kind::Float).to_device(device).pow(&exponents).reciprocal();
        Self { inv_freq }
    }

    /// cos and sin for `positions` [B, T] (i64), shaped [B, 1, T, d] in `kind`.
    pub fn cos_sin(&self, positions: &Tensor, kind: Kind) -> (Tensor, Tensor) {
        let freqs = positions.to_kind(Kind::Float).unsqueeze(-1) * self.inv_freq.view([1, 1, -1]);
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
