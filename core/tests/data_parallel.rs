//! Data parallelism at the level of the update loops, on 2 Gloo ranks (each
//! a copy of this test binary started with torchrun's variables):
//!
//! - 2 ranks on halves of a fixed batch give the weights (actor and critic)
//!   of 1 process on the whole batch after several updates (issue #16.5a),
//!   bit-identical on both ranks; batch-wide statistics reduce correctly;
//! - ZeRO-1 gives the weights of the replicated optimizer, and resumes
//!   from its sharded state exactly (issue #17.3).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use tz_core::critic::{update_critic, update_critic_parallel, Critic, CriticInputs, CriticUpdateConfig};
use tz_core::model::init::{fill_from_seed, init_fill, init_from_seed, Fill};
use tz_core::model::ValueHead;
use tz_core::optim::{AdamW, AdamWConfig};
use tz_core::parallel::{
    all_gather_vec, broadcast_parameters, moments, optimizer_for, reduce_stats, BatchShard, InitOptions,
    Optimizer, Stat, StateSharding, World, ZeroAdamW,
};
use tz_core::rl_batch::SequenceBatch;
use tz_core::rl_update::{update_actor, update_actor_parallel, ActorInputs, ActorMetrics, ActorUpdateConfig};
use tz_core::{Qwen2, Qwen2Config};
use tz_dist::launch::{spawn_ranks, this_test_binary, wait_all, RankOutput};
use tz_sdk::LossSettings;

const SCENARIO: &str = "TZ_DP_TEST_SCENARIO";
const OUT_DIR: &str = "TZ_DP_TEST_OUT";
const DEADLINE: Duration = Duration::from_secs(300);
/// Prompt groups × samples per prompt = rows of the fixed batch.
const GROUPS: usize = 4;
const SAMPLES: usize = 2;
const UPDATES: u64 = 3;

// ---- the fixed problem -------------------------------------------------

fn config() -> Qwen2Config {
    serde_json::from_value(serde_json::json!({
        "vocab_size": 13, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
        "num_attention_heads": 2, "num_key_value_heads": 1, "tie_word_embeddings": true
    }))
    .unwrap()
}

fn actor(seed: i64) -> (VarStore, Qwen2) {
    let vs = VarStore::new(Device::Cpu);
    let model = Qwen2::new(&vs.root(), &config());
    init_from_seed(&vs, seed as u64);
    freeze_key_biases(&vs);
    (vs, model)
}

/// The key bias adds `q·b` to every score of a query's row, which softmax
/// ignores: its gradient is exactly 0 in theory and float noise in practice,
/// and AdamW turns noise of any size into steps of size ~lr. No two
/// summation orders agree on that noise, so it is left out of the training
/// (and of the comparisons) here.
fn freeze_key_biases(vs: &VarStore) {
    for (name, t) in vs.variables() {
        if name.ends_with("k_proj.bias") {
            let _ = t.set_requires_grad(false);
        }
    }
}

/// A critic with a random (non-zero) head, so its update has gradients everywhere.
fn critic(seed: i64) -> Critic {
    let vs = VarStore::new(Device::Cpu);
    let backbone = Qwen2::backbone(&vs.root(), &config());
    let head = ValueHead::new(&vs.root(), config().hidden_size);
    fill_from_seed(&vs, seed as u64, |name| {
        if name.starts_with("value_head") {
            Fill::Normal { mean: 0.0, std: 0.5 }
        } else {
            init_fill(name)
        }
    });
    freeze_key_biases(&vs);
    Critic { vs, backbone, head }
}

/// Row `i` of the global batch: (prompt, response, advantage). The two
/// samples of a prompt are adjacent; lengths vary, so padding differs
/// between the halves and the whole.
fn row(i: usize) -> (Vec<u32>, Vec<u32>, f32) {
    let group = (i / SAMPLES) as u32;
    let prompt: Vec<u32> = (0..2 + group % 3).map(|j| 1 + (group * 3 + j) % 12).collect();
    let response: Vec<u32> = (0..1 + (i as u32 * 5) % 4).map(|j| 1 + (i as u32 * 7 + j * 3) % 12).collect();
    let advantage = [1.0, -0.5, 0.25, -1.0, 0.75, 0.5, -0.25, 1.5][i];
    (prompt, response, advantage)
}

struct Part {
    batch: SequenceBatch,
    advantages: Tensor,
    returns: Tensor,
}

fn part(rows: std::ops::Range<usize>) -> Part {
    let data: Vec<_> = rows.map(row).collect();
    let prompts: Vec<&[u32]> = data.iter().map(|d| d.0.as_slice()).collect();
    let responses: Vec<&[u32]> = data.iter().map(|d| d.1.as_slice()).collect();
    let batch = SequenceBatch::new(&prompts, &responses, 0, Device::Cpu);
    let adv: Vec<f32> = data.iter().map(|d| d.2).collect();
    let advantages = Tensor::from_slice(&adv).view([-1, 1]) * &batch.response_mask;
    let returns = (Tensor::from_slice(&adv).view([-1, 1]) * 0.5 + 0.1) * &batch.response_mask;
    Part { batch, advantages, returns }
}

fn adamw() -> AdamWConfig {
    // Clipping at 1.0 binds here: the global norm path is exercised too.
    AdamWConfig { lr: 1e-2, ..AdamWConfig::default() }
}

fn actor_config(update: u64) -> ActorUpdateConfig {
    ActorUpdateConfig {
        ppo_epochs: 2,
        mini_batch_size: 4,
        micro_batch_size: 1,
        logit_chunk: 2,
        norm_len: 4.0,
        seed: 100 + update,
    }
}

fn critic_config(update: u64) -> CriticUpdateConfig {
    CriticUpdateConfig {
        ppo_epochs: 2,
        mini_batch_size: 4,
        micro_batch_size: 2,
        clip_value: 0.5,
        seed: 7 + update,
    }
}

/// `UPDATES` actor updates on this rank's rows; old log-probs recomputed per update, as the loop does.
fn train_actor(
    model: &Qwen2,
    opt: &mut dyn Optimizer,
    shard: &BatchShard,
    updates: std::ops::Range<u64>,
) -> ActorMetrics {
    let p = part(shard.rows());
    let mut last = ActorMetrics::default();
    for u in updates {
        let old = p.batch.logprobs(model, 8, 2);
        let inputs =
            ActorInputs { batch: &p.batch, old_logp: Some(&old), advantages: &p.advantages, ref_logp: None };
        last = update_actor_parallel(
            model,
            opt,
            &inputs,
            &LossSettings::default(),
            0.0,
            &actor_config(u),
            shard,
        )
        .unwrap();
    }
    last
}

fn train_critic(c: &Critic, opt: &mut dyn Optimizer, shard: &BatchShard) -> f64 {
    let p = part(shard.rows());
    let mut explained = 0.0;
    for u in 0..UPDATES {
        let old = c.values(&p.batch, 8);
        let inputs = CriticInputs { batch: &p.batch, old_values: &old, returns: &p.returns };
        explained =
            update_critic_parallel(c, opt, &inputs, &critic_config(u), shard).unwrap().vf_explained_var;
    }
    explained
}

fn weights(vs: &VarStore) -> Vec<f32> {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.iter()
        .flat_map(|(_, t)| Vec::<f32>::try_from(t.to_kind(Kind::Float).flatten(0, -1)).unwrap())
        .collect()
}

/// The largest `max|a − b| / max|b|` over the tensors of `like` (name
/// order, the layout of [`weights`]): differences relative to each
/// tensor's scale, with the name of the worst tensor.
fn max_rel_diff(a: &[f32], b: &[f32], like: &VarStore) -> (f64, String) {
    assert_eq!(a.len(), b.len());
    let mut vars: Vec<(String, Tensor)> = like.variables().into_iter().collect();
    vars.sort_by(|x, y| x.0.cmp(&y.0));
    let mut worst = (0.0, String::new());
    let mut offset = 0;
    for (name, t) in vars {
        let (x, y) = (&a[offset..offset + t.numel()], &b[offset..offset + t.numel()]);
        offset += t.numel();
        let diff = x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        let scale = y.iter().map(|q| q.abs()).fold(0.0f32, f32::max).max(f32::MIN_POSITIVE);
        let rel = f64::from(diff / scale);
        if rel > worst.0 {
            worst = (rel, format!("{name}: |Δ| {diff:e} at scale {scale:e}"));
        }
    }
    worst
}

fn write_floats(path: &Path, xs: &[f32]) {
    std::fs::write(path, xs.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
}

fn read_floats(path: &Path) -> Vec<f32> {
    std::fs::read(path).unwrap().chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

// ---- the ranks ---------------------------------------------------------

/// One rank of a multi-process test; does nothing when run by hand.
#[test]
#[ignore = "a rank of the multi-process tests, started by them"]
fn rank_main() {
    let Ok(scenario) = std::env::var(SCENARIO) else { return };
    tch::set_num_threads(1);
    let world = World::from_env(&InitOptions { timeout: Duration::from_secs(120), ..InitOptions::default() })
        .unwrap();
    let out = PathBuf::from(std::env::var(OUT_DIR).unwrap());
    match scenario.as_str() {
        "halves" => halves(&world, &out),
        "zero" => zero(&world, &out),
        other => panic!("unknown scenario {other}"),
    }
    println!("scenario done");
}

/// A model built from a rank-dependent seed, then made equal by the broadcast.
fn replica(world: &World) -> (VarStore, Qwen2) {
    let (vs, model) = actor(3 + world.rank() as i64);
    broadcast_parameters(world, &vs, 0).unwrap();
    (vs, model)
}

fn halves(world: &World, out: &Path) {
    reductions(world);
    let shard = BatchShard::split_groups(world.clone(), GROUPS, SAMPLES);
    let (vs, model) = replica(world);
    let mut opt = optimizer_for(world, &vs, adamw(), StateSharding::Replicated).unwrap();
    let m = train_actor(&model, opt.as_mut(), &shard, 0..UPDATES);
    let c = critic(5 + world.rank() as i64);
    broadcast_parameters(world, &c.vs, 0).unwrap();
    let mut copt = optimizer_for(world, &c.vs, adamw(), StateSharding::Replicated).unwrap();
    let explained = train_critic(&c, copt.as_mut(), &shard);
    let r = world.rank();
    write_floats(&out.join(format!("actor{r}")), &weights(&vs));
    write_floats(&out.join(format!("critic{r}")), &weights(&c.vs));
    write_floats(
        &out.join(format!("metrics{r}")),
        &[m.pg_loss as f32, m.grad_norm as f32, m.entropy as f32, explained as f32],
    );
}

/// Batch-wide statistics from rank-dependent parts equal those of the joined data.
fn reductions(world: &World) {
    let r = world.rank() as f64;
    let got = reduce_stats(
        world,
        &[
            Stat::Sum(r + 1.0),
            Stat::Mean { sum: 10.0 * r, count: 1.0 + r },
            Stat::Min(5.0 - r),
            Stat::Max(r * r),
        ],
    )
    .unwrap();
    assert_eq!(got, vec![3.0, 10.0 / 3.0, 4.0, 1.0]);
    // Rank 0 holds [1, 2], rank 1 holds [3, 10]: the moments of [1, 2, 3, 10].
    let mine: &[f64] = if world.rank() == 0 { &[1.0, 2.0] } else { &[3.0, 10.0] };
    let m = moments(world, mine).unwrap();
    assert_eq!((m.count, m.mean), (4.0, 4.0));
    assert!((m.var - 50.0 / 3.0).abs() < 1e-12, "{m:?}");
    // Lengths differ across ranks: rank 0 sends 1 value, rank 1 sends 3.
    let sent: Vec<f32> = (0..1 + 2 * world.rank()).map(|i| (10 * world.rank() + i) as f32).collect();
    assert_eq!(all_gather_vec(world, &sent).unwrap(), vec![0.0, 10.0, 11.0, 12.0]);
}

fn zero(world: &World, out: &Path) {
    let shard = BatchShard::split_groups(world.clone(), GROUPS, SAMPLES);
    // Replicated and ZeRO-1 side by side from the same weights and rows.
    let (vs_rep, rep) = replica(world);
    let mut opt_rep = optimizer_for(world, &vs_rep, adamw(), StateSharding::Replicated).unwrap();
    train_actor(&rep, opt_rep.as_mut(), &shard, 0..UPDATES);
    let (vs_zero, zero) = replica(world);
    let mut opt_zero = ZeroAdamW::from_var_store(world.clone(), &vs_zero, adamw()).unwrap();
    assert!(opt_zero.shard_len() < weights(&vs_zero).len(), "each rank holds part of the state");
    train_actor(&zero, &mut opt_zero, &shard, 0..UPDATES);
    let (diff, at) = max_rel_diff(&weights(&vs_zero), &weights(&vs_rep), &vs_rep);
    println!("zero vs replicated: max relative difference {diff:e} ({at})");
    assert!(diff < 1e-5, "ZeRO-1 drifted from the replicated optimizer: {diff:e} in {at}");
    assert_eq!(opt_zero.steps_taken(), opt_rep.steps_taken());
    write_floats(&out.join(format!("zero{}", world.rank())), &weights(&vs_zero));

    // bf16 weights: ZeRO-1 keeps the f32 masters of its shard, the replicated
    // AdamW of every weight; the bf16 weights the model sees agree within
    // about one bf16 rounding step (2^-8 relative) of the tensor's scale.
    let bf16 = |world: &World| {
        let (mut vs, model) = replica(world);
        vs.set_kind(Kind::BFloat16);
        (vs, model)
    };
    let (vs_rep, rep) = bf16(world);
    let mut opt_rep = optimizer_for(world, &vs_rep, adamw(), StateSharding::Replicated).unwrap();
    train_actor(&rep, opt_rep.as_mut(), &shard, 0..1);
    let (vs_zero, zero) = bf16(world);
    let mut opt_zero = ZeroAdamW::from_var_store(world.clone(), &vs_zero, adamw()).unwrap();
    train_actor(&zero, &mut opt_zero, &shard, 0..1);
    let (diff, at) = max_rel_diff(&weights(&vs_zero), &weights(&vs_rep), &vs_rep);
    println!("bf16 zero vs replicated: max relative difference {diff:e} ({at})");
    assert!(diff < 1e-2, "bf16 ZeRO-1 drifted from the replicated optimizer: {diff:e} in {at}");

    // Resume: save after 2 updates, continue; a fresh optimizer loading the
    // state continues identically.
    let dir = out.join("checkpoint");
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("optimizer.safetensors");
    let (vs_a, a) = replica(world);
    let mut opt_a = ZeroAdamW::from_var_store(world.clone(), &vs_a, adamw()).unwrap();
    train_actor(&a, &mut opt_a, &shard, 0..2);
    opt_a.save(&state).unwrap();
    assert!(opt_a.rank_file(&state).exists() && !state.exists());
    let saved = weights(&vs_a);
    train_actor(&a, &mut opt_a, &shard, 2..3);

    let (vs_b, b) = actor(99);
    {
        let _g = tch::no_grad_guard();
        let mut vars: Vec<(String, Tensor)> = vs_b.variables().into_iter().collect();
        vars.sort_by(|x, y| x.0.cmp(&y.0));
        let mut offset = 0;
        for (_, mut t) in vars {
            let n = t.numel();
            t.copy_(&Tensor::from_slice(&saved[offset..offset + n]).view(t.size().as_slice()));
            offset += n;
        }
    }
    world.barrier().unwrap();
    let mut opt_b = ZeroAdamW::from_var_store(world.clone(), &vs_b, AdamWConfig::default()).unwrap();
    opt_b.load(&state).unwrap();
    assert_eq!(opt_b.config(), opt_a.config());
    train_actor(&b, &mut opt_b, &shard, 2..3);
    assert_eq!(weights(&vs_b), weights(&vs_a), "a resumed ZeRO-1 run continues exactly");

    // A state saved by another world size is refused with a clear message.
    let other = out.join(format!("other{}", world.rank()));
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("optimizer.zero1-rank0-of-3.safetensors"), b"").unwrap();
    let err = opt_b.load(&other.join("optimizer.safetensors")).unwrap_err().to_string();
    assert!(err.contains("saved by 3 ranks, this run has 2"), "{err}");
}

// ---- the tests (parent side) --------------------------------------------

fn run_ranks(scenario: &str) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let children = spawn_ranks(2, |_| {
        let mut cmd = this_test_binary("rank_main").unwrap();
        cmd.env(SCENARIO, scenario).env(OUT_DIR, out.path());
        cmd
    })
    .unwrap();
    let outputs: Vec<RankOutput> = wait_all(children, DEADLINE);
    for (rank, o) in outputs.iter().enumerate() {
        assert_eq!(o.code, Some(0), "rank {rank} failed:\n{}\n{}", o.stdout, o.stderr);
        assert!(o.stdout.contains("scenario done"), "rank {rank}:\n{}", o.stdout);
    }
    print!("{}", outputs[0].stdout);
    out
}

/// One process, the whole batch, plain AdamW: the reference.
fn single_process() -> (Vec<f32>, Vec<f32>, ActorMetrics, f64) {
    let (vs, model) = actor(3);
    let mut opt = AdamW::from_var_store(&vs, adamw());
    let whole = part(0..GROUPS * SAMPLES);
    let mut m = ActorMetrics::default();
    for u in 0..UPDATES {
        let old = whole.batch.logprobs(&model, 8, 2);
        let inputs = ActorInputs {
            batch: &whole.batch,
            old_logp: Some(&old),
            advantages: &whole.advantages,
            ref_logp: None,
        };
        m = update_actor(&model, &mut opt, &inputs, &LossSettings::default(), 0.0, &actor_config(u));
    }
    assert_eq!(m.steps, 4, "2 epochs × 2 mini-batches per update");
    let c = critic(5);
    let mut copt = AdamW::from_var_store(&c.vs, adamw());
    let mut explained = 0.0;
    for u in 0..UPDATES {
        let old = c.values(&whole.batch, 8);
        let inputs = CriticInputs { batch: &whole.batch, old_values: &old, returns: &whole.returns };
        explained = update_critic(&c, &mut copt, &inputs, &critic_config(u)).vf_explained_var;
    }
    (weights(&vs), weights(&c.vs), m, explained)
}

#[test]
fn two_ranks_on_halves_match_one_process_on_the_whole_batch() {
    tch::set_num_threads(1);
    let out = run_ranks("halves");
    let (actor_ref, critic_ref, metrics, explained) = single_process();
    let actor_before = weights(&actor(3).0);
    for name in ["actor", "critic"] {
        let (r0, r1) = (
            read_floats(&out.path().join(format!("{name}0"))),
            read_floats(&out.path().join(format!("{name}1"))),
        );
        assert_eq!(r0, r1, "{name}: the ranks' weights are bit-identical");
        let reference = if name == "actor" { &actor_ref } else { &critic_ref };
        let like = if name == "actor" { actor(3).0 } else { critic(5).vs };
        let (diff, at) = max_rel_diff(&r0, reference, &like);
        println!("{name}: 2 ranks vs 1 process, max relative difference {diff:e} ({at})");
        assert!(diff < 1e-5, "{name}: 2 ranks drifted from 1 process: {diff:e} in {at}");
    }
    let (moved, _) = max_rel_diff(&actor_ref, &actor_before, &actor(3).0);
    assert!(moved > 1e-2, "the updates moved the weights");
    let m = read_floats(&out.path().join("metrics0"));
    let close = |a: f32, b: f64| (f64::from(a) - b).abs() <= 1e-4 * b.abs() + 1e-6;
    assert!(close(m[0], metrics.pg_loss), "pg_loss {} vs {}", m[0], metrics.pg_loss);
    assert!(close(m[1], metrics.grad_norm), "grad_norm {} vs {}", m[1], metrics.grad_norm);
    assert!(close(m[2], metrics.entropy), "entropy {} vs {}", m[2], metrics.entropy);
    assert!(close(m[3], explained), "explained variance {} vs {explained}", m[3]);
}

#[test]
fn zero1_matches_the_replicated_optimizer_and_resumes_exactly() {
    tch::set_num_threads(1);
    let out = run_ranks("zero");
    let (r0, r1) = (read_floats(&out.path().join("zero0")), read_floats(&out.path().join("zero1")));
    assert_eq!(r0, r1, "the ranks' weights are bit-identical");
    let (actor_ref, ..) = single_process();
    let (diff, at) = max_rel_diff(&r0, &actor_ref, &actor(3).0);
    println!("ZeRO-1 on 2 ranks vs 1 process: max relative difference {diff:e} ({at})");
    assert!(diff < 1e-5, "ZeRO-1 on 2 ranks drifted from 1 process: {diff:e} in {at}");
}
