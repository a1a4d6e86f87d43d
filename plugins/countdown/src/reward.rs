//! The countdown reward: TinyZero's `compute_score` with a real parser.
//!
//! TinyZero scores `0` when no answer is found, `format_score` when one is
//! found but is wrong in any way, and `score` when every given number is used
//! exactly once (`sorted(re.findall(r'\d+', eq)) == sorted(numbers)`) and the
//! value is within 1e-5 of the target. Here `eval` is replaced by
//! [`crate::expr::parse`], which accepts the same expressions (see its docs
//! for the bounds and the one difference, `**`).
//!
//! Where the answer is looked for depends on the template:
//! * `base`, `qwen-instruct`, `chat`: in `prompt + response`, as TinyZero
//!   decodes them together ([`crate::extract`]). For `chat` with a chat
//!   template that has neither marker (not ChatML), the response alone is
//!   searched, as if it followed the marker, instead of always scoring 0.
//! * `compact`: the whole response (up to a newline, stripped) is the
//!   answer; an empty or unparseable one scores 0, a parseable but wrong one
//!   `format_score`.

use tz_sdk::Score;

use crate::expr::{parse, Limits, Mode};
use crate::extract::{after_assistant_marker, is_py_space, last_line_answer, py_strip, tinyzero_answer};
use crate::templates::Template;

/// The reward's knobs (from the task config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RewardSettings {
    pub format_score: f32,
    pub correct_score: f32,
    pub mode: Mode,
    pub limits: Limits,
}

impl Default for RewardSettings {
    fn default() -> Self {
        RewardSettings {
            format_score: 0.1,
            correct_score: 1.0,
            mode: Mode::Tinyzero,
            limits: Limits::default(),
        }
    }
}

/// The three outcomes of TinyZero's countdown score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No answer: scores 0.
    Missing(String),
    /// An answer that is wrong or invalid: scores `format_score`.
    Wrong { answer: String, reason: String },
    /// Scores `correct_score`.
    Correct { answer: String },
}

impl Verdict {
    pub fn into_score(self, settings: &RewardSettings) -> Score {
        let (reward, correct, answer, reason) = match self {
            Verdict::Missing(reason) => (0.0, false, None, reason),
            Verdict::Wrong { answer, reason } => (settings.format_score, false, Some(answer), reason),
            Verdict::Correct { answer } => {
                (settings.correct_score, true, Some(answer), "correct".to_string())
            }
        };
        Score { reward, correct, formatted: answer.is_some(), answer, reason }
    }
}

/// Scores one response generated with `template` after `prompt`.
pub fn judge(
    template: Template,
    prompt: &str,
    response: &str,
    target: i64,
    nums: &[i64],
    settings: &RewardSettings,
) -> Verdict {
    match template {
        Template::Compact => judge_compact(response, target, nums, settings),
        Template::Base | Template::QwenInstruct => {
            let solution = format!("{prompt}{response}");
            match tinyzero_answer(&solution) {
                Ok(eq) => judge_equation(eq, target, nums, settings),
                Err(missing) => Verdict::Missing(missing.reason().to_string()),
            }
        }
        Template::Chat => {
            let solution = format!("{prompt}{response}");
            let found = match after_assistant_marker(&solution) {
                Some(rest) => last_line_answer(rest),
                None => last_line_answer(response),
            };
            match found {
                Ok(eq) => judge_equation(eq, target, nums, settings),
                Err(missing) => Verdict::Missing(missing.reason().to_string()),
            }
        }
    }
}

fn judge_compact(response: &str, target: i64, nums: &[i64], settings: &RewardSettings) -> Verdict {
    let line = response.split('\n').next().unwrap_or("");
    let eq = py_strip(line);
    if eq.is_empty() {
        return Verdict::Missing("empty response".to_string());
    }
    if let Err(e) = parse(eq, settings.mode, &settings.limits) {
        return Verdict::Missing(format!("not an expression: {e}"));
    }
    judge_equation(eq, target, nums, settings)
}

/// TinyZero's validate-then-evaluate on an extracted (stripped) equation.
pub fn judge_equation(eq: &str, target: i64, nums: &[i64], settings: &RewardSettings) -> Verdict {
    let answer = normalized(eq);
    let wrong = |reason: String| Verdict::Wrong { answer: answer.clone(), reason };
    let parsed = match parse(eq, settings.mode, &settings.limits) {
        Ok(p) => p,
        Err(e) => return wrong(format!("syntax error: {e}")),
    };
    if !uses_each_number_once(eq, nums) {
        return wrong(format!("numbers differ from {nums:?}"));
    }
    match parsed.value {
        Err(e) => wrong(format!("evaluation error: {e}")),
        Ok(v) if v.matches_target(target) => Verdict::Correct { answer },
        Ok(v) => wrong(format!("value {v} is not the target {target}")),
    }
}

/// `sorted(int(n) for n in re.findall(r'\d+', eq)) == sorted(nums)`.
///
/// Only ASCII digit runs are read: an equation with any other digit cannot
/// pass the parser, and then the result is "wrong" either way.
pub fn uses_each_number_once(eq: &str, nums: &[i64]) -> bool {
    let mut found: Vec<i128> = Vec::with_capacity(nums.len());
    for run in eq.split(|c: char| !c.is_ascii_digit()).filter(|r| !r.is_empty()) {
        let digits = run.trim_start_matches('0');
        // More than 19 significant digits cannot equal any i64.
        if digits.len() > 19 || found.len() == nums.len() {
            return false;
        }
        found.push(if digits.is_empty() { 0 } else { digits.parse().expect("ASCII digits") });
    }
    let mut expected: Vec<i128> = nums.iter().map(|&n| n as i128).collect();
    found.sort_unstable();
    expected.sort_unstable();
    found == expected
}

/// The answer with whitespace removed, for majority voting.
fn normalized(eq: &str) -> String {
    eq.chars().filter(|c| !is_py_space(*c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mode: Mode) -> RewardSettings {
        RewardSettings { mode, ..RewardSettings::default() }
    }

    fn base_score(response: &str, target: i64, nums: &[i64], mode: Mode) -> f32 {
        let prompt = Template::Base.prompt(nums, target).text.to_string();
        let s = settings(mode);
        judge(Template::Base, &prompt, response, target, nums, &s).into_score(&s).reward
    }

    #[test]
    fn three_outcomes() {
        let nums = [30, 12, 7];
        assert_eq!(
            base_score(" ...</think>\n<answer> (30 + 12) + 7 </answer>", 49, &nums, Mode::Tinyzero),
            1.0
        );
        assert_eq!(
            base_score(" ...</think>\n<answer> 30 + 12 - 7 </answer>", 49, &nums, Mode::Tinyzero),
            0.1
        );
        assert_eq!(base_score(" ...</think>\nno answer", 49, &nums, Mode::Tinyzero), 0.0);
    }

    #[test]
    fn decimal_literal_counts_as_two_numbers_in_tinyzero_mode_only() {
        // nums [1, 5, 2]: "1.5 * 2" uses 1, 5 and 2 by TinyZero's regex and equals 3.
        let response = "</think>\n<answer> 1.5 * 2 </answer>";
        assert_eq!(base_score(response, 3, &[1, 5, 2], Mode::Tinyzero), 1.0);
        assert_eq!(base_score(response, 3, &[1, 5, 2], Mode::Strict), 0.1);
    }

    #[test]
    fn repeated_numbers_must_each_be_used() {
        assert_eq!(base_score("<answer> 51 + 51 - 14 </answer>", 88, &[51, 51, 14], Mode::Tinyzero), 1.0);
        assert_eq!(base_score("<answer> 51 + 37 </answer>", 88, &[51, 51, 14], Mode::Tinyzero), 0.1);
        assert_eq!(base_score("<answer> 51 * 2 - 14 </answer>", 88, &[51, 51, 14], Mode::Tinyzero), 0.1);
    }

    #[test]
    fn every_number_must_be_used_not_just_some() {
        assert_eq!(base_score("<answer> 30 + 19 </answer>", 49, &[30, 19, 7], Mode::Tinyzero), 0.1);
    }

    #[test]
    fn text_after_the_answer_on_a_later_line_scores_zero() {
        let response = "</think>\n<answer> 30 + 12 + 7 </answer>\nHope that helps!";
        assert_eq!(base_score(response, 49, &[30, 12, 7], Mode::Tinyzero), 0.0);
        let same_line = "</think>\n<answer> 30 + 12 + 7 </answer> Hope that helps!<|endoftext|>";
        assert_eq!(base_score(same_line, 49, &[30, 12, 7], Mode::Tinyzero), 1.0);
    }

    #[test]
    fn the_last_of_several_answers_is_scored() {
        let r = "<answer> 30 + 12 - 7 </answer> no wait <answer> 30 + 12 + 7 </answer>";
        assert_eq!(base_score(r, 49, &[30, 12, 7], Mode::Tinyzero), 1.0);
        let r = "<answer> 30 + 12 + 7 </answer> no wait <answer> 30 + 12 - 7 </answer>";
        assert_eq!(base_score(r, 49, &[30, 12, 7], Mode::Tinyzero), 0.1);
    }

    #[test]
    fn division_by_zero_and_overflow_give_the_format_score() {
        assert_eq!(base_score("<answer> 3 / (7 - 7) </answer>", 1, &[3, 7, 7], Mode::Tinyzero), 0.1);
        // 18 factors of 10^18 make an int of 10^324; meeting the float 1.5 it overflows.
        let mut nums = vec![1_000_000_000_000_000_000i64; 18];
        nums.extend([1, 5]);
        let product = vec!["1000000000000000000"; 18].join(" * ");
        let r = format!("<answer> {product} / 1.5 </answer>");
        assert_eq!(base_score(&r, 1, &nums, Mode::Tinyzero), 0.1);
    }

    #[test]
    fn huge_numbers_in_the_answer_never_match() {
        let r = format!("<answer> {} </answer>", "9".repeat(500));
        assert_eq!(base_score(&r, 1, &[1], Mode::Tinyzero), 0.1);
    }

    #[test]
    fn empty_answer_is_formatted_but_wrong() {
        assert_eq!(base_score("<answer></answer>", 1, &[1], Mode::Tinyzero), 0.1);
        assert_eq!(base_score("", 1, &[1], Mode::Tinyzero), 0.0);
    }

    #[test]
    fn power_is_the_documented_difference() {
        // TinyZero's eval would accept 2**3 == 8; here it is refused.
        assert_eq!(base_score("<answer> 2**3 </answer>", 8, &[2, 3], Mode::Tinyzero), 0.1);
    }

    #[test]
    fn compact_scores_the_bare_expression() {
        let s = RewardSettings::default();
        let score =
            |r: &str| judge(Template::Compact, "12 7 30>49:", r, 49, &[12, 7, 30], &s).into_score(&s).reward;
        assert_eq!(score("30+12+7"), 1.0);
        assert_eq!(score("30+12+7\n999"), 1.0);
        assert_eq!(score("30+12-7"), 0.1);
        assert_eq!(score("30+12"), 0.1);
        assert_eq!(score("30+"), 0.0);
        assert_eq!(score(""), 0.0);
        assert_eq!(score("30/(12-12)+7"), 0.1);
    }

    #[test]
    fn chat_without_chatml_markers_searches_the_response() {
        let s = RewardSettings::default();
        let prompt =
            "[INST] Using the numbers [1, 2, 3] ... [/INST] Let me solve this step by step.\n<think>";
        let v =
            judge(Template::Chat, prompt, " 1+2+3 </think>\n<answer> 1 + 2 + 3 </answer>", 6, &[1, 2, 3], &s);
        assert_eq!(v, Verdict::Correct { answer: "1+2+3".into() });
        let chatml = "<|im_start|>assistant\nLet me solve this step by step.\n<think>";
        let v =
            judge(Template::Chat, chatml, " ok </think>\n<answer> 1 + 2 + 3 </answer>", 6, &[1, 2, 3], &s);
        assert!(matches!(v, Verdict::Correct { .. }));
    }

    #[test]
    fn number_check_follows_the_regex() {
        assert!(uses_each_number_once("(1 + 2) * 3", &[3, 2, 1]));
        assert!(uses_each_number_once("007 - 5", &[7, 5]));
        assert!(!uses_each_number_once("1 + 2", &[1, 2, 3]));
        assert!(!uses_each_number_once("1 + 2 + 3", &[1, 2]));
        assert!(uses_each_number_once("1.5", &[5, 1]));
        assert!(!uses_each_number_once("-3", &[-3]));
    }
}
