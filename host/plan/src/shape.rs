//! The architecture numbers memory depends on, read from a Hugging Face
//! `config.json` without loading weights.
//!
//! The reader is tolerant of the decoder families (Qwen2, Qwen3, Llama,
//! Mistral): `head_dim` when given (else `hidden_size / num_attention_heads`),
//! `num_key_value_heads` defaulting to the head count, `tie_word_embeddings`
//! (default false, as in transformers' decoder configs), q/k/v biases (Qwen2
//! always; others when `attention_bias`), `mlp_bias`, q/k norms (Qwen3), and
//! a sequence-classification head (`*ForSequenceClassification`, e.g. a
//! reward model) instead of the LM head. Unknown keys are ignored.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::PlanError;

/// What sits on top of the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "labels")]
pub enum Head {
    /// A vocabulary projection (`*ForCausalLM`).
    CausalLm,
    /// `score.weight` [labels, hidden] (`*ForSequenceClassification`).
    Classifier(u64),
}

/// A decoder-only transformer's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelShape {
    /// `model_type` (`qwen2`, `llama`, ...), empty when the file has none.
    pub family: String,
    pub vocab_size: u64,
    pub hidden_size: u64,
    pub intermediate_size: u64,
    pub num_layers: u64,
    pub num_heads: u64,
    pub num_kv_heads: u64,
    pub head_dim: u64,
    /// The LM head reuses the embedding matrix.
    pub tied_embeddings: bool,
    /// Biases on q/k/v (Qwen2) ...
    pub qkv_bias: bool,
    /// ... and on o_proj (Llama-style `attention_bias`).
    pub o_bias: bool,
    pub mlp_bias: bool,
    /// Per-head RMSNorm on queries and keys (Qwen3).
    pub qk_norm: bool,
    pub head: Head,
}

fn key_u64(map: &Map<String, Value>, key: &str) -> Result<Option<u64>, PlanError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| PlanError::BadKey { key: key.into(), why: format!("{v} is not a whole number") }),
    }
}

fn required(map: &Map<String, Value>, key: &str) -> Result<u64, PlanError> {
    key_u64(map, key)?.ok_or_else(|| PlanError::MissingKey(key.into()))
}

fn flag(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// transformers' `num_labels`: the size of `id2label`, else `num_labels`, else 2.
fn num_labels(map: &Map<String, Value>) -> u64 {
    map.get("id2label")
        .and_then(Value::as_object)
        .map(|m| m.len() as u64)
        .or_else(|| map.get("num_labels").and_then(Value::as_u64))
        .unwrap_or(2)
}

/// Sizes beyond these are typos (1e8 layers), not models: refused before any
/// arithmetic so a plan never reports nonsense.
const LIMITS: [(&str, u64); 6] = [
    ("vocab_size", 1 << 24),
    ("hidden_size", 1 << 17),
    ("intermediate_size", 1 << 19),
    ("num_hidden_layers", 1 << 12),
    ("num_attention_heads", 1 << 12),
    ("head_dim", 1 << 12),
];

impl ModelShape {
    /// Reads the shape from the text of a `config.json`.
    pub fn from_config_json(text: &str) -> Result<ModelShape, PlanError> {
        let value: Value = serde_json::from_str(text).map_err(|e| PlanError::Json(e.to_string()))?;
        let map = value.as_object().ok_or_else(|| PlanError::Json("not a JSON object".into()))?;
        Self::from_config_map(map)
    }

    /// Reads the shape from a parsed `config.json` object.
    pub fn from_config_map(map: &Map<String, Value>) -> Result<ModelShape, PlanError> {
        let family = map.get("model_type").and_then(Value::as_str).unwrap_or_default().to_string();
        let hidden_size = required(map, "hidden_size")?;
        let num_heads = required(map, "num_attention_heads")?;
        for (key, limit) in LIMITS {
            if let Some(v) = key_u64(map, key)? {
                if v == 0 || v > limit {
                    return Err(PlanError::BadKey {
                        key: key.into(),
                        why: format!("{v} is out of range 1..={limit}"),
                    });
                }
            }
        }
        let num_kv_heads = key_u64(map, "num_key_value_heads")?.unwrap_or(num_heads);
        if num_kv_heads == 0 || num_heads % num_kv_heads != 0 {
            return Err(PlanError::BadKey {
                key: "num_key_value_heads".into(),
                why: format!("{num_kv_heads} does not divide num_attention_heads {num_heads}"),
            });
        }
        let head_dim = match key_u64(map, "head_dim")? {
            Some(d) => d,
            None if hidden_size % num_heads == 0 => hidden_size / num_heads,
            None => {
                return Err(PlanError::BadKey {
                    key: "num_attention_heads".into(),
                    why: format!(
                        "{num_heads} does not divide hidden_size {hidden_size} and there is no head_dim"
                    ),
                })
            }
        };
        let classifier = map.get("architectures").and_then(Value::as_array).is_some_and(|a| {
            a.iter().filter_map(Value::as_str).any(|s| s.ends_with("ForSequenceClassification"))
        });
        let qwen2 = family == "qwen2";
        let attention_bias = flag(map, "attention_bias");
        Ok(ModelShape {
            vocab_size: required(map, "vocab_size")?,
            hidden_size,
            intermediate_size: required(map, "intermediate_size")?,
            num_layers: required(map, "num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim,
            tied_embeddings: flag(map, "tie_word_embeddings"),
            qkv_bias: qwen2 || attention_bias,
            o_bias: !qwen2 && attention_bias,
            mlp_bias: flag(map, "mlp_bias"),
            qk_norm: family == "qwen3",
            head: if classifier { Head::Classifier(num_labels(map)) } else { Head::CausalLm },
            family,
        })
    }

    /// Width of the query projection (`num_heads × head_dim`; not always `hidden_size`).
    pub fn q_dim(&self) -> u64 {
        self.num_heads * self.head_dim
    }

    /// Width of the key (and value) projection.
    pub fn kv_dim(&self) -> u64 {
        self.num_kv_heads * self.head_dim
    }

    /// Parameters of one decoder layer.
    pub fn layer_parameters(&self) -> u64 {
        let (h, q, kv, i) = (self.hidden_size, self.q_dim(), self.kv_dim(), self.intermediate_size);
        let attention = h * q + 2 * h * kv + q * h;
        let attention_bias = if self.qkv_bias { q + 2 * kv } else { 0 } + if self.o_bias { h } else { 0 };
        let qk_norm = if self.qk_norm { 2 * self.head_dim } else { 0 };
        let mlp = 3 * h * i + if self.mlp_bias { 2 * i + h } else { 0 };
        attention + attention_bias + qk_norm + mlp + 2 * h
    }

    /// The decoder without any head: embedding, layers, final norm. This is
    /// also what a critic copies from the policy.
    pub fn backbone_parameters(&self) -> u64 {
        self.vocab_size * self.hidden_size + self.num_layers * self.layer_parameters() + self.hidden_size
    }

    /// All parameters, the head counted once when tied.
    pub fn parameters(&self) -> u64 {
        let head = match self.head {
            Head::CausalLm if self.tied_embeddings => 0,
            Head::CausalLm => self.vocab_size * self.hidden_size,
            Head::Classifier(labels) => labels * self.hidden_size,
        };
        self.backbone_parameters() + head
    }

    /// The largest single parameter tensor (the embedding or the LM head).
    pub fn largest_tensor(&self) -> u64 {
        let layer_max = (self.intermediate_size * self.hidden_size).max(self.q_dim() * self.hidden_size);
        (self.vocab_size * self.hidden_size).max(layer_max)
    }

    /// Bytes of keys and values one position costs in the KV cache.
    pub fn kv_bytes_per_token(&self, bytes_per_value: u64) -> u64 {
        2 * self.num_layers * self.kv_dim() * bytes_per_value
    }

    /// One line for humans: `qwen2, 494.0M parameters, 24 layers, ...`.
    pub fn summary(&self) -> String {
        let head = match self.head {
            Head::CausalLm if self.tied_embeddings => "tied LM head".to_string(),
            Head::CausalLm => "untied LM head".to_string(),
            Head::Classifier(n) => format!("classifier head ({n} label{})", if n == 1 { "" } else { "s" }),
        };
        format!(
            "{}{:.1}M parameters, {} layers, hidden {}, {}/{} heads x {}, intermediate {}, vocab {}, {head}",
            if self.family.is_empty() { String::new() } else { format!("{}, ", self.family) },
            self.parameters() as f64 / 1e6,
            self.num_layers,
            self.hidden_size,
            self.num_heads,
            self.num_kv_heads,
            self.head_dim,
            self.intermediate_size,
            self.vocab_size,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QWEN25_05B: &str = r#"{
      "architectures": ["Qwen2ForCausalLM"], "hidden_size": 896, "intermediate_size": 4864,
      "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24,
      "num_key_value_heads": 2, "tie_word_embeddings": true, "vocab_size": 151936
    }"#;

    #[test]
    fn qwen25_05b_counts_494m_parameters_and_12288_kv_bytes_per_token() {
        let s = ModelShape::from_config_json(QWEN25_05B).unwrap();
        assert_eq!(s.head_dim, 64);
        // The published 494.03M (and the core's own count of the same config).
        assert_eq!(s.parameters() / 10_000, 49_403);
        assert_eq!(s.kv_bytes_per_token(2), 12_288);
    }

    #[test]
    fn explicit_head_dim_and_qk_norm_of_qwen3_are_read() {
        let text = r#"{"model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072,
            "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
            "num_hidden_layers": 28, "vocab_size": 151936, "tie_word_embeddings": true}"#;
        let s = ModelShape::from_config_json(text).unwrap();
        assert_eq!((s.q_dim(), s.kv_dim()), (2048, 1024));
        assert!(s.qk_norm && !s.qkv_bias);
        // Qwen3-0.6B: 596M with the tied head counted once (0.6B on its card).
        assert_eq!(s.parameters() / 1_000_000, 596);
    }

    #[test]
    fn llama_without_kv_heads_or_tie_key_defaults_like_transformers() {
        let text = r#"{"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
            "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100, "attention_bias": true}"#;
        let s = ModelShape::from_config_json(text).unwrap();
        assert_eq!(s.num_kv_heads, 4);
        assert!(!s.tied_embeddings && s.qkv_bias && s.o_bias);
        let layer = 4 * 64 * 64 + (3 * 64 + 64) + 3 * 64 * 128 + 2 * 64;
        assert_eq!(s.parameters(), 2 * 100 * 64 + 2 * layer + 64);
    }

    #[test]
    fn a_sequence_classifier_has_a_score_head_instead_of_the_lm_head() {
        let text = r#"{"architectures": ["Qwen2ForSequenceClassification"], "model_type": "qwen2",
            "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
            "num_hidden_layers": 2, "vocab_size": 100, "num_labels": 1}"#;
        let s = ModelShape::from_config_json(text).unwrap();
        assert_eq!(s.head, Head::Classifier(1));
        assert_eq!(s.parameters(), s.backbone_parameters() + 64);
    }

    #[test]
    fn missing_and_absurd_keys_are_one_line_errors_naming_the_key() {
        let err =
            ModelShape::from_config_json(r#"{"hidden_size": 64, "num_attention_heads": 4}"#).unwrap_err();
        assert_eq!(err.to_string(), "missing key 'vocab_size'");
        let text = QWEN25_05B.replace("\"num_hidden_layers\": 24", "\"num_hidden_layers\": 100000000");
        let err = ModelShape::from_config_json(&text).unwrap_err();
        assert!(err.to_string().contains("'num_hidden_layers'"), "{err}");
        let text = QWEN25_05B.replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3");
        assert!(ModelShape::from_config_json(&text).unwrap_err().to_string().contains("num_key_value_heads"));
    }
}
