//! Finding the final answer in a response (or in a reference solution).
//!
//! In order of preference: the last `<answer>…</answer>` (it may span lines;
//! a `\boxed{…}` inside it is unwrapped), else the last `\boxed{…}` or
//! `\fbox{…}` (braces matched), else nothing.

/// The final answer's raw text, if the response gives one.
pub fn final_answer(response: &str) -> Option<&str> {
    if let Some(tagged) = last_answer_tag(response) {
        return Some(last_boxed(tagged).unwrap_or(tagged).trim());
    }
    last_boxed(response).map(str::trim)
}

/// The gold answer of a data row: GSM8K's `… #### 72`, a MATH solution's
/// `\boxed{…}`, or the text itself.
pub fn gold_answer(raw: &str) -> &str {
    if let Some(i) = raw.rfind("####") {
        return raw[i + 4..].trim();
    }
    last_boxed(raw).unwrap_or(raw).trim()
}

/// The content of the last complete `<answer>…</answer>`.
fn last_answer_tag(text: &str) -> Option<&str> {
    const OPEN: &str = "<answer>";
    const CLOSE: &str = "</answer>";
    let mut last = None;
    let mut from = 0;
    while let Some(open) = text[from..].find(OPEN) {
        let start = from + open + OPEN.len();
        let Some(close) = text[start..].find(CLOSE) else { break };
        last = Some(&text[start..start + close]);
        from = start + close + CLOSE.len();
    }
    last
}

/// The content of the last `\boxed{…}` / `\fbox{…}` with balanced braces.
pub fn last_boxed(text: &str) -> Option<&str> {
    let start =
        ["\\boxed{", "\\fbox{"].iter().filter_map(|cmd| text.rfind(cmd).map(|i| i + cmd.len())).max()?;
    let mut depth = 1;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[start..start + i]);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_tag_wins_and_may_hold_a_box() {
        assert_eq!(final_answer("\\boxed{3} ... <answer> 8 </answer>"), Some("8"));
        assert_eq!(final_answer("<answer>\nso \\boxed{\\frac{1}{2}}\n</answer>"), Some("\\frac{1}{2}"));
        assert_eq!(final_answer("<answer>1</answer> then <answer>2</answer>"), Some("2"));
    }

    #[test]
    fn boxed_with_nested_braces() {
        assert_eq!(final_answer("thus \\boxed{\\frac{3}{4}}."), Some("\\frac{3}{4}"));
        assert_eq!(final_answer("\\boxed{1} and finally \\fbox{2}"), Some("2"));
        assert_eq!(final_answer("\\boxed{\\frac{3}{4}"), None, "unbalanced");
    }

    #[test]
    fn nothing_found() {
        assert_eq!(final_answer("The answer is 8."), None);
        assert_eq!(final_answer("<answer> 8"), None);
        assert_eq!(final_answer(""), None);
    }

    #[test]
    fn gold_answers_in_common_formats() {
        assert_eq!(gold_answer("She has 3 + 5 = 8 apples.\n#### 8"), "8");
        assert_eq!(gold_answer("So the area is $\\boxed{12\\pi}$."), "12\\pi");
        assert_eq!(gold_answer(" 42 "), "42");
    }
}
