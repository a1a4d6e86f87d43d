//! `--set key=value`: dotted keys, typed values (TOML syntax: numbers, bools,
//! strings, lists), bare words taken as strings.

use super::run_config::one_line;
use crate::error::{ConfigError, Result};

/// Parses the value part of `--set`: anything TOML can read as a value
/// (`3`, `1e-4`, `true`, `"x"`, `[1, 2]`, `{ a = 1 }`), else, when it is
/// clearly a bare word (`Qwen/Qwen2.5-0.5B`, `cuda:0`, `cosine,grpo`), the
/// raw text as a string. Text that starts like TOML syntax (a quote, `[` or
/// `{`) but does not parse is an error, not a string: `["unterminated` is a
/// typo, not a stop string.
pub fn parse_value(raw: &str) -> Result<toml::Value> {
    let doc = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(t) if t.len() == 1 && t.contains_key("v") => Ok(t["v"].clone()),
        Ok(_) => Err(ConfigError::Value { raw: raw.into(), problem: "is more than one TOML value".into() }),
        Err(e) if raw.starts_with(['"', '\'', '[', '{']) => Err(ConfigError::Value {
            raw: raw.into(),
            problem: format!("is not a valid TOML value: {}", one_line(e.message())),
        }),
        Err(_) => Ok(toml::Value::String(raw.to_string())),
    }
}

/// Splits `key=value` into a checked dotted key and the raw value text.
pub fn parse_assignment(assignment: &str) -> Result<(String, &str)> {
    let Some((key, raw)) = assignment.split_once('=') else {
        return Err(set_error(assignment, "expected key=value".into()));
    };
    let key = key.trim();
    if key.is_empty() || key.split('.').any(|p| p.trim().is_empty()) {
        return Err(set_error(assignment, format!("'{key}' is not a dotted key")));
    }
    Ok((key.to_string(), raw.trim()))
}

/// Applies `key.path=value` to `table`, creating tables on the way. No
/// schema checks here: [`super::Layers`] does the typed, checked version.
pub fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<()> {
    let (key, raw) = parse_assignment(assignment)?;
    let parts: Vec<&str> = key.split('.').collect();
    let mut node = table;
    for part in &parts[..parts.len() - 1] {
        let entry = node.entry(part.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry {
            toml::Value::Table(t) => node = t,
            _ => return Err(set_error(assignment, format!("'{part}' is a value, not a section"))),
        }
    }
    let value = parse_value(raw).map_err(|e| set_error(assignment, e.to_string()))?;
    node.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// A `--set` error: the assignment as typed, then what is wrong with it.
pub(crate) fn set_error(assignment: &str, problem: String) -> ConfigError {
    ConfigError::Set { assignment: assignment.into(), problem }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_words_are_strings_and_toml_is_typed() {
        assert_eq!(parse_value("1e-4").unwrap(), toml::Value::Float(1e-4));
        assert_eq!(parse_value("[\"a\", \"b\"]").unwrap().as_array().unwrap().len(), 2);
        for word in ["Qwen/Qwen2.5-0.5B", "cuda:0", "cosine,grpo", "</answer>", "1.5.3", "my run"] {
            assert_eq!(parse_value(word).unwrap(), toml::Value::String(word.into()), "{word}");
        }
    }

    #[test]
    fn broken_toml_syntax_is_an_error_not_a_string() {
        for raw in ["[\"unterminated", "\"open", "{ a = ", "'x", "[1, 2"] {
            let e = parse_value(raw).unwrap_err().to_string();
            assert!(e.starts_with(&format!("'{raw}' is not a valid TOML value: ")), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        assert!(parse_value("1\nx = 2").is_err(), "one value only");
    }
}
