//! Throughput of math scoring (`cargo bench -p tz-math`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tz_sdk::prelude::*;
use tz_sdk::testing::recording_host;

fn bench(c: &mut Criterion) {
    let _ = std::any::type_name::<tz_math::Math>();
    let (host, _) = recording_host();
    let task = tz_sdk::export::in_process::task("math", "", host).expect("math task");
    let answers = ["8", "\\frac{3}{4}", "1,000", "50\\%", "-2.5", "x+1"];
    let responses = [
        "<answer> 8 </answer>",
        "so \\boxed{0.75}",
        "<answer>$1000$</answer>",
        "<answer>0.5</answer>",
        "no answer",
        "<answer>1+x</answer>",
    ];
    let batch: Vec<ScoreInput> = (0..1000)
        .map(|i| {
            let row = serde_json::json!({"question": "q", "answer": answers[i % answers.len()]}).to_string();
            let sample = task.sample_from_row(row.as_str().into()).into_result().unwrap();
            let response =
                format!("<think>{}</think> {}", " step".repeat(40), responses[i % responses.len()]);
            ScoreInput {
                sample,
                template: "chat".into(),
                prompt: "".into(),
                response: response.into(),
                finish: FinishReason::Stop,
            }
        })
        .collect();
    let mut group = c.benchmark_group("math");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("score/chat", |b| {
        b.iter(|| black_box(task.score(batch.as_slice().into()).into_result().unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
