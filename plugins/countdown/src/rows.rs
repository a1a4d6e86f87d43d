//! Countdown samples as JSON: `Sample.data` and TinyZero/veRL data rows.
//!
//! `Sample.data` is `{"target": 49, "nums": [12, 7, 30], "solution": "30+12+7"}`
//! (`solution` only for generated samples). A data row has TinyZero's layout
//! plus `group` and `difficulty`:
//! `target, nums, data_source, prompt, ability, reward_model, extra_info, group, difficulty`.
//! Rows are read leniently: `target`/`nums` may come from
//! `reward_model.ground_truth.{target, numbers}` alone (as in the `reward`
//! command's `{"ground_truth": ...}` lines), and `group`/`difficulty` default
//! to `default` and the count of numbers.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tz_sdk::Sample;

use crate::templates::Template;

/// The task data of one countdown sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub target: i64,
    pub nums: Vec<i64>,
    /// A known solution without spaces, when the sample was generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solution: Option<String>,
}

impl Problem {
    pub fn from_sample(sample: &Sample) -> Result<Problem, String> {
        serde_json::from_str(&sample.data)
            .map_err(|e| format!("sample {}: data is not a countdown problem: {e}", sample.index))
    }

    /// `Sample.data` text. Built by hand: this runs 100k+ times a second in generation.
    pub fn to_data(&self) -> String {
        let nums: Vec<String> = self.nums.iter().map(i64::to_string).collect();
        match &self.solution {
            Some(s) => format!(
                r#"{{"target":{},"nums":[{}],"solution":{}}}"#,
                self.target,
                nums.join(","),
                Value::from(s.as_str())
            ),
            None => format!(r#"{{"target":{},"nums":[{}]}}"#, self.target, nums.join(",")),
        }
    }
}

/// The group given to rows that carry none (TinyZero's own data).
pub const DEFAULT_GROUP: &str = "default";

/// A sample from a data row.
pub fn sample_from_row(row: &Value) -> Result<Sample, String> {
    let truth = row.pointer("/reward_model/ground_truth");
    let target = match row.get("target").or_else(|| truth.and_then(|t| t.get("target"))) {
        Some(v) => integer(v).ok_or_else(|| format!("'target' must be an integer, got {v}"))?,
        None => return Err("row has no 'target' (nor reward_model.ground_truth.target)".into()),
    };
    let nums = match row.get("nums").or_else(|| truth.and_then(|t| t.get("numbers"))) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| integer(v).ok_or_else(|| format!("'nums' must hold integers, got {v}")))
            .collect::<Result<Vec<_>, _>>()?,
        Some(v) => return Err(format!("'nums' must be a list of integers, got {v}")),
        None => return Err("row has no 'nums' (nor reward_model.ground_truth.numbers)".into()),
    };
    let group = match row.get("group") {
        None | Some(Value::Null) => DEFAULT_GROUP.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    let difficulty = match row.get("difficulty").and_then(integer) {
        Some(d) => u32::try_from(d)
            .map_err(|_| format!("'difficulty' must be a small non-negative integer, got {d}"))?,
        None => nums.len() as u32,
    };
    let index = row.pointer("/extra_info/index").and_then(integer).unwrap_or(0).max(0) as u64;
    let solution = row.get("solution").and_then(Value::as_str).map(str::to_string);
    let problem = Problem { target, nums, solution };
    Ok(Sample { index, group, difficulty, data: problem.to_data() })
}

/// The data row of a sample, its prompt rendered in `template`.
pub fn sample_to_row(sample: &Sample, template: Template) -> Result<Value, String> {
    let p = Problem::from_sample(sample)?;
    let spec = template.prompt(&p.nums, p.target);
    let prompt: Vec<Value> = if spec.messages.is_empty() {
        vec![json!({"role": "user", "content": spec.text.as_str()})]
    } else {
        spec.messages
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content.as_str()}))
            .collect()
    };
    Ok(json!({
        "target": p.target,
        "nums": p.nums,
        "data_source": "countdown",
        "prompt": prompt,
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": {"target": p.target, "numbers": p.nums}},
        "extra_info": {"split": "", "index": sample.index},
        "group": sample.group.as_str(),
        "difficulty": sample.difficulty,
    }))
}

/// An integer from JSON: an integer number, or a float with no fraction
/// (some writers store int columns as doubles).
fn integer(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18).map(|f| f as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_round_trip_keeps_the_sample() {
        let problem = Problem { target: 49, nums: vec![12, 7, 30], solution: None };
        let sample = Sample { index: 5, group: "plus".into(), difficulty: 3, data: problem.to_data() };
        let row = sample_to_row(&sample, Template::Base).unwrap();
        assert_eq!(row["reward_model"]["ground_truth"]["numbers"], json!([12, 7, 30]));
        assert_eq!(sample_from_row(&row).unwrap(), sample);
    }

    #[test]
    fn ground_truth_alone_is_enough() {
        let row = json!({"reward_model": {"ground_truth": {"target": 24, "numbers": [3, 8, 1]}}});
        let s = sample_from_row(&row).unwrap();
        assert_eq!(
            Problem::from_sample(&s).unwrap(),
            Problem { target: 24, nums: vec![3, 8, 1], solution: None }
        );
        assert_eq!((s.group.as_str(), s.difficulty), (DEFAULT_GROUP, 3));
    }

    #[test]
    fn bad_rows_name_the_field() {
        let err = sample_from_row(&json!({"nums": [1, 2]})).unwrap_err();
        assert!(err.contains("'target'"), "{err}");
        let err = sample_from_row(&json!({"target": 3, "nums": [1, "x"]})).unwrap_err();
        assert!(err.contains("'nums'"), "{err}");
        let err = sample_from_row(&json!({"target": 3.5, "nums": [1]})).unwrap_err();
        assert!(err.contains("'target'"), "{err}");
    }

    #[test]
    fn solutions_are_escaped_in_data() {
        let p = Problem { target: 1, nums: vec![1], solution: Some("a\"b".into()) };
        let back: Problem = serde_json::from_str(&p.to_data()).unwrap();
        assert_eq!(back, p);
    }
}
