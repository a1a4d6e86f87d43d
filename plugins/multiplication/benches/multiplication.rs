//! Throughput of multiplication generation and scoring (`cargo bench -p tz-multiplication`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tz_sdk::prelude::*;
use tz_sdk::testing::recording_host;

fn task() -> tz_sdk::ffi::TaskBox {
    let _ = std::any::type_name::<tz_multiplication::Multiplication>();
    let (host, _) = recording_host();
    tz_sdk::export::in_process::task("multiplication", "", host).expect("multiplication task")
}

fn bench(c: &mut Criterion) {
    let task = task();
    let mut group = c.benchmark_group("multiplication");
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("generate", |b| {
        b.iter(|| black_box(task.generate("default".into(), 10_000, 1).into_result().unwrap()))
    });
    let samples = task.generate("default".into(), 1000, 2).into_result().unwrap();
    let batch: Vec<ScoreInput> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let prompt = task.prompt(s, "base".into()).into_result().unwrap().text;
            let right = task.reference_solution(s, "base".into()).into_result().unwrap().unwrap().to_string();
            let response =
                if i % 2 == 0 { right } else { format!("{} hmm, no answer", " let me think".repeat(10)) };
            ScoreInput {
                sample: s.clone(),
                template: "base".into(),
                prompt,
                response: response.into(),
                finish: FinishReason::Stop,
            }
        })
        .collect();
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("score/base", |b| {
        b.iter(|| black_box(task.score(batch.as_slice().into()).into_result().unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
