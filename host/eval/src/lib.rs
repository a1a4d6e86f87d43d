//! # tz-eval: offline use of a model
//!
//! Offline evaluation (`tzhost eval`, [`command`]): sample `n` responses per problem
//! through the rollout engine, score them with the task, and summarise them
//! as mean@n, pass@k and maj@n, overall and by difficulty and group.
//!
//! * [`metrics`]: the estimators (pass@k, majority vote), public so the
//!   trainer's validation can report the same figures.
//! * [`report`]: per-problem results → figures, JSON and a text table.
//! * [`data`]: problems from a parquet/JSONL file through the task's reader.
//!
//! And [`generate`] (`tzhost generate`): a prompt completed by a model on
//! the rollout engine, to look at what a checkpoint produces.

pub mod command;
pub mod data;
mod error;
pub mod generate;
pub mod metrics;
pub mod report;

use std::time::Instant;

pub use error::{EvalError, Result};
use metrics::ProblemOutcome;
use report::ProblemResult;
use tz_core::rollout::FinishReason;
use tz_core::sampling::SamplingParams;
use tz_core::Policy;
use tz_sdk::handle::Task;
use tz_sdk::Sample;
use tz_trainer::{rollout_and_score, PromptLimit, RolloutSpec};

/// How to sample the responses of an evaluation.
#[derive(Debug, Clone)]
pub struct EvalSettings {
    pub template: String,
    /// Responses per problem.
    pub n: usize,
    pub params: SamplingParams,
    /// Stop strings besides the task's.
    pub extra_stop: Vec<String>,
    /// Problems per call of the rollout engine (bounds the KV cache).
    pub batch_prompts: usize,
    /// Keep every prompt and response as JSON ([`EvalRun::responses`]).
    pub keep_responses: bool,
}

/// Results and throughput of an evaluation.
pub struct EvalRun {
    pub problems: Vec<ProblemResult>,
    pub gen_seconds: f64,
    pub reward_seconds: f64,
    pub generated_tokens: usize,
    /// With `keep_responses`: one object per problem, `{"index", "group",
    /// "difficulty", "prompt", "responses": [{"text", "tokens", "finish",
    /// "reward", "correct", "answer", "reason"}]}`.
    pub responses: Vec<serde_json::Value>,
}

/// Generates and scores `settings.n` responses for every sample, in batches
/// of `batch_prompts` problems. `on_batch` sees the problems done so far.
pub fn evaluate(
    task: &Task,
    policy: &Policy,
    samples: &[Sample],
    settings: &EvalSettings,
    mut on_batch: impl FnMut(usize),
) -> Result<EvalRun> {
    if settings.n < 1 {
        return Err(EvalError::Flag("--samples must be at least 1".into()));
    }
    let mut run = EvalRun {
        problems: Vec::with_capacity(samples.len()),
        gen_seconds: 0.0,
        reward_seconds: 0.0,
        generated_tokens: 0,
        responses: Vec::new(),
    };
    let started = Instant::now();
    for (b, batch) in samples.chunks(settings.batch_prompts.max(1)).enumerate() {
        // A distinct seed per batch: the engine's streams are per row of a call.
        let params = SamplingParams {
            seed: settings.params.seed.wrapping_add((b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            ..settings.params.clone()
        };
        let spec = RolloutSpec {
            template: &settings.template,
            n: settings.n,
            params,
            extra_stop: &settings.extra_stop,
            prompt_limit: PromptLimit::None,
        };
        let scored = rollout_and_score(task, policy, batch.to_vec(), &spec)?;
        run.gen_seconds += scored.gen_seconds;
        run.reward_seconds += scored.reward_seconds;
        let n = settings.n;
        for (i, sample) in scored.samples.iter().enumerate() {
            let completions = &scored.completions[i * n..(i + 1) * n];
            let scores = &scored.scores[i * n..(i + 1) * n];
            debug_assert!(completions.iter().all(|c| c.prompt_index == i));
            run.generated_tokens += completions.iter().map(|c| c.token_ids.len()).sum::<usize>();
            run.problems.push(ProblemResult {
                group: sample.group.to_string(),
                difficulty: sample.difficulty,
                outcome: ProblemOutcome {
                    correct: scores.iter().map(|s| s.correct).collect(),
                    answers: scores.iter().map(|s| s.answer.clone()).collect(),
                },
                lengths: completions.iter().map(|c| c.token_ids.len()).collect(),
                truncated: completions.iter().map(|c| c.finish == FinishReason::Length).collect(),
                rewards: scores.iter().map(|s| s.reward).collect(),
            });
            if settings.keep_responses {
                run.responses.push(response_record(
                    sample,
                    &scored.prompts[i].text,
                    completions,
                    &scored.texts[i * n..(i + 1) * n],
                    scores,
                ));
            }
        }
        on_batch(run.problems.len());
    }
    tracing::debug!("evaluated {} problems in {:.1} s", run.problems.len(), started.elapsed().as_secs_f64());
    Ok(run)
}

fn response_record(
    sample: &Sample,
    prompt: &str,
    completions: &[tz_core::rollout::Completion],
    texts: &[String],
    scores: &[tz_sdk::Score],
) -> serde_json::Value {
    let responses: Vec<serde_json::Value> = completions
        .iter()
        .zip(texts)
        .zip(scores)
        .map(|((c, text), s)| {
            serde_json::json!({
                "text": text,
                "tokens": c.token_ids.len(),
                "finish": if c.finish == FinishReason::Length { "length" } else { "stop" },
                "reward": tz_sdk::decimal::f32_decimal(s.reward),
                "correct": s.correct,
                "answer": s.answer.as_deref(),
                "reason": s.reason.as_str(),
            })
        })
        .collect();
    serde_json::json!({
        "index": sample.index,
        "group": sample.group.as_str(),
        "difficulty": sample.difficulty,
        "prompt": prompt,
        "responses": responses,
    })
}
