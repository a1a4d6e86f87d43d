//! Helpers shared by the integration tests: small random models and a
//! compact-countdown problem generator/checker (kept out of the library).
#![allow(dead_code)]

pub mod countdown;

use tch::{nn::VarStore, Device, Kind, Tensor};
use tz_core::{model::Qwen2, Qwen2Config};

/// One libtorch thread: these models are tiny, and the test harness already
/// runs tests in parallel on the CI's 2 cores (more OpenMP threads than cores
/// makes libtorch crawl).
pub fn one_thread() {
    tch::set_num_threads(1);
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
/// gives the same weights (variables are drawn in name order).
pub fn random_model(cfg: &Qwen2Config, seed: i64) -> (VarStore, Qwen2) {
    one_thread();
    tch::manual_seed(seed);
    let vs = VarStore::new(Device::Cpu);
    let model = Qwen2::new(&vs.root(), cfg);
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| {
        for (name, mut t) in vars {
            let noise = Tensor::randn(t.size(), (Kind::Float, Device::Cpu)) * 0.3;
            if name.ends_with("norm.weight") {
                t.copy_(&(noise + 1.0));
            } else {
                t.copy_(&noise);
            }
        }
    });
    (vs, model)
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double)).abs().max().double_value(&[])
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
