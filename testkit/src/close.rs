//! Float comparisons that hold on any x86-64 CPU and any thread count.
//!
//! Two computations of the same value in floating point differ when they
//! round in a different order: libtorch picks kernels by the CPU's vector
//! width (SSE, AVX2, AVX-512), splits reductions across its threads, and our
//! chunked paths sum in pieces. Each rounding is off by at most ε (relative)
//! of the partial result, so a sum of `n` terms may move by about `n·ε` times
//! the magnitude of the terms, not by a fixed amount. A bound is therefore
//! `abs + rel · scale`, with `scale` the magnitude of the values compared and
//! `rel` a small multiple of ε times the length of the reductions involved;
//! `abs` only keeps the bound meaningful when every value is zero.
//!
//! For a slice, `scale` is the largest magnitude among the expected values:
//! the elements of one tensor come out of the same computation, so their
//! rounding errors follow the tensor's magnitude, not each element's own (an
//! element near zero that is the difference of large terms keeps the large
//! terms' error).

use std::fmt;

/// f32 machine epsilon (2⁻²³) as f64.
pub const F32_EPS: f64 = f32::EPSILON as f64;
/// f64 machine epsilon (2⁻⁵²).
pub const F64_EPS: f64 = f64::EPSILON;

/// A bound on `|got − want|`: `abs + rel · scale`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tol {
    pub rel: f64,
    pub abs: f64,
}

impl Tol {
    /// Bit for bit: copies, masking, integer-valued results, and pure Rust
    /// arithmetic repeated in the same order (IEEE 754 makes that exact on
    /// every CPU; Rust never fuses a multiply-add on its own).
    pub const EXACT: Tol = Tol { rel: 0.0, abs: 0.0 };

    pub const fn new(rel: f64, abs: f64) -> Tol {
        Tol { rel, abs }
    }

    /// f32 results whose roundings may happen in a different order, with `n`
    /// the number of roundings that can differ (a reduction's length, or the
    /// sum of the lengths along a chain of reductions): `rel = n·ε_f32`.
    pub fn f32_ops(n: usize) -> Tol {
        Tol { rel: n as f64 * F32_EPS, abs: 0.0 }
    }

    /// As [`Tol::f32_ops`], for f64 computations.
    pub fn f64_ops(n: usize) -> Tol {
        Tol { rel: n as f64 * F64_EPS, abs: 0.0 }
    }

    /// Two f32 computations of a decoder-only transformer's forward pass
    /// over `seq` positions (other batch shapes, chunks, cached keys, thread
    /// counts, another implementation): per layer the q/k/v/o and MLP
    /// reductions over the hidden and intermediate sizes and attention over
    /// the sequence, then the output head's reduction over the hidden size.
    pub fn f32_forward(layers: usize, hidden: usize, intermediate: usize, seq: usize) -> Tol {
        Tol::f32_ops(layers * (4 * hidden + 2 * intermediate + 2 * seq) + hidden)
    }

    /// The same relative part with an absolute floor.
    pub const fn with_abs(self, abs: f64) -> Tol {
        Tol { abs, ..self }
    }

    /// The largest difference allowed at magnitude `scale`.
    pub fn bound(&self, scale: f64) -> f64 {
        self.abs + self.rel * scale.abs()
    }

    /// Whether `got` is within the bound of `want`, at `want`'s magnitude.
    pub fn holds(&self, got: f64, want: f64) -> bool {
        same_non_finite(got, want) || (got - want).abs() <= self.bound(want)
    }
}

impl fmt::Display for Tol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:e} + {:e}·scale", self.abs, self.rel)
    }
}

/// Identical infinities or two NaNs compare equal; a finite value never
/// equals a non-finite one (the difference is inf or NaN, above any bound).
fn same_non_finite(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a.is_infinite() && a == b)
}

/// With `TZ_TOL_REPORT` set, prints how much of its bound each comparison
/// used (run the tests with `--nocapture` to see how much margin they have).
fn report_margin(what: &str, diff: f64, bound: f64) {
    if std::env::var_os("TZ_TOL_REPORT").is_some() {
        eprintln!("tolerance used: {:>8.4} of the bound ({diff:e} of {bound:e}): {what}", diff / bound);
    }
}

/// Panics with `what`, both values and the bound unless `got` is within
/// `tol` of `want`.
#[track_caller]
pub fn assert_close(what: &str, got: impl Into<f64>, want: impl Into<f64>, tol: Tol) {
    let (got, want) = (got.into(), want.into());
    report_margin(what, (got - want).abs(), tol.bound(want));
    if !tol.holds(got, want) {
        panic!(
            "{what}: got {got}, want {want}: differs by {:e}, more than the bound {:e} ({tol} at scale {:e})",
            (got - want).abs(),
            tol.bound(want),
            want.abs()
        );
    }
}

/// Panics unless every `got[i]` is within `tol` of `want[i]`, the scale being
/// the largest finite magnitude in `want`; the message names the worst index.
#[track_caller]
pub fn assert_all_close<G: Copy + Into<f64>, W: Copy + Into<f64>>(
    what: &str,
    got: &[G],
    want: &[W],
    tol: Tol,
) {
    assert_eq!(got.len(), want.len(), "{what}: {} values, want {}", got.len(), want.len());
    let scale = want.iter().map(|w| (*w).into().abs()).filter(|w| w.is_finite()).fold(0.0, f64::max);
    let bound = tol.bound(scale);
    let mut worst: Option<(usize, f64)> = None;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = ((*g).into(), (*w).into());
        if same_non_finite(g, w) {
            continue;
        }
        let diff = (g - w).abs();
        // NaN compares false with everything: count it as the worst.
        let diff = if diff.is_nan() { f64::INFINITY } else { diff };
        if worst.is_none_or(|(_, d)| diff > d) {
            worst = Some((i, diff));
        }
    }
    report_margin(what, worst.map_or(0.0, |(_, d)| d), bound);
    if let Some((i, diff)) = worst.filter(|&(_, d)| d > bound) {
        panic!(
            "{what}: element {i} of {}: got {}, want {}: differs by {diff:e}, more than the bound {bound:e} ({tol} at scale {scale:e})",
            got.len(),
            got[i].into(),
            want[i].into()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_grows_with_the_magnitude_compared() {
        let tol = Tol::new(1e-6, 1e-12);
        assert!(tol.holds(1000.0005, 1000.0));
        assert!(!tol.holds(1000.002, 1000.0));
        assert!(tol.holds(0.0, 1e-13));
        assert!(!tol.holds(1e-6, 0.0));
    }

    #[test]
    fn a_slice_is_compared_at_the_scale_of_its_largest_value() {
        // 1e-3 off on an element near zero is fine next to an element of 1e4
        // (rounding there follows the magnitude of the whole tensor) ...
        assert_all_close("t", &[1e4f64, 1e-3], &[1e4f64, 0.0], Tol::new(1e-6, 0.0));
        // ... but not when the whole tensor is small.
        let small = std::panic::catch_unwind(|| {
            assert_all_close("t", &[1.0f64, 1e-3], &[1.0f64, 0.0], Tol::new(1e-6, 0.0))
        });
        let message = *small.unwrap_err().downcast::<String>().unwrap();
        assert!(message.starts_with("t: element 1 of 2: got 0.001, want 0: differs by 1e-3"), "{message}");
    }

    #[test]
    fn nan_is_never_close_to_a_number_and_matching_non_finites_are_equal() {
        assert!(!Tol::new(1.0, 1.0).holds(f64::NAN, 0.0));
        assert!(!Tol::new(1.0, 1.0).holds(f64::INFINITY, 1e300));
        assert!(
            Tol::EXACT.holds(f64::NAN, f64::NAN) && Tol::EXACT.holds(f64::NEG_INFINITY, f64::NEG_INFINITY)
        );
        let r = std::panic::catch_unwind(|| {
            assert_all_close("t", &[f32::NAN, 1.0], &[0.0f32, 1.0], Tol::new(1.0, 1.0))
        });
        assert!(r.is_err());
    }

    #[test]
    fn exact_accepts_only_equal_values() {
        assert!(Tol::EXACT.holds(0.1, 0.1));
        assert!(!Tol::EXACT.holds(0.1 + 0.2, 0.3));
        assert_eq!(Tol::f32_ops(8).rel, 8.0 * f32::EPSILON as f64);
    }
}
