//! The config check of `tzhost doctor --config FILE`: the file resolves,
//! its plugin tables name real keys, and every plugin accepts its settings.

use tz_config::{check_plugin_tables, check_plugins_accept, Layers, RunConfig};
use tz_plugin_host::Registry;

use crate::Check;

/// The config resolves (keys, types) and its plugins accept their
/// settings; the check, and the config when it resolved (its task and
/// template default the data check's).
pub fn check(file: &std::path::Path, registry: &Registry) -> (Check, Option<RunConfig>) {
    let name = format!("config {}", file.display());
    let fix = "see `tzhost config show --config FILE` and `tzhost plugins` for the valid keys";
    let mut layers = Layers::defaults();
    let resolved = layers.merge_file(file).and_then(|()| layers.resolve());
    let resolved = match resolved {
        Ok(r) => r,
        Err(e) => return (Check::fail(name, format!("{e:#}"), fix), None),
    };
    let plugins = check_plugin_tables(&resolved, registry)
        .and_then(|()| check_plugins_accept(&resolved.config, registry));
    let cfg = resolved.config;
    match plugins {
        Ok(()) => (
            Check::ok(
                name,
                format!(
                    "task {}, algorithms {}, curricula {}, model {}",
                    cfg.task.name,
                    cfg.algorithm.chain.join(","),
                    cfg.curriculum.chain.join(","),
                    if cfg.model.path.is_empty() { "tiny (embedded)" } else { cfg.model.path.as_str() }
                ),
            ),
            Some(cfg),
        ),
        Err(e) => (Check::fail(name, format!("{e:#}"), fix), Some(cfg)),
    }
}
