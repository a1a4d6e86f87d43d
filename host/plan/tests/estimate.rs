//! The estimator against hand-computed figures and its invariants.

use tz_plan::*;

const GB: f64 = 1e9;

fn qwen05() -> ModelShape {
    known_shape("Qwen/Qwen2.5-0.5B").unwrap()
}

/// TinyZero-like: 256 prompts × 1 sample, bf16 on a GPU.
fn run() -> RunShape {
    RunShape {
        device: DeviceKind::Cuda,
        dtype: Dtype::Bf16,
        ranks: 1,
        shard_optimizer: false,
        prompt_len: 150,
        response_len: 1024,
        generations: vec![Generation {
            label: "rollout".into(),
            prompts: 256,
            samples: 1,
            greedy: false,
            top_p: false,
        }],
        budget: RolloutBudget::default(),
        attention: Attention::Math,
        update: Some(Update {
            micro_batch: 8,
            logit_chunk: 256,
            gradient_checkpointing: false,
            critic: false,
        }),
        reference: None,
        reward_model: None,
    }
}

fn item(plan: &Plan, phase: &str, starts: &str) -> f64 {
    let p = plan.policy_device().phases.iter().find(|p| p.name == phase).unwrap();
    p.items.iter().find(|i| i.name.starts_with(starts)).unwrap_or_else(|| panic!("{starts} in {p:?}")).bytes
        as f64
}

fn resident(plan: &Plan, starts: &str) -> f64 {
    plan.policy_device().resident.iter().filter(|i| i.name.starts_with(starts)).map(|i| i.bytes as f64).sum()
}

#[test]
fn bf16_training_state_is_16_bytes_per_parameter() {
    // weights + gradients (bf16) + master copy + two moments (f32): 7.9 GB for
    // 0.5B (16 bytes a parameter, as DeepSpeed's ZeRO paper counts mixed-precision Adam).
    let plan = estimate(&qwen05(), &run());
    let state = resident(&plan, "policy");
    assert!((state / GB - 7.90).abs() < 0.01, "{}", state / GB);
}

#[test]
fn kv_cache_of_256_rows_at_1174_positions_is_3_69_gb() {
    let plan = estimate(&qwen05(), &run());
    let kv = item(&plan, "rollout", "KV cache");
    assert!((kv / GB - 3.69).abs() < 0.01, "{}", kv / GB);
}

#[test]
fn a_rollout_budget_bounds_the_kv_cache_by_rows_or_tokens() {
    let mut r = run();
    r.budget.rows_in_flight = Some(64);
    let quarter = item(&estimate(&qwen05(), &r), "rollout", "KV cache");
    let full = item(&estimate(&qwen05(), &run()), "rollout", "KV cache");
    assert!((quarter * 4.0 - full).abs() < 1e3, "{quarter} vs {full}");
    r.budget = RolloutBudget { rows_in_flight: None, kv_tokens: Some(32 * 1174) };
    let rows32 = item(&estimate(&qwen05(), &r), "rollout", "KV cache");
    assert!((rows32 * 8.0 - full).abs() < 1e3);
}

#[test]
fn data_parallel_ranks_split_the_rollout_and_zero1_splits_the_optimizer() {
    let mut r = run();
    r.ranks = 4;
    let plan = estimate(&qwen05(), &r);
    let kv = item(&plan, "rollout", "KV cache");
    assert!((kv * 4.0 / GB - 3.69).abs() < 0.01);
    let replicated = resident(&plan, "policy AdamW");
    r.shard_optimizer = true;
    let sharded = resident(&estimate(&qwen05(), &r), "policy AdamW");
    assert!((sharded * 4.0 - replicated).abs() < 1e3);
}

#[test]
fn checkpointing_keeps_one_hidden_state_per_layer_and_lowers_the_update() {
    let plain = estimate(&qwen05(), &run());
    let mut r = run();
    r.update.as_mut().unwrap().gradient_checkpointing = true;
    let ckpt = estimate(&qwen05(), &r);
    let (a, b) = (item(&plain, "actor update", "activations"), item(&ckpt, "actor update", "activations"));
    assert!(b < a / 5.0, "{b} vs {a}");
    // Each plan shows the other setting's figure, uncounted.
    let info = &plain.policy_device().phases.iter().find(|p| p.name == "actor update").unwrap().info[0];
    assert_eq!(info.bytes as f64, b);
}

#[test]
fn math_attention_scores_grow_with_the_square_of_the_length() {
    let at = |len: u64, attention: Attention| {
        let mut r = run();
        r.response_len = len;
        r.prompt_len = 1;
        r.attention = attention;
        item(&estimate(&qwen05(), &r), "actor update", "activations")
    };
    let (math1, math2) = (at(1023, Attention::Math), at(2047, Attention::Math));
    let (fused1, fused2) = (at(1023, Attention::Fused), at(2047, Attention::Fused));
    // Fused kernels keep only a [T, keys] mask per layer: nearly linear.
    assert!(fused2 / fused1 < 2.2, "fused is nearly linear: {}", fused2 / fused1);
    assert!(math2 / math1 > 2.5, "math has a quadratic term: {}", math2 / math1);
}

#[test]
fn a_second_model_on_another_device_is_planned_there() {
    let mut r = run();
    r.reference = Some(Placement::Policy);
    let same = estimate(&qwen05(), &r);
    assert_eq!(same.devices.len(), 1);
    r.reference = Some(Placement::Other("cpu".into()));
    let apart = estimate(&qwen05(), &r);
    assert_eq!(apart.devices[1].name, "cpu");
    let weights = qwen05().parameters() as f64 * 2.0;
    assert!(
        (same.policy_device().resident_total() - apart.policy_device().resident_total()) as f64 == weights
    );
    assert!(apart.devices[1].peak() as f64 > weights);
}

#[test]
fn advice_names_the_least_aggressive_change_that_fits() {
    let model = qwen05();
    let r = run();
    let peak = estimate(&model, &r).peak();
    let capacity = (peak as f64 * 0.8) as u64;
    let advice = advise(&model, &r, capacity);
    assert!(!advice.is_empty());
    for s in &advice {
        assert!(Fit::check(s.peak, capacity).fits, "{s:?}");
    }
    let micro = advice.iter().find_map(|s| match s.changes[..] {
        [Change::MicroBatch(m)] => Some(m),
        _ => None,
    });
    let m = micro.expect("a smaller micro-batch fits");
    let mut bigger = r.clone();
    bigger.update.as_mut().unwrap().micro_batch = m * 2;
    assert!(!Fit::check(estimate(&model, &bigger).peak(), capacity).fits, "{m} is not the largest");
    assert!(advise(&model, &r, peak * 2).is_empty(), "a run that fits needs no advice");
}

#[test]
fn absurd_runs_saturate_instead_of_overflowing() {
    let mut r = run();
    r.generations[0].prompts = u64::MAX / 2;
    r.response_len = u64::MAX / 4;
    let plan = estimate(&qwen05(), &r);
    assert_eq!(plan.peak(), u64::MAX);
    assert!(!Fit::check(plan.peak(), Hardware::h200().capacity).fits);
}
