//! Peak memory and time of one GRPO step, phase by phase, on a random model
//! of a given shape (for `scripts/bench_memory.sh`, which compares the peaks
//! with `tzhost plan`).
//!
//!   grpo_step_memory --config CONFIG_JSON [--dtype f32|bf16] [--prompts 8] [--samples 1]
//!       [--prompt-len 64] [--response-len 960] [--micro 1] [--logit-chunk 256]
//!       [--rows-in-flight N] [--gradient-checkpointing] [--threads 2] [--first-token-only] [--rollout-only]
//!
//! The step is the trainer's (host/src/train/step.rs) minus plugins: sample
//! `prompts × samples` responses of exactly `response-len` tokens (no EOS),
//! old log-probs, one actor update over the batch (one mini-batch, micro-batches
//! of `micro` rows) with random advantages, AdamW. Before the step the
//! gradients are allocated by a two-token backward, as after any earlier
//! step (the optimizer zeroes gradients in place), so every phase sees the
//! steady state a run has.
//!
//! `--first-token-only` ends every response after one token (every id is an
//! end-of-sequence id): the KV cache still has its full capacity and the
//! sampling scratch its full size, so the rollout's peak memory is the same
//! as a full rollout's (its memory is all allocated before the first decode
//! step), without decoding hundreds of tokens on a CPU. The update then
//! trains on random responses of `response-len` tokens.
//!
//! Prints one JSON line per phase: its peak resident memory (VmHWM, reset
//! through /proc/self/clear_refs before the phase), the resident memory
//! after it and its wall time.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use tch::{nn::VarStore, Device, Kind, Tensor};
use tz_core::optim::{AdamW, AdamWConfig};
use tz_core::rl_batch::SequenceBatch;
use tz_core::rl_update::{update_actor, ActorInputs, ActorUpdateConfig};
use tz_core::rollout::{generate, StopCriteria, TokenDecoder};
use tz_core::sampling::SamplingParams;
use tz_core::{Qwen2, Qwen2Config};
use tz_sdk::LossSettings;

struct Args {
    config: std::path::PathBuf,
    kind: Kind,
    prompts: usize,
    samples: usize,
    prompt_len: usize,
    response_len: usize,
    micro: usize,
    logit_chunk: i64,
    rows_in_flight: usize,
    gradient_checkpointing: bool,
    threads: i32,
    first_token_only: bool,
    rollout_only: bool,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        config: Default::default(),
        kind: Kind::Float,
        prompts: 8,
        samples: 1,
        prompt_len: 64,
        response_len: 960,
        micro: 1,
        logit_chunk: 256,
        rows_in_flight: 0,
        gradient_checkpointing: false,
        threads: 2,
        first_token_only: false,
        rollout_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--config" => a.config = value()?.into(),
            "--dtype" => {
                a.kind = match value()?.as_str() {
                    "f32" => Kind::Float,
                    "bf16" => Kind::BFloat16,
                    other => bail!("--dtype {other}: f32 or bf16"),
                }
            }
            "--prompts" => a.prompts = value()?.parse()?,
            "--samples" => a.samples = value()?.parse()?,
            "--prompt-len" => a.prompt_len = value()?.parse()?,
            "--response-len" => a.response_len = value()?.parse()?,
            "--micro" => a.micro = value()?.parse()?,
            "--logit-chunk" => a.logit_chunk = value()?.parse()?,
            "--rows-in-flight" => a.rows_in_flight = value()?.parse()?,
            "--threads" => a.threads = value()?.parse()?,
            "--first-token-only" => a.first_token_only = true,
            "--rollout-only" => a.rollout_only = true,
            "--gradient-checkpointing" => a.gradient_checkpointing = true,
            other => bail!("unknown flag {other}"),
        }
    }
    anyhow::ensure!(!a.config.as_os_str().is_empty(), "--config CONFIG_JSON is required");
    Ok(a)
}

/// `VmHWM` and `VmRSS` of this process, in bytes.
fn memory() -> Result<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| -> Result<u64> {
        let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name}"))?;
        let kb: u64 = line.split_whitespace().nth(1).context("bad status line")?.parse()?;
        Ok(kb * 1024)
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

/// Runs `f` as one measured phase and prints its line.
fn phase<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    // "5" resets the peak to the current resident size (Linux >= 4.0).
    std::fs::write("/proc/self/clear_refs", "5").context("cannot reset VmHWM")?;
    let t0 = Instant::now();
    let out = f()?;
    let seconds = t0.elapsed().as_secs_f64();
    let (peak, rss) = memory()?;
    println!(
        "{}",
        serde_json::json!({"phase": name, "peak_rss": peak, "rss_after": rss, "seconds": seconds})
    );
    Ok(out)
}

struct NoText;
impl TokenDecoder for NoText {
    fn decode(&self, _ids: &[u32]) -> tz_core::Result<String> {
        Ok(String::new())
    }
}

fn main() -> Result<()> {
    let a = parse_args()?;
    tch::set_num_threads(a.threads);
    tch::manual_seed(0);
    let cfg = Qwen2Config::from_file(&a.config)?;
    phase("baseline", || {
        Ok(Tensor::ones([8], (Kind::Float, Device::Cpu)).sum(Kind::Float).double_value(&[]))
    })?;

    let (vs, model, mut opt) = phase("setup", || {
        let mut vs = VarStore::new(Device::Cpu);
        let mut model = Qwen2::new(&vs.root(), &cfg);
        model.set_gradient_checkpointing(a.gradient_checkpointing);
        if a.kind != Kind::Float {
            vs.set_kind(a.kind);
        }
        let mut opt = AdamW::from_var_store(&vs, AdamWConfig::default());
        // Steady state: gradients allocated, as after any earlier update.
        let ids = Tensor::from_slice(&[1i64, 2]).view([1, 2]);
        let hidden = model.forward(&ids, None, None);
        model.backward_chunked(&hidden, &ids, 2, |_, lp, _| -lp.sum(Kind::Float));
        opt.zero_grad();
        Ok((vs, model, opt))
    })?;

    let vocab = cfg.vocab_size as u64;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut random_tokens = |n: usize| -> Vec<u32> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % vocab) as u32
            })
            .collect()
    };
    let prompts: Vec<Vec<u32>> = (0..a.prompts).map(|_| random_tokens(a.prompt_len)).collect();
    let params = SamplingParams {
        max_new_tokens: a.response_len,
        seed: 1,
        budget: tz_core::rollout_budget::RolloutBudget {
            max_rows_in_flight: a.rows_in_flight,
            ..Default::default()
        },
        ..SamplingParams::default()
    };
    let eos: Vec<u32> = if a.first_token_only { (0..cfg.vocab_size as u32).collect() } else { vec![] };
    let stop = StopCriteria { eos_token_ids: eos, stop_strings: vec![], decoder: &NoText };
    let completions = phase("rollout", || Ok(generate(&model, &prompts, a.samples, &params, &stop)?))?;
    if a.rollout_only {
        return Ok(());
    }

    let prompt_refs: Vec<&[u32]> = completions.iter().map(|c| prompts[c.prompt_index].as_slice()).collect();
    let response_tokens: Vec<Vec<u32>> = if a.first_token_only {
        completions.iter().map(|_| random_tokens(a.response_len)).collect()
    } else {
        completions.iter().map(|c| c.token_ids.clone()).collect()
    };
    let responses: Vec<&[u32]> = response_tokens.iter().map(Vec::as_slice).collect();
    let batch = SequenceBatch::new(&prompt_refs, &responses, 0, Device::Cpu);
    let old_logp = phase("old_logprob", || Ok(batch.logprobs(&model, a.micro as i64, a.logit_chunk)))?;

    let advantages = Tensor::randn([batch.rows(), batch.response_len], (Kind::Float, Device::Cpu));
    let update_cfg = ActorUpdateConfig {
        ppo_epochs: 1,
        mini_batch_size: 0,
        micro_batch_size: a.micro,
        logit_chunk: a.logit_chunk,
        norm_len: a.response_len as f64,
        seed: 1,
    };
    let inputs =
        ActorInputs { batch: &batch, old_logp: Some(&old_logp), advantages: &advantages, ref_logp: None };
    let metrics = phase("update", || {
        Ok(update_actor(&model, &mut opt, &inputs, &LossSettings::default(), 0.0, &update_cfg))
    })?;
    anyhow::ensure!(metrics.steps == 1, "the update took {} optimizer steps, expected 1", metrics.steps);
    drop(vs);
    Ok(())
}
