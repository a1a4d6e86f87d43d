//! `config.json` of a Qwen2-architecture model (Qwen2.5, DeepSeek-R1-Distill-Qwen).
//!
//! Field names are exactly Hugging Face's, so the file round-trips: keys we do
//! not model are kept in `extra` and written back unchanged.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The architecture hyper-parameters a Qwen2 forward pass needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

    /// Checks the shape constraints the forward pass relies on.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.num_attention_heads > 0 && self.num_key_value_heads > 0,
            "head counts must be positive"
        );
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
    fn qwen25_05b_config_parses_and_counts_494m_parameters() {
        let cfg: Qwen2Config = serde_json::from_str(QWEN25_05B).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.head_dim(), 64);
        assert_eq!(cfg.eos_token_ids(), vec![151643]);
        // The published figure is 494.03M (shared/reference/rust-facts.md §4.3).
        assert_eq!(cfg.num_parameters() / 10_000, 49_403);
    }

    #[test]
    fn unknown_keys_round_trip_unchanged() {
        let cfg: Qwen2Config = serde_json::from_str(QWEN25_05B).unwrap();
        let back: serde_json::Value = serde_json::to_value(&cfg).unwrap();
        let orig: serde_json::Value = serde_json::from_str(QWEN25_05B).unwrap();
        assert_eq!(back, orig);
    }
}
