//! Numbers with the semantics of CPython's `eval` on arithmetic expressions.
//!
//! TinyZero scores an answer by `eval`-ing it, so a faithful verifier must
//! compute what Python computes: integers are exact and unbounded (`99*99*99`
//! stays an int, `7//2 == 3`), `/` is true division and correctly rounded even
//! for huge integers, an `int` meets a `float` by exact conversion (or an
//! `OverflowError`), and float arithmetic is plain IEEE-754 (overflow gives
//! `inf`, not an error). [`Num`] mirrors exactly that; every Python exception
//! becomes an [`EvalError`]. Small integers stay in an `i128`, so the common
//! case never allocates.

use std::cmp::Ordering;
use std::fmt;

use num_bigint::{BigInt, BigUint, Sign};
use num_integer::Integer;
use num_traits::{Signed, ToPrimitive, Zero};

/// A Python `int` (exact) or `float`.
#[derive(Debug, Clone, PartialEq)]
pub enum Num {
    Int(Int),
    Float(f64),
}

/// An exact integer: an `i128` while it fits, a big integer beyond.
#[derive(Debug, Clone, PartialEq)]
pub enum Int {
    Small(i128),
    Big(BigInt),
}

/// The Python exceptions arithmetic can raise (each scores as "wrong").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalError {
    /// `ZeroDivisionError` (`x/0`, `x//0`, `x/0.0`).
    DivisionByZero,
    /// `OverflowError`: an int too large to become a float.
    Overflow,
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EvalError::DivisionByZero => "division by zero",
            EvalError::Overflow => "number too large for a float",
        })
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Int(Int::Small(v)) => write!(f, "{v}"),
            Num::Int(Int::Big(v)) => write!(f, "{v}"),
            Num::Float(v) => write!(f, "{v:?}"),
        }
    }
}

type EvalResult = Result<Num, EvalError>;

impl Int {
    /// Parses a run of ASCII digits (the caller has checked the syntax).
    pub fn from_digits(digits: &str) -> Int {
        // 38 decimal digits always fit in an i128.
        if digits.len() <= 38 {
            Int::Small(digits.parse().expect("ASCII digits"))
        } else {
            Int::Big(BigInt::parse_bytes(digits.as_bytes(), 10).expect("ASCII digits")).normalized()
        }
    }

    fn big(&self) -> BigInt {
        match self {
            Int::Small(v) => BigInt::from(*v),
            Int::Big(v) => v.clone(),
        }
    }

    /// Back to `Small` when the value fits, so later arithmetic stays cheap.
    fn normalized(self) -> Int {
        match self {
            Int::Big(b) => match b.to_i128() {
                Some(v) => Int::Small(v),
                None => Int::Big(b),
            },
            small => small,
        }
    }

    pub fn is_zero(&self) -> bool {
        match self {
            Int::Small(v) => *v == 0,
            Int::Big(b) => b.is_zero(),
        }
    }

    fn is_negative(&self) -> bool {
        match self {
            Int::Small(v) => *v < 0,
            Int::Big(b) => b.is_negative(),
        }
    }

    pub fn add(&self, other: &Int) -> Int {
        if let (Int::Small(a), Int::Small(b)) = (self, other) {
            if let Some(v) = a.checked_add(*b) {
                return Int::Small(v);
            }
        }
        Int::Big(self.big() + other.big()).normalized()
    }

    pub fn sub(&self, other: &Int) -> Int {
        if let (Int::Small(a), Int::Small(b)) = (self, other) {
            if let Some(v) = a.checked_sub(*b) {
                return Int::Small(v);
            }
        }
        Int::Big(self.big() - other.big()).normalized()
    }

    pub fn mul(&self, other: &Int) -> Int {
        if let (Int::Small(a), Int::Small(b)) = (self, other) {
            if let Some(v) = a.checked_mul(*b) {
                return Int::Small(v);
            }
        }
        Int::Big(self.big() * other.big()).normalized()
    }

    pub fn neg(&self) -> Int {
        match self {
            Int::Small(v) => match v.checked_neg() {
                Some(n) => Int::Small(n),
                None => Int::Big(-BigInt::from(*v)),
            },
            Int::Big(b) => Int::Big(-b).normalized(),
        }
    }

    /// Python's `a // b` on ints: the floor of the exact quotient.
    pub fn floor_div(&self, other: &Int) -> Result<Int, EvalError> {
        if other.is_zero() {
            return Err(EvalError::DivisionByZero);
        }
        if let (Int::Small(a), Int::Small(b)) = (self, other) {
            if let Some(q) = a.checked_div(*b) {
                let inexact = a % b != 0;
                let adjust = inexact && ((*a < 0) != (*b < 0));
                return Ok(Int::Small(if adjust { q - 1 } else { q }));
            }
        }
        Ok(Int::Big(self.big().div_floor(&other.big())).normalized())
    }

    /// Python's `float(n)`: correctly rounded (ties to even), or
    /// `OverflowError` when the rounded value does not fit a double.
    pub fn to_f64(&self) -> Result<f64, EvalError> {
        let value = match self {
            // Rust's integer-to-float casts round to nearest, ties to even.
            Int::Small(v) => *v as f64,
            Int::Big(b) => {
                let magnitude = b.magnitude();
                let bits = magnitude.bits();
                // Keep 65 leading bits plus a sticky bit for everything below:
                // one cast then rounds exactly once, at bit 53.
                let shift = bits.saturating_sub(65);
                let mut top = (magnitude >> shift).to_u128().expect("65 bits fit");
                if shift > 0 && magnitude.trailing_zeros().unwrap_or(0) < shift {
                    top |= 1;
                }
                let v = ldexp(top as f64, shift as i64);
                if b.sign() == Sign::Minus {
                    -v
                } else {
                    v
                }
            }
        };
        if value.is_finite() {
            Ok(value)
        } else {
            Err(EvalError::Overflow)
        }
    }

    /// Python's `a / b` on ints: the exact quotient, correctly rounded.
    pub fn true_div(&self, other: &Int) -> Result<f64, EvalError> {
        if other.is_zero() {
            return Err(EvalError::DivisionByZero);
        }
        // Both exactly representable: one IEEE division rounds once, as CPython's fast path.
        const EXACT: i128 = 1 << 53;
        if let (Int::Small(a), Int::Small(b)) = (self, other) {
            if a.abs() <= EXACT && b.abs() <= EXACT {
                return Ok(*a as f64 / *b as f64);
            }
        }
        let negative = self.is_negative() != other.is_negative();
        let (a, b) = (self.big().magnitude().clone(), other.big().magnitude().clone());
        if a.is_zero() {
            return Ok(if negative { -0.0 } else { 0.0 });
        }
        let value = scaled_quotient(&a, &b);
        if !value.is_finite() {
            return Err(EvalError::Overflow);
        }
        Ok(if negative { -value } else { value })
    }

    /// Exact comparison with an `i64` (Python compares int and int exactly).
    pub fn cmp_i64(&self, other: i64) -> Ordering {
        match self {
            Int::Small(v) => v.cmp(&(other as i128)),
            Int::Big(b) => b.cmp(&BigInt::from(other)),
        }
    }
}

/// `a / b` for positive big integers, rounded once: a quotient of at least 65
/// bits with a sticky bit for a non-zero remainder, cast, then scaled.
/// (Results in the subnormal range may round twice; they are below 1e-300
/// and cannot change a comparison with a 1e-5 tolerance.)
fn scaled_quotient(a: &BigUint, b: &BigUint) -> f64 {
    let shift = 65 + b.bits() as i64 - a.bits() as i64;
    let (num, den) =
        if shift >= 0 { (a << shift as u64, b.clone()) } else { (a.clone(), b << (-shift) as u64) };
    let (q, r) = num.div_rem(&den);
    let mut q = q.to_u128().expect("quotient has at most 66 bits");
    if !r.is_zero() {
        q |= 1;
    }
    ldexp(q as f64, -shift)
}

/// `x * 2^e` without intermediate overflow or underflow of the power itself.
fn ldexp(mut x: f64, mut e: i64) -> f64 {
    let pow2 = |k: i64| f64::from_bits(((1023 + k) as u64) << 52);
    while e > 1000 {
        x *= pow2(1000);
        e -= 1000;
        if x.is_infinite() {
            return x;
        }
    }
    while e < -1000 {
        x *= pow2(-1000);
        e += 1000;
        if x == 0.0 {
            return x;
        }
    }
    x * pow2(e)
}

/// CPython's float `//`: `fmod`, then snap the quotient to an integral value
/// (the same steps as `float_floor_div`, so `inf`/`nan` behave alike).
fn float_floor_div(vx: f64, wx: f64) -> Result<f64, EvalError> {
    if wx == 0.0 {
        return Err(EvalError::DivisionByZero);
    }
    let rem = vx % wx;
    let mut div = (vx - rem) / wx;
    // The remainder takes the sign of the divisor (NaN counts as non-zero, as in C).
    if rem != 0.0 && ((wx < 0.0) != (rem < 0.0)) {
        div -= 1.0;
    }
    if div != 0.0 {
        let mut floor = div.floor();
        if div - floor > 0.5 {
            floor += 1.0;
        }
        Ok(floor)
    } else {
        Ok(0.0f64.copysign(vx / wx))
    }
}

impl Num {
    fn as_f64(&self) -> Result<f64, EvalError> {
        match self {
            Num::Int(i) => i.to_f64(),
            Num::Float(f) => Ok(*f),
        }
    }

    pub fn add(&self, rhs: &Num) -> EvalResult {
        match (self, rhs) {
            (Num::Int(a), Num::Int(b)) => Ok(Num::Int(a.add(b))),
            _ => Ok(Num::Float(self.as_f64()? + rhs.as_f64()?)),
        }
    }

    pub fn sub(&self, rhs: &Num) -> EvalResult {
        match (self, rhs) {
            (Num::Int(a), Num::Int(b)) => Ok(Num::Int(a.sub(b))),
            _ => Ok(Num::Float(self.as_f64()? - rhs.as_f64()?)),
        }
    }

    pub fn mul(&self, rhs: &Num) -> EvalResult {
        match (self, rhs) {
            (Num::Int(a), Num::Int(b)) => Ok(Num::Int(a.mul(b))),
            _ => Ok(Num::Float(self.as_f64()? * rhs.as_f64()?)),
        }
    }

    pub fn true_div(&self, rhs: &Num) -> EvalResult {
        match (self, rhs) {
            (Num::Int(a), Num::Int(b)) => Ok(Num::Float(a.true_div(b)?)),
            _ => {
                let (a, b) = (self.as_f64()?, rhs.as_f64()?);
                if b == 0.0 {
                    return Err(EvalError::DivisionByZero);
                }
                Ok(Num::Float(a / b))
            }
        }
    }

    pub fn floor_div(&self, rhs: &Num) -> EvalResult {
        match (self, rhs) {
            (Num::Int(a), Num::Int(b)) => Ok(Num::Int(a.floor_div(b)?)),
            _ => Ok(Num::Float(float_floor_div(self.as_f64()?, rhs.as_f64()?)?)),
        }
    }

    pub fn neg(&self) -> Num {
        match self {
            Num::Int(i) => Num::Int(i.neg()),
            Num::Float(f) => Num::Float(-f),
        }
    }

    /// TinyZero's test `abs(result - target) < 1e-5`, with Python's types:
    /// an int result must equal the target exactly; a float is compared
    /// after the target is converted to float.
    pub fn matches_target(&self, target: i64) -> bool {
        match self {
            Num::Int(i) => i.cmp_i64(target) == Ordering::Equal,
            Num::Float(f) => (f - target as f64).abs() < 1e-5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(s: &str) -> Num {
        Num::Int(Int::from_digits(s))
    }

    #[test]
    fn small_int_arithmetic_is_exact() {
        assert_eq!(int("7").floor_div(&int("2")).unwrap(), int("3"));
        assert_eq!(int("7").neg().floor_div(&int("2")).unwrap(), int("4").neg());
        assert_eq!(int("7").floor_div(&int("2").neg()).unwrap(), int("4").neg());
        assert_eq!(int("6").true_div(&int("4")).unwrap(), Num::Float(1.5));
    }

    #[test]
    fn integer_overflow_of_i128_promotes_to_big_and_back() {
        let big = int("170141183460469231731687303715884105727"); // i128::MAX
        let sum = big.add(&int("1")).unwrap();
        assert!(matches!(sum, Num::Int(Int::Big(_))));
        let back = sum.sub(&int("2")).unwrap();
        assert_eq!(back, int("170141183460469231731687303715884105726"));
        assert!(matches!(back, Num::Int(Int::Small(_))));
    }

    #[test]
    fn division_by_zero_is_an_error_for_every_kind() {
        assert_eq!(int("1").true_div(&int("0")), Err(EvalError::DivisionByZero));
        assert_eq!(int("1").floor_div(&int("0")), Err(EvalError::DivisionByZero));
        assert_eq!(Num::Float(1.0).true_div(&int("0")), Err(EvalError::DivisionByZero));
        assert_eq!(Num::Float(1.0).floor_div(&Num::Float(0.0)), Err(EvalError::DivisionByZero));
    }

    #[test]
    fn huge_int_to_float_overflows_like_python() {
        let huge = Int::from_digits(&"9".repeat(400));
        assert_eq!(huge.to_f64(), Err(EvalError::Overflow));
        assert_eq!(Num::Int(huge.clone()).mul(&Num::Float(1.0)), Err(EvalError::Overflow));
        assert_eq!(Num::Int(huge).true_div(&int("3")), Err(EvalError::Overflow));
    }

    #[test]
    fn big_true_division_is_correctly_rounded() {
        // 10**310 / 99999 = 1.000010000100001e+305 in CPython.
        let a = Int::from_digits(&format!("1{}", "0".repeat(310)));
        let q = a.true_div(&Int::from_digits("99999")).unwrap();
        assert_eq!(q, 1.000010000100001e305);
        // (2**64 + 1) / 3: exact quotient 6148914691236517205.666..., rounds to 6148914691236516864.
        let n = Int::from_digits("18446744073709551617");
        assert_eq!(n.true_div(&Int::from_digits("3")).unwrap(), 6148914691236517205.666_f64);
    }

    #[test]
    fn float_floor_division_matches_cpython() {
        assert_eq!(float_floor_div(7.5, 2.0).unwrap(), 3.0);
        assert_eq!(float_floor_div(-7.5, 2.0).unwrap(), -4.0);
        assert_eq!(float_floor_div(7.5, -2.0).unwrap(), -4.0);
        assert!(float_floor_div(f64::INFINITY, 1.0).unwrap().is_nan());
        assert!(float_floor_div(0.0, -3.0).unwrap().is_sign_negative());
    }

    #[test]
    fn target_match_is_exact_for_ints_and_tolerant_for_floats() {
        assert!(int("24").matches_target(24));
        assert!(!int("25").matches_target(24));
        assert!(Num::Float(24.000001).matches_target(24));
        // Python: abs(24.00001 - 24) == 9.9999999996e-06 < 1e-5, but 24.00002 is out.
        assert!(Num::Float(24.00001).matches_target(24));
        assert!(!Num::Float(24.00002).matches_target(24));
        assert!(!Num::Float(f64::NAN).matches_target(24));
    }
}
