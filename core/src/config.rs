//! `config.json` of a Qwen2-architecture model (Qwen2.5, DeepSeek-R1-Distill-Qwen).
//!
//! Field names are exactly Hugging Face's, so the file round-trips: keys we do
//! not model are kept in `extra` and written back unchanged.
//!
//! transformers 5 writes RoPE settings as `rope_parameters: {rope_theta,
//! rope_type}` instead of a top-level `rope_theta` (and `dtype` instead of
//! `torch_dtype`). As in transformers, `rope_parameters` wins when present;
//! it is read into [`Qwen2Config::rope_theta`] and written back there.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The architecture hyper-parameters a Qwen2 forward pass needs.
// `remote = "Self"` makes the derives inherent functions, wrapped by the
// trait impls below that translate `rope_parameters`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct Qwen2Config {
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

impl<'de> Deserialize<'de> for Qwen2Config {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = serde_json::Map::deserialize(deserializer)?;
        let nested_theta = map.get("rope_parameters").and_then(|p| p.get("rope_theta")).cloned();
        if let Some(theta) = nested_theta {
            map.insert("rope_theta".into(), theta);
        }
        Qwen2Config::deserialize(serde_json::Value::Object(map)).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Qwen2Config {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let has_parameters = self.extra.get("rope_parameters").is_some_and(|p| p.is_object());
        if !has_parameters {
            return Qwen2Config::serialize(self, serializer);
        }
        // transformers 5 layout: theta lives in rope_parameters only.
        let mut cfg = self.clone();
        if let Some(params) = cfg.extra.get_mut("rope_parameters").and_then(|p| p.as_object_mut()) {
            params.insert("rope_theta".into(), self.rope_theta.into());
        }
        let mut value =
            Qwen2Config::serialize(&cfg, serde_json::value::Serializer).map_err(serde::ser::Error::custom)?;
        if let Some(map) = value.as_object_mut() {
            map.remove("rope_theta");
        }
        value.serialize(serializer)
    }
}

impl Qwen2Config {
    /// Reads `config.json`; errors name the file and the offending key.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let cfg: Qwen2Config = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid Qwen2 config.json", path.display()))?;
        cfg.validate().with_context(|| format!("{}", path.display()))?;
        Ok(cfg)
    }

    /// Checks the shape constraints the forward pass relies on, and that
    /// every size is within what any real model has, so a damaged file
    /// (`num_hidden_layers: 100000000`) is refused before anything is
    /// allocated. The ceilings are far above today's largest models.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (key, value, max) in [
            ("vocab_size", self.vocab_size, 1 << 22),
            ("hidden_size", self.hidden_size, 1 << 16),
            ("intermediate_size", self.intermediate_size, 1 << 18),
            ("num_hidden_layers", self.num_hidden_layers, 1 << 10),
            ("num_attention_heads", self.num_attention_heads, 1 << 10),
            ("num_key_value_heads", self.num_key_value_heads, 1 << 10),
            ("max_position_embeddings", self.max_position_embeddings, 1 << 24),
        ] {
            anyhow::ensure!(
                (1..=max).contains(&value),
                "{key} {value} is outside [1, {max}]: no real model has that (is the file damaged?)"
            );
        }
        anyhow::ensure!(
            self.hidden_size % self.num_attention_heads == 0,
            "hidden_size {} is not divisible by num_attention_heads {}",
            self.hidden_size,
            self.num_attention_heads
        );
        anyhow::ensure!(
            self.num_attention_heads % self.num_key_value_heads == 0,
            "num_attention_heads {} is not a multiple of num_key_value_heads {}",
            self.num_attention_heads,
            self.num_key_value_heads
        );
        anyhow::ensure!(
            self.hidden_act == "silu",
            "hidden_act '{}' is not supported (only silu)",
            self.hidden_act
        );
        // Scaled RoPE (yarn, dynamic, ...) changes the frequencies; we implement the plain one.
        for key in ["rope_parameters", "rope_scaling"] {
            let rope_type = self.extra.get(key).and_then(|p| p.get("rope_type").or_else(|| p.get("type")));
            if let Some(kind) = rope_type.and_then(|t| t.as_str()).filter(|t| *t != "default") {
                anyhow::bail!("{key}.rope_type '{kind}' is not supported (only the default RoPE)");
            }
        }
        if self.extra.get("use_sliding_window").and_then(|v| v.as_bool()) == Some(true) {
            anyhow::bail!("use_sliding_window: true is not supported (full attention only)");
        }
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
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
    pub fn num_parameters(&self) -> usize {
        let (h, i, v) = (self.hidden_size, self.intermediate_size, self.vocab_size);
        let kv = self.num_key_value_heads * self.head_dim();
        let attn = h * h + h + 2 * (h * kv + kv) + h * h;
        let mlp = 3 * h * i;
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
            let e = format!("{:#}", Qwen2Config::from_file(&path).unwrap_err());
            assert!(e.contains("config.json") && e.contains(says), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn qwen25_05b_config_parses_and_counts_494m_parameters() {
        let cfg: Qwen2Config = serde_json::from_str(QWEN25_05B).unwrap();
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
        let mut cfg: Qwen2Config = serde_json::from_str(TRANSFORMERS_5).unwrap();
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
    fn scaled_rope_and_sliding_window_are_rejected() {
        let mut v: serde_json::Value = serde_json::from_str(TRANSFORMERS_5).unwrap();
        v["rope_parameters"]["rope_type"] = serde_json::json!("yarn");
        let err = serde_json::from_value::<Qwen2Config>(v).unwrap().validate().unwrap_err();
        assert!(err.to_string().contains("rope_parameters.rope_type 'yarn' is not supported"), "{err}");
        let mut v: serde_json::Value = serde_json::from_str(QWEN25_05B).unwrap();
        v["use_sliding_window"] = serde_json::json!(true);
        assert!(serde_json::from_value::<Qwen2Config>(v).unwrap().validate().is_err());
    }

    #[test]
    fn unknown_keys_round_trip_unchanged() {
        let cfg: Qwen2Config = serde_json::from_str(QWEN25_05B).unwrap();
        let back: serde_json::Value = serde_json::to_value(&cfg).unwrap();
        let orig: serde_json::Value = serde_json::from_str(QWEN25_05B).unwrap();
        assert_eq!(back, orig);
    }
}
