//! # reverse-task-plugin: a third-party task plugin for tinyzero-rs
//!
//! The plugin author's starting point. It depends on `tz-sdk` alone and
//! implements a toy task: reverse a word. Copy this crate, rename it, and
//! replace the task logic.
//!
//! Build it (`cargo build --release -p reverse-task-plugin`) and load it:
//!
//! ```text
//! tzhost plugins --plugin-dir target/release/libreverse_task_plugin.so
//! TZ_PLUGIN_PATH=/path/to/dir tzhost --task reverse ...
//! ```
//!
//! What a task must provide (see `tz_sdk::Task`):
//! - `generate`: fresh samples of a group, reproducible from a seed;
//! - `sample_from_row` / `sample_to_row`: the data-file form of a sample;
//! - `prompt`: the prompt for a sample in a named template;
//! - `score`: the verifiable reward of each (sample, response) pair;
//! - optionally `reference_solution`, used to warm-start small models.
//!
//! Never panic on purpose: return `Err(message)`. (A panic is caught by the
//! sdk and reported as an error, but an error says more.)
//!
//! Everything here is plain Rust (`String`, `Vec`, `Option`); the sdk
//! converts to the boundary's types. The tests at the end create the
//! plugin in-process through the same boundary code `tzhost` uses.

use tz_sdk::prelude::*;
use tz_sdk::rng::SplitMix64;
use tz_sdk::serde_json::{self, json, Value};

/// The config: every field documented (the docs show in `tzhost plugins`)
/// and defaulted, unknown keys refused.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(crate = "tz_sdk::serde", default, deny_unknown_fields)]
#[schemars(crate = "tz_sdk::schemars")]
pub struct ReverseConfig {
    /// Shortest generated word.
    pub min_len: u32,
    /// Longest generated word.
    pub max_len: u32,
    /// Reward for a wrong answer that is a single word (the format is right).
    pub format_score: f32,
}

impl Default for ReverseConfig {
    fn default() -> Self {
        ReverseConfig { min_len: 3, max_len: 8, format_score: 0.1 }
    }
}

/// The task's own sample payload, stored as `Sample::data` JSON.
#[derive(Serialize, Deserialize)]
#[serde(crate = "tz_sdk::serde")]
struct Word {
    word: String,
}

pub struct ReverseTask {
    config: ReverseConfig,
}

impl Plugin for ReverseTask {
    const NAME: &'static str = "reverse";
    const DESCRIPTION: &'static str = "Reverse a lower-case word (example third-party plugin)";
    type Config = ReverseConfig;

    fn new(config: ReverseConfig, _host: HostServices) -> PluginResult<Self> {
        require_in("min_len", config.min_len, 1..=config.max_len)?;
        require_in("format_score", config.format_score, 0.0..=1.0)?;
        Ok(ReverseTask { config })
    }
}

fn word_of(sample: &Sample) -> PluginResult<String> {
    let w: Word = serde_json::from_str(&sample.data).map_err(|e| format!("sample {}: {e}", sample.index))?;
    Ok(w.word)
}

impl Task for ReverseTask {
    fn groups(&self) -> Vec<String> {
        vec!["default".into()]
    }

    fn templates(&self) -> Vec<String> {
        vec!["plain".into()]
    }

    fn generate(&self, group: &str, count: u64, seed: u64) -> PluginResult<Vec<Sample>> {
        let mut rng = SplitMix64::new(seed);
        Ok((0..count)
            .map(|index| {
                let len = rng.range(self.config.min_len as u64, self.config.max_len as u64);
                let word: String = (0..len).map(|_| (b'a' + rng.range(0, 25) as u8) as char).collect();
                Sample {
                    index,
                    group: group.into(),
                    difficulty: len as u32,
                    data: json!({ "word": word }).to_string(),
                }
            })
            .collect())
    }

    fn sample_from_row(&self, row: &Value) -> PluginResult<Sample> {
        let word = row.get("word").and_then(Value::as_str).ok_or("row has no string column 'word'")?;
        let index = row.get("index").and_then(Value::as_u64).unwrap_or(0);
        Ok(Sample {
            index,
            group: "default".into(),
            difficulty: word.chars().count() as u32,
            data: json!({ "word": word }).to_string(),
        })
    }

    fn sample_to_row(&self, sample: &Sample, _template: &str) -> PluginResult<Value> {
        Ok(json!({ "word": word_of(sample)?, "index": sample.index }))
    }

    fn prompt(&self, sample: &Sample, _template: &str) -> PluginResult<PromptSpec> {
        Ok(PromptSpec::text(format!("Reverse the word '{}'.\nAnswer: ", word_of(sample)?)).stop_at("\n"))
    }

    fn score(&self, batch: &[ScoreInput]) -> PluginResult<Vec<Score>> {
        batch
            .iter()
            .map(|input| {
                let expected: String = word_of(&input.sample)?.chars().rev().collect();
                let answer = input.response.trim();
                let single_word = !answer.is_empty() && answer.chars().all(|c| c.is_ascii_lowercase());
                let (reward, correct, reason) = if answer == expected {
                    (1.0, true, "correct")
                } else if single_word {
                    (self.config.format_score, false, "wrong word")
                } else {
                    (0.0, false, "not a single lower-case word")
                };
                Ok(Score {
                    reward,
                    correct,
                    formatted: single_word,
                    answer: single_word.then(|| answer.to_string()),
                    reason: reason.into(),
                })
            })
            .collect()
    }

    fn reference_solution(&self, sample: &Sample, _template: &str) -> PluginResult<Option<String>> {
        Ok(Some(word_of(sample)?.chars().rev().collect()))
    }
}

tz_sdk::register_task!(ReverseTask);
tz_sdk::export_plugin_library!();

#[cfg(test)]
mod tests {
    use tz_sdk::export::in_process;
    use tz_sdk::handle::Task;
    use tz_sdk::prelude::*;
    use tz_sdk::testing::recording_host;

    /// The plugin as `tzhost` sees it: created by name from JSON config,
    /// called through the boundary.
    fn task(config: &str) -> Result<Task, String> {
        in_process::task("reverse", config, recording_host().0).map_err(|e| e.message)
    }

    fn input(sample: &Sample, response: &str) -> ScoreInput {
        ScoreInput {
            sample: sample.clone(),
            template: "plain".into(),
            prompt: String::new(),
            response: response.into(),
            finish: FinishReason::Stop,
        }
    }

    #[test]
    fn generated_words_are_reproducible_and_within_the_configured_lengths() {
        let task = task(r#"{"min_len": 4, "max_len": 5}"#).unwrap();
        let a = task.generate("default", 20, 7).unwrap();
        assert_eq!(a, task.generate("default", 20, 7).unwrap());
        assert!(a.iter().all(|s| (4..=5).contains(&s.difficulty)), "{a:?}");
    }

    #[test]
    fn the_reversed_word_scores_one_and_a_wrong_word_the_format_score() {
        let task = task("").unwrap();
        let sample = task.sample_from_row(&tz_sdk::serde_json::json!({"word": "abc", "index": 3})).unwrap();
        let prompt = task.prompt(&sample, "plain").unwrap();
        assert_eq!(prompt.text, "Reverse the word 'abc'.\nAnswer: ");
        assert_eq!(prompt.stop, ["\n"]);
        let scores =
            task.score(&[input(&sample, "cba"), input(&sample, "abc"), input(&sample, "no!")]).unwrap();
        let got: Vec<(f32, bool, Option<&str>)> =
            scores.iter().map(|s| (s.reward, s.correct, s.answer.as_deref())).collect();
        assert_eq!(got, [(1.0, true, Some("cba")), (0.1, false, Some("abc")), (0.0, false, None)]);
        assert_eq!(task.reference_solution(&sample, "plain").unwrap().as_deref(), Some("cba"));
    }

    #[test]
    fn rows_round_trip_and_bad_config_is_one_line_naming_the_key() {
        let task = task("").unwrap();
        let sample = task.generate("default", 1, 1).unwrap().remove(0);
        let row = task.sample_to_row(&sample, "plain").unwrap();
        assert_eq!(task.sample_from_row(&row).unwrap(), Sample { group: "default".into(), ..sample });
        let err = super::tests::task(r#"{"min_len": 0}"#).err().unwrap();
        assert_eq!(err, "plugin 'reverse': config key 'min_len': must be in [1, 8], got 0");
    }
}
