//! Where a tiny-recipe GRPO update spends its time: the old log-prob
//! forward and the actor update on a synthetic batch shaped like the main
//! job's (32 prompts × 8 samples, compact prompts of 8–12 tokens, responses
//! of 3–24 tokens with a mean near 9), timed as wall and process CPU
//! seconds. CPU seconds barely move with other load on the machine, so
//! variants can be compared on a shared box.
//!
//!   cargo run --release -p tz-core --example profile_grpo_update -- \
//!       [--model DIR] [--threads 1] [--repeats 5] [--micro 64] [--window 24]

#[path = "common/args.rs"]
mod args;

use std::path::PathBuf;
use std::time::Instant;

use args::arg;
use tch::{nn::VarStore, Device, Tensor};
use tz_core::optim::{AdamW, AdamWConfig};
use tz_core::rl_batch::SequenceBatch;
use tz_core::rl_update::{update_actor, ActorInputs, ActorUpdateConfig};
use tz_core::{ModelDir, Qwen2};

/// User + system CPU seconds of this process (all threads), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum();
    ticks / 100.0
}

/// Runs `f` `repeats` times; (mean wall s, mean CPU s).
fn time(repeats: usize, mut f: impl FnMut()) -> (f64, f64) {
    let (w0, c0) = (Instant::now(), cpu_seconds());
    for _ in 0..repeats {
        f();
    }
    (w0.elapsed().as_secs_f64() / repeats as f64, (cpu_seconds() - c0) / repeats as f64)
}

fn main() -> anyhow::Result<()> {
    let threads: i32 = arg("--threads", 1);
    let repeats: usize = arg("--repeats", 5);
    let micro: usize = arg("--micro", 64);
    let window: usize = arg("--window", 24);
    let model_dir: String = arg("--model", String::new());
    tch::set_num_threads(threads);

    let vs = VarStore::new(Device::Cpu);
    let cfg = if model_dir.is_empty() {
        tz_core::presets::tiny_config()
    } else {
        ModelDir::open(&PathBuf::from(&model_dir))?.config().clone()
    };
    let model = Qwen2::new(&vs.root(), &cfg);
    if !model_dir.is_empty() {
        ModelDir::open(&PathBuf::from(&model_dir))?.load_weights(&vs)?;
    }

    // A deterministic xorshift stream for token ids and lengths.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let (prompts_per_step, n) = (32usize, 8usize);
    let prompts: Vec<Vec<u32>> = (0..prompts_per_step)
        .map(|_| (0..8 + next(5) as usize).map(|_| 3 + next(19) as u32).collect())
        .collect();
    let responses: Vec<Vec<u32>> = (0..prompts_per_step * n)
        .map(|_| {
            let len = if next(20) == 0 { window } else { (3 + next(6) + next(6) + next(4)) as usize };
            (0..len.min(window)).map(|_| 3 + next(19) as u32).collect()
        })
        .collect();
    let prompt_refs: Vec<&[u32]> = (0..prompts_per_step * n).map(|i| prompts[i / n].as_slice()).collect();
    let response_refs: Vec<&[u32]> = responses.iter().map(|r| r.as_slice()).collect();
    let batch = SequenceBatch::new(&prompt_refs, &response_refs, 0, Device::Cpu);
    let real: usize =
        prompt_refs.iter().map(|p| p.len()).sum::<usize>() + responses.iter().map(|r| r.len()).sum::<usize>();
    println!(
        "batch: {} rows, padded {} x ({} + {}) = {} tokens, {} real",
        batch.rows(),
        batch.rows(),
        batch.prompt_len,
        batch.response_len,
        batch.rows() * (batch.prompt_len + batch.response_len),
        real
    );
    let groups: Vec<f32> = (0..prompts_per_step * n).map(|i| ((i / n) % 3) as f32 - 1.0).collect();
    let advantages = Tensor::from_slice(&groups).view([-1, 1]) * &batch.response_mask;

    let old_logp = batch.logprobs(&model, micro as i64, 1024);
    let (w, c) = time(repeats, || {
        let _ = batch.logprobs(&model, micro as i64, 1024);
    });
    println!("old_log_prob: wall {w:.4} s, cpu {c:.4} s");

    let update_cfg = ActorUpdateConfig {
        ppo_epochs: 1,
        mini_batch_size: 0,
        micro_batch_size: micro,
        logit_chunk: 1024,
        norm_len: window as f64,
        seed: 0,
    };
    let mut opt = AdamW::from_var_store(&vs, AdamWConfig { lr: 1e-6, ..AdamWConfig::default() });
    let settings = tz_sdk::LossSettings::default();
    let inputs =
        ActorInputs { batch: &batch, old_logp: Some(&old_logp), advantages: &advantages, ref_logp: None };
    update_actor(&model, &mut opt, &inputs, &settings, 0.0, &update_cfg);
    let (w, c) = time(repeats, || {
        update_actor(&model, &mut opt, &inputs, &settings, 0.0, &update_cfg);
    });
    println!("update: wall {w:.4} s, cpu {c:.4} s");
    let on_policy = ActorInputs { old_logp: None, ..inputs };
    update_actor(&model, &mut opt, &on_policy, &settings, 0.0, &update_cfg);
    let (w, c) = time(repeats, || {
        update_actor(&model, &mut opt, &on_policy, &settings, 0.0, &update_cfg);
    });
    println!("update, on-policy (no old log-probs): wall {w:.4} s, cpu {c:.4} s");
    let (w, c) = time(repeats, || {
        opt.step();
    });
    println!("  of which an optimizer step: wall {w:.4} s, cpu {c:.4} s");
    Ok(())
}
