//! Which decoder family a `config.json` describes, and the handful of
//! switches the families differ in, resolved once from the config.
//!
//! | family  | q/k/v bias      | o bias          | MLP bias   | q/k RMSNorm | sliding window                         |
//! |---------|-----------------|-----------------|------------|-------------|----------------------------------------|
//! | qwen2   | always          | never           | never      | no          | `use_sliding_window` + `layer_types`   |
//! | llama   | `attention_bias`| `attention_bias`| `mlp_bias` | no          | none                                   |
//! | qwen3   | `attention_bias`| `attention_bias`| never      | per head    | `use_sliding_window` + `layer_types`   |
//! | mistral | never           | never           | never      | no          | `sliding_window` on every layer        |
//!
//! (transformers 5: `modeling_{qwen2,llama,qwen3,mistral}.py` and their
//! configuration files.) Everything else (RMSNorm, SwiGLU, rotary embeddings,
//! grouped-query attention, tied or untied head) is shared.

use serde_json::{Map, Value};

use super::rope::{RopeConfig, RopeScaling};
use super::ConfigError;

/// A supported decoder family, named by `config.json`'s `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Qwen2 / Qwen2.5, DeepSeek-R1-Distill-Qwen.
    Qwen2,
    /// Llama 2/3.x, TinyLlama, SmolLM2, DeepSeek-R1-Distill-Llama.
    Llama,
    /// Qwen3 (dense).
    Qwen3,
    /// Mistral 7B and its derivatives.
    Mistral,
}

impl Family {
    pub const ALL: [Family; 4] = [Family::Qwen2, Family::Llama, Family::Qwen3, Family::Mistral];

    /// The `model_type` string of `config.json`.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Qwen2 => "qwen2",
            Family::Llama => "llama",
            Family::Qwen3 => "qwen3",
            Family::Mistral => "mistral",
        }
    }

    /// The class-name prefix of `architectures` (`LlamaForCausalLM`, ...).
    pub fn class_prefix(self) -> &'static str {
        match self {
            Family::Qwen2 => "Qwen2",
            Family::Llama => "Llama",
            Family::Qwen3 => "Qwen3",
            Family::Mistral => "Mistral",
        }
    }

    /// "qwen2, llama, qwen3, mistral", for error messages.
    pub fn supported_list() -> String {
        Family::ALL.iter().map(|f| f.model_type()).collect::<Vec<_>>().join(", ")
    }

    fn from_model_type(model_type: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.model_type() == model_type)
    }

    /// `LlamaForCausalLM`, `Qwen3ForSequenceClassification`, `MistralModel`, ...
    fn from_architecture(class: &str) -> Option<Family> {
        let head = class.find("For").map_or(class.strip_suffix("Model").unwrap_or(class), |i| &class[..i]);
        Family::ALL.into_iter().find(|f| f.class_prefix() == head)
    }

    /// The family of a config: `model_type` when present, else the first of
    /// `architectures`, else Qwen2 (configs written before families existed,
    /// such as hand-made test configs, name neither).
    pub fn of_config(extra: &Map<String, Value>) -> Result<Family, ConfigError> {
        if let Some(model_type) = extra.get("model_type").and_then(Value::as_str) {
            return Family::from_model_type(model_type).ok_or_else(|| ConfigError::UnsupportedModelType {
                model_type: model_type.to_string(),
                supported: Family::supported_list(),
            });
        }
        let first_class = extra.get("architectures").and_then(|a| a.get(0)).and_then(Value::as_str);
        match first_class {
            Some(class) => {
                Family::from_architecture(class).ok_or_else(|| ConfigError::UnsupportedArchitecture {
                    class: class.to_string(),
                    supported: Family::supported_list(),
                })
            }
            None => Ok(Family::Qwen2),
        }
    }

    /// `num_key_value_heads` when config.json leaves it out (each
    /// configuration class has its own default).
    pub(super) fn default_kv_heads(self, num_attention_heads: usize) -> usize {
        match self {
            Family::Llama => num_attention_heads,
            Family::Qwen2 | Family::Qwen3 => 32,
            Family::Mistral => 8,
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.model_type())
    }
}

/// What the decoder needs to know beyond the sizes: resolved from a config by
/// [`super::ModelConfig::architecture`].
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    pub family: Family,
    /// Per-head width (explicit `head_dim`, else `hidden_size / heads`;
    /// Qwen3's class default is 128).
    pub head_dim: usize,
    pub qkv_bias: bool,
    pub o_bias: bool,
    pub mlp_bias: bool,
    /// Qwen3's RMSNorm over each query and key head before RoPE.
    pub qk_norm: bool,
    pub rope: RopeConfig,
    /// Per layer: the sliding window (a query sees itself and the
    /// `window - 1` tokens before it), or `None` for full attention.
    pub layer_windows: Vec<Option<usize>>,
}

fn flag(extra: &Map<String, Value>, key: &str) -> bool {
    extra.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn positive(extra: &Map<String, Value>, key: &str) -> Result<Option<usize>, ConfigError> {
    match extra.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => Ok(Some(n as usize)),
            _ => Err(ConfigError::Invalid(format!("{key} must be a positive integer, got {v}"))),
        },
    }
}

impl Architecture {
    pub(super) fn resolve(cfg: &super::ModelConfig) -> Result<Architecture, ConfigError> {
        let extra = &cfg.extra;
        let family = Family::of_config(extra)?;
        let explicit_head_dim = positive(extra, "head_dim")?;
        let head_dim = match (explicit_head_dim, family) {
            (Some(d), _) => d,
            // Qwen3Config's default is a fixed 128, not hidden / heads.
            (None, Family::Qwen3) => 128,
            (None, _) => cfg.hidden_size / cfg.num_attention_heads.max(1),
        };
        let attention_bias = flag(extra, "attention_bias");
        let (qkv_bias, o_bias, mlp_bias) = match family {
            Family::Qwen2 => (true, false, false),
            Family::Llama => (attention_bias, attention_bias, flag(extra, "mlp_bias")),
            Family::Qwen3 => (attention_bias, attention_bias, false),
            Family::Mistral => (false, false, false),
        };
        let rope = RopeConfig {
            theta: cfg.rope_theta,
            scaling: RopeScaling::from_config(extra, cfg.max_position_embeddings)?,
            head_dim,
        };
        let layer_windows = Self::layer_windows(family, extra, cfg.num_hidden_layers)?;
        Ok(Architecture {
            family,
            head_dim,
            qkv_bias,
            o_bias,
            mlp_bias,
            qk_norm: family == Family::Qwen3,
            rope,
            layer_windows,
        })
    }

    /// Sliding windows as each configuration class derives them.
    fn layer_windows(
        family: Family,
        extra: &Map<String, Value>,
        layers: usize,
    ) -> Result<Vec<Option<usize>>, ConfigError> {
        let window = positive(extra, "sliding_window")?;
        match family {
            Family::Llama => Ok(vec![None; layers]),
            Family::Mistral => Ok(vec![window; layers]),
            Family::Qwen2 | Family::Qwen3 => {
                // Qwen2Config/Qwen3Config: the window exists only with
                // use_sliding_window; which layers use it comes from
                // layer_types, else from max_window_layers.
                let window = window.filter(|_| flag(extra, "use_sliding_window"));
                let Some(window) = window else { return Ok(vec![None; layers]) };
                match extra.get("layer_types").and_then(Value::as_array) {
                    Some(types) => {
                        if types.len() != layers {
                            return Err(ConfigError::Invalid(format!(
                                "layer_types has {} entries for {layers} layers",
                                types.len()
                            )));
                        }
                        types
                            .iter()
                            .map(|t| match t.as_str() {
                                Some("full_attention") => Ok(None),
                                Some("sliding_attention") => Ok(Some(window)),
                                _ => Err(ConfigError::Invalid(format!(
                                    "layer_types entry {t} is not full_attention or sliding_attention"
                                ))),
                            })
                            .collect()
                    }
                    None => {
                        let first_sliding =
                            extra.get("max_window_layers").and_then(Value::as_u64).unwrap_or(28);
                        Ok((0..layers).map(|i| (i as u64 >= first_sliding).then_some(window)).collect())
                    }
                }
            }
        }
    }

    /// The one sliding window of the model, if any layer uses it.
    pub fn sliding_window(&self) -> Option<usize> {
        self.layer_windows.iter().flatten().next().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn family(extra: Value) -> Result<Family, ConfigError> {
        Family::of_config(extra.as_object().unwrap())
    }

    #[test]
    fn family_comes_from_model_type_then_architectures() {
        assert_eq!(family(json!({"model_type": "llama"})).unwrap(), Family::Llama);
        assert_eq!(
            family(json!({"architectures": ["Qwen3ForSequenceClassification"]})).unwrap(),
            Family::Qwen3
        );
        assert_eq!(family(json!({"architectures": ["MistralModel"]})).unwrap(), Family::Mistral);
        assert_eq!(family(json!({})).unwrap(), Family::Qwen2);
        // model_type wins over the class name.
        assert_eq!(
            family(json!({"model_type": "mistral", "architectures": ["LlamaForCausalLM"]})).unwrap(),
            Family::Mistral
        );
    }

    #[test]
    fn an_unsupported_model_type_names_itself_and_the_supported_ones() {
        let err = family(json!({"model_type": "gpt2"})).unwrap_err().to_string();
        assert_eq!(err, "model_type 'gpt2' is not supported (supported: qwen2, llama, qwen3, mistral)");
        let err = family(json!({"architectures": ["Gemma2ForCausalLM"]})).unwrap_err().to_string();
        assert!(err.contains("architecture 'Gemma2ForCausalLM' is not supported"), "{err}");
    }
}
