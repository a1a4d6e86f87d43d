//! Agreement with Math-Verify's regression cases (tests/data/README.md):
//! each prediction, boxed as a response would box it, gets the verdict
//! Math-Verify expects. One test per form of answer.

use tz_math::verify::{verify, Verdict};

const CASES: &str = include_str!("data/math_verify_cases.jsonl");

/// Every case of `form` whose verdict differs from Math-Verify's, with ours.
fn disagreements(form: &str) -> (usize, Vec<String>) {
    let mut seen = 0;
    let mut wrong = Vec::new();
    for line in CASES.lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        if case["form"] != form {
            continue;
        }
        seen += 1;
        let (gold, pred) = (case["gold"].as_str().unwrap(), case["pred"].as_str().unwrap());
        let expected = case["expected"].as_bool().unwrap();
        let verdict = verify(&format!("\\boxed{{{pred}}}"), gold, 1e-6);
        if matches!(verdict, Verdict::Correct { .. }) != expected {
            wrong.push(format!("gold {gold:?}, prediction {pred:?}: expected {expected}, got {verdict:?}"));
        }
    }
    (seen, wrong)
}

fn check(form: &str, cases: usize) {
    let (seen, wrong) = disagreements(form);
    assert_eq!(seen, cases, "cases of form {form}");
    assert!(wrong.is_empty(), "{} of {seen} {form} cases disagree:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn numbers_with_separators_and_decimal_commas_agree_with_math_verify() {
    check("number", 14);
}

#[test]
fn plain_and_latex_fractions_agree_with_math_verify() {
    check("fraction", 2);
}

#[test]
fn percent_signs_and_words_agree_with_math_verify() {
    check("percent", 9);
}

#[test]
fn latex_notation_agrees_with_math_verify() {
    check("latex", 13);
}
