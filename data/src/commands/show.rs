//! `tzhost data show`: the schema, row count and first rows of a data file.

use std::fmt::Write;
use std::path::Path;

use crate::error::{DataError, Result};
use serde_json::Value;

use crate::rows::{batch_to_json, parquet_row_count, read_batches, read_jsonl};
use crate::schema::{field_order, infer_schema, pyarrow_type};

/// Longest string shown in a row before it is cut (prompts are long).
const MAX_SHOWN_CHARS: usize = 200;

/// A readable summary of a parquet or JSONL file, with its first `rows` rows.
pub fn show(path: &Path, rows: usize) -> Result<String> {
    let is_jsonl = matches!(path.extension().and_then(|e| e.to_str()), Some("jsonl" | "json" | "ndjson"));
    let (fields, count, first) = if is_jsonl {
        let all = read_jsonl(path)?;
        let schema = infer_schema(&all).map_err(DataError::Schema)?;
        let fields: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| format!("{}: {}", f.name(), pyarrow_type(f.data_type())))
            .collect();
        let count = all.len() as u64;
        (fields, count, all.into_iter().take(rows).collect::<Vec<_>>())
    } else {
        let count = parquet_row_count(path)?;
        let (schema, batches) = read_batches(path, Some(rows.max(1)))?;
        let fields = schema
            .fields()
            .iter()
            .map(|f| format!("{}: {}", f.name(), pyarrow_type(f.data_type())))
            .collect();
        let mut first = Vec::new();
        for b in &batches {
            first.extend(batch_to_json(b)?);
        }
        first.truncate(rows);
        (fields, count, first)
    };
    Ok(render(path, count, &fields, first).expect("writing to a String"))
}

fn render(path: &Path, count: u64, fields: &[String], first: Vec<Value>) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    writeln!(out, "{}", path.display())?;
    writeln!(out, "rows: {count}")?;
    writeln!(out, "schema:")?;
    for f in fields {
        writeln!(out, "  {f}")?;
    }
    if !first.is_empty() {
        writeln!(out, "first {} row{}:", first.len(), if first.len() == 1 { "" } else { "s" })?;
        for (i, row) in first.into_iter().enumerate() {
            writeln!(out, "  [{i}] {}", shorten(row))?;
        }
    }
    Ok(out)
}

/// The row as JSON with long strings cut to [`MAX_SHOWN_CHARS`].
fn shorten(mut value: Value) -> String {
    fn walk(v: &mut Value) {
        match v {
            Value::String(s) => {
                if let Some((cut, _)) = s.char_indices().nth(MAX_SHOWN_CHARS) {
                    let total = s.chars().count();
                    *s = format!("{}... ({total} chars)", &s[..cut]);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            Value::Object(map) => map.values_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    ordered_json(&value)
}

/// JSON text with object keys in the veRL layout's order (as the file has them).
fn ordered_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| field_order(a, b));
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("{}: {}", Value::from(k.as_str()), ordered_json(&map[*k])))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(ordered_json).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}
