//! Generation throughput of the rollout engine (new tokens per second,
//! prefill included), with no EOS so every sequence runs to the limit.
//!
//!   cargo bench -p tz-core --bench rollout_decode     (TZ_BENCH_THREADS=2)

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tz_core::rollout::{generate, StopCriteria, TokenDecoder};
use tz_core::sampling::SamplingParams;
use tz_core::Qwen2;

struct NoText;
impl TokenDecoder for NoText {
    fn decode(&self, _ids: &[u32]) -> tz_core::Result<String> {
        Ok(String::new())
    }
}

fn bench_generate(
    c: &mut Criterion,
    name: &str,
    model: &Qwen2,
    prompts: &[Vec<u32>],
    n: usize,
    new_tokens: usize,
) {
    let stop = StopCriteria { eos_token_ids: vec![], stop_strings: vec![], decoder: &NoText };
    let params =
        SamplingParams { temperature: 1.0, max_new_tokens: new_tokens, seed: 1, ..SamplingParams::default() };
    let mut group = c.benchmark_group("generate");
    group.sample_size(10);
    group.throughput(Throughput::Elements((prompts.len() * n * new_tokens) as u64));
    group.bench_function(name, |b| b.iter(|| generate(model, prompts, n, &params, &stop).unwrap()));
    group.finish();
}

fn benches(c: &mut Criterion) {
    let threads = common::set_threads();
    let tiny = tz_core::presets::tiny_config();
    let (_vs, model) = common::random_model(&tiny);
    let prompts = common::prompts(16, 11, tiny.vocab_size as u32);
    bench_generate(
        c,
        &format!("tiny/16 prompts x 4 samples/64 new/{threads} threads"),
        &model,
        &prompts,
        4,
        64,
    );
    drop(model);

    let big = common::qwen25_05b_shape();
    let (_vs, model) = common::random_model(&big);
    let prompts = common::prompts(4, 16, 151_643);
    bench_generate(
        c,
        &format!("qwen2.5-0.5b-shape/batch 4/32 new/{threads} threads"),
        &model,
        &prompts,
        1,
        32,
    );
}

criterion_group!(name = rollout; config = Criterion::default().warm_up_time(std::time::Duration::from_secs(1)); targets = benches);
criterion_main!(rollout);
