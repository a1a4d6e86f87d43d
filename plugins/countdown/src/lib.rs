//! # tz-countdown: the Countdown task
//!
//! Given 3-4 numbers and a target, write an arithmetic expression that uses
//! every number exactly once and equals the target. This plugin provides:
//!
//! * a seeded generator by operator group ([`groups`], [`generator`]): `plus`,
//!   `plus_minus`, `plus_minus_mul`, `plus_minus_mul_div` (seed 001's
//!   continual-learning data), and `all` (a mix of the four);
//! * TinyZero's prompts `base` and `qwen-instruct` verbatim, TRL-style `chat`
//!   messages, and `compact` for a tiny character-level model ([`templates`]);
//! * TinyZero's reward, computed with a real parser instead of `eval`
//!   ([`reward`], [`expr`], [`number`], [`extract`]), in `tinyzero` mode
//!   (the same score on every input, except that `**` is refused) or
//!   `strict` mode;
//! * a solver for rows without a stored solution ([`solver`]).

pub mod config;
pub mod expr;
pub mod extract;
pub mod generator;
pub mod groups;
pub mod number;
pub mod reward;
pub mod rows;
pub mod solver;
pub mod templates;
pub mod tree;

use tz_sdk::prelude::*;
use tz_sdk::rng::SplitMix64;

pub use config::CountdownConfig;
use expr::Limits;
use generator::{Generator, Settings};
use groups::Group;
use reward::RewardSettings;
use rows::Problem;
use templates::Template;

/// The group name that mixes all four operator groups.
pub const MIXED_GROUP: &str = "all";

/// The countdown task plugin.
pub struct Countdown {
    settings: Settings,
    reward: RewardSettings,
}

impl Plugin for Countdown {
    const NAME: &'static str = "countdown";
    const DESCRIPTION: &'static str =
        "Countdown: reach the target with + - * / using each number once (TinyZero's task and reward)";
    type Config = CountdownConfig;

    fn new(config: CountdownConfig, _host: HostServices) -> PluginResult<Self> {
        Ok(Countdown {
            settings: config.generator_settings()?,
            reward: RewardSettings {
                format_score: config.format_score,
                correct_score: config.correct_score,
                mode: config.mode,
                limits: Limits::default(),
            },
        })
    }
}

impl Countdown {
    /// `count` problems of a group (`all` mixes the four uniformly), reproducible from `seed`.
    pub fn problems(&self, group: &str, count: u64, seed: u64) -> PluginResult<Vec<generator::Problem>> {
        let fixed = match group {
            MIXED_GROUP => None,
            name => Some(Group::from_name(name).ok_or_else(|| {
                format!("unknown group '{name}'; countdown has: plus, plus_minus, plus_minus_mul, plus_minus_mul_div, all")
            })?),
        };
        // Different groups draw from different streams even with the same seed.
        let mut rng = SplitMix64::new(seed ^ fnv1a(group.as_bytes()));
        let mut generator = Generator::default();
        (0..count)
            .map(|_| {
                let group = fixed.unwrap_or_else(|| Group::ALL[rng.range(0, 3) as usize]);
                generator.problem(group, &self.settings, &mut rng)
            })
            .collect()
    }
}

/// FNV-1a, to fold a group name into the seed.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3))
}

impl Task for Countdown {
    fn groups(&self) -> Vec<String> {
        Group::ALL.iter().map(|g| g.name().to_string()).collect()
    }

    fn templates(&self) -> Vec<String> {
        Template::ALL.iter().map(|t| t.name().to_string()).collect()
    }

    fn generate(&self, group: &str, count: u64, seed: u64) -> PluginResult<Vec<Sample>> {
        let problems = self.problems(group, count, seed)?;
        Ok(problems
            .into_iter()
            .enumerate()
            .map(|(index, p)| {
                let (group, difficulty) = (p.group.name(), p.nums.len() as u32);
                let data = Problem { target: p.target, nums: p.nums, solution: Some(p.solution) }.to_data();
                Sample { index: index as u64, group: group.into(), difficulty, data }
            })
            .collect())
    }

    fn sample_from_row(&self, row: &serde_json::Value) -> PluginResult<Sample> {
        rows::sample_from_row(row)
    }

    fn sample_to_row(&self, sample: &Sample, template: &str) -> PluginResult<serde_json::Value> {
        rows::sample_to_row(sample, Template::from_name(template)?)
    }

    fn prompt(&self, sample: &Sample, template: &str) -> PluginResult<PromptSpec> {
        let p = Problem::from_sample(sample)?;
        Ok(Template::from_name(template)?.prompt(&p.nums, p.target))
    }

    fn score(&self, batch: &[ScoreInput]) -> PluginResult<Vec<Score>> {
        batch
            .iter()
            .map(|input| {
                let p = Problem::from_sample(&input.sample)?;
                let template = Template::from_name(&input.template)?;
                let verdict =
                    reward::judge(template, &input.prompt, &input.response, p.target, &p.nums, &self.reward);
                Ok(verdict.into_score(&self.reward))
            })
            .collect()
    }

    fn reference_solution(&self, sample: &Sample, template: &str) -> PluginResult<Option<String>> {
        let p = Problem::from_sample(sample)?;
        let template = Template::from_name(template)?;
        let solution = match p.solution {
            Some(s) => Some(s),
            None => {
                // Prefer the sample's own operator group, then any operators.
                let all = Group::PlusMinusMulDiv.operators();
                let preferred = Group::from_name(&sample.group).map_or(all, Group::operators);
                solver::solve(&p.nums, p.target, preferred).or_else(|| solver::solve(&p.nums, p.target, all))
            }
        };
        Ok(solution.map(|s| template.response(&s, p.target)))
    }
}

tz_sdk::register_task!(Countdown);
tz_sdk::export_plugin_library!();
