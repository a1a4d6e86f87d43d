//! The sweep file: a base config plus axes and/or explicit variants.
//!
//! ```toml
//! [sweep]
//! name = "continual-vs-random-tiny"     # default: the file's stem
//! base_config = "../tiny/countdown.toml" # optional, relative to this file
//! out = "runs/sweeps/x"                  # default: <logging.runs_dir>/<name>
//! parallel = 1                           # default for --parallel
//! metrics = ["val/acc", "critic/score/mean"]  # plotted by the report
//! seed_key = "trainer.seed"              # the axis the report averages over
//! compares = ["curriculum"]              # the arms may differ only in these keys (and sections)
//!
//! [config]                               # config keys for every variant
//! trainer.max_minutes = 4
//!
//! [[variant]]                            # explicit variants (optional)
//! name = "grpo+cosine"
//! set = { "algorithm.chain" = ["cosine", "grpo"] }
//!
//! [[axis]]                               # one config key, several values
//! key = "trainer.seed"
//! values = [1, 2, 3]
//!
//! [[axis]]                               # named options setting several keys
//! name = "window"
//! values = [
//!   { name = "adaptive", set = { "curriculum.chain" = ["adaptive"] } },
//!   { name = "full", set = { "curriculum.chain" = ["full"] } },
//! ]
//! ```
//!
//! The runs are the product of the variants (if any) and every axis, in file
//! order; a run's name joins its labels with `-` (`grpo+cosine-seed1`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::{Table, Value};

use tz_config::{flatten, one_line};

use crate::error::{file, Result, SweepError};

/// What is wrong with a sweep file, in words (the file is added once, at the top).
type Problem = String;

/// The default metrics the report plots (those present in the runs).
pub const DEFAULT_METRICS: &[&str] = &[
    "val/acc",
    "val/acc_greedy",
    "critic/score/mean",
    "response_length/mean",
    "actor/pg_loss",
    "actor/grad_norm",
    "actor/entropy",
    "adaptive_window/current_window",
    "tokens/overall_total",
    "timing_s/step",
];

/// One choice along a dimension: a label and the config keys it sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub label: String,
    pub set: Vec<(String, Value)>,
}

/// A dimension of the sweep: the explicit variants, or one axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Dimension {
    pub name: String,
    /// The config key of a single-key axis (`trainer.seed`).
    pub key: Option<String>,
    pub choices: Vec<Choice>,
}

/// A parsed sweep file.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    pub name: String,
    pub description: String,
    pub file: PathBuf,
    /// The base run config, resolved against the sweep file's directory.
    pub base_config: Option<PathBuf>,
    /// Config keys set for every run (`[config]`).
    pub config: Table,
    pub out: Option<PathBuf>,
    pub parallel: usize,
    pub metrics: Vec<String>,
    pub seed_key: String,
    /// Keys (or section prefixes) the arms may differ in; empty = unchecked.
    pub compares: Vec<String>,
    /// Variants first (when given), then the axes, in file order.
    pub dimensions: Vec<Dimension>,
}

impl SweepSpec {
    /// The dimension the report averages over (the seeds), if any.
    pub fn seed_dimension(&self) -> Option<&Dimension> {
        self.dimensions.iter().find(|d| d.key.as_deref() == Some(self.seed_key.as_str()) || d.name == "seed")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    sweep: RawHeader,
    #[serde(default)]
    config: Table,
    #[serde(default)]
    variant: Vec<RawVariant>,
    #[serde(default)]
    axis: Vec<RawAxis>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    name: Option<String>,
    #[serde(default)]
    description: String,
    base_config: Option<PathBuf>,
    out: Option<PathBuf>,
    parallel: Option<usize>,
    metrics: Option<Vec<String>>,
    seed_key: Option<String>,
    #[serde(default)]
    compares: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    name: String,
    #[serde(default)]
    set: Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAxis {
    name: Option<String>,
    key: Option<String>,
    values: Vec<Value>,
    labels: Option<Vec<String>>,
}

impl SweepSpec {
    pub fn from_file(path: &Path) -> Result<SweepSpec> {
        let text = std::fs::read_to_string(path).map_err(file("read", path))?;
        Self::parse(&text, path).map_err(|problem| SweepError::Spec { file: Some(path.into()), problem })
    }

    /// Parses sweep-file text; `path` names the file (for the default name
    /// and to resolve `base_config`).
    pub fn from_str(text: &str, path: &Path) -> Result<SweepSpec> {
        Self::parse(text, path).map_err(|problem| SweepError::Spec { file: None, problem })
    }

    fn parse(text: &str, path: &Path) -> Result<SweepSpec, Problem> {
        let table: Table = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
        check_keys(&table)?;
        let de = toml::de::Deserializer::parse(text).map_err(|e| one_line(&e.to_string()))?;
        let raw: RawFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            format!("key '{key}': {}", one_line(&e.into_inner().to_string()))
        })?;
        let h = raw.sweep;
        let name = match h.name {
            Some(n) => n,
            None => {
                path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "sweep".into())
            }
        };
        check_label(&name).map_err(|e| format!("sweep.name: {e}"))?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let mut dimensions = Vec::new();
        if !raw.variant.is_empty() {
            let choices = raw
                .variant
                .into_iter()
                .map(|v| {
                    check_label(&v.name).map_err(|e| format!("variant '{}': {e}", v.name))?;
                    Ok(Choice { label: v.name, set: flatten(&v.set) })
                })
                .collect::<Result<Vec<_>, Problem>>()?;
            dimensions.push(Dimension { name: "variant".into(), key: None, choices });
        }
        for (i, axis) in raw.axis.into_iter().enumerate() {
            dimensions.push(parse_axis(axis).map_err(|e| format!("axis {}: {e}", i + 1))?);
        }
        let mut names: Vec<&str> = Vec::new();
        for d in &dimensions {
            if names.contains(&d.name.as_str()) {
                return Err(format!("two dimensions are named '{}'; give the axes distinct names", d.name));
            }
            names.push(&d.name);
        }
        if h.parallel == Some(0) {
            return Err("key 'sweep.parallel': must be at least 1".into());
        }
        Ok(SweepSpec {
            name,
            description: h.description,
            file: path.to_path_buf(),
            base_config: h.base_config.map(|b| dir.join(b)),
            config: raw.config,
            out: h.out,
            parallel: h.parallel.unwrap_or(1),
            metrics: h.metrics.unwrap_or_else(|| DEFAULT_METRICS.iter().map(|s| s.to_string()).collect()),
            seed_key: h.seed_key.unwrap_or_else(|| "trainer.seed".into()),
            compares: h.compares,
            dimensions,
        })
    }
}

/// The keys a sweep file may have, by table; an unknown one is an error
/// naming the closest valid key (serde would list them all).
const SWEEP_KEYS: &[(&str, &[&str])] = &[
    ("", &["sweep", "config", "variant", "axis"]),
    ("sweep", &["name", "description", "base_config", "out", "parallel", "metrics", "seed_key", "compares"]),
    ("variant", &["name", "set"]),
    ("axis", &["name", "key", "values", "labels"]),
];

fn check_keys(table: &Table) -> Result<(), Problem> {
    let check = |where_: &str, t: &Table| -> Result<(), Problem> {
        let known = SWEEP_KEYS.iter().find(|(w, _)| *w == where_).map(|(_, k)| *k).unwrap_or(&[]);
        for key in t.keys() {
            if !known.contains(&key.as_str()) {
                let path = if where_.is_empty() { key.clone() } else { format!("{where_}.{key}") };
                let hint = tz_sdk::config::closest(key, known.iter().copied())
                    .map(|c| {
                        format!(
                            " (did you mean '{}'?)",
                            if where_.is_empty() { c.to_string() } else { format!("{where_}.{c}") }
                        )
                    })
                    .unwrap_or_default();
                return Err(format!("unknown key '{path}'{hint}"));
            }
        }
        Ok(())
    };
    check("", table)?;
    if let Some(Value::Table(h)) = table.get("sweep") {
        check("sweep", h)?;
    }
    for list in ["variant", "axis"] {
        if let Some(Value::Array(items)) = table.get(list) {
            for item in items.iter().filter_map(Value::as_table) {
                check(list, item)?;
            }
        }
    }
    Ok(())
}

fn parse_axis(axis: RawAxis) -> Result<Dimension, Problem> {
    if axis.values.is_empty() {
        return Err("'values' is empty".into());
    }
    if let Some(labels) = &axis.labels {
        if labels.len() != axis.values.len() {
            return Err(format!("{} labels for {} values", labels.len(), axis.values.len()));
        }
    }
    let choices = match &axis.key {
        Some(key) => axis
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let label = match &axis.labels {
                    Some(l) => l[i].clone(),
                    None => auto_label(key, v),
                };
                Choice { label, set: vec![(key.clone(), v.clone())] }
            })
            .collect(),
        None => axis
            .values
            .iter()
            .map(|v| {
                let t = v.as_table().ok_or_else(|| {
                    "without 'key', each value is a table { name = \"...\", set = { ... } }".to_string()
                })?;
                let label = t
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| "a value has no 'name'".to_string())?
                    .to_string();
                if let Some(other) = t.keys().find(|k| *k != "name" && *k != "set") {
                    return Err(format!(
                        "option '{label}': unknown key '{other}' (expected 'name' and 'set')"
                    ));
                }
                let set = match t.get("set") {
                    Some(Value::Table(s)) => flatten(s),
                    Some(_) => return Err(format!("option '{label}': 'set' must be a table of config keys")),
                    None => Vec::new(),
                };
                Ok(Choice { label, set })
            })
            .collect::<Result<Vec<_>, Problem>>()?,
    };
    for c in &choices {
        check_label(&c.label)?;
    }
    let name = match (axis.name, &axis.key) {
        (Some(n), _) => n,
        (None, Some(k)) => k.rsplit('.').next().unwrap_or(k).to_string(),
        (None, None) => return Err("an axis without 'key' needs a 'name'".into()),
    };
    let mut seen: Vec<&str> = Vec::new();
    for c in &choices {
        if seen.contains(&c.label.as_str()) {
            return Err(format!("axis '{name}' has the label '{}' twice", c.label));
        }
        seen.push(&c.label);
    }
    Ok(Dimension { name, key: axis.key, choices })
}

/// A label for a plain axis value: strings as they are, lists of strings
/// joined by `+`, numbers and booleans after the key's last part (`seed1`).
pub fn auto_label(key: &str, v: &Value) -> String {
    let last = key.rsplit('.').next().unwrap_or(key);
    let raw = match v {
        Value::String(s) => return sanitize(s),
        Value::Array(items) if items.iter().all(Value::is_str) => {
            return sanitize(&items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("+"))
        }
        Value::Integer(i) => format!("{last}{i}"),
        Value::Float(x) => format!("{last}{x}"),
        Value::Boolean(b) => format!("{last}-{b}"),
        other => format!("{last}{other}"),
    };
    sanitize(&raw)
}

/// Keeps characters safe in a directory name; others become `_`.
pub fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || "._+=-".contains(c) { c } else { '_' }).collect()
}

/// Labels become directory names: non-empty, no path separators.
fn check_label(label: &str) -> Result<(), Problem> {
    if label.is_empty() || label == "." || label == ".." || label.contains('/') || label.contains('\\') {
        return Err(format!("'{label}' cannot be used in a run directory name"));
    }
    Ok(())
}
