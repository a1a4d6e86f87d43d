//! Prompt templates of the math task.
//!
//! * `chat` (default): a system prompt asking for `<think>`/`<answer>`, then
//!   the question as user message, rendered by the model's chat template with
//!   a generation prompt (TinyZero-TRL's `format_math`, seed 004).
//! * `base`: TinyZero's conversation format for base models, ending in
//!   "Assistant: Let me solve this step by step.\n<think>".
//! * `qwen-instruct`: the same as hand-written ChatML text.

use tz_sdk::{ChatMessage, PromptSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    Chat,
    Base,
    QwenInstruct,
}

const SYSTEM: &str = "You are a helpful assistant. You first think about the reasoning process in the mind and then provide the user with the answer.";
const INSTRUCTION: &str =
    "Show your work in <think> </think> tags. And return the final answer in <answer> </answer> tags.";
const PREFILL: &str = "Let me solve this step by step.\n<think>";

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

    pub fn prompt(self, question: &str) -> PromptSpec {
        match self {
            Template::Chat => PromptSpec {
                messages: vec![
                    ChatMessage { role: "system".into(), content: SYSTEM.into() },
                    ChatMessage { role: "user".into(), content: format!("{question} {INSTRUCTION}") },
                ],
                add_generation_prompt: true,
                ..PromptSpec::default()
            },
            Template::Base => PromptSpec {
                text: format!(
                    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. \
                     The assistant first thinks about the reasoning process in the mind and then provides the user with \
                     the answer.\nUser: {question} {INSTRUCTION}\nAssistant: {PREFILL}"
                ),
                ..PromptSpec::default()
            },
            Template::QwenInstruct => PromptSpec {
                text: format!(
                    "<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{question} {INSTRUCTION}<|im_end|>\n\
                     <|im_start|>assistant\n{PREFILL}"
                ),
                ..PromptSpec::default()
            },
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
