//! Arrow types for JSON rows, chosen as pyarrow would write them.
//!
//! Rows cross the plugin boundary as JSON, so the writer infers each
//! column's type from the values: integers are `int64`, other numbers
//! `double`, strings `string` (Utf8, not LargeUtf8), arrays `list` (List, not
//! LargeList) and objects `struct`. Types are merged over all rows (a null
//! takes the other side's type; int and float make float).
//!
//! `serde_json` objects forget key order, but struct types are equal in
//! pyarrow only with equal field order, so fields are ordered by the veRL /
//! TinyZero layout ([`CANONICAL_ORDER`]), then alphabetically.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema};
use serde_json::Value;

/// Field order of the TinyZero/veRL layout, at every nesting level:
/// `target, nums, data_source, prompt{role, content}, ability,
/// reward_model{style, ground_truth{target, numbers}}, extra_info{split, index}`,
/// then this project's `group, difficulty`.
pub const CANONICAL_ORDER: &[&str] = &[
    "target",
    "nums",
    "num1",
    "num2",
    "result",
    "operation",
    "data_source",
    "prompt",
    "role",
    "content",
    "ability",
    "reward_model",
    "style",
    "ground_truth",
    "numbers",
    "extra_info",
    "split",
    "index",
    "question",
    "answer",
    "group",
    "difficulty",
];

/// Orders field names: the canonical ones first, in that order, then the rest alphabetically.
pub fn field_order(a: &str, b: &str) -> Ordering {
    let rank = |name: &str| CANONICAL_ORDER.iter().position(|k| *k == name).unwrap_or(CANONICAL_ORDER.len());
    rank(a).cmp(&rank(b)).then_with(|| a.cmp(b))
}

/// The type of one JSON value (`None` when an array mixes incompatible types).
pub fn infer(value: &Value) -> Option<DataType> {
    Some(match value {
        Value::Null => DataType::Null,
        Value::Bool(_) => DataType::Boolean,
        Value::Number(n) if n.is_i64() => DataType::Int64,
        Value::Number(_) => DataType::Float64,
        Value::String(_) => DataType::Utf8,
        Value::Array(items) => {
            let mut item = DataType::Null;
            for v in items {
                item = merge(&item, &infer(v)?)?;
            }
            list_of(item)
        }
        Value::Object(map) => {
            let mut fields = Vec::with_capacity(map.len());
            for (k, v) in map {
                fields.push(Field::new(k, infer(v)?, true));
            }
            fields.sort_by(|a, b| field_order(a.name(), b.name()));
            DataType::Struct(fields.into())
        }
    })
}

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", item, true)))
}

/// The type that holds values of both types, or `None` when they conflict.
pub fn merge(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    Some(match (a, b) {
        (Null, t) | (t, Null) => t.clone(),
        (Int64, Float64) | (Float64, Int64) => Float64,
        (List(x), List(y)) => list_of(merge(x.data_type(), y.data_type())?),
        (Struct(x), Struct(y)) => {
            let mut fields: Vec<Field> = x.iter().map(|f| f.as_ref().clone()).collect();
            for f in y.iter() {
                match fields.iter_mut().find(|g| g.name() == f.name()) {
                    Some(g) => *g = Field::new(g.name(), merge(g.data_type(), f.data_type())?, true),
                    None => fields.push(f.as_ref().clone()),
                }
            }
            fields.sort_by(|a, b| field_order(a.name(), b.name()));
            Struct(Fields::from(fields))
        }
        (x, y) if x == y => x.clone(),
        _ => return None,
    })
}

/// The schema of a set of rows (JSON objects).
pub fn infer_schema(rows: &[Value]) -> Result<Schema, String> {
    let mut row_type = DataType::Struct(Fields::empty());
    for (i, row) in rows.iter().enumerate() {
        if !row.is_object() {
            return Err(format!("row {i} is not a JSON object: {}", truncate(&row.to_string())));
        }
        let t = infer(row).ok_or_else(|| format!("row {i}: a list mixes values of different types"))?;
        row_type = merge(&row_type, &t).ok_or_else(|| conflict(&row_type, &t, i))?;
    }
    match row_type {
        DataType::Struct(fields) => Ok(Schema::new(fields)),
        _ => unreachable!("rows are objects"),
    }
}

/// Names the first column whose types conflict.
fn conflict(have: &DataType, new: &DataType, row: usize) -> String {
    if let (DataType::Struct(a), DataType::Struct(b)) = (have, new) {
        for f in b.iter() {
            if let Some(g) = a.iter().find(|g| g.name() == f.name()) {
                if merge(g.data_type(), f.data_type()).is_none() {
                    return format!(
                        "row {row}: column '{}' is {} here but {} in earlier rows",
                        f.name(),
                        pyarrow_type(f.data_type()),
                        pyarrow_type(g.data_type())
                    );
                }
            }
        }
    }
    format!("row {row}: types conflict with earlier rows")
}

fn truncate(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_string(),
    }
}

/// A type as pyarrow prints it: `int64`, `string`, `list<item: int64>`,
/// `struct<role: string, content: string>`.
pub fn pyarrow_type(t: &DataType) -> String {
    match t {
        DataType::Null => "null".into(),
        DataType::Boolean => "bool".into(),
        DataType::Int8 => "int8".into(),
        DataType::Int16 => "int16".into(),
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        DataType::UInt8 => "uint8".into(),
        DataType::UInt16 => "uint16".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Utf8 => "string".into(),
        DataType::LargeUtf8 => "large_string".into(),
        DataType::List(f) => format!("list<{}: {}>", f.name(), pyarrow_type(f.data_type())),
        DataType::LargeList(f) => format!("large_list<{}: {}>", f.name(), pyarrow_type(f.data_type())),
        DataType::Struct(fields) => {
            let inner: Vec<String> =
                fields.iter().map(|f| format!("{}: {}", f.name(), pyarrow_type(f.data_type()))).collect();
            format!("struct<{}>", inner.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tinyzero_row_gets_tinyzero_types_in_tinyzero_order() {
        let row = json!({
            "extra_info": {"index": 0, "split": "train"},
            "reward_model": {"ground_truth": {"numbers": [1, 2], "target": 3}, "style": "rule"},
            "prompt": [{"content": "hi", "role": "user"}],
            "ability": "math", "data_source": "countdown", "nums": [1, 2], "target": 3,
            "group": "plus", "difficulty": 2
        });
        let schema = infer_schema(&[row]).unwrap();
        let columns: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| format!("{}: {}", f.name(), pyarrow_type(f.data_type())))
            .collect();
        assert_eq!(
            columns,
            [
                "target: int64",
                "nums: list<item: int64>",
                "data_source: string",
                "prompt: list<item: struct<role: string, content: string>>",
                "ability: string",
                "reward_model: struct<style: string, ground_truth: struct<target: int64, numbers: list<item: int64>>>",
                "extra_info: struct<split: string, index: int64>",
                "group: string",
                "difficulty: int64",
            ]
        );
    }

    #[test]
    fn merging_fills_nulls_and_widens_ints() {
        let schema =
            infer_schema(&[json!({"a": null, "b": 1, "c": []}), json!({"a": "x", "b": 1.5, "c": [2]})])
                .unwrap();
        let types: Vec<_> = schema.fields().iter().map(|f| pyarrow_type(f.data_type())).collect();
        assert_eq!(types, ["string", "double", "list<item: int64>"]);
    }

    #[test]
    fn conflicts_name_the_column_and_row() {
        let err = infer_schema(&[json!({"target": 1}), json!({"target": "one"})]).unwrap_err();
        assert_eq!(err, "row 1: column 'target' is string here but int64 in earlier rows");
        assert!(infer_schema(&[json!([1])]).unwrap_err().contains("not a JSON object"));
    }
}
