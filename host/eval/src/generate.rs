//! `tzhost generate`: complete a prompt with a model, to look at what a
//! checkpoint (ours, transformers', a hub id, the tiny preset) produces.
//!
//! The prompt is used verbatim (tokenized with the tokenizer's special
//! tokens, as `tokenizer(text)` does), or with `--chat` wrapped as a user
//! message in the checkpoint's chat template with the generation prompt (as
//! `apply_chat_template(..., add_generation_prompt=True)`). Sampling defaults
//! come from the checkpoint's `generation_config.json`, like `model.generate()`;
//! flags override them. Generation runs on the rollout engine, so what this
//! prints is what training rollouts would sample.

use std::time::Instant;

use crate::error::{EvalError, Result};
use clap::Args;
use tz_core::chat_template::{ChatMessage, RenderOptions};
use tz_core::presets::default_models_dir;
use tz_core::rollout::{generate, FinishReason, StopCriteria};
use tz_core::sampling::SamplingParams;
use tz_core::{GenerationConfig, TextTokenizer};

use tz_config::ranges;
use tz_core::device::{parse_device, parse_dtype};
use tz_core::Policy;
use tz_trainer::memory_check;

#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// A Hugging Face model directory or hub id (`Qwen/Qwen2.5-0.5B`), or
    /// `tiny` for the tiny preset that `tzhost train` warm-starts.
    #[arg(long)]
    pub model: String,
    /// The prompt text.
    #[arg(long)]
    pub prompt: String,
    /// Render the prompt as a user message with the model's chat template.
    #[arg(long)]
    pub chat: bool,
    /// A system message for `--chat` (default: the template's own, if any).
    #[arg(long, requires = "chat")]
    pub system: Option<String>,
    /// Greedy decoding (argmax), regardless of generation_config.json.
    #[arg(long, conflicts_with_all = ["temperature", "top_p", "top_k"])]
    pub greedy: bool,
    /// Sampling temperature (0 = greedy).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Nucleus sampling: keep the most likely tokens up to this mass.
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Keep only the K most likely tokens (0 = all).
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Maximum number of generated tokens.
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    /// Number of samples.
    #[arg(short = 'n', long, default_value_t = 1)]
    pub num_samples: usize,
    /// Stop once the response contains this text (repeatable).
    #[arg(long = "stop", value_name = "TEXT")]
    pub stop: Vec<String>,
    /// Leave special tokens (`<|im_end|>`, ...) out of the printed text.
    #[arg(long)]
    pub skip_special_tokens: bool,
    /// Random seed of the samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Weights dtype: f32 or bf16.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
}

/// `--model`: `tiny` is the tiny preset's cached directory (seed 0).
fn model_dir(spec: &str) -> Result<std::path::PathBuf> {
    if spec != "tiny" {
        return Ok(tz_core::hub::resolve_model(spec)?);
    }
    let dir = default_models_dir().join("tiny-countdown-0");
    if !dir.join("config.json").is_file() {
        return Err(EvalError::Flag(format!(
            "the tiny preset is not built yet ({} is missing): run `tzhost train` once, or pass --model DIR",
            dir.display()
        )));
    }
    Ok(dir)
}

/// Sampling settings: flags over `generation_config.json` over defaults
/// (temperature 1, as `model.generate()` with `do_sample=True`).
pub fn sampling_params(args: &GenerateArgs, generation: Option<&GenerationConfig>) -> SamplingParams {
    let mut params =
        SamplingParams { max_new_tokens: args.max_new_tokens, seed: args.seed, ..Default::default() };
    if let Some(g) = generation {
        if g.do_sample == Some(false) {
            params.temperature = 0.0;
        } else {
            params.temperature = g.temperature.unwrap_or(params.temperature);
            params.top_p = g.top_p.unwrap_or(params.top_p);
            params.top_k = g.top_k.map(|k| k as usize).unwrap_or(params.top_k);
        }
        if g.repetition_penalty.is_some_and(|p| p != 1.0) {
            tracing::info!(
                "generation_config.json asks for a repetition penalty; the rollout engine does not apply one"
            );
        }
    }
    if args.greedy {
        params.temperature = 0.0;
    }
    if let Some(t) = args.temperature {
        params.temperature = t;
    }
    if let Some(p) = args.top_p {
        params.top_p = p;
    }
    if let Some(k) = args.top_k {
        params.top_k = k;
    }
    params
}

/// The prompt's token ids, as transformers would build them.
pub fn prompt_ids(args: &GenerateArgs, tokenizer: &TextTokenizer) -> Result<Vec<u32>> {
    if !args.chat {
        return Ok(tokenizer.encode(&args.prompt, true)?);
    }
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(ChatMessage::system(system.clone()));
    }
    messages.push(ChatMessage::user(args.prompt.clone()));
    let opts = RenderOptions { add_generation_prompt: true, ..Default::default() };
    let text = tokenizer.apply_chat_template(&messages, &opts).map_err(|e| e.context("--chat"))?;
    // apply_chat_template tokenizes without adding special tokens: the
    // template already wrote them.
    Ok(tokenizer.encode(&text, false)?)
}

/// The numeric flags in range (before anything is loaded).
fn check_ranges(args: &GenerateArgs) -> Result<(), ranges::RangeError> {
    ranges::count("-n", args.num_samples as u64, 1, ranges::MAX_COUNT)?;
    let names = ["--temperature", "--top-p", "--top-k", "--max-new-tokens"];
    let (t, p, k) = (args.temperature.unwrap_or(1.0), args.top_p.unwrap_or(1.0), args.top_k.unwrap_or(0));
    ranges::sampling(names, t, p, k, args.max_new_tokens)
}

pub fn run(args: &GenerateArgs) -> Result<()> {
    check_ranges(args)?;
    let device = parse_device(&args.device)?;
    let kind = parse_dtype(&args.dtype)
        .map_err(|_| EvalError::Flag(format!("--dtype '{}' is not one of f32, bf16", args.dtype)))?;
    let dir = model_dir(&args.model)?;
    let model_cfg = tz_core::Qwen2Config::from_file(&dir.join("config.json"))?;
    let need = memory_check::generation(
        &model_cfg,
        kind,
        args.num_samples,
        args.max_new_tokens,
        "-n × --max-new-tokens",
    );
    memory_check::ensure_fits(&need, device, "generating")?;
    let policy = Policy::load(&dir, device, kind)?;
    let tokenizer = &policy.tokenizer.0;
    let params = sampling_params(args, policy.dir.generation_config());
    let prompt = prompt_ids(args, tokenizer)?;
    if prompt.is_empty() {
        return Err(EvalError::Flag("the prompt encodes to no tokens".into()));
    }
    tracing::info!(
        model = %dir.display(),
        prompt_tokens = prompt.len(),
        temperature = params.temperature,
        top_p = params.top_p,
        top_k = params.top_k,
        "generating"
    );

    let stop = StopCriteria {
        eos_token_ids: tokenizer.eos_token_ids().to_vec(),
        stop_strings: args.stop.clone(),
        decoder: tokenizer,
    };
    let start = Instant::now();
    let completions = generate(&policy.model, &[prompt], args.num_samples, &params, &stop)?;
    let seconds = start.elapsed().as_secs_f64();
    let tokens: usize = completions.iter().map(|c| c.token_ids.len()).sum();
    for c in &completions {
        let text = if args.skip_special_tokens {
            cut_after_first_stop(&tokenizer.decode(&c.token_ids, true)?, &args.stop)
        } else {
            c.text.clone()
        };
        if completions.len() > 1 {
            let finish = match c.finish {
                FinishReason::Stop => "stop",
                FinishReason::Length => "length",
            };
            println!("--- sample {} ({} tokens, {finish})", c.sample_index + 1, c.token_ids.len());
        }
        println!("{text}");
    }
    tracing::info!("{tokens} tokens in {seconds:.2} s ({:.1} tokens/s)", tokens as f64 / seconds.max(1e-9));
    Ok(())
}

/// `text` up to the end of the earliest stop string in it (as the engine
/// cuts its `text`).
fn cut_after_first_stop(text: &str, stops: &[String]) -> String {
    let end = stops.iter().filter_map(|s| text.find(s.as_str()).map(|at| at + s.len())).min();
    end.map_or_else(|| text.to_string(), |end| text[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: GenerateArgs,
    }

    fn args(flags: &[&str]) -> GenerateArgs {
        Cli::try_parse_from([&["generate", "--model", "m", "--prompt", "p"], flags].concat()).unwrap().args
    }

    #[test]
    fn flags_override_generation_config_which_overrides_defaults() {
        let instruct = GenerationConfig {
            do_sample: Some(true),
            temperature: Some(0.7),
            top_p: Some(0.8),
            top_k: Some(20),
            ..Default::default()
        };
        let p = sampling_params(&args(&[]), None);
        assert_eq!((p.temperature, p.top_p, p.top_k), (1.0, 1.0, 0));
        let p = sampling_params(&args(&[]), Some(&instruct));
        assert_eq!((p.temperature, p.top_p, p.top_k), (0.7, 0.8, 20));
        let p =
            sampling_params(&args(&["--temperature", "0.3", "--top-k", "5", "--seed", "9"]), Some(&instruct));
        assert_eq!((p.temperature, p.top_p, p.top_k, p.seed), (0.3, 0.8, 5, 9));
        assert!(sampling_params(&args(&["--greedy"]), Some(&instruct)).is_greedy());
        // Base checkpoints ship do_sample=false: greedy, as model.generate() does.
        let base = GenerationConfig { do_sample: Some(false), ..Default::default() };
        assert!(sampling_params(&args(&[]), Some(&base)).is_greedy());
        assert!(Cli::try_parse_from([
            "generate",
            "--model",
            "m",
            "--prompt",
            "p",
            "--greedy",
            "--temperature",
            "1"
        ])
        .is_err());
        assert!(
            Cli::try_parse_from(["generate", "--model", "m", "--prompt", "p", "--system", "s"]).is_err(),
            "--system needs --chat"
        );
    }

    #[test]
    fn stop_strings_cut_after_the_earliest_match() {
        let stops = vec!["</answer>".to_string(), "\n\n".to_string()];
        assert_eq!(cut_after_first_stop("a</answer>b\n\nc", &stops), "a</answer>");
        assert_eq!(cut_after_first_stop("no stop", &stops), "no stop");
    }
}
