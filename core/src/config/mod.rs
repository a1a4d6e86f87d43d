//! `config.json` of a supported decoder family (Qwen2/Qwen2.5, Llama,
//! Qwen3, Mistral; see [`family`]).
//!
//! Field names are exactly Hugging Face's, so the file round-trips: keys we do
//! not model as fields (`model_type`, `head_dim`, `attention_bias`,
//! `rope_scaling`, `sliding_window`, ...) are kept in `extra`, written back
//! unchanged, and read by [`ModelConfig::architecture`], which resolves what
//! the decoder needs.
//!
//! transformers 5 writes RoPE settings as `rope_parameters: {rope_theta,
//! rope_type}` instead of a top-level `rope_theta` (and `dtype` instead of
//! `torch_dtype`). As in transformers, `rope_parameters` wins when present;
//! it is read into [`ModelConfig::rope_theta`] and written back there.

mod family;
mod rope;

use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Context;

pub use family::{Architecture, Family};
pub use rope::{RopeConfig, RopeScaling};

/// Why a config cannot be run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("model_type '{model_type}' is not supported (supported: {supported})")]
    UnsupportedModelType { model_type: String, supported: String },
    #[error("architecture '{class}' is not supported (supported: {supported})")]
    UnsupportedArchitecture { class: String, supported: String },
    #[error("{0} is not supported")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
}

/// The old name, from when Qwen2 was the only family.
pub type Qwen2Config = ModelConfig;

/// The hyper-parameters of a decoder checkpoint (any supported family).
// `remote = "Self"` makes the derives inherent functions, wrapped by the
// trait impls below that translate `rope_parameters`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct ModelConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    #[serde(default = "default_max_position_embeddings")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<u32>,
    /// One id or a list, as in HF configs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_dtype: Option<String>,
    /// Every other key (`architectures`, `model_type`, `sliding_window`, ...),
    /// kept so a saved config.json equals the loaded one.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn default_max_position_embeddings() -> usize {
    32768
}
fn default_rope_theta() -> f64 {
    10000.0
}
fn default_rms_norm_eps() -> f64 {
    1e-6
}
fn default_hidden_act() -> String {
    "silu".into()
}

impl<'de> Deserialize<'de> for ModelConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = serde_json::Map::deserialize(deserializer)?;
        if !map.contains_key("num_key_value_heads") {
            // Each configuration class has its own default (Llama: one KV
            // head per query head; Qwen: 32; Mistral: 8).
            let heads = map.get("num_attention_heads").and_then(|v| v.as_u64()).unwrap_or(0) as usize;
            let kv = Family::of_config(&map).map_or(heads, |f| f.default_kv_heads(heads));
            map.insert("num_key_value_heads".into(), kv.into());
        }
        let nested_theta = map.get("rope_parameters").and_then(|p| p.get("rope_theta")).cloned();
        if let Some(theta) = nested_theta {
            map.insert("rope_theta".into(), theta);
        }
        ModelConfig::deserialize(serde_json::Value::Object(map)).map_err(serde::de::Error::custom)
    }
}

impl Serialize for ModelConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let has_parameters = self.extra.get("rope_parameters").is_some_and(|p| p.is_object());
        if !has_parameters {
            return ModelConfig::serialize(self, serializer);
        }
        // transformers 5 layout: theta lives in rope_parameters only.
        let mut cfg = self.clone();
        if let Some(params) = cfg.extra.get_mut("rope_parameters").and_then(|p| p.as_object_mut()) {
            params.insert("rope_theta".into(), self.rope_theta.into());
        }
        let mut value =
            ModelConfig::serialize(&cfg, serde_json::value::Serializer).map_err(serde::ser::Error::custom)?;
        if let Some(map) = value.as_object_mut() {
            map.remove("rope_theta");
        }
        value.serialize(serializer)
    }
}

impl ModelConfig {
    /// Reads `config.json`; errors name the file and the offending key.
    pub fn from_file(path: &Path) -> crate::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let cfg: ModelConfig = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid model config.json", path.display()))?;
        cfg.validate().with_context(|| format!("{}", path.display()))?;
        Ok(cfg)
    }

    /// Checks that the family is supported and the shapes fit together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        // Every size within what any real model has, so a damaged file
        // (`num_hidden_layers: 100000000`) is refused before anything is
        // allocated. The ceilings are far above today's largest models.
        for (key, value, max) in [
            ("vocab_size", self.vocab_size, 1 << 22),
            ("hidden_size", self.hidden_size, 1 << 16),
            ("intermediate_size", self.intermediate_size, 1 << 18),
            ("num_hidden_layers", self.num_hidden_layers, 1 << 10),
            ("num_attention_heads", self.num_attention_heads, 1 << 10),
            ("num_key_value_heads", self.num_key_value_heads, 1 << 10),
            ("max_position_embeddings", self.max_position_embeddings, 1 << 24),
        ] {
            if !(1..=max).contains(&value) {
                return invalid(format!(
                    "{key} {value} is outside [1, {max}]: no real model has that (is the file damaged?)"
                ));
            }
        }
        let arch = self.architecture()?;
        // Without an explicit head_dim the heads split hidden_size (Llama
        // checks it always).
        let explicit_head_dim = self.extra.get("head_dim").is_some_and(|v| !v.is_null());
        if (!explicit_head_dim || arch.family == Family::Llama)
            && !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return invalid(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !self.num_attention_heads.is_multiple_of(self.num_key_value_heads) {
            return invalid(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_attention_heads, self.num_key_value_heads
            ));
        }
        if arch.head_dim % 2 != 0 {
            return invalid(format!("head_dim {} must be even for rotary embeddings", arch.head_dim));
        }
        if self.hidden_act != "silu" {
            return Err(ConfigError::Unsupported(format!("hidden_act '{}' (only silu)", self.hidden_act)));
        }
        Ok(())
    }

    /// The family and its switches (biases, q/k norm, RoPE scaling, sliding
    /// windows), or why this config cannot be run.
    pub fn architecture(&self) -> Result<Architecture, ConfigError> {
        Architecture::resolve(self)
    }

    /// The decoder family (`model_type`).
    pub fn family(&self) -> Result<Family, ConfigError> {
        Family::of_config(&self.extra)
    }

    /// Per-head width: `head_dim` when the config gives it, else the family's
    /// default (`hidden_size / num_attention_heads`; 128 for Qwen3).
    pub fn head_dim(&self) -> usize {
        self.architecture().map(|a| a.head_dim).unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// End-of-sequence ids named in config.json (may be empty).
    pub fn eos_token_ids(&self) -> Vec<u32> {
        match &self.eos_token_id {
            Some(serde_json::Value::Number(n)) => n.as_u64().map(|v| vec![v as u32]).unwrap_or_default(),
            Some(serde_json::Value::Array(a)) => {
                a.iter().filter_map(|v| v.as_u64()).map(|v| v as u32).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Total parameter count (embeddings included; the head once if tied).
    /// Counts the Qwen2 layout for a config whose family is unsupported.
    pub fn num_parameters(&self) -> usize {
        let (h, i, v) = (self.hidden_size, self.intermediate_size, self.vocab_size);
        let d = self.head_dim();
        let (q, kv) = (self.num_attention_heads * d, self.num_key_value_heads * d);
        let (qkv_bias, o_bias, mlp_bias, qk_norm) = match self.architecture() {
            Ok(a) => (a.qkv_bias, a.o_bias, a.mlp_bias, a.qk_norm),
            Err(_) => (true, false, false, false),
        };
        let mut attn = h * q + 2 * h * kv + q * h;
        if qkv_bias {
            attn += q + 2 * kv;
        }
        if o_bias {
            attn += h;
        }
        if qk_norm {
            attn += 2 * d;
        }
        let mlp = 3 * h * i + if mlp_bias { 2 * i + h } else { 0 };
        let layer = attn + mlp + 2 * h;
        let head = if self.tie_word_embeddings { 0 } else { v * h };
        v * h + self.num_hidden_layers * layer + h + head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QWEN25_05B: &str = r#"{
      "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
      "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
      "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24,
      "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24,
      "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
      "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
      "transformers_version": "4.40.1", "use_cache": true, "use_sliding_window": false,
      "vocab_size": 151936
    }"#;

    #[test]
    fn absurd_sizes_are_refused_before_anything_is_allocated() {
        // (key, value written in the file, what the message says). A float
        // where an integer belongs gets serde's message with line and column.
        for (key, value, says) in [
            ("num_hidden_layers", "100000000", "num_hidden_layers 100000000 is outside [1, 1024]"),
            ("vocab_size", "0", "vocab_size 0 is outside"),
            ("hidden_size", "1e8", "floating point"),
        ] {
            let text = QWEN25_05B.replacen(
                &format!("\"{key}\": "),
                &format!("\"{key}\": {value}, \"was_{key}\": "),
                1,
            );
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("config.json");
            std::fs::write(&path, text).unwrap();
            let e = format!("{:#}", ModelConfig::from_file(&path).unwrap_err());
            assert!(e.contains("config.json") && e.contains(says), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn qwen25_05b_config_parses_and_counts_494m_parameters() {
        let cfg: ModelConfig = serde_json::from_str(QWEN25_05B).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.head_dim(), 64);
        assert_eq!(cfg.eos_token_ids(), vec![151643]);
        // 494.03M: transformers' count for Qwen/Qwen2.5-0.5B (its model card rounds it to 0.49B).
        assert_eq!(cfg.num_parameters() / 10_000, 49_403);
    }

    /// config.json as transformers 5 writes it (`save_pretrained`).
    const TRANSFORMERS_5: &str = r#"{
      "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": null,
      "dtype": "float32", "eos_token_id": null, "hidden_act": "silu", "hidden_size": 40,
      "intermediate_size": 72, "layer_types": ["full_attention", "full_attention"],
      "max_position_embeddings": 128, "max_window_layers": 28, "model_type": "qwen2",
      "num_attention_heads": 5, "num_hidden_layers": 2, "num_key_value_heads": 1,
      "pad_token_id": null, "rms_norm_eps": 1e-06,
      "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"},
      "sliding_window": null, "tie_word_embeddings": false, "transformers_version": "5.23.0",
      "use_cache": true, "use_sliding_window": false, "vocab_size": 97
    }"#;

    #[test]
    fn transformers_5_rope_parameters_set_rope_theta_and_round_trip() {
        let mut cfg: ModelConfig = serde_json::from_str(TRANSFORMERS_5).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.rope_theta, 1e6);
        assert_eq!(cfg.eos_token_ids(), Vec::<u32>::new());
        let back = serde_json::to_value(&cfg).unwrap();
        let mut want: serde_json::Value = serde_json::from_str(TRANSFORMERS_5).unwrap();
        // `null` token ids are left out (transformers reads a missing id as None).
        want.as_object_mut().unwrap().retain(|k, _| k != "bos_token_id" && k != "eos_token_id");
        assert_eq!(back, want);
        // A changed theta is written where transformers 5 reads it.
        cfg.rope_theta = 5e5;
        let back = serde_json::to_value(&cfg).unwrap();
        assert_eq!(back["rope_parameters"]["rope_theta"], serde_json::json!(5e5));
        assert!(back.get("rope_theta").is_none());
    }

    #[test]
    fn unsupported_rope_types_are_rejected_and_sliding_windows_resolved() {
        let mut v: serde_json::Value = serde_json::from_str(TRANSFORMERS_5).unwrap();
        v["rope_parameters"]["rope_type"] = serde_json::json!("yarn");
        let err = serde_json::from_value::<ModelConfig>(v).unwrap().validate().unwrap_err();
        assert!(err.to_string().contains("rope_parameters.rope_type 'yarn' (supported:"), "{err}");
        // Qwen2.5: the window exists only with use_sliding_window, from max_window_layers on.
        let mut v: serde_json::Value = serde_json::from_str(QWEN25_05B).unwrap();
        assert_eq!(
            serde_json::from_value::<ModelConfig>(v.clone())
                .unwrap()
                .architecture()
                .unwrap()
                .sliding_window(),
            None
        );
        v["use_sliding_window"] = serde_json::json!(true);
        v["max_window_layers"] = serde_json::json!(22);
        let arch = serde_json::from_value::<ModelConfig>(v).unwrap().architecture().unwrap();
        assert_eq!(arch.layer_windows.iter().filter(|w| w.is_some()).count(), 2);
        assert_eq!(arch.layer_windows[23], Some(32768));
    }

    /// Published config.json files of the other families (keys trimmed to
    /// what matters): their switches, head_dim and parameter counts.
    #[test]
    fn llama_qwen3_and_mistral_configs_resolve_their_architecture() {
        let llama32_1b = serde_json::json!({
            "architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 128000,
            "eos_token_id": [128001, 128008, 128009], "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048,
            "intermediate_size": 8192, "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
            "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
            "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                             "original_max_position_embeddings": 8192, "rope_type": "llama3"},
            "rope_theta": 500000.0, "tie_word_embeddings": true, "vocab_size": 128256
        });
        let cfg: ModelConfig = serde_json::from_value(llama32_1b).unwrap();
        cfg.validate().unwrap();
        let arch = cfg.architecture().unwrap();
        assert_eq!(
            (arch.family, arch.head_dim, arch.qkv_bias, arch.qk_norm),
            (Family::Llama, 64, false, false)
        );
        assert!(matches!(
            arch.rope.scaling,
            RopeScaling::Llama3 { original_max_position_embeddings: 8192, .. }
        ));
        assert_eq!(cfg.eos_token_ids(), [128001, 128008, 128009]);
        // 1.24B as published.
        assert_eq!(cfg.num_parameters() / 10_000_000, 123);

        // Qwen3-0.6B: head_dim 128 with hidden 1024 and 16 heads (q_proj is 1024 -> 2048).
        let qwen3 = serde_json::json!({
            "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "head_dim": 128, "hidden_size": 1024,
            "intermediate_size": 3072, "max_position_embeddings": 40960, "max_window_layers": 28,
            "model_type": "qwen3", "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8,
            "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000, "sliding_window": null,
            "tie_word_embeddings": true, "use_sliding_window": false, "vocab_size": 151936
        });
        let cfg: ModelConfig = serde_json::from_value(qwen3).unwrap();
        cfg.validate().unwrap();
        let arch = cfg.architecture().unwrap();
        assert_eq!(
            (arch.family, arch.head_dim, arch.qk_norm, arch.sliding_window()),
            (Family::Qwen3, 128, true, None)
        );
        // 0.6B as published (596M with the tied head).
        assert_eq!(cfg.num_parameters() / 1_000_000, 596);

        // Mistral-7B-v0.1: no num_key_value_heads default needed, a 4096 window on every layer.
        let mistral = serde_json::json!({
            "architectures": ["MistralForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
            "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32,
            "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
            "sliding_window": 4096, "tie_word_embeddings": false, "vocab_size": 32000
        });
        let cfg: ModelConfig = serde_json::from_value(mistral).unwrap();
        let arch = cfg.architecture().unwrap();
        assert_eq!(arch.layer_windows, vec![Some(4096); 32]);
        assert_eq!(cfg.num_parameters() / 10_000_000, 724);
    }

    #[test]
    fn missing_kv_heads_take_the_family_default() {
        let llama: ModelConfig = serde_json::from_value(serde_json::json!({"model_type": "llama",
            "vocab_size": 10, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
            "num_attention_heads": 4}))
        .unwrap();
        assert_eq!(llama.num_key_value_heads, 4);
    }

    #[test]
    fn unknown_keys_round_trip_unchanged() {
        let cfg: ModelConfig = serde_json::from_str(QWEN25_05B).unwrap();
        let back: serde_json::Value = serde_json::to_value(&cfg).unwrap();
        let orig: serde_json::Value = serde_json::from_str(QWEN25_05B).unwrap();
        assert_eq!(back, orig);
    }
}
