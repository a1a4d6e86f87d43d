//! Throughput of countdown generation and scoring.
//!
//! `cargo bench -p tz-countdown` (criterion reports elements per second).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tz_sdk::prelude::*;
use tz_sdk::testing::recording_host;

fn task() -> tz_sdk::handle::Task {
    // Naming a type of the crate keeps its plugin registration linked in.
    let _ = std::any::type_name::<tz_countdown::Countdown>();
    let (host, _) = recording_host();
    tz_sdk::export::in_process::task("countdown", "", host).expect("countdown task")
}

fn generation(c: &mut Criterion) {
    let task = task();
    let mut group = c.benchmark_group("generate");
    const COUNT: u64 = 10_000;
    group.throughput(Throughput::Elements(COUNT));
    for name in ["plus", "plus_minus", "plus_minus_mul", "plus_minus_mul_div", "all"] {
        group.bench_function(name, |b| {
            let mut seed = 0;
            b.iter(|| {
                seed += 1;
                black_box(task.generate(name, COUNT, seed).unwrap())
            })
        });
    }
    group.finish();
}

fn scoring(c: &mut Criterion) {
    let task = task();
    let samples = task.generate("all", 1000, 42).unwrap();
    let mut group = c.benchmark_group("score");
    group.throughput(Throughput::Elements(samples.len() as u64));
    for template in ["base", "compact"] {
        let batch: Vec<ScoreInput> = samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let prompt = task.prompt(s, template).unwrap().text;
                let correct = task.reference_solution(s, template).unwrap().unwrap();
                // A mix of outcomes: right, wrong value, no answer.
                let response = match i % 3 {
                    0 => correct.to_string(),
                    1 => correct.replace('+', "-"),
                    _ => " I am not sure, let me think about it some more".repeat(8),
                };
                ScoreInput {
                    sample: s.clone(),
                    template: template.into(),
                    prompt,
                    response,
                    finish: FinishReason::Stop,
                }
            })
            .collect();
        group.bench_function(template, |b| b.iter(|| black_box(task.score(batch.as_slice()).unwrap())));
    }
    group.finish();
}

criterion_group!(benches, generation, scoring);
criterion_main!(benches);
