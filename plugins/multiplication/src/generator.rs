//! Operands as TinyZero's `arth.py` draws them: each operand independently
//! has, with probability 1/3, up to `digits - 1` digits (0..10^(digits-1)-1)
//! and otherwise up to `digits` digits (0..10^digits-1).

use tz_sdk::rng::SplitMix64;

/// One operand with at most `digits` digits.
pub fn operand(rng: &mut SplitMix64, digits: u32) -> i64 {
    let r = rng.range(1, 3);
    let max = if r == 1 { 10u64.pow(digits - 1) } else { 10u64.pow(digits) };
    rng.range(0, max - 1) as i64
}

/// Decimal digits of a non-negative number (`0` has one).
pub fn digit_count(n: i64) -> u32 {
    n.unsigned_abs().checked_ilog10().unwrap_or(0) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operands_stay_in_range_and_both_sizes_occur() {
        let mut rng = SplitMix64::new(1);
        let draws: Vec<i64> = (0..3000).map(|_| operand(&mut rng, 3)).collect();
        assert!(draws.iter().all(|d| (0..1000).contains(d)));
        assert!(draws.iter().any(|d| *d >= 100));
        assert!(draws.iter().any(|d| *d < 10));
    }

    #[test]
    fn digit_counts() {
        assert_eq!([0, 9, 10, 999, 1000].map(digit_count), [1, 1, 2, 3, 4]);
    }
}
