//! `tzhost reward`: score recorded responses offline, one JSON result per
//! line, to debug a reward or compare it with another stack.
//!
//! Each input line is a JSON object with
//! * `response` (required): the text to score;
//! * `ground_truth`: the task's ground truth as in veRL's
//!   `reward_model.ground_truth` (countdown `{"target": 24, "numbers": [..]}`,
//!   multiplication an integer, math a string), or else
//! * `index`: the row of `--parquet` to score against (default: the line's
//!   position among the non-blank lines);
//! * `prompt` (optional): the prompt text the model saw. Without it (and
//!   without a parquet row to take it from), `response` is taken to be the
//!   whole text TinyZero's `compute_score` receives (prompt and response
//!   decoded together);
//! * `template` (optional): overrides `--template`.
//!
//! Bytes that are not UTF-8 are replaced (U+FFFD), as a tokenizer's decode
//! would; a line that is not a JSON object is an error naming the line.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use crate::error::{at, input, Result};
use serde_json::{json, Value};
use tz_sdk::decimal::f32_decimal;
use tz_sdk::handle::Task;
use tz_sdk::{FinishReason, ScoreInput};

use crate::progress;
use crate::rows::read_rows;

/// Totals over the scored lines.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RewardSummary {
    pub lines: usize,
    pub mean_score: f64,
    /// Fraction with `correct`.
    pub accuracy: f64,
    /// Fraction where an answer was found.
    pub formatted: f64,
}

/// Where the prompt of a parquet row is: its single message's text.
fn row_prompt(row: &Value) -> Option<String> {
    match row.get("prompt")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(messages) if messages.len() == 1 => {
            messages[0].get("content")?.as_str().map(str::to_string)
        }
        _ => None,
    }
}

/// Scores every line of `input` with `task`, writing one JSON result per
/// line to `out`: `{"line", "score", "correct", "formatted", "answer", "reason"}`.
pub fn score_lines(
    task: &Task,
    input: &mut dyn Read,
    input_name: &str,
    parquet: Option<&Path>,
    template: &str,
    out: &mut dyn Write,
    show_progress: bool,
) -> Result<RewardSummary> {
    let rows = match parquet {
        Some(path) => Some(read_rows(path)?),
        None => None,
    };
    let mut inputs = Vec::new();
    let mut line_numbers = Vec::new();
    for (n, line) in BufReader::new(input).split(b'\n').enumerate() {
        let line = line.map_err(at(format!("cannot read {input_name}")))?;
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let line_at = format!("{input_name}:{}", n + 1);
        let value: Value = serde_json::from_str(&text).map_err(at(format!("{line_at}: not valid JSON")))?;
        let Value::Object(fields) = &value else { return Err(input!("{line_at}: expected a JSON object")) };
        let response = match fields.get("response") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(input!("{line_at}: 'response' must be a string")),
            None => return Err(input!("{line_at}: no 'response'")),
        };
        let (row, row_prompt_text) = if let Some(truth) = fields.get("ground_truth") {
            (json!({"reward_model": {"style": "rule", "ground_truth": truth}}), None)
        } else if let Some(rows) = &rows {
            let index = match fields.get("index") {
                Some(v) => {
                    v.as_u64().ok_or_else(|| input!("{line_at}: 'index' must be a non-negative integer"))?
                        as usize
                }
                None => inputs.len(),
            };
            let row = rows.get(index).ok_or_else(|| {
                input!("{line_at}: index {index} is past the {} rows of the parquet", rows.len())
            })?;
            (row.clone(), row_prompt(row))
        } else {
            return Err(input!(
                "{line_at}: no 'ground_truth', and no --parquet to take row {} from",
                inputs.len()
            ));
        };
        let sample = task.sample_from_row(&row).map_err(at(format!("{line_at}: ground truth")))?;
        let prompt = match fields.get("prompt") {
            Some(Value::String(p)) => p.clone(),
            Some(_) => return Err(input!("{line_at}: 'prompt' must be a string")),
            None => row_prompt_text.unwrap_or_default(),
        };
        let template = fields.get("template").and_then(Value::as_str).unwrap_or(template);
        inputs.push(ScoreInput {
            sample,
            template: template.into(),
            prompt,
            response,
            finish: FinishReason::Stop,
        });
        line_numbers.push(n + 1);
    }

    let bar = progress::bar(inputs.len() as u64, "scoring", show_progress);
    let mut summary = RewardSummary { lines: inputs.len(), ..RewardSummary::default() };
    const BATCH: usize = 1024;
    for (chunk, lines) in inputs.chunks(BATCH).zip(line_numbers.chunks(BATCH)) {
        let scores = task.score(chunk)?;
        for (score, line) in scores.iter().zip(lines) {
            let result = json!({
                "line": line,
                "score": f32_decimal(score.reward),
                "correct": score.correct,
                "formatted": score.formatted,
                "answer": score.answer.as_deref(),
                "reason": score.reason.as_str(),
            });
            writeln!(out, "{result}")?;
            summary.mean_score += f32_decimal(score.reward);
            summary.accuracy += score.correct as u8 as f64;
            summary.formatted += score.formatted as u8 as f64;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if summary.lines > 0 {
        let n = summary.lines as f64;
        summary.mean_score /= n;
        summary.accuracy /= n;
        summary.formatted /= n;
    }
    out.flush()?;
    Ok(summary)
}
