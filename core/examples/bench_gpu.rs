//! Our side of `scripts/bench_gpu.sh`: one phase per process, so each
//! phase's peak memory is its own.
//!
//!   bench_gpu decode MODEL_DIR PROMPTS_JSON --n N --new-tokens T [--device D] [--dtype bf16] --out FILE
//!   bench_gpu update MODEL_DIR --rows N --prompt-len P --seq-len L [--micro M] [--device D] [--dtype bf16] --out FILE
//!
//! `decode` samples N responses per prompt of PROMPTS_JSON (token-id lists)
//! at temperature 1 with the rollout engine and no EOS, so every row
//! generates exactly T tokens. `update` runs one GRPO actor update (clipped
//! policy loss, token-mean, forward + backward + AdamW) on N rows of L
//! random tokens (P prompt + L-P response). Both warm up once, then time
//! `--repeats` runs (median); the JSON has the seconds, tokens/s and the
//! process's peak resident memory (GPU memory is polled by the script).

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
use tz_core::sampling::SamplingParams;
use tz_core::{ModelDir, Qwen2};

/// The engine needs no text: no stop strings, no EOS.
struct NoText;
impl TokenDecoder for NoText {
    fn decode(&self, _ids: &[u32]) -> Result<String> {
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
    let device = device_of(&flags.get::<String>("device", Some("cpu".into()))?)?;
    let kind = kind_of(&flags.get::<String>("dtype", Some("bf16".into()))?)?;
    let n: usize = flags.get("n", Some(1))?;
    let new_tokens: usize = flags.get("new-tokens", None)?;
    let repeats: usize = flags.get("repeats", Some(1))?;
    let prompts: Vec<Vec<u32>> = serde_json::from_str(
        &std::fs::read_to_string(prompts_path).with_context(|| format!("cannot read {prompts_path}"))?,
    )
    .context("PROMPTS_JSON must be a list of token-id lists")?;
    let (_vs, model) = load(Path::new(dir), device, kind)?;
    let stop = StopCriteria { eos_token_ids: vec![], stop_strings: vec![], decoder: &NoText };
    let params = |tokens| SamplingParams {
        temperature: 1.0,
        top_p: 1.0,
        top_k: 0,
        max_new_tokens: tokens,
        seed: 0,
        max_batch_rows: 0,
    };
    // Warm-up: kernels, allocator pools, a full-size KV cache.
    generate(&model, &prompts, n, &params(new_tokens.min(8)), &stop)?;
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
        "peak_rss_bytes": peak_rss_bytes(),
    }))
}

fn update(positional: &[String], flags: &Flags) -> Result<serde_json::Value> {
    let [dir] = positional else { bail!("update needs MODEL_DIR") };
    let device = device_of(&flags.get::<String>("device", Some("cpu".into()))?)?;
    let kind = kind_of(&flags.get::<String>("dtype", Some("bf16".into()))?)?;
    let rows: usize = flags.get("rows", None)?;
    let prompt_len: usize = flags.get("prompt-len", None)?;
    let seq_len: usize = flags.get("seq-len", None)?;
    let micro: usize = flags.get("micro", Some(8))?;
    let chunk: i64 = flags.get("logit-chunk", Some(1024))?;
    let repeats: usize = flags.get("repeats", Some(1))?;
    anyhow::ensure!(seq_len > prompt_len, "--seq-len must exceed --prompt-len");
    let (vs, model) = load(Path::new(dir), device, kind)?;
    let vocab = model.config().vocab_size as u64;

    // Random tokens, the same every run (xorshift).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut token = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (3 + x % (vocab - 3)) as u32
    };
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
    let cfg = ActorUpdateConfig {
        ppo_epochs: 1,
        mini_batch_size: 0,
        micro_batch_size: micro,
        logit_chunk: chunk,
        norm_len: (seq_len - prompt_len) as f64,
        seed: 0,
    };
    let mut opt = AdamW::from_var_store(&vs, AdamWConfig { lr: 1e-6, ..AdamWConfig::default() });
    // Warm-up update: optimizer state, kernels, allocator pools.
    update_actor(&model, &mut opt, &inputs, &settings, 0.0, &cfg);
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
    }))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (positional, flags) = Flags::parse(&args)?;
    let Some((phase, rest)) = positional.split_first() else {
        bail!("usage: bench_gpu decode|update ... (see the file's docs)")
    };
    if let Ok(threads) = flags.get::<i32>("threads", None) {
        tch::set_num_threads(threads);
    }
    let mut result = match phase.as_str() {
        "decode" => decode(rest, &flags)?,
        "update" => update(rest, &flags)?,
        other => bail!("unknown phase '{other}' (decode, update)"),
    };
    result["impl"] = json!("tinyzero-rs");
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
