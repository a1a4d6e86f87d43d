//! metrics.jsonl: one JSON object per logged point, `step` first, then the
//! metrics by name; a non-finite value is written as `null`. Each line is
//! flushed, so a killed run keeps every finished step.

use std::path::Path;

use serde_json::{json, Value};
use tz_run_dir::JsonlWriter;

use super::OutputSink;
use crate::error::Result;
use crate::step::metrics::Metrics;

pub struct MetricsJsonl {
    out: JsonlWriter,
}

impl MetricsJsonl {
    /// Appends to `path` (a resumed run continues its file).
    pub fn append(path: &Path) -> Result<MetricsJsonl> {
        Ok(MetricsJsonl { out: JsonlWriter::append(path)? })
    }
}

/// The line of a point.
pub fn line(step: u64, metrics: &Metrics) -> Value {
    let mut obj = serde_json::Map::new();
    obj.insert("step".into(), json!(step));
    for (k, v) in metrics {
        obj.insert(k.clone(), if v.is_finite() { json!(v) } else { Value::Null });
    }
    Value::Object(obj)
}

impl OutputSink for MetricsJsonl {
    fn record(&mut self, step: u64, metrics: &Metrics) -> Result<()> {
        Ok(self.out.write(&line(step, metrics))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_comes_first_and_non_finite_values_are_null() {
        let m: Metrics = [("b".to_string(), 1.5), ("a".to_string(), f64::NAN)].into_iter().collect();
        assert_eq!(line(7, &m).to_string(), r#"{"step":7,"a":null,"b":1.5}"#);
    }
}
