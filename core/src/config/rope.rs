//! Rotary-embedding settings of a config: theta and the scaling type.
//!
//! Configs carry scaling as `rope_scaling` (transformers 4 files, e.g.
//! Llama 3.2: `{"rope_type": "llama3", "factor": 32.0, ...}`, older files say
//! `type`) or as `rope_parameters` (transformers 5). As in transformers'
//! `convert_rope_params_to_dict`, `rope_scaling` wins when both are present.
//! The frequencies themselves are computed in [`crate::model::rope`].

use serde_json::{Map, Value};

use super::ConfigError;

/// How the rotary frequencies are scaled (transformers' `ROPE_INIT_FUNCTIONS`).
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    Default,
    /// Every frequency divided by `factor` (position interpolation).
    Linear { factor: f64 },
    /// NTK-aware scaling that grows theta once a forward pass reaches past
    /// `max_position_embeddings` positions.
    Dynamic { factor: f64, max_position_embeddings: usize },
    /// Llama 3.1/3.2: low frequencies divided by `factor`, high ones kept,
    /// a smooth ramp between.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: usize,
    },
}

/// Everything the rotary embedding needs.
#[derive(Debug, Clone, PartialEq)]
pub struct RopeConfig {
    pub theta: f64,
    pub scaling: RopeScaling,
    pub head_dim: usize,
}

/// The scaling table of a config: `rope_scaling`, else `rope_parameters`.
fn scaling_table(extra: &Map<String, Value>) -> Option<(&'static str, &Map<String, Value>)> {
    ["rope_scaling", "rope_parameters"]
        .into_iter()
        .find_map(|key| extra.get(key).and_then(Value::as_object).map(|t| (key, t)))
}

impl RopeScaling {
    /// Reads the scaling type and its parameters. Types transformers has but
    /// we do not (yarn, longrope, ...) are an error naming the type.
    pub fn from_config(
        extra: &Map<String, Value>,
        max_position_embeddings: usize,
    ) -> Result<RopeScaling, ConfigError> {
        let Some((key, table)) = scaling_table(extra) else { return Ok(RopeScaling::Default) };
        let rope_type =
            table.get("rope_type").or_else(|| table.get("type")).and_then(Value::as_str).unwrap_or("default");
        let number = |name: &str| -> Result<f64, ConfigError> {
            table.get(name).and_then(Value::as_f64).ok_or_else(|| {
                ConfigError::Invalid(format!("{key}.{name} is required for rope_type '{rope_type}'"))
            })
        };
        if let Some(partial) =
            table.get("partial_rotary_factor").and_then(Value::as_f64).filter(|p| *p != 1.0)
        {
            return Err(ConfigError::Unsupported(format!(
                "{key}.partial_rotary_factor {partial} (only full rotary embeddings)"
            )));
        }
        let scaling = match rope_type {
            "default" => RopeScaling::Default,
            "linear" => RopeScaling::Linear { factor: number("factor")? },
            "dynamic" => RopeScaling::Dynamic { factor: number("factor")?, max_position_embeddings },
            "llama3" => RopeScaling::Llama3 {
                factor: number("factor")?,
                low_freq_factor: number("low_freq_factor")?,
                high_freq_factor: number("high_freq_factor")?,
                original_max_position_embeddings: table
                    .get("original_max_position_embeddings")
                    .and_then(Value::as_u64)
                    .map_or(max_position_embeddings, |v| v as usize),
            },
            other => {
                return Err(ConfigError::Unsupported(format!(
                    "{key}.rope_type '{other}' (supported: default, linear, dynamic, llama3)"
                )))
            }
        };
        Ok(scaling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(extra: Value) -> Result<RopeScaling, ConfigError> {
        RopeScaling::from_config(extra.as_object().unwrap(), 2048)
    }

    #[test]
    fn llama_3_2_rope_scaling_parses() {
        let scaling =
            parse(json!({"rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192, "rope_type": "llama3"}}))
            .unwrap();
        assert_eq!(
            scaling,
            RopeScaling::Llama3 {
                factor: 32.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: 8192
            }
        );
    }

    #[test]
    fn legacy_type_key_transformers_5_parameters_and_defaults() {
        assert_eq!(
            parse(json!({"rope_scaling": {"type": "linear", "factor": 2.0}})).unwrap(),
            RopeScaling::Linear { factor: 2.0 }
        );
        assert_eq!(
            parse(json!({"rope_parameters": {"rope_type": "dynamic", "factor": 4.0, "rope_theta": 1e4}}))
                .unwrap(),
            RopeScaling::Dynamic { factor: 4.0, max_position_embeddings: 2048 }
        );
        assert_eq!(parse(json!({"rope_scaling": null})).unwrap(), RopeScaling::Default);
        assert_eq!(
            parse(json!({"rope_parameters": {"rope_type": "default"}})).unwrap(),
            RopeScaling::Default
        );
    }

    #[test]
    fn unsupported_types_and_missing_factors_are_named() {
        let err =
            parse(json!({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}})).unwrap_err().to_string();
        assert!(err.contains("rope_scaling.rope_type 'yarn'"), "{err}");
        let err = parse(json!({"rope_parameters": {"rope_type": "linear"}})).unwrap_err().to_string();
        assert!(err.contains("rope_parameters.factor is required for rope_type 'linear'"), "{err}");
    }
}
