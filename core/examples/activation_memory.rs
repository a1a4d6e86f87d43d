//! Peak memory and time of one training forward + backward of a random
//! Qwen2.5-0.5B-shaped model on the CPU, with and without activation
//! checkpointing, each in a fresh process (peak RSS only grows).
//!
//!   cargo run --release -p tz-core --example activation_memory -- [ROWS] [TOKENS] [THREADS]
//!
//! Defaults: 4 rows × 512 tokens, 2 threads. The loss is the actor's path:
//! hidden states, the LM head in chunks of 128 positions, `backward_chunked`.
//! Each child runs the step once; "peak − weights" is the peak minus the
//! resident size after the weights were built (so it holds activations,
//! gradients and the logit chunks).

use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use tch::{nn::VarStore, Device, Kind, Tensor};
use tz_core::{Decoder, ModelConfig};

/// Qwen2.5-0.5B's config.json (architecture keys only).
fn qwen25_05b() -> ModelConfig {
    serde_json::from_value(serde_json::json!({
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896,
        "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
        "num_key_value_heads": 2, "max_position_embeddings": 32768, "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0, "tie_word_embeddings": true, "vocab_size": 151936
    }))
    .expect("a valid config")
}

/// `VmRSS` or `VmHWM` of this process, in bytes.
fn status_bytes(key: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with(key)).with_context(|| format!("no {key}"))?;
    let kb: u64 = line.split_whitespace().nth(1).context("a number")?.parse()?;
    Ok(kb * 1024)
}

/// One child: builds the model, runs the step once, prints one JSON line.
fn child(checkpointing: bool, rows: i64, tokens: i64) -> anyhow::Result<()> {
    let vs = VarStore::new(Device::Cpu);
    let mut model = Decoder::new(&vs.root(), &qwen25_05b());
    model.set_gradient_checkpointing(checkpointing);
    let ids = Tensor::randint(151936, [rows, tokens], (Kind::Int64, Device::Cpu));
    let targets = ids.narrow(1, 1, tokens - 1);
    let baseline = status_bytes("VmRSS:")?;
    let start = Instant::now();
    let hidden = model.forward(&ids, None, None).narrow(1, 0, tokens - 1);
    let count = (rows * (tokens - 1)) as f64;
    model.backward_chunked(&hidden, &targets, 128, |_, logp, _| -logp.sum(Kind::Float) / count);
    let seconds = start.elapsed().as_secs_f64();
    let peak = status_bytes("VmHWM:")?;
    println!(
        "{}",
        serde_json::json!({"checkpointing": checkpointing, "peak_bytes": peak,
                           "baseline_bytes": baseline, "seconds": seconds})
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        tch::set_num_threads(args[5].parse()?);
        return child(args[2] == "on", args[3].parse()?, args[4].parse()?);
    }
    let rows = args.get(1).map_or(Ok(4), |a| a.parse()).context("ROWS")?;
    let tokens = args.get(2).map_or(Ok(512), |a| a.parse()).context("TOKENS")?;
    let threads = args.get(3).map_or(Ok(2), |a| a.parse::<i32>()).context("THREADS")?;
    let exe = std::env::current_exe()?;
    println!(
        "one forward + backward, Qwen2.5-0.5B-shaped (f32, CPU), {rows} × {tokens} tokens, {threads} threads"
    );
    println!("| checkpointing | peak RSS | peak − weights | time |\n|---|---|---|---|");
    let mut times = Vec::new();
    for mode in ["off", "on"] {
        let out = Command::new(&exe)
            .args(["--child", mode, &rows.to_string(), &tokens.to_string(), &threads.to_string()])
            .output()?;
        anyhow::ensure!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stderr));
        let r: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let gib = |k: &str| r[k].as_f64().unwrap_or(0.0) / (1u64 << 30) as f64;
        let seconds = r["seconds"].as_f64().unwrap_or(0.0);
        times.push(seconds);
        println!(
            "| {mode} | {:.2} GiB | {:.2} GiB | {seconds:.2} s |",
            gib("peak_bytes"),
            gib("peak_bytes") - gib("baseline_bytes")
        );
    }
    println!("time with checkpointing / without: {:.2}", times[1] / times[0]);
    Ok(())
}
