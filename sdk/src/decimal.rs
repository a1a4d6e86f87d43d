//! f32 values written as the decimals they are.
//!
//! Rewards, losses and most metrics are f32. Widened to f64 (as JSON numbers
//! and our metric maps are), `0.1f32` becomes `0.10000000149011612`: the
//! exact value of the f32, but not what the task meant, and not what another
//! stack (TinyZero's Python score `0.1`) writes. Every f32 that goes into
//! JSON or CSV goes through [`f32_decimal`] (or, for a statistic of f32 data
//! computed in f64, [`f32_precision`]), so it is written as the shortest
//! decimal that reads back as the same f32.

/// The f64 nearest to the shortest decimal that round-trips `x` as an f32:
/// `0.1f32` gives `0.1f64`, which JSON writes as `0.1`. Reading the written
/// decimal back as f32 gives `x` exactly; non-finite values stay as they are.
pub fn f32_decimal(x: f32) -> f64 {
    if !x.is_finite() {
        return f64::from(x);
    }
    // Rust prints the shortest digits that parse back to the same f32.
    x.to_string().parse().expect("a finite f32 prints as a decimal")
}

/// A value computed in f64 from f32 data (a mean of rewards, a loss summed
/// over micro-batches), reported at the precision of its data: rounded to
/// f32, then written as that f32's shortest decimal.
pub fn f32_precision(x: f64) -> f64 {
    f32_decimal(x as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_f32_is_written_as_its_shortest_decimal() {
        assert_eq!(f64::from(0.1f32).to_string(), "0.10000000149011612");
        assert_eq!(f32_decimal(0.1).to_string(), "0.1");
        assert_eq!(serde_json::json!(f32_decimal(0.1)).to_string(), "0.1");
        assert_eq!(f32_decimal(-2.5e-7).to_string(), "-0.00000025");
        assert_eq!(f32_decimal(1.0e30).to_string(), "1000000000000000000000000000000");
        assert_eq!(f32_decimal(16_777_217.0), 16_777_216.0);
    }

    #[test]
    fn the_decimal_reads_back_as_the_same_f32() {
        let mut x = 1.0e-38f32;
        while x < 1.0e38 {
            for v in [x, -x, x * 1.234_567_9, f32::from_bits(x.to_bits() + 1)] {
                assert_eq!(f32_decimal(v) as f32, v, "{v:e}");
            }
            x *= 3.7;
        }
        assert_eq!(f32_decimal(f32::MAX) as f32, f32::MAX);
        assert_eq!(f32_decimal(f32::MIN_POSITIVE) as f32, f32::MIN_POSITIVE);
        assert!(f32_decimal(f32::NAN).is_nan() && f32_decimal(f32::NEG_INFINITY) == f64::NEG_INFINITY);
    }

    #[test]
    fn a_statistic_of_f32_data_is_reported_at_f32_precision() {
        // The f64 mean of eleven widened 0.1f32 rewards and 21 zeros.
        let mean = (0..11).map(|_| f64::from(0.1f32)).sum::<f64>() / 32.0;
        assert_eq!(mean.to_string(), "0.034375000512227416");
        assert_eq!(f32_precision(mean).to_string(), "0.034375");
    }
}
