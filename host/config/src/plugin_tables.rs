//! Plugin tables against the plugins themselves: every configured plugin
//! must exist, every key must be one of its config keys (an unknown one
//! names the closest), and every plugin a run uses must accept its settings.
//! `config show` also fills in the defaults of the plugins a run uses, so
//! the whole configuration is visible (and a shown config, saved, re-runs
//! the same experiment even if a plugin's default changes later).

use std::collections::BTreeMap;

use serde_json::Value as Json;
use toml::{Table, Value};
use tz_sdk::PluginKind;

use tz_plugin_host::{Registry, TracingHost};

use crate::error::{ConfigError, Result};
use crate::layers::{Origin, Resolved};
use crate::run_config::{PluginTable, RunConfig};

/// Checks the plugin tables of `resolved`: every table names a plugin of
/// its kind, every key is one of the plugin's config keys.
pub fn check_plugin_tables(resolved: &Resolved, registry: &Registry) -> Result<()> {
    walk(&mut resolved.clone(), registry, false)
}

/// [`check_plugin_tables`], then writes the defaults of the plugins in
/// `task.name`, `algorithm.chain` and `curriculum.chain` into their tables
/// (origin [`Origin::PluginDefault`]).
pub fn fill_plugin_defaults(resolved: &mut Resolved, registry: &Registry) -> Result<()> {
    walk(resolved, registry, true)
}

/// Creates every plugin of the run with its settings (task, algorithm
/// chain, curricula), so a value a plugin refuses fails now.
pub fn check_plugins_accept(cfg: &RunConfig, registry: &Registry) -> Result<()> {
    let host = TracingHost::handle;
    registry.task(&cfg.task.name, &RunConfig::plugin_json(&cfg.task.plugins, &cfg.task.name), host())?;
    registry.algorithm_chain(
        &cfg.algorithm.chain,
        &|n| RunConfig::plugin_json(&cfg.algorithm.plugins, n),
        &host,
    )?;
    for name in &cfg.curriculum.chain {
        registry.curriculum(name, &RunConfig::plugin_json(&cfg.curriculum.plugins, name), host())?;
    }
    Ok(())
}

fn walk(resolved: &mut Resolved, registry: &Registry, fill: bool) -> Result<()> {
    let cfg = &mut resolved.config;
    let sections: [(PluginKind, &str, Vec<String>, &mut BTreeMap<String, PluginTable>); 3] = [
        (PluginKind::Task, "task", vec![cfg.task.name.clone()], &mut cfg.task.plugins),
        (PluginKind::Algorithm, "algorithm", cfg.algorithm.chain.clone(), &mut cfg.algorithm.plugins),
        (PluginKind::Curriculum, "curriculum", cfg.curriculum.chain.clone(), &mut cfg.curriculum.plugins),
    ];
    for (kind, section, used, tables) in sections {
        let mut names: Vec<String> = tables.keys().cloned().collect();
        names.extend(used.iter().filter(|u| !tables.contains_key(*u)).cloned());
        for name in names {
            let prefix = format!("{section}.plugins.{name}");
            let entry = registry.get(kind, &name).map_err(|e| match tables.contains_key(&name) {
                true => ConfigError::PluginTable { table: prefix.clone(), error: e },
                false => e.into(),
            })?;
            let defaults: serde_json::Map<String, Json> =
                serde_json::from_str(entry.descriptor.default_config.as_str()).unwrap_or_default();
            let given = tables.get(&name).cloned().unwrap_or_default();
            for key in given.keys() {
                if !defaults.contains_key(key) {
                    let suggestion = tz_sdk::config::closest(key, defaults.keys().map(String::as_str))
                        .map(|c| format!("{prefix}.{c}"));
                    let key = format!("{prefix}.{key}");
                    let origin = resolved.origins.get(&key).cloned();
                    return Err(ConfigError::UnknownPluginKey { key, suggestion, origin });
                }
            }
            if !fill || !used.contains(&name) {
                continue;
            }
            // The plugin's key order, given values over defaults.
            let mut table = Table::new();
            for (key, default) in &defaults {
                if let Some(v) = given.get(key) {
                    table.insert(key.clone(), v.clone());
                } else if let Some(v) = json_to_toml(default) {
                    resolved.origins.insert(format!("{prefix}.{key}"), Origin::PluginDefault(name.clone()));
                    table.insert(key.clone(), v);
                }
            }
            resolved.origins.remove(&prefix);
            resolved.origins.remove(&format!("{section}.plugins"));
            tables.insert(name, table);
        }
    }
    Ok(())
}

/// JSON to TOML; `null` (an unset `Option`) has no TOML form and is left out.
pub fn json_to_toml(v: &Json) -> Option<Value> {
    Some(match v {
        Json::Null => return None,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Float(n.as_f64()?),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().filter_map(json_to_toml).collect()),
        Json::Object(map) => {
            Value::Table(map.iter().filter_map(|(k, v)| Some((k.clone(), json_to_toml(v)?))).collect())
        }
    })
}
