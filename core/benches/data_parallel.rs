//! The tiny model's actor update step on CPU, data-parallel against one
//! process, side by side in one run (the timings only compare within it):
//!
//! - 1 rank × 2 threads and 1 rank × 1 thread on the whole batch;
//! - 2 ranks × 1 thread (Gloo over loopback) on half the batch each, and the
//!   gradient all-reduce alone, with its share of the 2-rank step.
//!
//! The step is the tiny countdown config's update: 32 prompts × 8 samples,
//! responses up to 24 tokens, one mini-batch, micro-batches of 64 rows.
//!
//!   cargo bench -p tz-core --bench data_parallel      (TZ_BENCH_REPEATS, default 10)

mod common;

use std::time::{Duration, Instant};

use tch::Tensor;
use tz_core::optim::{AdamW, AdamWConfig};
use tz_core::parallel::{
    broadcast_parameters, BatchShard, GradSync, InitOptions, Optimizer, ReplicatedAdamW, World,
};
use tz_core::rl_batch::SequenceBatch;
use tz_core::rl_update::{update_actor_parallel, ActorInputs, ActorUpdateConfig};
use tz_core::Qwen2;
use tz_dist::launch::{spawn_ranks, wait_all};
use tz_sdk::LossSettings;

const ROLE: &str = "TZ_DP_BENCH_RANK";
const GROUPS: usize = 32;
const SAMPLES: usize = 8;

fn repeats() -> usize {
    std::env::var("TZ_BENCH_REPEATS").ok().and_then(|v| v.parse().ok()).unwrap_or(10)
}

/// Global row `i`: a 14-token prompt (shared by its group) and a response of 1..=24 tokens.
fn rows(range: std::ops::Range<usize>, vocab: u32) -> (SequenceBatch, Tensor) {
    let prompts = common::prompts(GROUPS, 14, vocab);
    let responses = common::prompts(GROUPS * SAMPLES, 24, vocab);
    let p: Vec<&[u32]> = range.clone().map(|i| prompts[i / SAMPLES].as_slice()).collect();
    let r: Vec<&[u32]> = range.clone().map(|i| &responses[i][..1 + (i * 7) % 24]).collect();
    let batch = SequenceBatch::new(&p, &r, 0, tch::Device::Cpu);
    let adv: Vec<f32> = range.map(|i| ((i * 37) % 11) as f32 / 5.0 - 1.0).collect();
    let advantages = Tensor::from_slice(&adv).view([-1, 1]) * &batch.response_mask;
    (batch, advantages)
}

fn config() -> ActorUpdateConfig {
    ActorUpdateConfig {
        ppo_epochs: 1,
        mini_batch_size: 0,
        micro_batch_size: 64,
        logit_chunk: 1024,
        norm_len: 24.0,
        seed: 0,
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// Median time of one update step on this rank's rows.
fn time_steps(model: &Qwen2, opt: &mut dyn Optimizer, shard: &BatchShard) -> Duration {
    let vocab = model.config().vocab_size as u32;
    let (batch, advantages) = rows(shard.rows(), vocab);
    let old = batch.logprobs(model, 64, 1024);
    let inputs = ActorInputs { batch: &batch, old_logp: Some(&old), advantages: &advantages, ref_logp: None };
    let mut times = Vec::new();
    for i in 0..repeats() + 2 {
        shard.world().barrier().unwrap();
        let start = Instant::now();
        update_actor_parallel(model, opt, &inputs, &LossSettings::default(), 0.0, &config(), shard).unwrap();
        if i >= 2 {
            times.push(start.elapsed());
        }
    }
    median(times)
}

fn adamw() -> AdamWConfig {
    AdamWConfig { lr: 1e-5, ..AdamWConfig::default() }
}

fn single(threads: i32) -> Duration {
    tch::set_num_threads(threads);
    let (vs, model) = common::random_model(&tz_core::presets::tiny_config());
    let mut opt = AdamW::from_var_store(&vs, adamw());
    time_steps(&model, &mut opt, &BatchShard::single(GROUPS * SAMPLES))
}

/// One rank: the update step, then the gradient all-reduce alone.
fn rank_main() {
    tch::set_num_threads(1);
    let world = World::from_env(&InitOptions::default()).unwrap();
    let (vs, model) = common::random_model(&tz_core::presets::tiny_config());
    broadcast_parameters(&world, &vs, 0).unwrap();
    let mut opt = ReplicatedAdamW::new(AdamW::from_var_store(&vs, adamw()), world.clone());
    let shard = BatchShard::split_groups(world.clone(), GROUPS, SAMPLES);
    let step = time_steps(&model, &mut opt, &shard);
    let params = opt.inner().parameters();
    let sync = GradSync::new(world.clone());
    let mut times = Vec::new();
    for _ in 0..repeats() * 3 {
        world.barrier().unwrap();
        let start = Instant::now();
        sync.all_reduce(&params).unwrap();
        times.push(start.elapsed());
    }
    let numel: usize = params.iter().map(|p| p.numel()).sum();
    println!("RESULT {} {} {numel}", step.as_secs_f64(), median(times).as_secs_f64());
}

fn main() {
    if std::env::var(ROLE).is_ok() {
        return rank_main();
    }
    let one_two = single(2);
    let one_one = single(1);
    let exe = std::env::current_exe().unwrap();
    let children = spawn_ranks(2, |_| {
        let mut cmd = std::process::Command::new(&exe);
        cmd.env(ROLE, "1").stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        cmd
    })
    .unwrap();
    let outputs = wait_all(children, Duration::from_secs(1800));
    let line =
        outputs[0].stdout.lines().find(|l| l.starts_with("RESULT")).unwrap_or_else(|| {
            panic!("rank 0 reported nothing:\n{}\n{}", outputs[0].stdout, outputs[0].stderr)
        });
    let v: Vec<f64> = line.split_whitespace().skip(1).map(|x| x.parse().unwrap()).collect();
    let (step, reduce, numel) = (v[0], v[1], v[2]);
    let ms = |d: f64| d * 1e3;
    println!(
        "tiny actor update step ({} rows, {} params, {} repeats, median):",
        GROUPS * SAMPLES,
        numel,
        repeats()
    );
    println!("  1 rank  x 2 threads, whole batch  {:8.1} ms", ms(one_two.as_secs_f64()));
    println!("  1 rank  x 1 thread,  whole batch  {:8.1} ms", ms(one_one.as_secs_f64()));
    println!("  2 ranks x 1 thread,  half each    {:8.1} ms", ms(step));
    println!(
        "  gradient all-reduce (2 ranks, {:.1} MB f32)  {:6.2} ms = {:.1}% of the 2-rank step",
        numel * 4.0 / 1e6,
        ms(reduce),
        100.0 * reduce / step
    );
}
