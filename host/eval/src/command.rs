//! `tzhost eval`: sample k responses per problem of a data file (or of
//! generated held-out problems) with a model, score them with the task, and
//! report mean@k, pass@k (unbiased), maj@k, accuracy by difficulty and by
//! group, response length and the truncated fraction (see [`crate::eval`]).
//!
//! Defaults come, in order, from the flags; from the run's `config.toml`
//! when `--model` is a checkpoint of a run directory (`RUN/checkpoints/step_N`:
//! its task settings, template, sampling and response length); from the
//! tiny-model recipe when there is no `--model` (3-number countdown, the
//! `compact` template, 24 new tokens); else the task's first template and
//! 1024 new tokens, at temperature 1.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use tz_config::{ranges, Layers, Origin, RunConfig};
use tz_core::device::{parse_device, parse_dtype};
use tz_core::rollout_budget::RolloutBudget;
use tz_core::sampling::SamplingParams;
use tz_core::Policy;
use tz_plugin_host::{Registry, TracingHost};
use tz_run_dir::write_atomic;
use tz_sdk::handle::Task;
use tz_trainer::{generate_samples, resolve_model_path};

use tz_trainer::memory_check;

use crate::error::{EvalError, Result};

use crate::report::EvalFigures;
use crate::{data::samples_from_file, evaluate, EvalSettings};

#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// A Hugging Face model directory (a run's checkpoints/step_N too) or hub
    /// id; default: the tiny model `tzhost train` warm-starts.
    #[arg(long)]
    pub model: Option<String>,
    /// Task plugin.
    #[arg(long, default_value = "countdown")]
    pub task: String,
    /// The task's config as JSON, e.g. '{"max_operands": 5}' (see `tzhost plugins`).
    #[arg(long, value_name = "JSON")]
    pub task_config: Option<String>,
    /// Problems: a parquet (TinyZero/veRL layout, e.g. from `tzhost data gen`)
    /// or JSONL file; default: held-out problems from the task's generator.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Generated problems (without --data; default 256), or the first N rows of --data.
    #[arg(long, value_name = "N")]
    pub size: Option<usize>,
    /// Seed of the generated problems: the default gives the held-out set a
    /// training run with the default trainer.seed validates on.
    #[arg(long, default_value_t = 1)]
    pub problem_seed: u64,
    /// Responses sampled per problem (k of mean@k, pass@k, maj@k).
    #[arg(long, short = 'k', default_value_t = 8)]
    pub samples: usize,
    /// Sampling temperature (0 = greedy).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Nucleus sampling: keep the most likely tokens up to this mass.
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Keep only the K most likely tokens (0 = all).
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Maximum new tokens per response.
    #[arg(long)]
    pub max_new_tokens: Option<usize>,
    /// Prompt template (e.g. compact, base, qwen-instruct, chat).
    #[arg(long)]
    pub template: Option<String>,
    /// Stop once the response contains this text, besides the task's (repeatable).
    #[arg(long = "stop", value_name = "TEXT")]
    pub stop: Vec<String>,
    /// Seed of the samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Problems per call of the rollout engine (rows = this × --samples).
    #[arg(long, default_value_t = 64)]
    pub batch_prompts: usize,
    /// At most this many rows decode at once; the rest wait for a free slot
    /// (0 = no limit of its own; rollout.max_rows_in_flight).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_rows_in_flight: usize,
    /// At most this many KV-cache positions at once (0 = from the device's
    /// free memory; rollout.kv_budget_tokens).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub kv_budget_tokens: usize,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Weights dtype: f32 or bf16.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// Write the figures here as JSON.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also write every prompt and response with its score here (JSONL, one problem a line).
    #[arg(long, value_name = "FILE")]
    pub responses: Option<PathBuf>,
    /// Seed of the tiny model's warm start (without --model).
    #[arg(long, default_value_t = 0)]
    pub tiny_seed: u64,
    /// SFT steps of the tiny model's warm start (0 = the preset's; tests use fewer).
    #[arg(long, default_value_t = 0)]
    pub tiny_sft_steps: usize,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// Settings the flags did not give, from a run's config or the recipes.
struct Defaults {
    task_config: serde_json::Map<String, Value>,
    template: Option<String>,
    max_new_tokens: usize,
    temperature: f64,
    top_p: f64,
    top_k: usize,
    stop: Vec<String>,
}

impl Defaults {
    fn generic() -> Defaults {
        Defaults {
            task_config: Default::default(),
            template: None,
            max_new_tokens: 1024,
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            stop: Vec::new(),
        }
    }

    /// The tiny model's recipe, as `tzhost train` resolves it (its preset).
    fn tiny(task: &str) -> Result<Defaults> {
        let mut layers = Layers::defaults();
        layers.set(&format!("task.name={task}"), Origin::Flag("--task".into()))?;
        Ok(Defaults::from_run(&layers.resolve()?.config))
    }

    fn from_run(cfg: &RunConfig) -> Defaults {
        let task_config =
            match serde_json::from_str(&RunConfig::plugin_json(&cfg.task.plugins, &cfg.task.name)) {
                Ok(Value::Object(m)) => m,
                _ => Default::default(),
            };
        Defaults {
            task_config,
            template: Some(cfg.task.template.clone()),
            max_new_tokens: cfg.rollout.max_response_length,
            temperature: cfg.rollout.temperature,
            top_p: cfg.rollout.top_p,
            top_k: cfg.rollout.top_k,
            stop: cfg.rollout.stop.clone(),
        }
    }
}

/// The run config of a checkpoint inside a run directory (`RUN/checkpoints/step_N`).
fn run_config_of(model_dir: &Path) -> Option<(PathBuf, RunConfig)> {
    let run = model_dir.parent()?.parent()?;
    let path = run.join("config.toml");
    if model_dir.parent()?.file_name()? != "checkpoints" || !path.is_file() {
        return None;
    }
    match RunConfig::from_file(&path) {
        Ok(cfg) => Some((path, cfg)),
        Err(e) => {
            tracing::warn!("ignoring {}: {e:#}", path.display());
            None
        }
    }
}

/// `--task-config` over the defaults' task table.
fn task_config_json(flag: Option<&str>, defaults: &Defaults) -> Result<String> {
    let mut table = defaults.task_config.clone();
    if let Some(text) = flag.filter(|t| !t.trim().is_empty()) {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(given)) => table.extend(given),
            Ok(_) => return Err(EvalError::Flag(format!("--task-config must be a JSON object, got {text}"))),
            Err(e) => return Err(EvalError::Flag(format!("--task-config is not valid JSON: {e}"))),
        }
    }
    Ok(if table.is_empty() { String::new() } else { Value::Object(table).to_string() })
}

fn load_task(registry: &Registry, name: &str, config: &str) -> Result<Task> {
    Ok(registry.task(name, config, TracingHost::handle())?)
}

/// The numeric flags in range, and the output paths usable, before any work.
fn check_args(args: &EvalArgs) -> Result<()> {
    ranges::count("--samples", args.samples as u64, 1, ranges::MAX_COUNT)?;
    ranges::count("--size", args.size.unwrap_or(1) as u64, 1, ranges::MAX_COUNT)?;
    ranges::count("--batch-prompts", args.batch_prompts as u64, 1, ranges::MAX_COUNT)?;
    let names = ["--temperature", "--top-p", "--top-k", "--max-new-tokens"];
    let (t, p, k, m) = (args.temperature, args.top_p, args.top_k, args.max_new_tokens);
    ranges::sampling(names, t.unwrap_or(1.0), p.unwrap_or(1.0), k.unwrap_or(0), m.unwrap_or(1))?;
    if let Some(data) = &args.data {
        if !data.is_file() {
            return Err(EvalError::Flag(format!("--data {} does not exist", data.display())));
        }
    }
    for (flag, path) in [("--out", &args.out), ("--responses", &args.responses)] {
        if let Some(path) = path.as_ref().filter(|p| p.is_dir()) {
            return Err(EvalError::Flag(format!(
                "{flag} {} is a directory: give a file path",
                path.display()
            )));
        }
    }
    Ok(())
}

pub fn run(args: &EvalArgs, registry: &Registry) -> Result<()> {
    check_args(args)?;
    let device = parse_device(&args.device)?;
    let kind = parse_dtype(&args.dtype)
        .map_err(|_| EvalError::Flag(format!("--dtype '{}' is not one of f32, bf16", args.dtype)))?;

    // The model directory decides the defaults; the tiny model needs the task to build.
    let model_spec = args.model.as_deref().filter(|m| *m != "tiny");
    let (model_dir, defaults, task) = match model_spec {
        Some(spec) => {
            let dir = tz_core::hub::resolve_model(spec)
                .map_err(|error| EvalError::Model { spec: spec.into(), error })?;
            let defaults = match run_config_of(&dir) {
                Some((path, cfg)) => {
                    tracing::info!("defaults from the run config {}", path.display());
                    if cfg.task.name != args.task {
                        tracing::warn!(
                            "the run trained on task '{}', evaluating '{}' with its settings left out",
                            cfg.task.name,
                            args.task
                        );
                        Defaults::generic()
                    } else {
                        Defaults::from_run(&cfg)
                    }
                }
                None => Defaults::generic(),
            };
            let task =
                load_task(registry, &args.task, &task_config_json(args.task_config.as_deref(), &defaults)?)?;
            (dir, defaults, task)
        }
        None => {
            let defaults = Defaults::tiny(&args.task)?;
            let task =
                load_task(registry, &args.task, &task_config_json(args.task_config.as_deref(), &defaults)?)?;
            let dir = resolve_model_path("", &task, args.tiny_seed, args.tiny_sft_steps)?;
            (dir, defaults, task)
        }
    };

    let templates: Vec<String> = task.templates()?;
    let template = match args.template.clone().or(defaults.template.clone()) {
        Some(t) => t,
        None => templates.first().cloned().ok_or(EvalError::NoTemplates)?,
    };
    if !templates.contains(&template) {
        let known = templates.join(", ");
        return Err(EvalError::Flag(format!(
            "--template '{template}' is not one of the task's templates: {known}"
        )));
    }

    let samples = match &args.data {
        Some(path) => samples_from_file(&task, path, args.size)?,
        None => {
            let groups: Vec<String> = task.groups()?;
            let seed = args.problem_seed ^ 0x5EED_7E57;
            generate_samples(&task, &groups, args.size.unwrap_or(256), seed, &Default::default())?
        }
    };
    if samples.is_empty() {
        return Err(EvalError::NoProblems);
    }

    let max_new_tokens = args.max_new_tokens.unwrap_or(defaults.max_new_tokens);
    let model_cfg = tz_core::Qwen2Config::from_file(&model_dir.join("config.json"))?;
    let rows = args.batch_prompts.min(samples.len()) * args.samples;
    let driven_by = "--batch-prompts × --samples × --max-new-tokens";
    memory_check::ensure_fits(
        &memory_check::generation(&model_cfg, kind, rows, max_new_tokens, driven_by),
        device,
        "this evaluation",
    )?;
    let policy = Policy::load(&model_dir, device, kind)?;
    let params = SamplingParams {
        temperature: args.temperature.unwrap_or(defaults.temperature),
        top_p: args.top_p.unwrap_or(defaults.top_p),
        top_k: args.top_k.unwrap_or(defaults.top_k),
        max_new_tokens,
        seed: args.seed,
        budget: RolloutBudget {
            max_rows_in_flight: args.max_rows_in_flight,
            kv_budget_tokens: args.kv_budget_tokens,
            ..RolloutBudget::default()
        },
    };
    params.validate()?;
    let mut stop = defaults.stop.clone();
    stop.extend(args.stop.iter().cloned());
    let settings = EvalSettings {
        template: template.clone(),
        n: args.samples,
        params: params.clone(),
        extra_stop: stop,
        batch_prompts: args.batch_prompts,
        keep_responses: args.responses.is_some(),
    };
    eprintln!(
        "evaluating {} on {} {} problems × {} samples (template {template}, temperature {}, max {} new tokens)",
        model_dir.display(),
        samples.len(),
        args.task,
        args.samples,
        params.temperature,
        params.max_new_tokens
    );

    let bar = if args.no_progress {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(samples.len() as u64);
        b.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {pos}/{len} problems").unwrap(),
        );
        b
    };
    let started = Instant::now();
    let result = evaluate(&task, &policy, &samples, &settings, |done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    let figures = EvalFigures::over(&result.problems).map_err(EvalError::Figures)?;

    println!("{}", figures.table());
    println!(
        "{} tokens generated in {:.1} s ({:.1} tokens/s)",
        result.generated_tokens,
        result.gen_seconds,
        result.generated_tokens as f64 / result.gen_seconds.max(1e-9)
    );

    if let Some(path) = &args.responses {
        let mut text = String::new();
        for r in &result.responses {
            text.push_str(&serde_json::to_string(r).expect("a response serialises to JSON"));
            text.push('\n');
        }
        write_atomic(path, text.as_bytes()).map_err(|source| EvalError::Output {
            flag: "--responses",
            path: path.clone(),
            source,
        })?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(out) = &args.out {
        let mut report = json!({
            "task": args.task,
            "model": model_dir,
            "data": args.data,
            "template": template,
            "problems": samples.len(),
            "samples": args.samples,
            "sampling": {
                "temperature": params.temperature,
                "top_p": params.top_p,
                "top_k": params.top_k,
                "max_new_tokens": params.max_new_tokens,
                "seed": params.seed,
            },
            "timing": {
                "wall_s": wall,
                "gen_s": result.gen_seconds,
                "reward_s": result.reward_seconds,
                "generated_tokens": result.generated_tokens,
                "tokens_per_s": result.generated_tokens as f64 / result.gen_seconds.max(1e-9),
            },
        });
        if args.data.is_none() {
            report["problem_seed"] = json!(args.problem_seed);
        }
        if let (Value::Object(r), Value::Object(f)) = (&mut report, figures.to_json()) {
            r.extend(f);
        }
        let text = serde_json::to_string_pretty(&report).expect("a JSON value serialises");
        write_atomic(out, text.as_bytes()).map_err(|source| EvalError::Output {
            flag: "--out",
            path: out.clone(),
            source,
        })?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_config_flag_overrides_the_recipe_table() {
        let tiny = Defaults::tiny("countdown").unwrap();
        assert_eq!(task_config_json(None, &tiny).unwrap(), r#"{"min_operands":3,"max_operands":3}"#);
        let merged: Value =
            serde_json::from_str(&task_config_json(Some(r#"{"max_operands": 4}"#), &tiny).unwrap()).unwrap();
        assert_eq!(merged, json!({"min_operands": 3, "max_operands": 4}));
        assert_eq!(task_config_json(Some(""), &Defaults::generic()).unwrap(), "");
        assert!(task_config_json(Some("[1]"), &tiny).unwrap_err().to_string().contains("JSON object"));
        assert!(task_config_json(Some("{"), &tiny).unwrap_err().to_string().contains("not valid JSON"));
    }

    #[test]
    fn checkpoints_of_a_run_take_the_run_settings() {
        let dir = tempfile::tempdir().unwrap();
        let ckpt = dir.path().join("checkpoints/step_000010");
        std::fs::create_dir_all(&ckpt).unwrap();
        assert!(run_config_of(&ckpt).is_none(), "no config.toml");
        let mut cfg = RunConfig::default();
        cfg.task.template = "base".into();
        cfg.rollout.max_response_length = 77;
        std::fs::write(dir.path().join("config.toml"), cfg.to_toml_string()).unwrap();
        let (path, found) = run_config_of(&ckpt).unwrap();
        assert_eq!(path, dir.path().join("config.toml"));
        let d = Defaults::from_run(&found);
        assert_eq!((d.template.as_deref(), d.max_new_tokens), (Some("base"), 77));
        // A model directory that merely sits two levels below a config.toml is not a checkpoint.
        let other = dir.path().join("models/m");
        std::fs::create_dir_all(&other).unwrap();
        assert!(run_config_of(&other).is_none());
    }
}
