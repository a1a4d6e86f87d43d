//! Plugin configuration: JSON in, a typed struct out, and errors that name the
//! plugin, the key and (for a typo) the closest valid key.
//!
//! Range checks of a config's values use [`require`] and its shorthands, so
//! every plugin reports a bad value the same way:
//! `config key 'lam': must be in [0, 1], got 1.5` (the adapter prefixes the
//! plugin's name).

use serde_json::{Map, Value};

use crate::plugin::PluginConfig;

/// One documented config key, for `tzhost plugins` and `tzhost config show`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConfigKey {
    pub key: String,
    /// The default value as JSON text.
    pub default: String,
    /// The JSON Schema type, when the schema names one (`number`, `string`, ...).
    pub kind: String,
    /// The key's doc comment.
    pub doc: String,
}

/// `Err("config key 'key': <message>")` unless `ok`; the message is only
/// built on failure.
pub fn require(ok: bool, key: &str, message: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("config key '{key}': {}", message()))
    }
}

/// [`require`] that `value` is a finite number.
pub fn require_finite(key: &str, value: impl Into<f64> + Copy + std::fmt::Display) -> Result<(), String> {
    require(value.into().is_finite(), key, || format!("must be a finite number, got {value}"))
}

/// [`require`] that `value` lies in `range` (any range type: `0.0..=1.0`,
/// `1..`, `0.0..1.0`); the message writes the range in interval notation.
pub fn require_in<T, R>(key: &str, value: T, range: R) -> Result<(), String>
where
    T: PartialOrd + std::fmt::Display + Copy,
    R: std::ops::RangeBounds<T>,
{
    use std::ops::Bound::*;
    require(range.contains(&value), key, || {
        let text = match (range.start_bound(), range.end_bound()) {
            (Included(a), Included(b)) => format!("in [{a}, {b}]"),
            (Included(a), Excluded(b)) => format!("in [{a}, {b})"),
            (Excluded(a), Included(b)) => format!("in ({a}, {b}]"),
            (Excluded(a), Excluded(b)) => format!("in ({a}, {b})"),
            (Included(a), Unbounded) => format!(">= {a}"),
            (Excluded(a), Unbounded) => format!("> {a}"),
            (Unbounded, Included(b)) => format!("<= {b}"),
            (Unbounded, Excluded(b)) => format!("< {b}"),
            (Unbounded, Unbounded) => "any value".to_string(),
        };
        format!("must be {text}, got {value}")
    })
}

/// Parses a plugin's config from JSON text (empty text means all defaults).
pub fn parse_config<C: PluginConfig>(plugin: &str, json: &str) -> Result<C, String> {
    let value: Value = if json.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(json).map_err(|e| format!("plugin '{plugin}': config is not valid JSON: {e}"))?
    };
    let Value::Object(given) = &value else {
        return Err(format!("plugin '{plugin}': config must be a JSON object, got {value}"));
    };
    let known = default_keys::<C>();
    for key in given.keys() {
        if !known.iter().any(|k| k == key) {
            return Err(unknown_key_message(plugin, key, &known));
        }
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        format!("plugin '{plugin}': config key '{path}': {}", e.into_inner())
    })
}

/// "plugin 'x': unknown config key 'k' (did you mean 'key'?); valid keys: a, b".
pub fn unknown_key_message(plugin: &str, key: &str, known: &[String]) -> String {
    let hint = closest(key, known.iter().map(String::as_str))
        .map(|k| format!(" (did you mean '{k}'?)"))
        .unwrap_or_default();
    let valid = if known.is_empty() { "none".to_string() } else { known.join(", ") };
    format!("plugin '{plugin}': unknown config key '{key}'{hint}; valid keys: {valid}")
}

/// The candidate closest to `word`, if any is reasonably close.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// The top-level keys of the default config, in declaration order.
fn default_keys<C: PluginConfig>() -> Vec<String> {
    match serde_json::to_value(C::default()) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The default config as JSON text.
pub fn default_config_json<C: PluginConfig>() -> String {
    serde_json::to_string(&C::default()).unwrap_or_else(|_| "{}".into())
}

/// The config's JSON Schema as text.
pub fn config_schema_json<C: PluginConfig>() -> String {
    serde_json::to_string(&schemars::schema_for!(C)).unwrap_or_else(|_| "{}".into())
}

/// Documented keys from a descriptor's default config and schema.
pub fn describe_keys(default_json: &str, schema_json: &str) -> Vec<ConfigKey> {
    let defaults: Map<String, Value> = serde_json::from_str(default_json).unwrap_or_default();
    let schema: Value = serde_json::from_str(schema_json).unwrap_or(Value::Null);
    let props = schema.get("properties").and_then(Value::as_object);
    defaults
        .iter()
        .map(|(key, default)| {
            let prop = props.and_then(|p| p.get(key));
            let field =
                |name: &str| prop.and_then(|p| p.get(name)).and_then(Value::as_str).unwrap_or("").to_string();
            let kind = match prop.and_then(|p| p.get("type")) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("|"),
                _ => String::new(),
            };
            ConfigKey { key: key.clone(), default: default.to_string(), kind, doc: field("description") }
        })
        .collect()
}
