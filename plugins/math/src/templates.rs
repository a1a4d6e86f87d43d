//! Prompt templates of the math task.
//!
//! * `chat` (default): the system prompt, then the question plus the
//!   instruction as user message, rendered by the model's chat template with
//!   a generation prompt (TinyZero-TRL's `format_math(example, system_prompt,
//!   instruction)`, seed 004).
//! * `base`: TinyZero's conversation format for base models, ending in
//!   "Assistant: Let me solve this step by step.\n<think>" (its fixed
//!   preamble plays the system prompt's part; the instruction is appended).
//! * `qwen-instruct`: the system prompt and the user turn as hand-written
//!   ChatML text, with TinyZero's assistant prefix.
//!
//! The system prompt and the instruction are the task's settings
//! ([`PromptText`]); empty = left out, as `None` is in `format_math`.

use tz_sdk::{ChatMessage, PromptSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    Chat,
    Base,
    QwenInstruct,
}

/// The default system prompt (TinyZero's, in its chat form).
pub const SYSTEM: &str = "You are a helpful assistant. You first think about the reasoning process in the mind and then provide the user with the answer.";
/// The default instruction, appended to the question as is (hence the space).
pub const INSTRUCTION: &str =
    " Show your work in <think> </think> tags. And return the final answer in <answer> </answer> tags.";
const PREFILL: &str = "Let me solve this step by step.\n<think>";

/// The configurable parts of a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptText<'a> {
    /// System message (`chat`, `qwen-instruct`); empty = none.
    pub system: &'a str,
    /// Appended to the question; empty = nothing.
    pub instruction: &'a str,
}

impl Default for PromptText<'_> {
    fn default() -> Self {
        PromptText { system: SYSTEM, instruction: INSTRUCTION }
    }
}

impl Template {
    pub const ALL: [Template; 3] = [Template::Chat, Template::Base, Template::QwenInstruct];

    pub fn name(self) -> &'static str {
        match self {
            Template::Chat => "chat",
            Template::Base => "base",
            Template::QwenInstruct => "qwen-instruct",
        }
    }

    pub fn from_name(name: &str) -> Result<Template, String> {
        Template::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| format!("unknown template '{name}'; math has: chat, base, qwen-instruct"))
    }

    pub fn prompt(self, question: &str, text: PromptText) -> PromptSpec {
        let user = format!("{question}{}", text.instruction);
        match self {
            Template::Chat => {
                let system = (!text.system.is_empty())
                    .then(|| ChatMessage { role: "system".into(), content: text.system.into() });
                let user = ChatMessage { role: "user".into(), content: user };
                PromptSpec {
                    messages: system.into_iter().chain([user]).collect(),
                    add_generation_prompt: true,
                    ..PromptSpec::default()
                }
            }
            Template::Base => PromptSpec {
                text: format!(
                    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. \
                     The assistant first thinks about the reasoning process in the mind and then provides the user with \
                     the answer.\nUser: {user}\nAssistant: {PREFILL}"
                ),
                ..PromptSpec::default()
            },
            Template::QwenInstruct => {
                let system = if text.system.is_empty() {
                    String::new()
                } else {
                    format!("<|im_start|>system\n{}<|im_end|>\n", text.system)
                };
                PromptSpec {
                    text: format!("{system}<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{PREFILL}"),
                    ..PromptSpec::default()
                }
            }
        }
    }

    /// A correct response in this template.
    pub fn response(self, answer: &str) -> String {
        match self {
            Template::Chat => {
                format!("<think> The answer is {answer}. </think>\n<answer> {answer} </answer>")
            }
            _ => format!(" The answer is {answer}. </think>\n<answer> {answer} </answer>"),
        }
    }
}
