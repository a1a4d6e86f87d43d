//! How far the weights moved between two snapshots: the relative L2 norm
//! ‖θ − θ_prev‖ / ‖θ_prev‖ over all parameters, and the same figure per layer
//! type (embeddings, attention q/k/v/o, MLP gate/up/down, norms, lm_head),
//! as seed 001's evaluation reports between checkpoints.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::error::{bail, ensure, Context, Result};

/// Parameter name → tensor (CPU, f32), sorted by name.
pub type Weights = Vec<(String, Tensor)>;

/// Deep CPU f32 copies of the parameters of `vs`.
pub fn current_weights(vs: &VarStore) -> Weights {
    let _g = tch::no_grad_guard();
    let mut out: Weights = vs
        .variables()
        .into_iter()
        .map(|(name, t)| (name, t.to_device(Device::Cpu).to_kind(Kind::Float).copy()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The weights of a model directory (every `*.safetensors` but the optimizer state).
pub fn read_weights(dir: &Path) -> Result<Weights> {
    let mut out = Weights::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".safetensors") && name != "optimizer.safetensors" {
            let tensors = Tensor::read_safetensors(entry.path())
                .with_context(|| format!("cannot read {}", entry.path().display()))?;
            out.extend(tensors.into_iter().map(|(n, t)| (n, t.to_kind(Kind::Float))));
        }
    }
    if out.is_empty() {
        bail!("{} holds no model weights (*.safetensors)", dir.display());
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The layer type of a Qwen2 parameter name (HF naming).
pub fn layer_type(name: &str) -> &'static str {
    const TYPES: [(&str, &str); 9] = [
        ("embed_tokens", "embeddings"),
        ("q_proj", "attn_q"),
        ("k_proj", "attn_k"),
        ("v_proj", "attn_v"),
        ("o_proj", "attn_o"),
        ("gate_proj", "mlp_gate"),
        ("up_proj", "mlp_up"),
        ("down_proj", "mlp_down"),
        ("lm_head", "lm_head"),
    ];
    for (needle, kind) in TYPES {
        if name.contains(needle) {
            return kind;
        }
    }
    if name.contains("norm") {
        "norms"
    } else {
        "other"
    }
}

/// Relative L2 change, overall and per layer type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightChange {
    pub overall: f64,
    pub by_type: BTreeMap<String, f64>,
    /// ‖θ − θ_prev‖ (absolute), for reference.
    pub abs_l2: f64,
    /// Parameters compared (names present in both snapshots).
    pub parameters: usize,
}

/// Compares `current` with `previous` over the names both hold (a tied model
/// has no `lm_head` in one and none in the other). Shapes must agree.
pub fn weight_change(previous: &[(String, Tensor)], current: &[(String, Tensor)]) -> Result<WeightChange> {
    let _g = tch::no_grad_guard();
    let prev: BTreeMap<&str, &Tensor> = previous.iter().map(|(n, t)| (n.as_str(), t)).collect();
    // Per type: (Σ‖Δ‖², Σ‖θ_prev‖²).
    let mut sums: BTreeMap<&'static str, (f64, f64)> = BTreeMap::new();
    let mut parameters = 0;
    for (name, cur) in current {
        let Some(old) = prev.get(name.as_str()) else { continue };
        ensure!(
            old.size() == cur.size(),
            "weight change: {name} has shape {:?} before and {:?} after",
            old.size(),
            cur.size()
        );
        let old = old.to_device(Device::Cpu).to_kind(Kind::Double);
        let cur = cur.to_device(Device::Cpu).to_kind(Kind::Double);
        let diff = (&cur - &old).square().sum(Kind::Double).double_value(&[]);
        let base = old.square().sum(Kind::Double).double_value(&[]);
        let e = sums.entry(layer_type(name)).or_default();
        e.0 += diff;
        e.1 += base;
        parameters += 1;
    }
    ensure!(parameters > 0, "weight change: the two snapshots share no parameter names");
    let (d, b) = sums.values().fold((0.0, 0.0), |a, v| (a.0 + v.0, a.1 + v.1));
    ensure!(b > 0.0, "weight change: every earlier parameter is zero");
    Ok(WeightChange {
        overall: d.sqrt() / b.sqrt(),
        // A type whose earlier weights are all zero has no relative change.
        by_type: sums
            .iter()
            .filter(|(_, v)| v.1 > 0.0)
            .map(|(k, v)| (k.to_string(), v.0.sqrt() / v.1.sqrt()))
            .collect(),
        abs_l2: d.sqrt(),
        parameters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(values: &[f32]) -> Tensor {
        Tensor::from_slice(values)
    }

    #[test]
    fn layer_types_follow_hf_names() {
        assert_eq!(layer_type("model.embed_tokens.weight"), "embeddings");
        assert_eq!(layer_type("model.layers.0.self_attn.q_proj.bias"), "attn_q");
        assert_eq!(layer_type("model.layers.3.self_attn.o_proj.weight"), "attn_o");
        assert_eq!(layer_type("model.layers.1.mlp.down_proj.weight"), "mlp_down");
        assert_eq!(layer_type("model.layers.1.post_attention_layernorm.weight"), "norms");
        assert_eq!(layer_type("model.norm.weight"), "norms");
        assert_eq!(layer_type("lm_head.weight"), "lm_head");
    }

    #[test]
    fn relative_l2_on_known_tensors() {
        // embeddings: [3, 4] -> [3, 4] + [0, 1]: |Δ| = 1, |θ| = 5.
        // q_proj: [1, 0] -> [1, 1]: |Δ| = 1, |θ| = 1. norm: unchanged.
        let prev = vec![
            ("model.embed_tokens.weight".to_string(), t(&[3.0, 4.0])),
            ("model.layers.0.self_attn.q_proj.weight".to_string(), t(&[1.0, 0.0])),
            ("model.norm.weight".to_string(), t(&[2.0])),
        ];
        let cur = vec![
            ("model.embed_tokens.weight".to_string(), t(&[3.0, 5.0])),
            ("model.layers.0.self_attn.q_proj.weight".to_string(), t(&[1.0, 1.0])),
            ("model.norm.weight".to_string(), t(&[2.0])),
            // Only in the current weights (e.g. an untied head against a tied file): ignored.
            ("lm_head.weight".to_string(), t(&[9.0])),
        ];
        let c = weight_change(&prev, &cur).unwrap();
        assert!((c.by_type["embeddings"] - 0.2).abs() < 1e-12);
        assert!((c.by_type["attn_q"] - 1.0).abs() < 1e-12);
        assert_eq!(c.by_type["norms"], 0.0);
        assert!(!c.by_type.contains_key("lm_head"));
        // Overall: sqrt(1 + 1) / sqrt(25 + 1 + 4).
        assert!((c.overall - (2.0f64 / 30.0).sqrt()).abs() < 1e-12, "{}", c.overall);
        assert!((c.abs_l2 - 2.0f64.sqrt()).abs() < 1e-12);
        assert_eq!(c.parameters, 3);
    }

    #[test]
    fn identical_weights_have_zero_change_and_mismatches_are_errors() {
        let a = vec![("model.layers.0.mlp.up_proj.weight".to_string(), t(&[1.0, -2.0]))];
        let c = weight_change(&a, &a).unwrap();
        assert_eq!((c.overall, c.by_type["mlp_up"]), (0.0, 0.0));
        let b = vec![("model.layers.0.mlp.up_proj.weight".to_string(), t(&[1.0, -2.0, 3.0]))];
        assert!(weight_change(&a, &b).unwrap_err().to_string().contains("up_proj.weight has shape"));
        let other = vec![("x".to_string(), t(&[1.0]))];
        assert!(weight_change(&a, &other).unwrap_err().to_string().contains("share no parameter"));
    }
}
