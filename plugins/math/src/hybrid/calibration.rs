//! The RM score bounds (min_rm, max_rm) and the normalisation r̂.
//!
//! A reward model's raw scores have no fixed scale (AceMath-RM's are logits
//! around 0, another RM's may sit around −5), so before training the hybrid
//! task scores a warm-up of N responses of the initial policy and takes the
//! smallest and largest score as the bounds (seed 003: "Generates 10
//! samples; calibrates reward model bounds (min_rm, max_rm)"). The bounds are
//! then fixed for the run and saved with every checkpoint, so a resumed run
//! normalises exactly as before. Later scores outside the bounds are clamped.

use serde::{Deserialize, Serialize};

/// Calibrated bounds of the raw RM score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RmBounds {
    pub min_rm: f64,
    pub max_rm: f64,
}

impl RmBounds {
    /// The bounds of the finite scores among `scores`, or `None` when there
    /// is none.
    pub fn calibrate(scores: &[f32]) -> Option<RmBounds> {
        let finite = scores.iter().filter(|s| s.is_finite()).map(|&s| f64::from(s));
        let (min_rm, max_rm) = finite.fold(None, |acc: Option<(f64, f64)>, s| {
            Some(acc.map_or((s, s), |(lo, hi)| (lo.min(s), hi.max(s))))
        })?;
        Some(RmBounds { min_rm, max_rm })
    }

    /// r̂ = (s − min_rm) / (max_rm − min_rm), clamped to [0, 1]. Bounds that
    /// coincide (a warm-up where every score was equal) give 0.5: no
    /// information either way.
    pub fn normalise(&self, score: f64) -> f64 {
        let span = self.max_rm - self.min_rm;
        if span.abs() < 1e-12 {
            return 0.5;
        }
        ((score - self.min_rm) / span).clamp(0.0, 1.0)
    }
}
