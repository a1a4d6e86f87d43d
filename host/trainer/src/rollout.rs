//! Prompts in, scored responses out: the shared first half of a training
//! step and of an evaluation.

use std::time::Instant;

use tz_config::{RolloutSection, RunConfig};
use tz_core::parallel::World;
use tz_core::rollout::{generate_part, Completion, FinishReason, StopCriteria};
use tz_core::rollout_budget::RolloutBudget;
use tz_core::sampling::SamplingParams;
use tz_core::Policy;
use tz_sdk::handle::Task;
use tz_sdk::{Sample, Score, ScoreInput};

use crate::error::Result;
use crate::prompts::{render, Prompt, PromptLimit};

/// How to render and sample a batch: the template, `n` responses per
/// prompt, the sampling parameters, stop strings besides the task's, and
/// the prompt length limit.
#[derive(Debug, Clone)]
pub struct RolloutSpec<'a> {
    pub template: &'a str,
    pub n: usize,
    pub params: SamplingParams,
    pub extra_stop: &'a [String],
    pub prompt_limit: PromptLimit,
}

impl<'a> RolloutSpec<'a> {
    /// A run's rollout of `n` responses per prompt with `params`: its
    /// template, stop strings and prompt limit.
    pub fn for_run(cfg: &'a RunConfig, n: usize, params: SamplingParams) -> Result<RolloutSpec<'a>> {
        Ok(RolloutSpec {
            template: &cfg.task.template,
            n,
            params,
            extra_stop: &cfg.rollout.stop,
            prompt_limit: PromptLimit::from_settings(cfg.task.max_prompt_length, &cfg.task.truncation)?,
        })
    }
}

/// The rollout engine's memory limits from `[rollout]`.
pub fn rollout_budget(r: &RolloutSection) -> RolloutBudget {
    RolloutBudget {
        max_rows_in_flight: r.max_rows_in_flight,
        kv_budget_tokens: r.kv_budget_tokens,
        cuda_graphs: r.cuda_graphs,
    }
}

/// Responses to a batch of samples with their scores, in prompt-major order
/// (`n` consecutive completions per sample).
pub struct Scored {
    pub samples: Vec<Sample>,
    pub prompts: Vec<Prompt>,
    pub completions: Vec<Completion>,
    pub scores: Vec<Score>,
    /// The response text the task scored.
    pub texts: Vec<String>,
    pub gen_seconds: f64,
    pub reward_seconds: f64,
}

impl Scored {
    pub fn n(&self) -> usize {
        self.completions.len() / self.samples.len().max(1)
    }
}

/// Responses to a batch of samples, ready to score (prompt-major order).
pub struct Rolled {
    pub samples: Vec<Sample>,
    pub prompts: Vec<Prompt>,
    pub completions: Vec<Completion>,
    /// The response text the task scores.
    pub texts: Vec<String>,
    pub inputs: Vec<ScoreInput>,
    pub gen_seconds: f64,
}

/// Renders and generates `n` responses per sample, without scoring them.
pub fn rollout(task: &Task, policy: &Policy, samples: Vec<Sample>, spec: &RolloutSpec) -> Result<Rolled> {
    rollout_on(&World::single(), task, policy, samples, spec)
}

/// [`rollout`] in a data-parallel job: each rank generates the responses
/// to its own prompts ([`crate::dist::my_prompts`]), then every rank
/// receives all of them, so the result is the whole batch everywhere.
pub fn rollout_on(
    world: &World,
    task: &Task,
    policy: &Policy,
    samples: Vec<Sample>,
    spec: &RolloutSpec,
) -> Result<Rolled> {
    let RolloutSpec { template, n, ref params, extra_stop, prompt_limit } = *spec;
    let prompts = samples
        .iter()
        .map(|s| render(task, &policy.tokenizer, s, template, prompt_limit))
        .collect::<Result<Vec<_>>>()?;
    let mut stop: Vec<String> = prompts.first().map(|p| p.stop.clone()).unwrap_or_default();
    stop.extend(extra_stop.iter().cloned());
    let ids: Vec<Vec<u32>> = prompts.iter().map(|p| p.ids.clone()).collect();
    let start = Instant::now();
    let criteria = StopCriteria::new(&policy.tokenizer, stop);
    let mine = crate::dist::my_prompts(world, ids.len());
    let local = generate_part(&policy.model, &ids[mine.clone()], n, params, &criteria, mine.start)?;
    let completions = crate::dist::gather_completions(world, local)?;
    let gen_seconds = start.elapsed().as_secs_f64();

    // TinyZero scores the decode with special tokens kept; the compact
    // template (ours, for character-level models) scores the bare text.
    let texts: Vec<String> = if template == "compact" {
        completions
            .iter()
            .map(|c| policy.tokenizer.0.decode(&c.token_ids, true))
            .collect::<tz_core::Result<_>>()?
    } else {
        completions.iter().map(|c| c.text.clone()).collect()
    };
    let inputs: Vec<ScoreInput> = completions
        .iter()
        .zip(&texts)
        .map(|(c, text)| ScoreInput {
            sample: samples[c.prompt_index].clone(),
            template: template.into(),
            prompt: prompts[c.prompt_index].text.clone(),
            response: text.clone(),
            finish: match c.finish {
                FinishReason::Stop => tz_sdk::FinishReason::Stop,
                FinishReason::Length => tz_sdk::FinishReason::Length,
            },
        })
        .collect();
    Ok(Rolled { samples, prompts, completions, texts, inputs, gen_seconds })
}

/// Renders, generates `n` responses per sample and scores them.
pub fn rollout_and_score(
    task: &Task,
    policy: &Policy,
    samples: Vec<Sample>,
    spec: &RolloutSpec,
) -> Result<Scored> {
    rollout_and_score_on(&World::single(), task, policy, samples, spec)
}

/// [`rollout_and_score`] in a data-parallel job ([`rollout_on`]): every
/// rank scores the whole batch, so a stateful task sees what one process
/// would.
pub fn rollout_and_score_on(
    world: &World,
    task: &Task,
    policy: &Policy,
    samples: Vec<Sample>,
    spec: &RolloutSpec,
) -> Result<Scored> {
    let Rolled { samples, prompts, completions, texts, inputs, gen_seconds } =
        rollout_on(world, task, policy, samples, spec)?;
    let start = Instant::now();
    let scores = task.score(&inputs)?;
    let reward_seconds = start.elapsed().as_secs_f64();
    Ok(Scored { samples, prompts, completions, scores, texts, gen_seconds, reward_seconds })
}
