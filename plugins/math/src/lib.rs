//! # tz-math: math word problems with a verifiable answer
//!
//! Problems come from data files: JSONL lines `{"question": ..., "answer": ...}`
//! (seed 003's format, e.g. `examples/data/dummy_math_tasks.jsonl`) or
//! veRL-layout parquet (`prompt`, `reward_model.ground_truth`,
//! `extra_info.question`); GSM8K's `#### 72` and MATH's `\boxed{}` gold
//! answers are understood. The response's final answer is taken from
//! `<answer>…</answer>` or `\boxed{…}` ([`extract`]) and compared by value
//! ([`normalize`], [`verify`]): correct, incorrect or unparseable.
//!
//! `Sample.data` is `{"question": "What is 5 + 3?", "answer": "8"}`.
//!
//! The library also exports the [`hybrid`] task: the same problems rewarded
//! by this verifier and the host's neural reward model together (seed 003).
//! It lives here, not in a crate of its own, because it reuses the verifier:
//! a second plugin crate linking this one would also register `math` and
//! the host refuses a plugin name exported twice.

pub mod extract;
pub mod hybrid;
pub mod normalize;
pub mod templates;
pub mod value;
pub mod verify;

use serde_json::{json, Value};
use tz_sdk::prelude::*;

use templates::{PromptText, Template};
use verify::Verdict;

/// Configuration of the `math` task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MathConfig {
    /// Reward for a final answer that is found but wrong (TinyZero's math reward: 0.0).
    pub format_score: f32,
    /// Reward for a correct final answer.
    pub correct_score: f32,
    /// Relative tolerance when comparing non-integer numbers (0.333333 vs 1/3).
    pub tolerance: f64,
    /// System message of the `chat` and `qwen-instruct` templates (seed 004's
    /// `format_math(system_prompt=...)`); "" = no system message.
    pub system_prompt: String,
    /// Text appended to the question as is (seed 004's `instruction`), e.g.
    /// "\nPlease reason step by step, and put your final answer within \\boxed{}."; "" = none.
    pub instruction: String,
}

impl Default for MathConfig {
    fn default() -> Self {
        MathConfig {
            format_score: 0.0,
            correct_score: 1.0,
            tolerance: 1e-6,
            system_prompt: templates::SYSTEM.into(),
            instruction: templates::INSTRUCTION.into(),
        }
    }
}

impl MathConfig {
    fn prompt_text(&self) -> PromptText<'_> {
        PromptText { system: &self.system_prompt, instruction: &self.instruction }
    }
}

/// One math problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Empty when the row gave none (scoring needs only the answer, e.g.
    /// `tzhost reward` with veRL-style `{"ground_truth", "response"}` lines).
    #[serde(default)]
    pub question: String,
    /// The gold answer as given (a number, LaTeX, or a worked solution ending in `#### n`).
    pub answer: String,
}

impl Problem {
    pub fn from_sample(sample: &Sample) -> Result<Problem, String> {
        serde_json::from_str(&sample.data)
            .map_err(|e| format!("sample {}: data is not a math problem: {e}", sample.index))
    }

    /// The question, which a prompt needs (scoring does not).
    fn question(&self, sample: &Sample) -> Result<&str, String> {
        if self.question.is_empty() {
            return Err(format!(
                "row {} has no question ('question', 'problem', extra_info.question or a user message in 'prompt'); a prompt needs one",
                sample.index
            ));
        }
        Ok(&self.question)
    }
}

/// The verifier's score of one response (shared with the `hybrid` task).
pub fn verify_input(config: &MathConfig, input: &ScoreInput) -> PluginResult<Score> {
    let p = Problem::from_sample(&input.sample)?;
    Template::from_name(&input.template)?;
    // Only the response: the prompt's instructions mention the tags themselves.
    let (reward, correct, answer, reason) = match verify::verify(&input.response, &p.answer, config.tolerance)
    {
        Verdict::Correct { answer } => (config.correct_score, true, Some(answer), "correct".to_string()),
        Verdict::Incorrect { answer } => {
            let gold = verify::canonical(extract::gold_answer(&p.answer));
            (config.format_score, false, Some(answer.clone()), format!("{answer} is not {gold}"))
        }
        Verdict::Unparseable => (0.0, false, None, "no <answer>...</answer> or \\boxed{...}".to_string()),
    };
    Ok(Score { reward, correct, formatted: answer.is_some(), answer, reason })
}

/// The math task plugin.
pub struct Math {
    config: MathConfig,
}

const GROUP: &str = "default";

impl Plugin for Math {
    const NAME: &'static str = "math";
    const DESCRIPTION: &'static str =
        "Math word problems from JSONL/parquet; answers in <answer> or \\boxed{} checked by value";
    type Config = MathConfig;

    fn new(config: MathConfig, _host: HostServices) -> PluginResult<Self> {
        if !(config.tolerance >= 0.0 && config.tolerance < 1.0) {
            return Err(format!("tolerance must be in [0, 1), got {}", config.tolerance));
        }
        Ok(Math { config })
    }
}

/// A JSON value as answer text (`8` and `"8"` alike).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The question of a veRL row: the last user message of `prompt`.
fn question_from_prompt(prompt: &Value) -> Option<String> {
    match prompt {
        Value::String(s) => Some(s.clone()),
        Value::Array(messages) => messages
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .and_then(|m| m.get("content"))
            .and_then(text),
        _ => None,
    }
}

impl Task for Math {
    fn groups(&self) -> Vec<String> {
        vec![GROUP.to_string()]
    }

    fn templates(&self) -> Vec<String> {
        Template::ALL.iter().map(|t| t.name().to_string()).collect()
    }

    fn generate(&self, _group: &str, _count: u64, _seed: u64) -> PluginResult<Vec<Sample>> {
        Err("math has no generator: its problems come from data files (JSONL {\"question\", \"answer\"} lines or veRL parquet)".into())
    }

    fn sample_from_row(&self, row: &Value) -> PluginResult<Sample> {
        let question = ["question", "problem"]
            .iter()
            .find_map(|k| row.get(*k).and_then(text))
            .or_else(|| row.pointer("/extra_info/question").and_then(text))
            .or_else(|| row.get("prompt").and_then(question_from_prompt))
            .unwrap_or_default();
        let answer = row
            .get("answer")
            .and_then(text)
            .or_else(|| row.pointer("/reward_model/ground_truth").and_then(text))
            .or_else(|| row.pointer("/extra_info/answer").and_then(text))
            .or_else(|| row.get("solution").and_then(text))
            .ok_or("row has no answer ('answer', reward_model.ground_truth or 'solution')")?;
        let group = row.get("group").and_then(Value::as_str).unwrap_or(GROUP);
        let difficulty = row.get("difficulty").and_then(Value::as_u64).unwrap_or(0) as u32;
        let index = row.pointer("/extra_info/index").and_then(Value::as_u64).unwrap_or(0);
        let data = serde_json::to_string(&Problem { question, answer }).expect("plain data");
        Ok(Sample { index, group: group.into(), difficulty, data })
    }

    fn sample_to_row(&self, sample: &Sample, template: &str) -> PluginResult<Value> {
        let p = Problem::from_sample(sample)?;
        let spec = Template::from_name(template)?.prompt(p.question(sample)?, self.config.prompt_text());
        let prompt: Vec<Value> = if spec.messages.is_empty() {
            vec![json!({"role": "user", "content": spec.text.as_str()})]
        } else {
            spec.messages
                .iter()
                .map(|m| json!({"role": m.role.as_str(), "content": m.content.as_str()}))
                .collect()
        };
        Ok(json!({
            "data_source": "math",
            "prompt": prompt,
            "ability": "math",
            "reward_model": {"style": "rule", "ground_truth": p.answer},
            "extra_info": {"split": "", "index": sample.index, "question": p.question, "answer": p.answer},
            "group": sample.group.as_str(),
            "difficulty": sample.difficulty,
        }))
    }

    fn prompt(&self, sample: &Sample, template: &str) -> PluginResult<PromptSpec> {
        let p = Problem::from_sample(sample)?;
        Ok(Template::from_name(template)?.prompt(p.question(sample)?, self.config.prompt_text()))
    }

    fn score(&self, batch: &[ScoreInput]) -> PluginResult<Vec<Score>> {
        batch.iter().map(|input| verify_input(&self.config, input)).collect()
    }

    fn reference_solution(&self, sample: &Sample, template: &str) -> PluginResult<Option<String>> {
        let p = Problem::from_sample(sample)?;
        Ok(Some(Template::from_name(template)?.response(extract::gold_answer(&p.answer))))
    }
}

tz_sdk::register_task!(Math);
tz_sdk::export_plugin_library!();
