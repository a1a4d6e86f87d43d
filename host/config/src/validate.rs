//! Checking a config table against the schema before serde sees it, so an
//! error names the full dotted key, the closest valid key and the expected
//! type (serde's `deny_unknown_fields` message lists every field instead).
//!
//! The schema is the default config's own TOML table: every field of
//! [`RunConfig`](super::RunConfig) appears there with a value of its type (the
//! schema has no `Option` fields; empty strings and zeros mean "unset"). An
//! empty table in the schema (`task.plugins`) is a free-form map whose
//! contents are checked elsewhere (by the plugins).

use std::fmt;

use toml::{Table, Value};

/// What went wrong with one key.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// `suggestion` is the closest valid dotted key, when one is close.
    UnknownKey { suggestion: Option<String> },
    /// `expected` is a phrase like "an integer"; `got` describes the value.
    WrongType { expected: String, got: String },
}

/// A problem at a dotted key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyError {
    pub key: String,
    pub problem: Problem,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Problem::UnknownKey { suggestion: Some(s) } => {
                write!(f, "unknown key '{}' (did you mean '{s}'?)", self.key)
            }
            Problem::UnknownKey { suggestion: None } => write!(f, "unknown key '{}'", self.key),
            Problem::WrongType { expected, got } => {
                write!(f, "key '{}' expects {expected}, got {got}", self.key)
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// Checks `given` against `schema`; the first problem found, in file order.
pub fn check(given: &Table, schema: &Table) -> Result<(), KeyError> {
    check_table(given, schema, schema, "")
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn check_table(given: &Table, schema: &Table, root: &Table, prefix: &str) -> Result<(), KeyError> {
    for (key, value) in given {
        let path = join(prefix, key);
        let Some(expected) = schema.get(key) else {
            return Err(KeyError {
                problem: Problem::UnknownKey { suggestion: suggest(key, schema, root, prefix) },
                key: path,
            });
        };
        check_value(value, expected, root, &path)?;
    }
    Ok(())
}

fn check_value(value: &Value, expected: &Value, root: &Table, path: &str) -> Result<(), KeyError> {
    let wrong = || KeyError {
        key: path.to_string(),
        problem: Problem::WrongType { expected: expected_phrase(expected), got: describe(value) },
    };
    match (expected, value) {
        // An empty schema table is a map of plugin tables (or other free-form
        // tables): any names, each a table.
        (Value::Table(s), Value::Table(v)) if s.is_empty() => {
            for (name, inner) in v {
                if !inner.is_table() {
                    return Err(KeyError {
                        key: join(path, name),
                        problem: Problem::WrongType { expected: "a table".into(), got: describe(inner) },
                    });
                }
            }
            Ok(())
        }
        (Value::Table(s), Value::Table(v)) => check_table(v, s, root, path),
        (Value::Array(s), Value::Array(v)) => {
            // Tuples (betas) and homogeneous lists: check against the element
            // at the same position, or the first one.
            let tuple = s.len() > 1 && v.len() != s.len() && !homogeneous(s);
            if tuple {
                return Err(wrong());
            }
            for (i, item) in v.iter().enumerate() {
                if let Some(e) = s.get(i).or_else(|| s.first()) {
                    if !same_kind(item, e) {
                        return Err(wrong());
                    }
                }
            }
            Ok(())
        }
        _ if same_kind(value, expected) => Ok(()),
        _ => Err(wrong()),
    }
}

fn homogeneous(items: &[Value]) -> bool {
    items.windows(2).all(|w| w[0].type_str() == w[1].type_str())
}

/// Whether `value` fits where `expected` is; an integer fits a float.
fn same_kind(value: &Value, expected: &Value) -> bool {
    matches!(
        (expected, value),
        (Value::Float(_), Value::Integer(_) | Value::Float(_))
            | (Value::Integer(_), Value::Integer(_))
            | (Value::String(_), Value::String(_))
            | (Value::Boolean(_), Value::Boolean(_))
            | (Value::Datetime(_), Value::Datetime(_))
            | (Value::Array(_), Value::Array(_))
            | (Value::Table(_), Value::Table(_))
    )
}

/// "an integer", "a list of strings", ... for the schema's value.
pub fn expected_phrase(expected: &Value) -> String {
    match expected {
        Value::Integer(_) => "an integer".into(),
        Value::Float(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Boolean(_) => "a boolean (true or false)".into(),
        Value::Datetime(_) => "a date-time".into(),
        Value::Table(_) => "a table".into(),
        Value::Array(items) if items.len() > 1 && !homogeneous(items) => {
            format!("a list of {} values", items.len())
        }
        Value::Array(items) if items.len() > 1 && items[0].is_float() && items.len() == 2 => {
            "a list of 2 numbers".into()
        }
        Value::Array(items) => match items.first() {
            Some(Value::String(_)) | None => "a list of strings".into(),
            Some(Value::Integer(_)) => "a list of integers".into(),
            Some(Value::Float(_)) => "a list of numbers".into(),
            Some(other) => format!("a list of {}", other.type_str()),
        },
    }
}

/// "the string \"x\"", "the float 1.5", ...
pub fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string \"{s}\""),
        Value::Integer(i) => format!("the integer {i}"),
        Value::Float(x) => format!("the number {x}"),
        Value::Boolean(b) => format!("the boolean {b}"),
        Value::Datetime(d) => format!("the date-time {d}"),
        Value::Array(a) => format!("the list {}", Value::Array(a.clone())),
        Value::Table(_) => "a table".into(),
    }
}

/// The closest valid key: a sibling with a similar name, else a key of the
/// same (or a similar) name in another section (`trainer.temperature` →
/// `rollout.temperature`).
fn suggest(key: &str, siblings: &Table, root: &Table, prefix: &str) -> Option<String> {
    if let Some(s) = tz_sdk::config::closest(key, siblings.keys().map(String::as_str)) {
        return Some(join(prefix, s));
    }
    let mut leaves = Vec::new();
    collect_paths(root, "", &mut leaves);
    let last = |p: &String| p.rsplit('.').next().unwrap_or(p).to_string();
    leaves
        .iter()
        .map(|p| (strsim::jaro_winkler(key, &last(p)), p))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, p)| p.clone())
}

/// Every dotted key of a schema table (sections and leaves).
fn collect_paths(table: &Table, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in table {
        let path = join(prefix, k);
        out.push(path.clone());
        if let Value::Table(t) = v {
            collect_paths(t, &path, out);
        }
    }
}

/// The schema value at a dotted key, if the key is in the schema.
pub fn lookup<'a>(schema: &'a Table, key: &str) -> Option<&'a Value> {
    let mut parts = key.split('.');
    let mut node = schema.get(parts.next()?)?;
    for p in parts {
        node = node.as_table()?.get(p)?;
    }
    Some(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Table {
        toml::from_str(
            r#"
            [trainer]
            lr = 1e-6
            seed = 1
            betas = [0.9, 0.999]
            [rollout]
            temperature = 1.0
            stop = []
            [algorithm]
            chain = ["grpo"]
            plugins = {}
            "#,
        )
        .unwrap()
    }

    fn err(text: &str) -> String {
        check(&toml::from_str(text).unwrap(), &schema()).unwrap_err().to_string()
    }

    #[test]
    fn typo_in_a_key_names_the_sibling() {
        assert_eq!(err("[trainer]\nlrr = 1"), "unknown key 'trainer.lrr' (did you mean 'trainer.lr'?)");
    }

    #[test]
    fn key_in_the_wrong_section_names_the_right_section() {
        assert_eq!(
            err("[trainer]\ntemperature = 0.7"),
            "unknown key 'trainer.temperature' (did you mean 'rollout.temperature'?)"
        );
    }

    #[test]
    fn unknown_section_names_the_closest_section() {
        assert_eq!(err("[traner]\nlr = 1"), "unknown key 'traner' (did you mean 'trainer'?)");
    }

    #[test]
    fn nothing_close_gives_no_suggestion() {
        assert_eq!(err("[trainer]\nzzzzqqq = 1"), "unknown key 'trainer.zzzzqqq'");
    }

    #[test]
    fn wrong_types_name_the_key_and_the_expected_type() {
        assert_eq!(
            err("[trainer]\nlr = \"fast\""),
            "key 'trainer.lr' expects a number, got the string \"fast\""
        );
        assert_eq!(err("[trainer]\nseed = 1.5"), "key 'trainer.seed' expects an integer, got the number 1.5");
        assert_eq!(
            err("[algorithm]\nchain = \"grpo\""),
            "key 'algorithm.chain' expects a list of strings, got the string \"grpo\""
        );
        assert_eq!(
            err("[algorithm]\nchain = [1]"),
            "key 'algorithm.chain' expects a list of strings, got the list [1]"
        );
        assert_eq!(err("trainer = 3"), "key 'trainer' expects a table, got the integer 3");
    }

    #[test]
    fn integers_fit_floats_and_plugin_tables_are_free_form() {
        let ok: Table = toml::from_str(
            "[trainer]\nlr = 1\nbetas = [0.9, 1]\n[algorithm.plugins.grpo]\nanything = 1\n[rollout]\nstop = [\"x\"]",
        )
        .unwrap();
        assert_eq!(check(&ok, &schema()), Ok(()));
        assert_eq!(
            err("[algorithm.plugins]\ngrpo = 3"),
            "key 'algorithm.plugins.grpo' expects a table, got the integer 3"
        );
    }
}
