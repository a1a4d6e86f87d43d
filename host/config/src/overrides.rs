//! `--set key=value`: dotted keys, typed values (TOML syntax: numbers, bools,
//! strings, lists), bare words taken as strings.

use anyhow::{bail, Result};

/// Parses the value part of `--set`: anything TOML can read as a value
/// (`3`, `1e-4`, `true`, `"x"`, `[1, 2]`, `{ a = 1 }`), else the raw text as
/// a string.
pub fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

/// Splits `key=value` into a checked dotted key and the raw value text.
pub fn parse_assignment(assignment: &str) -> Result<(String, &str)> {
    let Some((key, raw)) = assignment.split_once('=') else {
        bail!("--set '{assignment}': expected key=value");
    };
    let key = key.trim();
    if key.is_empty() || key.split('.').any(|p| p.trim().is_empty()) {
        bail!("--set '{assignment}': '{key}' is not a dotted key");
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
            _ => bail!("--set '{assignment}': '{part}' is a value, not a section"),
        }
    }
    node.insert(parts[parts.len() - 1].to_string(), parse_value(raw));
    Ok(())
}
