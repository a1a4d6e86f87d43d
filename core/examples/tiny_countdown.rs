//! Builds (or reuses) the tiny countdown warm start and measures it: SFT
//! time, then greedy and sampled (temperature 1) exact-answer success on
//! held-out 3-number problems, checked by evaluating the expression.
//!
//!   cargo run --release -p tz-core --example tiny_countdown -- [--seed 0] [--eval 500]
//!       [--threads 2] [--cache-dir DIR] [--steps N] [--batch B] [--lr LR] [--pairs N]
//!
//! Training pairs come from a small local generator (the host uses the
//! countdown plugin's reference solutions instead).

#[path = "common/args.rs"]
mod args;
#[path = "../tests/common/countdown.rs"]
mod countdown;

use std::collections::HashSet;
use std::time::Instant;

use args::arg;
use tch::{nn::VarStore, Device};
use tz_core::presets::{
    default_models_dir, ensure_tiny_countdown, tiny_tokenizer, TinyCountdownRecipe, TINY_EOS_ID,
};
use tz_core::rollout::{generate, StopCriteria};
use tz_core::sampling::SamplingParams;
use tz_core::Qwen2;

fn main() -> anyhow::Result<()> {
    let seed: u64 = arg("--seed", 0);
    let n_eval: usize = arg("--eval", 500);
    let threads: i32 = arg("--threads", 2);
    let cache: String = arg("--cache-dir", default_models_dir().display().to_string());
    let mut recipe = TinyCountdownRecipe::default();
    let steps: u64 = arg("--steps", recipe.sft.steps);
    recipe.sft.steps = steps;
    recipe.sft.optimizer.total_steps = steps;
    recipe.sft.batch_size = arg("--batch", recipe.sft.batch_size);
    recipe.sft.optimizer.lr = arg("--lr", recipe.sft.optimizer.lr);
    recipe.num_pairs = arg("--pairs", recipe.num_pairs);
    tch::set_num_threads(threads);

    // Held-out problems first, so training pairs can exclude their prompts.
    let held_out = countdown::problems(1_000_000 + seed, n_eval, &HashSet::new());
    let exclude: HashSet<String> = held_out.iter().map(|p| p.prompt()).collect();
    let start = Instant::now();
    let dir = ensure_tiny_countdown(std::path::Path::new(&cache), seed, &recipe, |n| {
        Ok(countdown::problems(seed, n, &exclude).into_iter().map(|p| (p.prompt(), p.solution)).collect())
    })?;
    let wall = start.elapsed().as_secs_f64();
    let provenance: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("tinyzero_preset.json"))?)?;
    println!("model dir: {}", dir.display());
    println!(
        "SFT: {} steps x batch {} in {:.1} s (this call {:.1} s), final loss {:.4}",
        provenance["recipe"]["sft"]["steps"],
        provenance["recipe"]["sft"]["batch_size"],
        provenance["sft_seconds"].as_f64().unwrap_or(f64::NAN),
        wall,
        provenance["final_loss"].as_f64().unwrap_or(f64::NAN)
    );

    let checkpoint = tz_core::ModelDir::open(&dir)?;
    let vs = VarStore::new(Device::Cpu);
    let model = Qwen2::new(&vs.root(), checkpoint.config());
    checkpoint.load_weights(&vs)?;
    let tok = tiny_tokenizer()?;
    let prompts: Vec<Vec<u32>> = held_out
        .iter()
        .map(|p| Ok(tok.encode(p.prompt(), false).map_err(anyhow::Error::msg)?.get_ids().to_vec()))
        .collect::<anyhow::Result<_>>()?;
    let stop = StopCriteria { eos_token_ids: vec![TINY_EOS_ID], stop_strings: vec![], decoder: &tok };
    for (name, params) in [
        ("greedy", SamplingParams::greedy(24)),
        (
            "sampled T=1.0",
            SamplingParams { temperature: 1.0, max_new_tokens: 24, seed, ..SamplingParams::default() },
        ),
    ] {
        let t0 = Instant::now();
        let outs = generate(&model, &prompts, 1, &params, &stop)?;
        let secs = t0.elapsed().as_secs_f64();
        let tokens: usize = outs.iter().map(|c| c.token_ids.len()).sum();
        let correct = outs
            .iter()
            .filter(|c| {
                let body: Vec<u32> = c.token_ids.iter().copied().take_while(|&t| t != TINY_EOS_ID).collect();
                let text = tok.decode(&body, true).unwrap_or_default();
                let p = &held_out[c.prompt_index];
                countdown::is_correct(&text, &p.nums, p.target)
            })
            .count();
        println!(
            "{name}: {correct}/{} correct ({:.1}%), {tokens} tokens in {secs:.2} s ({:.0} tok/s)",
            outs.len(),
            100.0 * correct as f64 / outs.len() as f64,
            tokens as f64 / secs
        );
        for c in outs.iter().take(3) {
            println!("  {} -> {:?}", held_out[c.prompt_index].prompt(), c.text);
        }
    }
    Ok(())
}
