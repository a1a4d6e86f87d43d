//! `generation_config.json`: the sampling defaults and stop tokens a
//! checkpoint ships with (Qwen2.5-Instruct stops on both `<|im_end|>` and
//! `<|endoftext|>` through it).
//!
//! Field names are Hugging Face's; unknown keys are kept so the file round
//! trips when a checkpoint is saved again.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Context;

/// The subset of transformers' `GenerationConfig` a rollout uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<u32>,
    /// One id or a list, as in HF files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_token_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub do_sample: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_new_tokens: Option<u32>,
    /// Every other key (`transformers_version`, ...), written back unchanged.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl GenerationConfig {
    /// Reads a `generation_config.json`; errors name the file.
    pub fn from_file(path: &Path) -> crate::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid generation_config.json", path.display()))
    }

    /// Reads `dir/generation_config.json` if the checkpoint has one.
    pub fn from_dir(dir: &Path) -> crate::Result<Option<Self>> {
        let path = dir.join("generation_config.json");
        if path.is_file() {
            Self::from_file(&path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// End-of-sequence ids named here (may be empty).
    pub fn eos_token_ids(&self) -> Vec<u32> {
        token_id_list(self.eos_token_id.as_ref())
    }
}

/// HF writes `eos_token_id` as an int or a list of ints.
pub(crate) fn token_id_list(value: Option<&serde_json::Value>) -> Vec<u32> {
    match value {
        Some(serde_json::Value::Number(n)) => n.as_u64().map(|v| vec![v as u32]).unwrap_or_default(),
        Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_u64()).map(|v| v as u32).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Qwen2.5-0.5B-Instruct's file.
    const INSTRUCT: &str = r#"{
      "bos_token_id": 151643, "pad_token_id": 151643, "do_sample": true,
      "eos_token_id": [151645, 151643], "repetition_penalty": 1.1,
      "temperature": 0.7, "top_p": 0.8, "top_k": 20, "transformers_version": "4.37.0"
    }"#;

    #[test]
    fn instruct_generation_config_lists_both_stop_tokens_and_round_trips() {
        let g: GenerationConfig = serde_json::from_str(INSTRUCT).unwrap();
        assert_eq!(g.eos_token_ids(), vec![151645, 151643]);
        assert_eq!(g.top_k, Some(20));
        let back = serde_json::to_value(&g).unwrap();
        assert_eq!(back, serde_json::from_str::<serde_json::Value>(INSTRUCT).unwrap());
    }

    #[test]
    fn single_eos_id_and_missing_file() {
        let g: GenerationConfig = serde_json::from_str(r#"{"eos_token_id": 151643}"#).unwrap();
        assert_eq!(g.eos_token_ids(), vec![151643]);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(GenerationConfig::from_dir(dir.path()).unwrap(), None);
        std::fs::write(dir.path().join("generation_config.json"), "{oops").unwrap();
        let err = GenerationConfig::from_dir(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("generation_config.json is not a valid"), "{err:#}");
    }
}
