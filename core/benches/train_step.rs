//! Forward + backward throughput of a training step (tokens per second):
//! the decoder forward with autograd, then the chunked LM-head log-prob
//! backward that the SFT and RL losses use. No optimizer step.
//!
//!   cargo bench -p tz-core --bench train_step     (TZ_BENCH_THREADS=2)

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tch::{Kind, Tensor};
use tz_core::Qwen2;

fn bench_step(c: &mut Criterion, name: &str, model: &Qwen2, batch: i64, len: i64) {
    let vocab = model.config().vocab_size as i64;
    tch::manual_seed(1);
    let ids = Tensor::randint(vocab, [batch, len + 1], (Kind::Int64, tch::Device::Cpu));
    let (input, targets) = (ids.narrow(1, 0, len), ids.narrow(1, 1, len));
    let mut group = c.benchmark_group("forward_backward");
    group.sample_size(10);
    group.throughput(Throughput::Elements((batch * len) as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            let hidden = model.forward(&input, None, None);
            let denom = (batch * len) as f64;
            model.backward_chunked(&hidden, &targets, 256, |_, logp, _| -logp.sum(Kind::Float) / denom)
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let threads = common::set_threads();
    let (_vs, model) = common::random_model(&tz_core::presets::tiny_config());
    bench_step(c, &format!("tiny/64x20 tokens/{threads} threads"), &model, 64, 20);
    drop(model);
    let (_vs, model) = common::random_model(&common::qwen25_05b_shape());
    bench_step(c, &format!("qwen2.5-0.5b-shape/2x32 tokens/{threads} threads"), &model, 2, 32);
}

criterion_group!(name = train; config = Criterion::default().warm_up_time(std::time::Duration::from_secs(1)); targets = benches);
criterion_main!(train);
