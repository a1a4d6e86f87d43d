//! Finding the answer in a response, as TinyZero's `extract_solution` does.
//!
//! TinyZero sees `decode(prompt_ids + response_ids)` and:
//! 1. keeps the text after the first `Assistant:`, or else after the first
//!    `<|im_start|>assistant`, or else finds nothing;
//! 2. keeps only the last line (`split('\n')[-1]`);
//! 3. takes the last non-overlapping match of `<answer>(.*?)</answer>` on it;
//! 4. `.strip()`s it (Python's notion of whitespace).

/// Why no answer was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Neither `Assistant:` nor `<|im_start|>assistant` occurs.
    NoAssistantMarker,
    /// The last line holds no complete `<answer>…</answer>`.
    NoAnswerTag,
}

impl Missing {
    pub fn reason(self) -> &'static str {
        match self {
            Missing::NoAssistantMarker => "no 'Assistant:' or '<|im_start|>assistant' in the text",
            Missing::NoAnswerTag => "no <answer>...</answer> on the last line",
        }
    }
}

const ASSISTANT: &str = "Assistant:";
const CHATML_ASSISTANT: &str = "<|im_start|>assistant";

/// The text TinyZero searches: after the first assistant marker.
pub fn after_assistant_marker(text: &str) -> Option<&str> {
    if let Some(i) = text.find(ASSISTANT) {
        Some(&text[i + ASSISTANT.len()..])
    } else {
        text.find(CHATML_ASSISTANT).map(|i| &text[i + CHATML_ASSISTANT.len()..])
    }
}

/// The stripped content of the last `<answer>…</answer>` on the last line of `text`.
pub fn last_line_answer(text: &str) -> Result<&str, Missing> {
    let line = match text.rfind('\n') {
        Some(i) => &text[i + 1..],
        None => text,
    };
    last_answer_tag(line).map(py_strip).ok_or(Missing::NoAnswerTag)
}

/// TinyZero's whole extraction on `prompt + response`.
pub fn tinyzero_answer(solution: &str) -> Result<&str, Missing> {
    let rest = after_assistant_marker(solution).ok_or(Missing::NoAssistantMarker)?;
    last_line_answer(rest)
}

/// The group of the last match of `<answer>(.*?)</answer>` (no newlines in
/// `line`, so `.` matches everything). Matches are found left to right and do
/// not overlap: each starts at the first `<answer>` after the previous match
/// and ends at the first `</answer>` after that.
pub fn last_answer_tag(line: &str) -> Option<&str> {
    const OPEN: &str = "<answer>";
    const CLOSE: &str = "</answer>";
    let mut last = None;
    let mut from = 0;
    while let Some(open) = line[from..].find(OPEN) {
        let content_start = from + open + OPEN.len();
        let Some(close) = line[content_start..].find(CLOSE) else { break };
        last = Some(&line[content_start..content_start + close]);
        from = content_start + close + CLOSE.len();
    }
    last
}

/// Python's `str.isspace()`: Unicode White_Space plus the ASCII separators
/// U+001C..U+001F, which Python counts as whitespace and Rust does not.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` with no arguments.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_prefers_assistant_colon_over_chatml() {
        let text = "<|im_start|>assistant\nx Assistant: <answer> 1 </answer>";
        assert_eq!(tinyzero_answer(text), Ok("1"));
        assert_eq!(tinyzero_answer("no marker <answer>1</answer>"), Err(Missing::NoAssistantMarker));
    }

    #[test]
    fn example_answer_in_the_base_prompt_is_not_seen() {
        let prompt = "User: ... for example <answer> (1 + 2) / 3 </answer>.\nAssistant: Let me solve this step by step.\n<think>";
        assert_eq!(tinyzero_answer(prompt), Err(Missing::NoAnswerTag));
    }

    #[test]
    fn only_the_last_line_counts() {
        let text = "Assistant: <answer> 1 + 2 </answer>\nsome more text";
        assert_eq!(tinyzero_answer(text), Err(Missing::NoAnswerTag));
        let text = "Assistant: <answer> 1 </answer>\n</think> <answer> 2 + 3 </answer><|endoftext|>";
        assert_eq!(tinyzero_answer(text), Ok("2 + 3"));
    }

    #[test]
    fn last_of_several_answers_wins() {
        assert_eq!(last_answer_tag("<answer>1</answer> <answer>2</answer>"), Some("2"));
        assert_eq!(last_answer_tag("<answer>1</answer><answer>2"), Some("1"));
        // Non-overlapping, lazy: the first match swallows the inner open tag.
        assert_eq!(last_answer_tag("<answer> <answer> 3 </answer>"), Some(" <answer> 3 "));
        assert_eq!(last_answer_tag("</answer><answer>"), None);
        assert_eq!(last_answer_tag("<answer></answer>"), Some(""));
    }

    #[test]
    fn strip_uses_python_whitespace() {
        assert_eq!(py_strip("\u{1c} 1+2 \u{3000}\u{85}"), "1+2");
        assert_eq!(py_strip("\u{200b}1"), "\u{200b}1");
    }
}
