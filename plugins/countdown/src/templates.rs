//! The prompt templates.
//!
//! * `base` and `qwen-instruct`: TinyZero's `make_prefix`, verbatim
//!   (`{numbers}` is the Python list repr, e.g. `[44, 19, 35]`). The text is
//!   the whole prompt; no chat template is applied, as in TinyZero.
//! * `chat`: the messages of TinyZero-TRL (seed 004): system, user, and an
//!   assistant turn opened with "Let me solve this step by step.\n<think>",
//!   rendered by the model's own chat template with `continue_final_message`.
//! * `compact`: for a character-level model of about 25 symbols:
//!   `12 7 30>49:` (numbers, `>`, target, `:`); the response is the bare
//!   expression, e.g. `30+12+7`, ended by EOS. Its alphabet is digits,
//!   `+ - * / ( )`, space, `>` and `:`, and nothing else.

use tz_sdk::{ChatMessage, PromptSpec};

/// A prompt template of the countdown task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    Base,
    QwenInstruct,
    Chat,
    Compact,
}

/// Every character a `compact` prompt or answer can contain.
pub const COMPACT_ALPHABET: &str = "0123456789+-*/() >:";

const SYSTEM: &str = "You are a helpful assistant. You first thinks about the reasoning process in the mind and then provides the user with the answer.";
const PREFILL: &str = "Let me solve this step by step.\n<think>";

impl Template {
    /// In the order `Task::templates` lists them (the first is the default).
    pub const ALL: [Template; 4] =
        [Template::Base, Template::QwenInstruct, Template::Chat, Template::Compact];

    pub fn name(self) -> &'static str {
        match self {
            Template::Base => "base",
            Template::QwenInstruct => "qwen-instruct",
            Template::Chat => "chat",
            Template::Compact => "compact",
        }
    }

    pub fn from_name(name: &str) -> Result<Template, String> {
        Template::ALL.into_iter().find(|t| t.name() == name).ok_or_else(|| {
            let names: Vec<_> = Template::ALL.iter().map(|t| t.name()).collect();
            format!("unknown template '{name}'; countdown has: {}", names.join(", "))
        })
    }

    /// The prompt for a problem.
    pub fn prompt(self, nums: &[i64], target: i64) -> PromptSpec {
        let numbers = python_list(nums);
        match self {
            Template::Base => text(format!(
                "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. \
                 The assistant first thinks about the reasoning process in the mind and then provides the user with the answer.\n\
                 User: Using the numbers {numbers}, create an equation that equals {target}. You can use basic arithmetic \
                 operations (+, -, *, /) and each number can only be used once. Show your work in <think> </think> tags. \
                 And return the final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.\n\
                 Assistant: {PREFILL}"
            )),
            Template::QwenInstruct => text(format!(
                "<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n Using the numbers {numbers}, create an equation \
                 that equals {target}. You can use basic arithmetic operations (+, -, *, /) and each number can only be used \
                 once. Show your work in <think> </think> tags. And return the final answer in <answer> </answer> tags, \
                 for example <answer> (1 + 2) / 3 </answer>.<|im_end|>\n<|im_start|>assistant\n{PREFILL}"
            )),
            Template::Chat => PromptSpec {
                messages: vec![
                    message("system", SYSTEM.to_string()),
                    message(
                        "user",
                        format!(
                            "Using the numbers {numbers}, create an equation that equals {target}. You can use basic \
                             arithmetic operations (+, -, *, /) one or multiple times but each number can only be used once. \
                             Show your work in <think> </think> tags. And return the final equation in <answer> </answer> \
                             tags, for example <answer> (1 + 2) / 3 </answer>. Think step by step inside <think> tags."
                        ),
                    ),
                    message("assistant", PREFILL.to_string()),
                ],
                continue_final_message: true,
                ..PromptSpec::default()
            },
            Template::Compact => {
                let joined: Vec<String> = nums.iter().map(i64::to_string).collect();
                text(format!("{}>{target}:", joined.join(" ")))
            }
        }
    }

    /// A correct response for this template, given a solution expression
    /// without spaces: the bare expression for `compact`, otherwise a short
    /// thought and the answer on the last line.
    pub fn response(self, solution: &str, target: i64) -> String {
        match self {
            Template::Compact => solution.to_string(),
            _ => {
                let spaced = spaced(solution);
                format!(" {spaced} = {target} </think>\n<answer> {spaced} </answer>")
            }
        }
    }
}

/// `[44, 19, 35]`, as Python prints a list of ints.
pub fn python_list(nums: &[i64]) -> String {
    let items: Vec<String> = nums.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// `(30+12)*7` → `(30 + 12) * 7`: spaces around binary operators.
fn spaced(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len() * 2);
    let mut prev_is_operand = false;
    for c in expr.chars() {
        let binary = matches!(c, '+' | '-' | '*' | '/') && prev_is_operand;
        if binary {
            out.push(' ');
            out.push(c);
            out.push(' ');
        } else {
            out.push(c);
        }
        prev_is_operand = c.is_ascii_digit() || c == ')';
    }
    out
}

fn text(text: String) -> PromptSpec {
    PromptSpec { text, ..PromptSpec::default() }
}

fn message(role: &str, content: String) -> ChatMessage {
    ChatMessage { role: role.into(), content }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_prompt_uses_only_its_alphabet() {
        let p = Template::Compact.prompt(&[12, 7, 30], 49);
        assert_eq!(p.text.as_str(), "12 7 30>49:");
        assert!(p.text.chars().all(|c| COMPACT_ALPHABET.contains(c)));
        assert_eq!(Template::Compact.response("30+12+7", 49), "30+12+7");
    }

    #[test]
    fn base_prompt_ends_in_the_open_think_tag() {
        let p = Template::Base.prompt(&[44, 19, 35], 98);
        assert!(p.text.contains("Using the numbers [44, 19, 35], create an equation that equals 98."));
        assert!(p.text.ends_with("\nAssistant: Let me solve this step by step.\n<think>"));
        assert!(p.messages.is_empty());
    }

    #[test]
    fn chat_prompt_is_three_messages_continuing_the_assistant_turn() {
        let p = Template::Chat.prompt(&[1, 2, 3], 6);
        let roles: Vec<_> = p.messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant"]);
        assert!(p.continue_final_message && !p.add_generation_prompt);
        assert!(p.text.is_empty());
    }

    #[test]
    fn spaced_answers_look_like_the_prompt_example() {
        assert_eq!(spaced("(30+12)*7"), "(30 + 12) * 7");
        assert_eq!(spaced("9-(4-2)/2"), "9 - (4 - 2) / 2");
        assert_eq!(Template::Base.response("1+2", 3), " 1 + 2 = 3 </think>\n<answer> 1 + 2 </answer>");
    }

    #[test]
    fn unknown_template_names_the_valid_ones() {
        let err = Template::from_name("instruct").unwrap_err();
        assert!(err.contains("base, qwen-instruct, chat, compact"), "{err}");
    }
}
