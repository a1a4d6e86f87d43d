//! TinyZero's multiplication reward (`verl/utils/reward_score/multiply.py`).
//!
//! 1. Keep the text after the first `Assistant:`; without one, no answer.
//! 2. Take the last `<answer>(.*?)</answer>` in it (a match cannot span a
//!    line break: no `re.DOTALL`), stripped.
//! 3. It must parse with Python's `int()` (sign, digits, single underscores
//!    between digits, surrounding whitespace); otherwise no answer.
//! 4. `0` without an answer, `correct_score` when it equals the product,
//!    `format_score` otherwise.
//!
//! Templates other than `base` have no `Assistant:` in the prompt: `chat`
//! searches the response alone, and `compact` takes the whole response
//! (up to a newline) as the answer. One difference from `int()`: digits other
//! than ASCII (`int("٣")` is 3 in Python) are not read.

/// Outcome of scoring one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Missing(&'static str),
    Wrong { answer: i128 },
    Correct { answer: i128 },
}

/// TinyZero's steps 1-3 on `prompt + response`.
pub fn tinyzero_answer(solution: &str) -> Result<i128, &'static str> {
    const MARKER: &str = "Assistant:";
    let rest = match solution.find(MARKER) {
        Some(i) => &solution[i + MARKER.len()..],
        None => return Err("no 'Assistant:' in the text"),
    };
    tagged_answer(rest)
}

/// The last `<answer>…</answer>` within one line of `text`, as an integer.
pub fn tagged_answer(text: &str) -> Result<i128, &'static str> {
    let content =
        text.split('\n').filter_map(last_answer_tag).next_back().ok_or("no <answer>...</answer>")?;
    python_int(content).ok_or("the answer is not an integer")
}

/// The last non-overlapping `<answer>(.*?)</answer>` on a line.
fn last_answer_tag(line: &str) -> Option<&str> {
    const OPEN: &str = "<answer>";
    const CLOSE: &str = "</answer>";
    let mut last = None;
    let mut from = 0;
    while let Some(open) = line[from..].find(OPEN) {
        let start = from + open + OPEN.len();
        let Some(close) = line[start..].find(CLOSE) else { break };
        last = Some(&line[start..start + close]);
        from = start + close + CLOSE.len();
    }
    last
}

/// Python's `int(s)` for ASCII digits: whitespace around, an optional sign,
/// and underscores only between digits. `None` where `int()` raises.
/// Integers beyond `i128` are refused (far beyond any product of the task).
pub fn python_int(s: &str) -> Option<i128> {
    let s = s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c));
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let mut value: i128 = 0;
    for b in digits.bytes() {
        match b {
            b'0'..=b'9' => value = value.checked_mul(10)?.checked_add((b - b'0') as i128)?,
            b'_' => {}
            _ => return None,
        }
    }
    Some(if negative { -value } else { value })
}

/// Scores an extracted answer against the product.
pub fn judge(answer: Result<i128, &'static str>, product: i128) -> Verdict {
    match answer {
        Err(why) => Verdict::Missing(why),
        Ok(a) if a == product => Verdict::Correct { answer: a },
        Ok(a) => Verdict::Wrong { answer: a },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_int_rules() {
        assert_eq!(python_int(" 42 "), Some(42));
        assert_eq!(python_int("-007"), Some(-7));
        assert_eq!(python_int("+1_000"), Some(1000));
        assert_eq!(python_int("1__0"), None);
        assert_eq!(python_int("_1"), None);
        assert_eq!(python_int("1_"), None);
        assert_eq!(python_int("4.0"), None);
        assert_eq!(python_int(""), None);
        assert_eq!(python_int("-"), None);
        assert_eq!(python_int("12 34"), None);
        assert_eq!(python_int(&"9".repeat(50)), None);
    }

    #[test]
    fn extraction_follows_multiply_py() {
        let prompt = "... <answer> RESULT_NUMBER </answer>. \nUser: Give me the answer of the following equation: 12 * 34.\nAssistant: Let me solve this step by step.\n<think>";
        assert_eq!(
            tinyzero_answer(&format!("{prompt} 12*34 = 408 </think> <answer> 408 </answer>")),
            Ok(408)
        );
        // Unlike countdown, no last-line rule: text after the answer is fine.
        assert_eq!(tinyzero_answer(&format!("{prompt}</think>\n<answer>408</answer>\nDone!")), Ok(408));
        assert_eq!(tinyzero_answer(&format!("{prompt}<answer>1</answer> <answer>408</answer>")), Ok(408));
        assert!(
            tinyzero_answer(&format!("{prompt}<answer>\n408</answer>")).is_err(),
            "no match across lines"
        );
        assert!(tinyzero_answer(&format!("{prompt}<answer>four hundred</answer>")).is_err());
        assert!(tinyzero_answer("<answer>408</answer>").is_err());
    }

    #[test]
    fn three_outcomes() {
        assert_eq!(judge(Ok(408), 408), Verdict::Correct { answer: 408 });
        assert_eq!(judge(Ok(407), 408), Verdict::Wrong { answer: 407 });
        assert!(matches!(judge(Err("x"), 408), Verdict::Missing(_)));
    }
}
