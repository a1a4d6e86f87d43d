//! Resolving a run config from layers, remembering where each value came
//! from: defaults, then a `--config` file, then flags (named flags such as
//! `--algo`, then every `--set key=value` in command-line order), then the
//! presets ([`crate::presets`]) where none of these set a value. A later
//! layer replaces a value of an earlier one; tables merge key by key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::error::{ConfigError, Result};
use crate::overrides::{parse_assignment, parse_value, set_error};
use crate::presets;
use crate::run_config::{one_line, RunConfig};
use crate::validate;

/// Where a resolved value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `RunConfig::default()`.
    Default,
    /// A config file (`--config`, or a sweep's base file).
    File(PathBuf),
    /// A command-line flag, as typed: `--algo`, `--set trainer.lr=1e-5`.
    Flag(String),
    /// A sweep variant (`sweep FILE`), named.
    Sweep(String),
    /// A plugin's own default, filled in for the plugins a run uses.
    PluginDefault(String),
    /// A default that applies in one setting only, e.g. "the tiny model".
    Preset(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::File(p) => write!(f, "file {}", p.display()),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::Sweep(s) => write!(f, "sweep {s}"),
            Origin::PluginDefault(p) => write!(f, "default of plugin {p}"),
            Origin::Preset(p) => write!(f, "default for {p}"),
        }
    }
}

impl Origin {
    /// The short class shown first by `config show`: default, file, flag, ...
    pub fn class(&self) -> &'static str {
        match self {
            Origin::Default => "default",
            Origin::File(_) => "file",
            Origin::Flag(_) => "flag",
            Origin::Sweep(_) => "sweep",
            Origin::PluginDefault(_) => "plugin default",
            Origin::Preset(_) => "default",
        }
    }
}

/// A resolved config and the origin of every leaf (dotted key).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub config: RunConfig,
    pub origins: BTreeMap<String, Origin>,
}

impl Resolved {
    /// The presets layer: the tiny model's settings where nothing set a
    /// value, with their own origin (a no-op for another model).
    fn apply_tiny_model_preset(&mut self) {
        let origin = Origin::Preset(presets::TINY_MODEL.into());
        self.apply(origin.clone(), presets::tiny_defaults);
        let lr_set = !matches!(self.origins.get("trainer.lr"), None | Some(Origin::Default));
        if let Some(lr) = presets::tiny_actor_lr(&self.config, lr_set) {
            self.apply(origin, |c| c.trainer.lr = lr);
        }
    }

    /// The config's table (what `config.toml` holds).
    pub fn table(&self) -> Table {
        self.config.to_table()
    }

    /// Changes the config with `f`; every key it adds or changes gets `origin`.
    pub fn apply(&mut self, origin: Origin, f: impl FnOnce(&mut RunConfig)) {
        let before = flatten(&self.table());
        f(&mut self.config);
        for (key, value) in flatten(&self.table()) {
            if before.iter().any(|(k, v)| *k == key && *v == value) {
                continue;
            }
            let parts: Vec<&str> = key.split('.').collect();
            for i in 1..parts.len() {
                self.origins.remove(&parts[..i].join("."));
            }
            self.origins.insert(key, origin.clone());
        }
    }
}

/// A config table being built up layer by layer.
#[derive(Debug, Clone)]
pub struct Layers {
    table: Table,
    origins: BTreeMap<String, Origin>,
    schema: Table,
}

impl Default for Layers {
    fn default() -> Self {
        Self::defaults()
    }
}

impl Layers {
    /// The bottom layer: every key at its default.
    pub fn defaults() -> Layers {
        let schema = RunConfig::default().to_table();
        let mut origins = BTreeMap::new();
        for leaf in leaves(&schema, "") {
            origins.insert(leaf, Origin::Default);
        }
        Layers { table: schema.clone(), origins, schema }
    }

    /// Merges a TOML file over the current layers.
    pub fn merge_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let table: Table = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            file: Some(path.to_path_buf()),
            message: one_line(&e.to_string()),
        })?;
        self.merge_table(&table, Origin::File(path.to_path_buf()));
        Ok(())
    }

    /// Merges a (partial) config table; its leaves get `origin`.
    pub fn merge_table(&mut self, table: &Table, origin: Origin) {
        for (key, value) in flatten(table) {
            self.put(&key, value, origin.clone());
        }
    }

    /// Applies one `key=value` assignment (the `--set` syntax).
    pub fn set(&mut self, assignment: &str, origin: Origin) -> Result<()> {
        let (key, raw) = parse_assignment(assignment)?;
        let parsed = parse_value(raw).map_err(|e| set_error(assignment, e.to_string()))?;
        let value = self.coerce(&key, raw, parsed);
        self.check_path(&key, &origin)?;
        self.put(&key, value, origin);
        Ok(())
    }

    /// Sets one dotted key to a typed value (the named flags).
    pub fn set_value(&mut self, key: &str, value: Value, origin: Origin) -> Result<()> {
        self.check_path(key, &origin)?;
        self.put(key, value, origin);
        Ok(())
    }

    /// `--set` values are typed by TOML syntax; where the schema wants a
    /// string or a list of strings, a bare value is taken as written
    /// (`--set logging.run_name=2024`, `--set algorithm.chain=cosine,grpo`).
    fn coerce(&self, key: &str, raw: &str, parsed: Value) -> Value {
        match (validate::lookup(&self.schema, key), &parsed) {
            (Some(Value::String(_)), v) if !v.is_str() && !v.is_table() && !v.is_array() => {
                Value::String(raw.to_string())
            }
            (Some(Value::Array(items)), Value::String(s))
                if items.first().is_none_or(Value::is_str) && !raw.trim_start().starts_with('"') =>
            {
                Value::Array(
                    s.split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(|p| Value::String(p.into()))
                        .collect(),
                )
            }
            _ => parsed,
        }
    }

    /// A key whose parent is a value (`trainer.lr.x`) cannot be set.
    fn check_path(&self, key: &str, origin: &Origin) -> Result<()> {
        let error = |problem| ConfigError::KeyPath { key: key.into(), problem, origin: Some(origin.clone()) };
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(error(format!("'{key}' is not a dotted key")));
        }
        let parts: Vec<&str> = key.split('.').collect();
        let mut node = &self.table;
        for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
            match node.get(*part) {
                Some(Value::Table(t)) => node = t,
                Some(_) => {
                    let value = parts[..=i].join(".");
                    return Err(error(format!(
                        "'{value}' is a value, not a section, so '{key}' cannot be set"
                    )));
                }
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// Writes `value` at `key`, creating tables on the way (a value in the
    /// way is replaced), and records the origin of the new leaves. A
    /// non-empty table merges into what is there, key by key.
    fn put(&mut self, key: &str, value: Value, origin: Origin) {
        if let Value::Table(new) = &value {
            if !new.is_empty() {
                for (k, v) in flatten(new) {
                    self.put(&format!("{key}.{k}"), v, origin.clone());
                }
                return;
            }
        }
        let prefix = format!("{key}.");
        self.origins.retain(|k, _| k != key && !k.starts_with(&prefix));
        // A leaf replaces a leaf that was a prefix of it (`a` = 1, then `a.b`).
        let parts: Vec<&str> = key.split('.').collect();
        for i in 1..parts.len() {
            self.origins.remove(&parts[..i].join("."));
        }
        self.origins.insert(key.to_string(), origin);
        let mut node = &mut self.table;
        for part in &parts[..parts.len() - 1] {
            let entry = node.entry(part.to_string()).or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            node = entry.as_table_mut().expect("just made a table");
        }
        node.insert(parts[parts.len() - 1].to_string(), value);
    }

    /// The merged table so far.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Checks every key and type, then deserialises, then applies the
    /// presets layer ([`crate::presets`]: defaults that depend on the
    /// model). Errors name the key, the closest valid key or the expected
    /// type, and where the value came from.
    pub fn resolve(self) -> Result<Resolved> {
        if let Err(error) = validate::check(&self.table, &self.schema) {
            let origin = self.origin_of(&error.key).cloned();
            return Err(ConfigError::Key { error, origin });
        }
        let config = RunConfig::deserialize_table(self.table.clone())?;
        if let Err(error) = crate::ranges::check(&config) {
            // `trainer.betas[0]` comes from `trainer.betas`.
            let key = error.key.split('[').next().unwrap_or(&error.key);
            let origin = self.origin_of(key).cloned();
            return Err(ConfigError::Range { error, origin });
        }
        let mut resolved = Resolved { config, origins: self.origins };
        resolved.apply_tiny_model_preset();
        Ok(resolved)
    }

    /// The origin of a key, or of the first leaf under it.
    fn origin_of(&self, key: &str) -> Option<&Origin> {
        let prefix = format!("{key}.");
        self.origins
            .get(key)
            .or_else(|| self.origins.iter().find(|(k, _)| k.starts_with(&prefix)).map(|(_, o)| o))
    }
}

/// The leaves of a table as (dotted key, value): non-table values and empty
/// tables. Keys written with dots inside quotes (`"trainer.lr" = 1`) are
/// split like dotted keys.
pub fn flatten(table: &Table) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    flatten_into(table, "", &mut out);
    out
}

fn flatten_into(table: &Table, prefix: &str, out: &mut Vec<(String, Value)>) {
    for (k, v) in table {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            Value::Table(t) if !t.is_empty() => flatten_into(t, &path, out),
            other => out.push((path, other.clone())),
        }
    }
}

/// The dotted keys of a table's leaves.
fn leaves(table: &Table, prefix: &str) -> Vec<String> {
    flatten(table)
        .into_iter()
        .map(|(k, _)| if prefix.is_empty() { k } else { format!("{prefix}.{k}") })
        .collect()
}
