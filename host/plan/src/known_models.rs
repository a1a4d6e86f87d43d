//! Shapes of published models, so a run can be planned before its model is
//! downloaded (and in tests, where no Hugging Face cache exists). Each entry
//! carries the keys of the model's `config.json` that the planner reads,
//! copied from the files on the Hugging Face hub; a cached `config.json`
//! always wins over this table.

use serde_json::{json, Value};

use crate::shape::ModelShape;

/// (hub ids sharing the architecture, their config.json keys)
fn table() -> Vec<(&'static [&'static str], Value)> {
    vec![
        (
            &["Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-0.5B-Instruct"],
            json!({"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
                   "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
                   "tie_word_embeddings": true}),
        ),
        (
            &["Qwen/Qwen2.5-1.5B", "Qwen/Qwen2.5-1.5B-Instruct", "Qwen/Qwen2.5-Math-1.5B"],
            json!({"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 1536, "intermediate_size": 8960,
                   "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
                   "tie_word_embeddings": true}),
        ),
        (
            &["deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"],
            json!({"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 1536, "intermediate_size": 8960,
                   "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
                   "tie_word_embeddings": false}),
        ),
        (
            &["Qwen/Qwen2.5-3B", "Qwen/Qwen2.5-3B-Instruct"],
            json!({"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 11008,
                   "num_hidden_layers": 36, "num_attention_heads": 16, "num_key_value_heads": 2,
                   "tie_word_embeddings": true}),
        ),
        (
            &["Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-Math-7B"],
            json!({"model_type": "qwen2", "vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944,
                   "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
                   "tie_word_embeddings": false}),
        ),
        (
            // Qwen2ForSequenceClassification on Qwen2.5-Math-7B-Instruct.
            &["nvidia/AceMath-7B-RM"],
            json!({"model_type": "qwen2", "architectures": ["Qwen2ForSequenceClassification"],
                   "vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944,
                   "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
                   "num_labels": 1, "tie_word_embeddings": false}),
        ),
        (
            &["Qwen/Qwen3-0.6B", "Qwen/Qwen3-0.6B-Base"],
            json!({"model_type": "qwen3", "vocab_size": 151936, "hidden_size": 1024, "intermediate_size": 3072,
                   "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8,
                   "head_dim": 128, "tie_word_embeddings": true}),
        ),
        (
            &["Qwen/Qwen3-1.7B", "Qwen/Qwen3-1.7B-Base"],
            json!({"model_type": "qwen3", "vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 6144,
                   "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8,
                   "head_dim": 128, "tie_word_embeddings": true}),
        ),
        (
            &["TinyLlama/TinyLlama-1.1B-Chat-v1.0", "TinyLlama/TinyLlama_v1.1"],
            json!({"model_type": "llama", "vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 5632,
                   "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4,
                   "tie_word_embeddings": false}),
        ),
        (
            &["meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.2-1B-Instruct"],
            json!({"model_type": "llama", "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192,
                   "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
                   "head_dim": 64, "tie_word_embeddings": true}),
        ),
        (
            &["meta-llama/Llama-3.2-3B", "meta-llama/Llama-3.2-3B-Instruct"],
            json!({"model_type": "llama", "vocab_size": 128256, "hidden_size": 3072, "intermediate_size": 8192,
                   "num_hidden_layers": 28, "num_attention_heads": 24, "num_key_value_heads": 8,
                   "head_dim": 128, "tie_word_embeddings": true}),
        ),
        (
            &["mistralai/Mistral-7B-v0.1", "mistralai/Mistral-7B-Instruct-v0.2"],
            json!({"model_type": "mistral", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336,
                   "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                   "tie_word_embeddings": false}),
        ),
    ]
}

/// The built-in shape of a hub id (`org/name`, any case, `@revision` ignored).
pub fn known_shape(hub_id: &str) -> Option<ModelShape> {
    let id = hub_id.split('@').next().unwrap_or(hub_id);
    table().into_iter().find(|(ids, _)| ids.iter().any(|k| k.eq_ignore_ascii_case(id))).map(|(_, cfg)| {
        let map = cfg.as_object().expect("table entries are objects");
        ModelShape::from_config_map(map).expect("built-in shapes are valid")
    })
}

/// Every hub id with a built-in shape.
pub fn known_ids() -> Vec<&'static str> {
    table().into_iter().flat_map(|(ids, _)| ids.iter().copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_shape_parses_and_has_its_published_size() {
        // (id, parameters in millions as the model cards state them, rounded)
        let published = [
            ("Qwen/Qwen2.5-0.5B", 494),
            ("Qwen/Qwen2.5-1.5B", 1544),
            ("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", 1777),
            ("Qwen/Qwen2.5-3B", 3086),
            ("Qwen/Qwen2.5-7B", 7616),
            ("Qwen/Qwen3-0.6B", 596),
            ("TinyLlama/TinyLlama-1.1B-Chat-v1.0", 1100),
            ("meta-llama/Llama-3.2-1B", 1236),
            ("mistralai/Mistral-7B-v0.1", 7242),
        ];
        for id in known_ids() {
            assert!(known_shape(id).is_some(), "{id}");
        }
        for (id, millions) in published {
            let p = known_shape(id).unwrap().parameters() as f64 / 1e6;
            assert!((p - millions as f64).abs() / (millions as f64) < 0.005, "{id}: {p:.1}M vs {millions}M");
        }
        assert_eq!(known_shape("qwen/qwen2.5-0.5b@main").unwrap().hidden_size, 896);
        assert!(known_shape("nobody/unknown").is_none());
    }
}
