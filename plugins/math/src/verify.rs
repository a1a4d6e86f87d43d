//! The math verifier: is a response's final answer equivalent to the gold one?
//!
//! Numbers are compared by value ([`crate::normalize`]): exactly when both
//! are exact, integers always exactly, and otherwise within a relative
//! tolerance (so `0.333333` matches `1/3`). A percentage matches its number
//! either as written or divided by 100 (`50%` ~ `50` ~ `0.5`). Anything
//! else is compared as normalized text (case-insensitively for plain words);
//! there is no symbolic algebra (`x+1` does not match `1+x`).

use crate::extract::{final_answer, gold_answer};
use crate::normalize::{normalize, parse_number, Number, Ratio};

/// The verifier's three answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The final answer is equivalent to the gold answer.
    Correct { answer: String },
    /// A final answer was found and is not equivalent.
    Incorrect { answer: String },
    /// No final answer (`<answer>…</answer>` or `\boxed{…}`) was found.
    Unparseable,
}

/// Checks `response` against the raw gold answer.
pub fn verify(response: &str, gold: &str, tolerance: f64) -> Verdict {
    let Some(found) = final_answer(response) else { return Verdict::Unparseable };
    let answer = canonical(found);
    if equivalent(found, gold_answer(gold), tolerance) {
        Verdict::Correct { answer }
    } else {
        Verdict::Incorrect { answer }
    }
}

/// Whether two answers mean the same.
pub fn equivalent(pred: &str, gold: &str, tolerance: f64) -> bool {
    let (p, g) = (normalize(pred), normalize(gold));
    match (parse_number(&p), parse_number(&g)) {
        (Some(a), Some(b)) => numbers_match(a, b, tolerance),
        (None, None) => p == g || (is_word(&p) && p.eq_ignore_ascii_case(&g)),
        _ => false,
    }
}

/// A canonical spelling for majority voting: `1/2` for every spelling of a
/// half, otherwise the normalized text.
pub fn canonical(answer: &str) -> String {
    let n = normalize(answer);
    match parse_number(&n) {
        Some(Number { exact: Some(r), percent, .. }) => format!("{r}{}", if percent { "%" } else { "" }),
        _ => n,
    }
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphabetic())
}

fn numbers_match(a: Number, b: Number, tolerance: f64) -> bool {
    let variants = |n: Number| {
        let mut v = vec![(n.exact, n.approx)];
        if n.percent {
            v.push((n.exact.and_then(|r| Ratio::new(r.num, r.den.checked_mul(100)?)), n.approx / 100.0));
        }
        v
    };
    variants(a).into_iter().any(|x| variants(b).into_iter().any(|y| values_match(x, y, tolerance)))
}

fn values_match((ea, fa): (Option<Ratio>, f64), (eb, fb): (Option<Ratio>, f64), tolerance: f64) -> bool {
    if let (Some(x), Some(y)) = (ea, eb) {
        if x == y {
            return true;
        }
        // Two integers are equal or not; no tolerance for 1000000 vs 1000001.
        if x.is_integer() && y.is_integer() {
            return false;
        }
    }
    fa.is_finite() && fb.is_finite() && (fa - fb).abs() <= tolerance * fb.abs().max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: f64 = 1e-6;

    fn same(a: &str, b: &str) -> bool {
        equivalent(a, b, TOL)
    }

    #[test]
    fn integers_decimals_fractions() {
        assert!(same("8", "8"));
        assert!(same("8.0", "8"));
        assert!(same("0.5", "\\frac{1}{2}"));
        assert!(same("1/2", "\\dfrac{1}{2}"));
        assert!(same("-3", "-3.00"));
        assert!(same("0.333333", "1/3"));
        assert!(!same("0.33", "1/3"));
        assert!(!same("1000001", "1000000"));
        assert!(!same("8", "-8"));
    }

    #[test]
    fn percentages_thousands_and_wrappers() {
        assert!(same("50\\%", "50"));
        assert!(same("50%", "0.5"));
        assert!(same("0.5", "50%"));
        assert!(!same("5%", "50"));
        assert!(same("1,000", "1000"));
        assert!(same("$1,000$", "1000"));
        assert!(same("\\text{8}", "8"));
        assert!(same("8\\text{ apples}", "8"));
        assert!(same("\\$8", "8"));
    }

    #[test]
    fn text_answers() {
        assert!(same("\\text{Yes}", "yes"));
        assert!(same("(1, 2)", "(1,2)"));
        assert!(!same("x+1", "1+x"));
        assert!(!same("8", "eight"));
    }

    #[test]
    fn three_verdicts() {
        assert_eq!(
            verify("</think> <answer> 8 </answer>", "8", TOL),
            Verdict::Correct { answer: "8".into() }
        );
        assert_eq!(verify("so \\boxed{0.5}", "\\frac{1}{2}", TOL), Verdict::Correct { answer: "1/2".into() });
        assert_eq!(verify("<answer>9</answer>", "8", TOL), Verdict::Incorrect { answer: "9".into() });
        assert_eq!(verify("The answer is 8.", "8", TOL), Verdict::Unparseable);
        assert_eq!(
            verify("<answer>8</answer>", "Natalia sold 48/2 = 24 clips.\n#### 8", TOL),
            Verdict::Correct { answer: "8".into() }
        );
    }
}
