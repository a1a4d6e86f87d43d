//! The logic of `tzhost data gen|split-random|show` and `tzhost reward`.

pub mod gen;
pub mod reward;
pub mod show;
pub mod split;

use serde_json::{Map, Value};

/// Sets `extra_info.split` and `extra_info.index` (creating `extra_info` if needed).
pub(crate) fn set_split_and_index(row: &mut Value, split: &str, index: usize) {
    let Value::Object(map) = row else { return };
    let extra = map.entry("extra_info").or_insert_with(|| Value::Object(Map::new()));
    if !extra.is_object() {
        *extra = Value::Object(Map::new());
    }
    if let Value::Object(extra) = extra {
        extra.insert("split".into(), split.into());
        extra.insert("index".into(), index.into());
    }
}
