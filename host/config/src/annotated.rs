//! The resolved config as TOML with each value's origin as a comment
//! (`tzhost config show`). The output is itself a valid config file.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::layers::{Origin, Resolved};

/// Renders `resolved` as commented TOML, in schema order.
pub fn render(resolved: &Resolved) -> String {
    let mut out =
        String::from("# resolved run config; each value's origin (default < file < flag) in a comment\n");
    render_table(&resolved.table(), &resolved.origins, "", &mut out);
    out
}

fn render_table(table: &Table, origins: &BTreeMap<String, Origin>, prefix: &str, out: &mut String) {
    let path = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    let is_section = |v: &Value| matches!(v, Value::Table(t) if !t.is_empty());
    let rows: Vec<(String, String)> = table
        .iter()
        .filter(|(_, v)| !is_section(v))
        .map(|(k, v)| {
            let origin = origins.get(&path(k)).map(ToString::to_string).unwrap_or_else(|| "default".into());
            (format!("{} = {}", key_repr(k), v), origin)
        })
        .collect();
    if !prefix.is_empty() && (!rows.is_empty() || !table.values().any(is_section)) {
        out.push_str(&format!("\n[{prefix}]\n"));
    }
    let width = rows.iter().map(|(l, _)| l.len()).filter(|&w| w <= 48).max().unwrap_or(0);
    for (line, origin) in rows {
        out.push_str(&format!("{line:<width$}  # {origin}\n"));
    }
    for (k, v) in table {
        if let Value::Table(t) = v {
            if !t.is_empty() {
                render_table(t, origins, &path(k), out);
            }
        }
    }
}

/// A bare key when TOML allows one, else a quoted key.
fn key_repr(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        format!("{:?}", k)
    }
}

/// Every leaf with its value and origin, for `config show --json`.
pub fn to_json(resolved: &Resolved) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (key, value) in super::layers::flatten(&resolved.table()) {
        let origin = resolved.origins.get(&key).cloned().unwrap_or(Origin::Default);
        map.insert(
            key,
            serde_json::json!({
                "value": serde_json::to_value(&value).unwrap_or(serde_json::Value::Null),
                "origin": origin.class(),
                "source": origin.to_string(),
            }),
        );
    }
    serde_json::Value::Object(map)
}
