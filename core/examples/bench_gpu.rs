//! Our side of `scripts/bench_gpu.sh`: one phase per process, so each
//! phase's peak memory is its own.
//!
//!   bench_gpu decode MODEL_DIR PROMPTS_JSON --n N --new-tokens T [--graphs on|off] [--device D] [--dtype bf16] --out FILE
//!   bench_gpu update MODEL_DIR --rows N --prompt-len P --seq-len L [--micro M] [--device D] [--dtype bf16] --out FILE
//!   bench_gpu grpo MODEL_DIR --prompts N --n K --prompt-len P --new-tokens T [--steps S] [--micro M] [--device D] --out FILE
//!
//! `decode` samples N responses per prompt of PROMPTS_JSON (token-id lists)
//! at temperature 1 with the rollout engine and no EOS, so every row
//! generates exactly T tokens; `--graphs off` decodes eagerly on CUDA (on by
//! default; the CPU is always eager). `update` runs one GRPO actor update
//! (clipped policy loss, token-mean, forward + backward + AdamW) on N rows
//! of L random tokens (P prompt + L-P response). Both warm up once, then
//! time `--repeats` runs (median). `grpo` runs S whole GRPO steps on N × K
//! rows (rollout of T tokens, old log-probs, group-normalised advantages of
//! a synthetic reward, one update) and times each part of each step. The
//! JSON has the seconds, tokens/s, the process's peak resident memory and,
//! on CUDA, libtorch's peak allocated bytes (the script also polls nvidia-smi).

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::json;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use tz_core::optim::{AdamW, AdamWConfig};
use tz_core::rl_batch::SequenceBatch;
use tz_core::rl_update::{update_actor, ActorInputs, ActorUpdateConfig};
use tz_core::rollout::{generate, StopCriteria, TokenDecoder};
use tz_core::rollout_budget::RolloutBudget;
use tz_core::sampling::SamplingParams;
use tz_core::{ModelDir, Qwen2};

/// The engine needs no text: no stop strings, no EOS.
struct NoText;
impl TokenDecoder for NoText {
    fn decode(&self, _ids: &[u32]) -> tz_core::Result<String> {
        Ok(String::new())
    }
}

/// `--key value` flags after the positional arguments.
struct Flags(HashMap<String, String>);

impl Flags {
    fn parse(args: &[String]) -> Result<(Vec<String>, Flags)> {
        let (mut positional, mut flags) = (Vec::new(), HashMap::new());
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.strip_prefix("--") {
                Some(key) => {
                    let value = it.next().with_context(|| format!("--{key} needs a value"))?;
                    flags.insert(key.to_string(), value.clone());
                }
                None => positional.push(a.clone()),
            }
        }
        Ok((positional, Flags(flags)))
    }
    fn get<T: std::str::FromStr>(&self, key: &str, default: Option<T>) -> Result<T> {
        match self.0.get(key) {
            Some(v) => v.parse().map_err(|_| anyhow::anyhow!("--{key} '{v}' is not valid")),
            None => default.with_context(|| format!("--{key} is required")),
        }
    }
}

fn device_of(name: &str) -> Result<Device> {
    Ok(match name {
        "cpu" => Device::Cpu,
        "cuda" => {
            anyhow::ensure!(tch::Cuda::is_available(), "--device cuda: libtorch sees no CUDA device");
            Device::Cuda(0)
        }
        other => bail!("--device '{other}' is not cpu or cuda"),
    })
}

fn kind_of(name: &str) -> Result<Kind> {
    Ok(match name {
        "bf16" => Kind::BFloat16,
        "f32" => Kind::Float,
        other => bail!("--dtype '{other}' is not bf16 or f32"),
    })
}

/// `--device` (default cpu) and `--dtype` (default bf16).
fn device_and_kind(flags: &Flags) -> Result<(Device, Kind)> {
    let device = device_of(&flags.get::<String>("device", Some("cpu".into()))?)?;
    Ok((device, kind_of(&flags.get::<String>("dtype", Some("bf16".into()))?)?))
}

/// One GRPO update per call: one epoch, the whole batch, token-mean over `norm_len`.
fn update_config(micro: usize, chunk: i64, norm_len: usize) -> ActorUpdateConfig {
    ActorUpdateConfig {
        ppo_epochs: 1,
        mini_batch_size: 0,
        micro_batch_size: micro,
        logit_chunk: chunk,
        norm_len: norm_len as f64,
        seed: 0,
    }
}

fn load(dir: &Path, device: Device, kind: Kind) -> Result<(VarStore, Qwen2)> {
    let checkpoint = ModelDir::open(dir)?;
    let mut vs = VarStore::new(device);
    let model = Qwen2::new(&vs.root(), checkpoint.config());
    if kind != Kind::Float {
        vs.set_kind(kind);
    }
    checkpoint.load_weights(&vs)?;
    Ok((vs, model))
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Peak resident set size of this process (VmHWM), in bytes.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Restarts libtorch's peak-allocated figure (CUDA only).
fn reset_gpu_peak(device: Device) {
    if let Device::Cuda(i) = device {
        let _ = tz_cuda_graph::reset_peak_memory(i);
    }
}

/// libtorch's peak allocated bytes since [`reset_gpu_peak`] (CUDA only).
fn gpu_peak_bytes(device: Device) -> Option<u64> {
    match device {
        Device::Cuda(i) => tz_cuda_graph::device_memory(i).ok().map(|m| m.peak_allocated),
        _ => None,
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn time_runs(device: Device, repeats: usize, mut run: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        sync(device);
        let t0 = Instant::now();
        run()?;
        sync(device);
        times.push(t0.elapsed().as_secs_f64());
    }
    Ok(times)
}

fn decode(positional: &[String], flags: &Flags) -> Result<serde_json::Value> {
    let [dir, prompts_path] = positional else { bail!("decode needs MODEL_DIR PROMPTS_JSON") };
    let (device, kind) = device_and_kind(flags)?;
    let n: usize = flags.get("n", Some(1))?;
    let new_tokens: usize = flags.get("new-tokens", None)?;
    let repeats: usize = flags.get("repeats", Some(1))?;
    let prompts: Vec<Vec<u32>> = serde_json::from_str(
        &std::fs::read_to_string(prompts_path).with_context(|| format!("cannot read {prompts_path}"))?,
    )
    .context("PROMPTS_JSON must be a list of token-id lists")?;
    let graphs = match flags.get::<String>("graphs", Some("on".into()))?.as_str() {
        "on" => true,
        "off" => false,
        other => bail!("--graphs '{other}' is not on or off"),
    };
    let (_vs, model) = load(Path::new(dir), device, kind)?;
    let stop = StopCriteria { eos_token_ids: vec![], stop_strings: vec![], decoder: &NoText };
    let params = |tokens| SamplingParams {
        temperature: 1.0,
        top_p: 1.0,
        top_k: 0,
        max_new_tokens: tokens,
        seed: 0,
        budget: RolloutBudget { cuda_graphs: graphs, ..RolloutBudget::default() },
    };
    // Warm-up: kernels, allocator pools, a full-size KV cache.
    generate(&model, &prompts, n, &params(new_tokens.min(8)), &stop)?;
    reset_gpu_peak(device);
    let mut generated = 0;
    let times = time_runs(device, repeats, || {
        let out = generate(&model, &prompts, n, &params(new_tokens), &stop)?;
        generated = out.iter().map(|c| c.token_ids.len()).sum();
        Ok(())
    })?;
    let seconds = median(times.clone());
    Ok(json!({
        "phase": "decode",
        "rows": prompts.len() * n,
        "prompts": prompts.len(),
        "n": n,
        "prompt_len": prompts.first().map_or(0, Vec::len),
        "new_tokens": new_tokens,
        "generated_tokens": generated,
        "seconds": seconds,
        "times": times,
        "tokens_per_s": generated as f64 / seconds,
        "cuda_graphs": graphs && device.is_cuda() && tz_cuda_graph::AVAILABLE,
        "graph_stats": graph_stats_json(),
        "peak_rss_bytes": peak_rss_bytes(),
        "torch_max_allocated_bytes": gpu_peak_bytes(device),
    }))
}

fn update(positional: &[String], flags: &Flags) -> Result<serde_json::Value> {
    let [dir] = positional else { bail!("update needs MODEL_DIR") };
    let (device, kind) = device_and_kind(flags)?;
    let rows: usize = flags.get("rows", None)?;
    let prompt_len: usize = flags.get("prompt-len", None)?;
    let seq_len: usize = flags.get("seq-len", None)?;
    let micro: usize = flags.get("micro", Some(8))?;
    let chunk: i64 = flags.get("logit-chunk", Some(1024))?;
    let repeats: usize = flags.get("repeats", Some(1))?;
    anyhow::ensure!(seq_len > prompt_len, "--seq-len must exceed --prompt-len");
    let (vs, model) = load(Path::new(dir), device, kind)?;
    let vocab = model.config().vocab_size as u64;

    let mut token = token_stream(vocab, 0x9E37_79B9_7F4A_7C15);
    let seqs: Vec<Vec<u32>> = (0..rows).map(|_| (0..seq_len).map(|_| token()).collect()).collect();
    let prompts: Vec<&[u32]> = seqs.iter().map(|s| &s[..prompt_len]).collect();
    let responses: Vec<&[u32]> = seqs.iter().map(|s| &s[prompt_len..]).collect();
    let batch = SequenceBatch::new(&prompts, &responses, 0, device);
    let old_logp = tch::no_grad(|| batch.logprobs(&model, micro as i64, chunk));
    tch::manual_seed(0);
    let advantages = Tensor::randn([rows as i64, (seq_len - prompt_len) as i64], (Kind::Float, device));
    let inputs =
        ActorInputs { batch: &batch, old_logp: Some(&old_logp), advantages: &advantages, ref_logp: None };
    let settings = tz_sdk::LossSettings::default();
    let cfg = update_config(micro, chunk, seq_len - prompt_len);
    let mut opt = AdamW::from_var_store(&vs, AdamWConfig { lr: 1e-6, ..AdamWConfig::default() });
    // Warm-up update: optimizer state, kernels, allocator pools.
    update_actor(&model, &mut opt, &inputs, &settings, 0.0, &cfg);
    reset_gpu_peak(device);
    let mut steps = 0;
    let times = time_runs(device, repeats, || {
        steps += update_actor(&model, &mut opt, &inputs, &settings, 0.0, &cfg).steps;
        Ok(())
    })?;
    anyhow::ensure!(steps == repeats.max(1), "an update was skipped (non-finite loss or gradient)");
    let seconds = median(times.clone());
    let tokens = rows * seq_len;
    let params: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
    Ok(json!({
        "phase": "update",
        "rows": rows,
        "seq_len": seq_len,
        "prompt_len": prompt_len,
        "micro_batch": micro,
        "tokens": tokens,
        "params": params,
        "seconds": seconds,
        "times": times,
        "tokens_per_s": tokens as f64 / seconds,
        "peak_rss_bytes": peak_rss_bytes(),
        "torch_max_allocated_bytes": gpu_peak_bytes(device),
    }))
}

/// Random token ids in `3..vocab`, the same every run (xorshift).
fn token_stream(vocab: u64, seed: u64) -> impl FnMut() -> u32 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (3 + x % (vocab - 3)) as u32
    }
}

/// Whole GRPO steps: rollout, old log-probs, advantages, update.
fn grpo(positional: &[String], flags: &Flags) -> Result<serde_json::Value> {
    let [dir] = positional else { bail!("grpo needs MODEL_DIR") };
    let (device, kind) = device_and_kind(flags)?;
    let prompts_per_step: usize = flags.get("prompts", None)?;
    let n: usize = flags.get("n", None)?;
    let prompt_len: usize = flags.get("prompt-len", None)?;
    let new_tokens: usize = flags.get("new-tokens", None)?;
    let steps: usize = flags.get("steps", Some(5))?;
    let micro: usize = flags.get("micro", Some(8))?;
    let chunk: i64 = flags.get("logit-chunk", Some(1024))?;
    anyhow::ensure!(n >= 2, "--n must be at least 2 (GRPO normalises within a group)");
    let (vs, model) = load(Path::new(dir), device, kind)?;
    let vocab = model.config().vocab_size as u64;
    let stop = StopCriteria { eos_token_ids: vec![], stop_strings: vec![], decoder: &NoText };
    let settings = tz_sdk::LossSettings::default();
    let cfg = update_config(micro, chunk, new_tokens);
    let mut opt = AdamW::from_var_store(&vs, AdamWConfig { lr: 1e-6, ..AdamWConfig::default() });
    let mut token = token_stream(vocab, 0x5DEE_CE66_D1CE_4E5B);
    reset_gpu_peak(device);
    let mut records = Vec::new();
    for step in 0..steps {
        let prompts: Vec<Vec<u32>> =
            (0..prompts_per_step).map(|_| (0..prompt_len).map(|_| token()).collect()).collect();
        let params =
            SamplingParams { max_new_tokens: new_tokens, seed: step as u64, ..SamplingParams::default() };
        sync(device);
        let t0 = Instant::now();
        let completions = generate(&model, &prompts, n, &params, &stop)?;
        sync(device);
        let t_rollout = t0.elapsed().as_secs_f64();
        // A synthetic verifiable reward: the share of even token ids.
        let rewards: Vec<f32> = completions
            .iter()
            .map(|c| {
                c.token_ids.iter().filter(|&&t| t % 2 == 0).count() as f32 / c.token_ids.len().max(1) as f32
            })
            .collect();
        let advantages: Vec<f32> = rewards
            .chunks(n)
            .flat_map(|g| {
                let mean = g.iter().sum::<f32>() / g.len() as f32;
                let std = (g.iter().map(|r| (r - mean).powi(2)).sum::<f32>() / (g.len() - 1) as f32).sqrt();
                g.iter().map(move |r| (r - mean) / (std + 1e-6)).collect::<Vec<_>>()
            })
            .collect();
        let prompt_refs: Vec<&[u32]> =
            completions.iter().map(|c| prompts[c.prompt_index].as_slice()).collect();
        let responses: Vec<&[u32]> = completions.iter().map(|c| c.token_ids.as_slice()).collect();
        let batch = SequenceBatch::new(&prompt_refs, &responses, 0, device);
        let advantages = Tensor::from_slice(&advantages)
            .to_device(device)
            .view([-1, 1])
            .expand([batch.rows(), batch.response_len], false)
            * &batch.response_mask.to_kind(Kind::Float);
        let t1 = Instant::now();
        let old_logp = tch::no_grad(|| batch.logprobs(&model, micro as i64, chunk));
        sync(device);
        let t_old = t1.elapsed().as_secs_f64();
        let t2 = Instant::now();
        let inputs =
            ActorInputs { batch: &batch, old_logp: Some(&old_logp), advantages: &advantages, ref_logp: None };
        let metrics = update_actor(&model, &mut opt, &inputs, &settings, 0.0, &cfg);
        sync(device);
        let t_update = t2.elapsed().as_secs_f64();
        let generated: usize = completions.iter().map(|c| c.token_ids.len()).sum();
        records.push(json!({
            "step": step + 1,
            "rollout_seconds": t_rollout,
            "old_logprob_seconds": t_old,
            "update_seconds": t_update,
            "seconds": t_rollout + t_old + t_update,
            "generated_tokens": generated,
            "reward_mean": rewards.iter().sum::<f32>() / rewards.len() as f32,
            "grad_norm": metrics.grad_norm,
            "updates_skipped": metrics.skipped,
        }));
    }
    let rows = prompts_per_step * n;
    let step_seconds = median(records.iter().map(|r| r["seconds"].as_f64().unwrap()).collect());
    Ok(json!({
        "phase": "grpo",
        "steps": records,
        "rows": rows,
        "prompt_len": prompt_len,
        "new_tokens": new_tokens,
        "tokens_per_step": rows * (prompt_len + new_tokens),
        "median_step_seconds": step_seconds,
        "peak_rss_bytes": peak_rss_bytes(),
        "torch_max_allocated_bytes": gpu_peak_bytes(device),
        "graph_stats": graph_stats_json(),
    }))
}

/// Captures, replays and failed captures of the engine's CUDA graphs so far.
fn graph_stats_json() -> serde_json::Value {
    let s = tz_core::rollout::graph_stats();
    json!({"captures": s.captures, "replays": s.replays, "failed_captures": s.failed_captures})
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (positional, flags) = Flags::parse(&args)?;
    let Some((phase, rest)) = positional.split_first() else {
        bail!("usage: bench_gpu decode|update|grpo ... (see the file's docs)")
    };
    if let Ok(threads) = flags.get::<i32>("threads", None) {
        tch::set_num_threads(threads);
    }
    let mut result = match phase.as_str() {
        "decode" => decode(rest, &flags)?,
        "update" => update(rest, &flags)?,
        "grpo" => grpo(rest, &flags)?,
        other => bail!("unknown phase '{other}' (decode, update, grpo)"),
    };
    result["impl"] = match result["cuda_graphs"].as_bool() {
        Some(true) => json!("tinyzero-rs (CUDA graphs)"),
        Some(false) => json!("tinyzero-rs (eager)"),
        None => json!("tinyzero-rs"),
    };
    result["device"] = json!(flags.get::<String>("device", Some("cpu".into()))?);
    result["dtype"] = json!(flags.get::<String>("dtype", Some("bf16".into()))?);
    let text = serde_json::to_string_pretty(&result)?;
    match flags.get::<String>("out", None) {
        Ok(path) => {
            let tmp = format!("{path}.tmp-{}", std::process::id());
            std::fs::write(&tmp, &text).with_context(|| format!("cannot write {tmp}"))?;
            std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {path}"))?;
        }
        Err(_) => println!("{text}"),
    }
    Ok(())
}
