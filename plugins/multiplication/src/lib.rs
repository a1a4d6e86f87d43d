//! # tz-multiplication: TinyZero's arithmetic task
//!
//! "Give me the answer of the following equation: 123 * 45." The answer is
//! an integer in `<answer>` tags, scored as TinyZero's `multiply.py` does:
//! 1.0 right, `format_score` (0.1) wrong, 0 without a parseable answer
//! ([`reward`]). Operands have up to 3 digits, drawn as TinyZero's
//! `arth.py` draws them ([`generator`]). Templates: `base` (TinyZero's
//! prompt), `chat`, `compact` ([`templates`]).
//!
//! `Sample.data` is `{"num1": 123, "num2": 45, "answer": 5535}`; a data row
//! has TinyZero's columns `num1, num2, result, operation, data_source,
//! prompt, ability, reward_model{style, ground_truth}, extra_info` plus
//! `group` and `difficulty` (the operands' digit count together).

pub mod generator;
pub mod reward;
pub mod templates;

use serde_json::{json, Value};
use tz_sdk::prelude::*;
use tz_sdk::rng::SplitMix64;

use reward::Verdict;
use templates::Template;

/// Configuration of the `multiplication` task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MultiplicationConfig {
    /// Reward for a parseable but wrong integer answer (TinyZero: 0.1).
    pub format_score: f32,
    /// Reward for the right product (TinyZero: 1.0).
    pub correct_score: f32,
    /// Most digits per generated operand (TinyZero: 3).
    pub digits: u32,
}

impl Default for MultiplicationConfig {
    fn default() -> Self {
        MultiplicationConfig { format_score: 0.1, correct_score: 1.0, digits: 3 }
    }
}

/// The task data of one sample. Operands are absent when a row carries only
/// the ground truth (enough to score, not to prompt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num1: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num2: Option<i64>,
    pub answer: i128,
}

impl Problem {
    fn from_sample(sample: &Sample) -> Result<Problem, String> {
        serde_json::from_str(&sample.data)
            .map_err(|e| format!("sample {}: data is not a multiplication problem: {e}", sample.index))
    }

    fn operands(&self) -> Result<(i64, i64), String> {
        match (self.num1, self.num2) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => Err("this sample has only a ground truth, no operands to build a prompt from".into()),
        }
    }
}

/// The multiplication task plugin.
pub struct Multiplication {
    config: MultiplicationConfig,
}

const GROUP: &str = "default";

impl Plugin for Multiplication {
    const NAME: &'static str = "multiplication";
    const DESCRIPTION: &'static str =
        "Multiply two numbers of up to 3 digits; integer answer in <answer> (TinyZero's arithmetic task)";
    type Config = MultiplicationConfig;

    fn new(config: MultiplicationConfig, _host: HostServices) -> PluginResult<Self> {
        if !(1..=9).contains(&config.digits) {
            return Err(format!("digits must be in 1..=9, got {}", config.digits));
        }
        Ok(Multiplication { config })
    }
}

fn integer(v: &Value) -> Option<i128> {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18).map(|f| f as i128))
}

impl Task for Multiplication {
    fn groups(&self) -> Vec<String> {
        vec![GROUP.to_string()]
    }

    fn templates(&self) -> Vec<String> {
        Template::ALL.iter().map(|t| t.name().to_string()).collect()
    }

    fn generate(&self, group: &str, count: u64, seed: u64) -> PluginResult<Vec<Sample>> {
        if group != GROUP && group != "all" {
            return Err(format!("unknown group '{group}'; multiplication has: default (or all)"));
        }
        let mut rng = SplitMix64::new(seed);
        Ok((0..count)
            .map(|index| {
                let (a, b) = (
                    generator::operand(&mut rng, self.config.digits),
                    generator::operand(&mut rng, self.config.digits),
                );
                let problem = Problem { num1: Some(a), num2: Some(b), answer: a as i128 * b as i128 };
                Sample {
                    index,
                    group: GROUP.into(),
                    difficulty: generator::digit_count(a) + generator::digit_count(b),
                    data: serde_json::to_string(&problem).expect("plain data"),
                }
            })
            .collect())
    }

    fn sample_from_row(&self, row: &Value) -> PluginResult<Sample> {
        let operand = |key: &str, alt: &str| row.get(key).or_else(|| row.get(alt)).and_then(Value::as_i64);
        let (num1, num2) = (operand("num1", "a"), operand("num2", "b"));
        let truth = row
            .pointer("/reward_model/ground_truth")
            .or_else(|| row.get("result"))
            .or_else(|| row.get("answer"));
        let answer = match (truth, num1, num2) {
            (Some(v), ..) => {
                integer(v).ok_or_else(|| format!("the ground truth must be an integer, got {v}"))?
            }
            (None, Some(a), Some(b)) => a as i128 * b as i128,
            _ => {
                return Err(
                    "row has neither reward_model.ground_truth (or 'result') nor 'num1' and 'num2'".into()
                )
            }
        };
        let difficulty = match row.get("difficulty").and_then(Value::as_u64) {
            Some(d) => d as u32,
            None => num1.zip(num2).map_or(0, |(a, b)| generator::digit_count(a) + generator::digit_count(b)),
        };
        let group = row.get("group").and_then(Value::as_str).unwrap_or(GROUP);
        let index = row.pointer("/extra_info/index").and_then(Value::as_u64).unwrap_or(0);
        let problem = Problem { num1, num2, answer };
        Ok(Sample {
            index,
            group: group.into(),
            difficulty,
            data: serde_json::to_string(&problem).expect("plain data"),
        })
    }

    fn sample_to_row(&self, sample: &Sample, template: &str) -> PluginResult<Value> {
        let p = Problem::from_sample(sample)?;
        let (a, b) = p.operands()?;
        let spec = Template::from_name(template)?.prompt(a, b);
        let prompt: Vec<Value> = if spec.messages.is_empty() {
            vec![json!({"role": "user", "content": spec.text.as_str()})]
        } else {
            spec.messages
                .iter()
                .map(|m| json!({"role": m.role.as_str(), "content": m.content.as_str()}))
                .collect()
        };
        let answer = i64::try_from(p.answer)
            .map_err(|_| format!("product {} does not fit an int64 column", p.answer))?;
        Ok(json!({
            "num1": a,
            "num2": b,
            "result": answer,
            "operation": "*",
            // TinyZero routes data sources containing "multiply" to this reward.
            "data_source": "multiply",
            "prompt": prompt,
            "ability": "math",
            "reward_model": {"style": "rule", "ground_truth": answer},
            "extra_info": {"split": "", "index": sample.index},
            "group": sample.group.as_str(),
            "difficulty": sample.difficulty,
        }))
    }

    fn prompt(&self, sample: &Sample, template: &str) -> PluginResult<PromptSpec> {
        let (a, b) = Problem::from_sample(sample)?.operands()?;
        Ok(Template::from_name(template)?.prompt(a, b))
    }

    fn score(&self, batch: &[ScoreInput]) -> PluginResult<Vec<Score>> {
        batch
            .iter()
            .map(|input| {
                let p = Problem::from_sample(&input.sample)?;
                let answer = match Template::from_name(&input.template)? {
                    Template::Base => reward::tinyzero_answer(&format!("{}{}", input.prompt, input.response)),
                    Template::Chat => reward::tagged_answer(&input.response),
                    Template::Compact => {
                        let line = input.response.split('\n').next().unwrap_or("");
                        reward::python_int(line).ok_or("the response is not an integer")
                    }
                };
                let (reward, correct, answer, reason) = match reward::judge(answer, p.answer) {
                    Verdict::Missing(why) => (0.0, false, None, why.to_string()),
                    Verdict::Wrong { answer } => (
                        self.config.format_score,
                        false,
                        Some(answer),
                        format!("{answer} is not {}", p.answer),
                    ),
                    Verdict::Correct { answer } => {
                        (self.config.correct_score, true, Some(answer), "correct".to_string())
                    }
                };
                Ok(Score {
                    reward,
                    correct,
                    formatted: answer.is_some(),
                    answer: answer.map(|a| a.to_string()),
                    reason,
                })
            })
            .collect()
    }

    fn reference_solution(&self, sample: &Sample, template: &str) -> PluginResult<Option<String>> {
        let p = Problem::from_sample(sample)?;
        let (a, b) = p.operands()?;
        Ok(Some(Template::from_name(template)?.response(a, b, p.answer)))
    }
}

tz_sdk::register_task!(Multiplication);
tz_sdk::export_plugin_library!();
