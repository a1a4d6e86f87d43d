//! Per-rank peak memory of a run, phase by phase.
//!
//! The model of a step (host/src/train/step.rs over the core):
//! - resident for the whole run: the policy's weights, its gradients (the
//!   optimizer zeroes them in place, so after the first update they stay
//!   allocated), AdamW's f32 moments and, for half-precision weights, an f32
//!   master copy; the same for a PPO critic; the frozen reference and the
//!   reward model where they share the policy's device; the runtime;
//! - phases that come and go: each rollout (KV cache, prefill, sampling
//!   scratch), the no-grad log-prob passes (old policy, reference, critic
//!   values), the critic and actor updates (activations kept for backward,
//!   LM-head chunks), the optimizer step, reward-model scoring.
//!
//! The peak of a device is its resident memory plus its largest phase.

use crate::activations::{backward_scratch, forward_scratch, saved, Dims};
use crate::hardware::runtime_overhead;
use crate::plan::{DevicePlan, Item, Phase, Plan};
use crate::run::{DeviceKind, Dtype, Generation, Placement, RunShape, Update};
use crate::shape::ModelShape;

const F32: f64 = 4.0;

/// Plans `run` for `model`. The run should be valid ([`RunShape::validate`]);
/// an invalid one gives a plan of zeros where it divides by nothing.
pub fn estimate(model: &ModelShape, run: &RunShape) -> Plan {
    let d = Dims::new(model, run.dtype.bytes(), run.attention);
    let mut policy = DevicePlan::new("policy device (one rank)");
    let mut others: Vec<DevicePlan> = Vec::new();

    policy.resident.push(Item::new(runtime_label(run.device), runtime_overhead(run.device) as f64));
    resident_model(&mut policy, "policy", model, run.dtype, run.update.is_some(), run);
    for g in &run.generations {
        policy.phases.push(generation_phase(&d, model, run, g));
    }
    if let Some(update) = &run.update {
        let mut passes = Phase::new("log-prob pass (old policy)");
        logprob_items(&mut passes, &d, run, update, true);
        policy.phases.push(passes);
        policy.phases.push(actor_update_phase(&d, run, update));
        policy.phases.push(optimizer_phase(model));
        if update.critic {
            resident_model(&mut policy, "critic", &critic_shape(model), run.dtype, true, run);
            let mut values = Phase::new("critic values");
            logprob_items(&mut values, &d, run, update, false);
            policy.phases.push(values);
            policy.phases.push(critic_update_phase(&d, run, update));
        }
        if let Some(placement) = &run.reference {
            let mut pass = Phase::new("log-prob pass (reference)");
            logprob_items(&mut pass, &d, run, update, true);
            let device = device_for(placement, &mut policy, &mut others);
            device.resident.push(Item::new("reference weights", weights(model, run.dtype)));
            device.phases.push(pass);
        }
    }
    if let Some(rm) = &run.reward_model {
        let rd = Dims::new(&rm.shape, rm.dtype.bytes(), run.attention);
        let tokens = rm.batch_size as f64 * rm.max_length as f64;
        let keys = rm.max_length as f64;
        let phase = Phase::new("reward model scoring")
            .with(
                format!("forward of {} × {} tokens (one layer)", rm.batch_size, rm.max_length),
                tokens * forward_scratch(&rd, keys),
            )
            .with("hidden states", 2.0 * tokens * rd.h * rd.b);
        let device = device_for(&rm.placement, &mut policy, &mut others);
        device.resident.push(Item::new("reward model weights", weights(&rm.shape, rm.dtype)));
        device.phases.push(phase);
    }
    let mut devices = vec![policy];
    devices.extend(others);
    Plan { devices }
}

fn runtime_label(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Cuda => "runtime (CUDA context, kernels; assumed)",
        DeviceKind::Cpu => "runtime (libtorch resident; measured)",
    }
}

/// The device plan a second model goes to, created on first use.
fn device_for<'a>(
    p: &Placement,
    policy: &'a mut DevicePlan,
    others: &'a mut Vec<DevicePlan>,
) -> &'a mut DevicePlan {
    match p {
        Placement::Policy => policy,
        Placement::Other(name) => {
            let at = match others.iter().position(|d| &d.name == name) {
                Some(i) => i,
                None => {
                    others.push(DevicePlan::new(name.clone()));
                    others.len() - 1
                }
            };
            &mut others[at]
        }
    }
}

/// A critic: the policy's decoder without its LM head, plus a value head.
fn critic_shape(model: &ModelShape) -> ModelShape {
    ModelShape { head: crate::shape::Head::Classifier(1), ..model.clone() }
}

fn weights(model: &ModelShape, dtype: Dtype) -> f64 {
    model.parameters() as f64 * dtype.bytes() as f64
}

/// Weights, and when trained: gradients, master copy and moments (sharded by ZeRO-1).
fn resident_model(
    plan: &mut DevicePlan,
    who: &str,
    model: &ModelShape,
    dtype: Dtype,
    trained: bool,
    run: &RunShape,
) {
    let params = model.parameters() as f64;
    let b = dtype.bytes() as f64;
    plan.resident.push(Item::new(format!("{who} weights ({})", dtype.name()), params * b));
    if !trained {
        return;
    }
    let shards = if run.shard_optimizer { run.ranks as f64 } else { 1.0 };
    let sharded = if run.shard_optimizer && run.ranks > 1 {
        format!(", 1/{} (ZeRO-1)", run.ranks)
    } else {
        String::new()
    };
    plan.resident.push(Item::new(format!("{who} gradients ({})", dtype.name()), params * b));
    if dtype != Dtype::F32 {
        plan.resident.push(Item::new(format!("{who} f32 master copy{sharded}"), params * F32 / shards));
    }
    plan.resident.push(Item::new(format!("{who} AdamW moments (f32){sharded}"), 2.0 * params * F32 / shards));
}

/// Rows one rank generates in one call, and how many it holds at once.
pub(crate) fn rows_in_flight(run: &RunShape, g: &Generation) -> (u64, u64) {
    let prompts = g.prompts.div_ceil(run.ranks.max(1));
    let rows = prompts.saturating_mul(g.samples);
    let mut at_once = rows;
    if let Some(cap) = run.budget.rows_in_flight {
        at_once = at_once.min(cap);
    }
    if let Some(tokens) = run.budget.kv_tokens {
        at_once = at_once.min((tokens / run.sequence_len().max(1)).max(1));
    }
    (rows, at_once.max(1))
}

fn generation_phase(d: &Dims, model: &ModelShape, run: &RunShape, g: &Generation) -> Phase {
    let (rows, at_once) = rows_in_flight(run, g);
    let (p, len) = (run.prompt_len as f64, run.sequence_len() as f64);
    let kv_per_token = model.kv_bytes_per_token(run.dtype.bytes()) as f64;
    let kv = at_once as f64 * len * kv_per_token;
    // Prompts are prefilled once each (their cache copied to every sample).
    let prompts = (at_once.div_ceil(g.samples)) as f64;
    let prefill_cache = prompts * p * kv_per_token;
    let prefill = prefill_cache + prompts * p * (forward_scratch(d, p) + 2.0 * d.h * d.b);
    // Per vocabulary entry and row: f32 logits, log-probs, probabilities,
    // and the f64 probabilities and CDF of inverse-CDF sampling; top-p adds
    // a sort (values + i64 order) and its cumulative sums.
    let per_logit = match (g.greedy, g.top_p) {
        (true, _) => 2.0 * F32,
        (false, false) => 7.0 * F32,
        (false, true) => 8.0 * F32 + 2.0 * F32,
    };
    let sampling = at_once as f64 * d.vocab * per_logit;
    let mut phase = Phase::new(g.label.clone());
    let waves = if at_once < rows { format!(", {} of {rows} rows at once", at_once) } else { String::new() };
    phase = phase.with(format!("KV cache ({} rows × {} positions{waves})", at_once, run.sequence_len()), kv);
    // Timeline: prefill (its cache + one layer), then the prefill cache is
    // copied into the full cache, then decoding with sampling scratch.
    let (name, extra) = [
        ("prefill (prompt cache + one layer)", prefill - kv),
        ("prompt cache during the copy", prefill_cache),
        ("sampling scratch (rows × vocab)", sampling),
    ]
    .into_iter()
    .fold(("", f64::MIN), |best, c| if c.1 > best.1 { c } else { best });
    phase.with(name, extra.max(0.0))
}

/// Positions of one micro-batch and how many of them get logits.
fn micro_tokens(run: &RunShape, u: &Update) -> (f64, f64, f64) {
    let m = u.micro_batch as f64;
    (
        m * run.sequence_len() as f64,
        m * run.response_len as f64,
        m * (u.logit_chunk.min(run.response_len)) as f64,
    )
}

/// A no-grad pass over the batch, `micro_batch` rows at a time: one layer's
/// scratch, or the final hidden states plus an LM-head chunk.
fn logprob_items(phase: &mut Phase, d: &Dims, run: &RunShape, u: &Update, with_head: bool) {
    let (tokens, _, chunk_rows) = micro_tokens(run, u);
    let keys = run.sequence_len() as f64;
    let layer = tokens * (forward_scratch(d, keys) + 2.0 * d.h * d.b);
    let hidden = tokens * d.h * d.b;
    // f32 logits, log-softmax, its exp and their product (the entropy term).
    let head = if with_head { chunk_rows * d.vocab * 4.0 * F32 } else { 0.0 };
    let label = format!("{} rows × {} positions", u.micro_batch, run.sequence_len());
    if layer >= hidden + head {
        phase.items.push(Item::new(format!("forward scratch ({label}, one layer)"), layer));
    } else {
        phase.items.push(Item::new(format!("hidden states ({label})"), hidden));
        phase.items.push(Item::new(
            format!("logit chunk ({} × {} × vocab, f32)", u.micro_batch, u.logit_chunk.min(run.response_len)),
            head,
        ));
    }
}

/// Activations kept for backward over one micro-batch, with and without
/// per-layer checkpointing: (counted, the other setting).
fn activations(d: &Dims, run: &RunShape, u: &Update) -> (f64, f64) {
    let (tokens, _, _) = micro_tokens(run, u);
    let keys = run.sequence_len() as f64;
    let per_layer = tokens * saved(d, keys);
    let final_norm = tokens * (F32 * d.h + 2.0 * d.b * d.h);
    let plain = d.layers * per_layer + final_norm;
    // Checkpointing keeps each layer's input and rebuilds one layer's saved
    // tensors at a time during backward.
    let checkpointed = d.layers * tokens * d.h * d.b + per_layer + final_norm;
    if u.gradient_checkpointing {
        (checkpointed, plain)
    } else {
        (plain, checkpointed)
    }
}

fn actor_update_phase(d: &Dims, run: &RunShape, u: &Update) -> Phase {
    let (tokens, response, chunk_rows) = micro_tokens(run, u);
    let keys = run.sequence_len() as f64;
    let (acts, other) = activations(d, run, u);
    let hidden_grad = response * d.h * d.b;
    // Forward and backward of one chunk: f32 logits, log-softmax and exp kept
    // for backward and three gradients of the same size; plus the
    // [vocab, hidden] weight gradient before it is accumulated.
    let head = chunk_rows * d.vocab * 6.0 * F32 + d.vocab * d.h * d.b;
    let layer = tokens * backward_scratch(d, keys);
    let mut phase = Phase::new("actor update")
        .with(activation_label(run, u), acts)
        .with("hidden-state gradient", hidden_grad);
    phase = if head >= layer {
        phase.with(
            format!(
                "logit chunk fwd+bwd ({} × {} × vocab)",
                u.micro_batch,
                u.logit_chunk.min(run.response_len)
            ),
            head,
        )
    } else {
        phase.with("one layer's backward", layer)
    };
    phase.info.push(Item::new(other_label(u), other));
    phase
}

fn critic_update_phase(d: &Dims, run: &RunShape, u: &Update) -> Phase {
    let (tokens, _, _) = micro_tokens(run, u);
    let (acts, other) = activations(d, run, u);
    let mut phase = Phase::new("critic update")
        .with(activation_label(run, u), acts)
        .with("one layer's backward", tokens * backward_scratch(d, run.sequence_len() as f64));
    phase.info.push(Item::new(other_label(u), other));
    phase
}

fn activation_label(run: &RunShape, u: &Update) -> String {
    let how = if u.gradient_checkpointing { "checkpointed" } else { "no checkpointing" };
    format!("activations ({} × {} positions, {how})", u.micro_batch, run.sequence_len())
}

fn other_label(u: &Update) -> String {
    if u.gradient_checkpointing {
        "activations without checkpointing"
    } else {
        "activations with checkpointing"
    }
    .into()
}

/// AdamW's per-parameter temporaries, largest for the biggest tensor.
fn optimizer_phase(model: &ModelShape) -> Phase {
    // The f32 gradient, the denominator and the update, for the largest
    // tensor (the embedding); tensors are updated one after another.
    Phase::new("optimizer step")
        .with("AdamW temporaries (largest tensor)", 3.0 * F32 * model.largest_tensor() as f64)
}
