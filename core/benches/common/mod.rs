//! Shared set-up of the core benchmarks: thread count and random models.
#![allow(dead_code)]

use tch::{nn::VarStore, Device};
use tz_core::{Qwen2, Qwen2Config};

/// `TZ_BENCH_THREADS` (default 2, the CI machine's cores).
pub fn set_threads() -> i32 {
    let n = std::env::var("TZ_BENCH_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    tch::set_num_threads(n);
    n
}

/// Qwen2.5-0.5B's shape (24 layers, hidden 896, 14/2 heads, intermediate
/// 4864, vocabulary 151,936, tied) with random weights.
pub fn qwen25_05b_shape() -> Qwen2Config {
    let mut cfg = tz_core::presets::tiny_config();
    cfg.vocab_size = 151_936;
    cfg.hidden_size = 896;
    cfg.intermediate_size = 4864;
    cfg.num_hidden_layers = 24;
    cfg.num_attention_heads = 14;
    cfg.num_key_value_heads = 2;
    cfg.rope_theta = 1_000_000.0;
    cfg.max_position_embeddings = 32768;
    cfg
}

pub fn random_model(cfg: &Qwen2Config) -> (VarStore, Qwen2) {
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let model = Qwen2::new(&vs.root(), cfg);
    (vs, model)
}

/// `n` prompts of `len` random token ids below `vocab` (the same each call).
pub fn prompts(n: usize, len: usize, vocab: u32) -> Vec<Vec<u32>> {
    let mut x: u64 = 0x9E3779B97F4A7C15;
    (0..n)
        .map(|_| {
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    3 + (x % (vocab as u64 - 3)) as u32
                })
                .collect()
        })
        .collect()
}
