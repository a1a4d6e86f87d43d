//! The math verifier: is a response's final answer equivalent to the gold one?
//!
//! Numbers are compared by value ([`crate::value`]): exactly when both are
//! exact, integers always exactly, and otherwise within a relative tolerance
//! (so `0.333333` matches `1/3` and `1.7320508` matches `\sqrt{3}`). A
//! percentage matches its number either as written or divided by 100
//! (`50%` ~ `50` ~ `0.5`). An answer written as an equation counts by its
//! last right-hand side (`k = \frac{1}{3}`), as Math-Verify does; tuples and
//! lists in matching brackets are compared element by element. Anything
//! else is compared as normalized text (case-insensitively for plain
//! words); there is no symbolic algebra (`x+1` does not match `1+x`).
//!
//! Answers longer than [`MAX_ANSWER_BYTES`] are not parsed: such an answer
//! is scored incorrect, so no response can make scoring slow.

use crate::extract::{final_answer, gold_answer};
use crate::normalize::normalize;
use crate::value::{parse_number, Number, Ratio};

/// The longest final answer (in bytes) the verifier reads.
pub const MAX_ANSWER_BYTES: usize = 1024;

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
    if found.len() > MAX_ANSWER_BYTES {
        let cut = (0..=MAX_ANSWER_BYTES.min(64)).rev().find(|&i| found.is_char_boundary(i)).unwrap_or(0);
        return Verdict::Incorrect {
            answer: format!("{}... ({} bytes, over {MAX_ANSWER_BYTES})", &found[..cut], found.len()),
        };
    }
    let answer = canonical(found);
    if equivalent(found, gold_answer(gold), tolerance) {
        Verdict::Correct { answer }
    } else {
        Verdict::Incorrect { answer }
    }
}

/// Whether two answers mean the same.
pub fn equivalent(pred: &str, gold: &str, tolerance: f64) -> bool {
    if pred.len() > MAX_ANSWER_BYTES || gold.len() > MAX_ANSWER_BYTES {
        return pred.trim() == gold.trim();
    }
    let (p, g) = (normalize(pred), normalize(gold));
    let (p, g) = (right_hand_side(&p), right_hand_side(&g));
    same_normalized(p, g, tolerance)
        || matches!((elements(p), elements(g)), (Some((pb, pe)), Some((gb, ge)))
            if pb == gb && pe.len() == ge.len()
                && pe.iter().zip(&ge).all(|(a, b)| same_normalized(a, b, tolerance)))
}

/// Two normalized answers: equal values, or equal text.
fn same_normalized(p: &str, g: &str, tolerance: f64) -> bool {
    match (parse_number(p), parse_number(g)) {
        (Some(a), Some(b)) => numbers_match(a, b, tolerance),
        (None, None) => p == g || (is_word(p) && p.eq_ignore_ascii_case(g)),
        _ => false,
    }
}

/// The text after the last `=` of an equation (`k=\frac{1}{3}` → `\frac{1}{3}`,
/// `k=0,5` → `0,5`); relations (`<=`, `>=`, `!=`, `==`) and lists of
/// equations (a comma before the last `=`: `x=1,y=2`) are kept whole.
fn right_hand_side(s: &str) -> &str {
    let b = s.as_bytes();
    let is_assignment = |i: usize| {
        b[i] == b'='
            && !(i > 0 && matches!(b[i - 1], b'<' | b'>' | b'!' | b'='))
            && !(i + 1 < b.len() && b[i + 1] == b'=')
    };
    match (0..b.len()).rev().find(|&i| is_assignment(i)) {
        Some(i) if i + 1 < b.len() && !s[..i].contains([',', ';']) => &s[i + 1..],
        _ => s,
    }
}

/// A bracketed list `(a,b)`, `[a,b)`, `\\{a,b\\}` split at its top-level
/// commas: its (opening, closing) brackets and its elements (two or more).
fn elements(s: &str) -> Option<((&'static str, &'static str), Vec<&str>)> {
    let open = ["(", "[", "\\{"].into_iter().find(|o| s.starts_with(o))?;
    let close = [")", "]", "\\}"].into_iter().find(|c| s[open.len()..].ends_with(c))?;
    let inner = &s[open.len()..s.len() - close.len()];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    (parts.len() > 1).then_some(((open, close), parts))
}

/// A canonical spelling for majority voting: `1/2` for every spelling of a
/// half, a rounded decimal for irrational values, otherwise the normalized text.
pub fn canonical(answer: &str) -> String {
    if answer.len() > MAX_ANSWER_BYTES {
        return answer.to_string();
    }
    let n = normalize(answer);
    let n = right_hand_side(&n).to_string();
    let pct = |p: bool| if p { "%" } else { "" };
    match parse_number(&n) {
        Some(Number { exact: Some(r), percent, .. }) => format!("{r}{}", pct(percent)),
        Some(Number { exact: None, approx, percent }) => format!("{}{}", round_sig(approx), pct(percent)),
        None => n,
    }
}

/// `x` to 10 significant digits, without trailing zeros.
fn round_sig(x: f64) -> String {
    let rounded: f64 = format!("{x:.9e}").parse().unwrap_or(x);
    rounded.to_string()
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
    fn roots_equations_and_lists() {
        assert!(same("\\sqrt3", "\\sqrt{3}"));
        assert!(same("1.7320508", "\\sqrt{3}"));
        assert!(same("3\\sqrt{13}", "\\sqrt{117}"));
        assert!(same("\\sqrt 2+\\sqrt 5", "\\sqrt{2}+\\sqrt{5}"));
        assert!(!same("\\sqrt{2}", "\\sqrt{3}"));
        assert!(same("k = \\frac{1}{3}", "1/3"));
        assert!(same("k = 0,5", "1/2"), "a decimal comma after the last =");
        assert!(same("x = 5+5+1 = 11", "x = 11"));
        assert!(!same("x \\leq 5", "5"), "a relation is not an assignment");
        assert!(same("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)"));
        assert!(same("(6, 31, -1)", "(6,31,-1.0)"));
        assert!(!same("(1, 2)", "[1, 2]"));
        assert!(!same("(1, 2)", "1.2"), "a list is not a decimal comma");
        assert!(!same("x=1, y=2", "2"));
    }

    #[test]
    fn huge_or_deeply_nested_answers_are_scored_without_crashing() {
        let deep = format!("<answer>{}2{}</answer>", "\\frac{1}{".repeat(30_000), "}".repeat(30_000));
        assert!(matches!(verify(&deep, "8", TOL), Verdict::Incorrect { .. }));
        let nested = format!("\\boxed{{{}1{}}}", "(".repeat(500), ")".repeat(500));
        assert!(matches!(verify(&nested, "1", TOL), Verdict::Incorrect { .. }), "deeper than MAX_DEPTH");
        let shallow = format!("\\boxed{{{}1{}}}", "(".repeat(20), ")".repeat(20));
        assert!(matches!(verify(&shallow, "1", TOL), Verdict::Correct { .. }));
        let long = format!("<answer>{}</answer>", "1".repeat(1_000_000));
        let Verdict::Incorrect { answer } = verify(&long, "1", TOL) else { panic!("a 1 MB answer is wrong") };
        assert!(answer.len() < 200 && answer.contains("1000000 bytes"), "{answer}");
    }

    #[test]
    fn canonical_spellings_for_voting() {
        assert_eq!(canonical("\\dfrac{2}{4}"), "1/2");
        assert_eq!(canonical("k = 0.5"), "1/2");
        assert_eq!(canonical("50\\%"), "50%");
        assert_eq!(canonical("\\sqrt3"), canonical("\\sqrt{3}"));
        assert_eq!(canonical("\\text{Yes}"), "Yes");
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
