//! Prompt templates of the multiplication task.
//!
//! * `base`: TinyZero's `examples/data_preprocess/arth.py` prompt, verbatim.
//! * `chat`: the same request as user message, rendered by the model's chat
//!   template, the assistant turn opened with "Let me solve this step by step.\n<think>".
//! * `compact`: `123*45:` for a character-level model; the response is the
//!   bare product (digits only), ended by EOS.

use tz_sdk::{ChatMessage, PromptSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    Base,
    Chat,
    Compact,
}

const PREFILL: &str = "Let me solve this step by step.\n<think>";

impl Template {
    pub const ALL: [Template; 3] = [Template::Base, Template::Chat, Template::Compact];

    pub fn name(self) -> &'static str {
        match self {
            Template::Base => "base",
            Template::Chat => "chat",
            Template::Compact => "compact",
        }
    }

    pub fn from_name(name: &str) -> Result<Template, String> {
        Template::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| format!("unknown template '{name}'; multiplication has: base, chat, compact"))
    }

    pub fn prompt(self, num1: i64, num2: i64) -> PromptSpec {
        match self {
            Template::Base => PromptSpec {
                text: format!(
                    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. \
                     The assistant first thinks about the reasoning process in the mind and then provides the user with \
                     the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> \
                     </answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> RESULT_NUMBER \
                     </answer>. \nUser: Give me the answer of the following equation: {num1} * {num2}.\nAssistant: {PREFILL}"
                ),
                ..PromptSpec::default()
            },
            Template::Chat => PromptSpec {
                messages: vec![
                    ChatMessage {
                        role: "user".into(),
                        content: format!(
                            "Give me the answer of the following equation: {num1} * {num2}. Show your work in <think> \
                             </think> tags. And return the final answer in <answer> </answer> tags, for example <answer> \
                             42 </answer>."
                        ),
                    },
                    ChatMessage { role: "assistant".into(), content: PREFILL.into() },
                ],
                continue_final_message: true,
                ..PromptSpec::default()
            },
            Template::Compact => PromptSpec { text: format!("{num1}*{num2}:"), ..PromptSpec::default() },
        }
    }

    /// A correct response in this template.
    pub fn response(self, num1: i64, num2: i64, product: i128) -> String {
        match self {
            Template::Compact => product.to_string(),
            _ => format!(" {num1} * {num2} = {product} </think>\n<answer> {product} </answer>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_prompt_is_tinyzero_arth_py() {
        let p = Template::Base.prompt(12, 34).text;
        assert!(p.starts_with("A conversation between User and Assistant."));
        assert!(p.contains("<answer> RESULT_NUMBER </answer>. \nUser: Give me the answer of the following equation: 12 * 34.\n"));
        assert!(p.ends_with("Assistant: Let me solve this step by step.\n<think>"));
    }

    #[test]
    fn compact_prompt() {
        assert_eq!(Template::Compact.prompt(123, 45).text.as_str(), "123*45:");
        assert_eq!(Template::Compact.response(123, 45, 5535), "5535");
    }
}
