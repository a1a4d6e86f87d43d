//! Helpers shared by the integration tests: small random models and a
//! compact-countdown problem generator/checker (kept out of the library).
#![allow(dead_code)]

pub mod countdown;

use tch::{nn::VarStore, Device, Kind, Tensor};
use tz_core::model::init::{fill_from_seed, Fill};
use tz_core::{model::Qwen2, Qwen2Config};
pub use tz_testkit::Tol;

/// libtorch's thread count for the tests: `OMP_NUM_THREADS` when set (so the
/// suite can be run with 1 and with 2 threads, which sum in different
/// orders), else 1: these models are tiny, and the test harness already runs
/// tests in parallel on the CI's 2 cores (more OpenMP threads than cores
/// makes libtorch crawl).
pub fn test_threads() {
    let n =
        std::env::var("OMP_NUM_THREADS").ok().and_then(|v| v.trim().parse().ok()).filter(|&n: &i32| n > 0);
    tch::set_num_threads(n.unwrap_or(1));
}

/// A 2-layer GQA config over the tiny preset's 22-token vocabulary.
pub fn small_config(tied: bool) -> Qwen2Config {
    let mut cfg = tz_core::presets::tiny_config();
    cfg.num_hidden_layers = 2;
    cfg.hidden_size = 32;
    cfg.intermediate_size = 64;
    cfg.num_attention_heads = 4;
    cfg.num_key_value_heads = 2;
    cfg.tie_word_embeddings = tied;
    cfg
}

/// A model whose weights are N(0, 0.3) (norm weights around 1), so logits are
/// far from uniform and masking or position mistakes show up. The same seed
/// gives the same weights, whatever other test threads draw from libtorch's
/// global generator (the values come from a seeded host-side stream).
pub fn random_model(cfg: &Qwen2Config, seed: i64) -> (VarStore, Qwen2) {
    test_threads();
    let vs = VarStore::new(Device::Cpu);
    let model = Qwen2::new(&vs.root(), cfg);
    fill_from_seed(&vs, seed as u64, noisy_fill);
    (vs, model)
}

/// N(0, 0.3) everywhere, around 1 for norm weights ([`random_model`]'s weights).
pub fn noisy_fill(name: &str) -> Fill {
    let mean = if name.ends_with("norm.weight") { 1.0 } else { 0.0 };
    Fill::Normal { mean, std: 0.3 }
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double)).abs().max().double_value(&[])
}

/// The values of a tensor, flattened, as f64.
pub fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).expect("a CPU tensor")
}

/// [`tz_testkit::assert_all_close`] for tensors (scale: the largest |want|).
#[track_caller]
pub fn assert_tensors_close(what: &str, got: &Tensor, want: &Tensor, tol: Tol) {
    assert_eq!(got.size(), want.size(), "{what}: shapes");
    tz_testkit::assert_all_close(what, &values(got), &values(want), tol);
}

/// Two f32 computations of `cfg`'s forward pass over `seq` positions
/// ([`Tol::f32_forward`]).
pub fn forward_tol(cfg: &Qwen2Config, seq: usize) -> Tol {
    Tol::f32_forward(cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size, seq)
}

/// The forward pass's roundings, then the backward's (the same reductions
/// transposed) and the loss's over the vocabulary at each position.
pub fn backward_tol(cfg: &Qwen2Config, seq: usize) -> Tol {
    Tol { rel: 2.0 * forward_tol(cfg, seq).rel + Tol::f32_ops(cfg.vocab_size * seq).rel, abs: 0.0 }
}

pub fn ids(rows: &[&[i64]]) -> Tensor {
    let t = rows[0].len() as i64;
    let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, t])
}

/// The repository's Python (with torch + transformers), or a clear panic.
pub fn python() -> std::path::PathBuf {
    let py = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run scripts/setup.sh (it creates the PyTorch + transformers venv)",
        py.display()
    );
    py
}
