//! Times greedy generation with the rollout engine on a Hugging Face model
//! directory, for `scripts/bench_generate_vs_transformers.sh`.
//!
//!   bench_generate MODEL_DIR PROMPTS_JSON THREADS NEW_TOKENS [HF_RESULT_JSON]
//!
//! PROMPTS_JSON is a list of token-id lists. With HF_RESULT_JSON (written by
//! the script's transformers run: `{"tokens_per_s": x, "generated": [[..]]}`)
//! it also prints the speed ratio and how many generated tokens agree.

use std::time::Instant;

use anyhow::Context;
use tch::{nn::VarStore, Device};
use tz_core::rollout::{generate, StopCriteria, TokenDecoder};
use tz_core::sampling::SamplingParams;
use tz_core::{ModelDir, Qwen2};

struct NoText;
impl TokenDecoder for NoText {
    fn decode(&self, _ids: &[u32]) -> tz_core::Result<String> {
        Ok(String::new())
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() >= 5,
        "usage: bench_generate MODEL_DIR PROMPTS_JSON THREADS NEW_TOKENS [HF_RESULT_JSON]"
    );
    let dir = std::path::Path::new(&args[1]);
    let prompts: Vec<Vec<u32>> =
        serde_json::from_str(&std::fs::read_to_string(&args[2])?).context("prompts json")?;
    let threads: i32 = args[3].parse().context("THREADS")?;
    let new_tokens: usize = args[4].parse().context("NEW_TOKENS")?;
    tch::set_num_threads(threads);

    let checkpoint = ModelDir::open(dir)?;
    let vs = VarStore::new(Device::Cpu);
    let model = Qwen2::new(&vs.root(), checkpoint.config());
    checkpoint.load_weights(&vs)?;

    let stop = StopCriteria { eos_token_ids: vec![], stop_strings: vec![], decoder: &NoText };
    let params = SamplingParams::greedy(new_tokens);
    let _ = generate(&model, &prompts, 1, &params, &stop)?; // warm-up
    let mut times = Vec::new();
    let mut outs = Vec::new();
    for _ in 0..3 {
        let t0 = Instant::now();
        outs = generate(&model, &prompts, 1, &params, &stop)?;
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let tokens: usize = outs.iter().map(|c| c.token_ids.len()).sum();
    let ours = tokens as f64 / times[1];
    println!(
        "tinyzero-rs generate: {tokens} new tokens, median {:.3} s, {ours:.1} tokens/s ({threads} threads)",
        times[1]
    );

    if let Some(hf_path) = args.get(5) {
        let hf: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(hf_path)?)?;
        let theirs = hf["tokens_per_s"].as_f64().context("tokens_per_s")?;
        let generated: Vec<Vec<u32>> = serde_json::from_value(hf["generated"].clone())?;
        let (mut same, mut total) = (0, 0);
        for (c, g) in outs.iter().zip(&generated) {
            // Count the agreeing prefix: after a first difference the rest diverges anyway.
            same += c.token_ids.iter().zip(g).take_while(|(a, b)| a == b).count();
            total += g.len();
        }
        println!("transformers generate: {theirs:.1} tokens/s");
        println!("ratio (tinyzero-rs / transformers): {:.2}x", ours / theirs);
        println!("greedy tokens agreeing with transformers (prefix per row): {same}/{total}");
    }
    Ok(())
}
