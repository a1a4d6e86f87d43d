//! Plugins: every library on the search path loads (sdk version and type
//! layouts match), every plugin in it instantiates with its default config,
//! and a run's basics exist (a task, an advantage estimator, a curriculum).

use std::collections::BTreeMap;

use tz_sdk::abi_stable::library::{lib_header_from_path, RootModule};
use tz_sdk::ffi::PluginLibraryRef;
use tz_sdk::{AlgorithmRole, PluginKind};

use super::Check;
use tz_plugin_host::{load_library, search_dirs, Registry, SearchDir, TracingHost};

const FIX_BUILD: &str = "cargo build --release --workspace (the shipped plugins are built beside tzhost), \
                         or point --plugin-dir / TZ_PLUGIN_PATH at your plugin libraries";

/// The checks, and a registry of the libraries that loaded (for the checks
/// that need plugins).
pub fn check(cli_dirs: &[std::path::PathBuf], env_path: Option<&str>) -> (Vec<Check>, Registry) {
    let mut out = Vec::new();
    let dirs: Vec<SearchDir> = match search_dirs(cli_dirs, env_path) {
        Ok(d) => d,
        Err(e) => {
            return (
                vec![Check::fail("plugin path", format!("{e:#}"), "fix or remove that entry")],
                Registry::default(),
            )
        }
    };
    let ours = PluginLibraryRef::VERSION_STRINGS.version.as_str();
    let mut files = Vec::new();
    for d in &dirs {
        match tz_plugin_host::library_files(d) {
            Ok(f) => files.extend(f.into_iter().filter(|f| !files.contains(f)).collect::<Vec<_>>()),
            Err(e) => {
                out.push(Check::fail("plugin path", format!("{}: {e:#}", d.path.display()), "fix that entry"))
            }
        }
    }
    files.dedup();
    out.push(Check::ok(
        "plugin path",
        format!(
            "{} librar{} in {} (tzhost uses tz-sdk {ours})",
            files.len(),
            if files.len() == 1 { "y" } else { "ies" },
            dirs.iter().map(|d| d.path.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
    ));
    let mut registry = Registry::default();
    let mut provider: BTreeMap<String, String> = BTreeMap::new();
    for f in &files {
        let file_name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let name = format!("plugin library {file_name}");
        let lib = match load_library(f) {
            Ok(lib) => lib,
            Err(e) => {
                out.push(Check::fail(
                    name,
                    format!("{e:#}"),
                    "rebuild it against this tz-sdk (cargo build --release -p <its crate>) or remove it from the plugin path",
                ));
                continue;
            }
        };
        let sdk =
            lib_header_from_path(f).map(|h| h.version_strings().version.to_string()).unwrap_or_default();
        let mut problems = Vec::new();
        for d in &lib.plugins {
            if let Some(other) = provider.insert(d.name.to_string(), file_name.clone()) {
                problems.push(format!("'{}' is also provided by {other}", d.name));
            }
        }
        let names: Vec<String> =
            lib.plugins.iter().map(|d| format!("{} ({})", d.name, d.kind.as_str())).collect();
        let plugins = lib.plugins.clone();
        if problems.is_empty() {
            if let Err(e) = registry.add(lib) {
                problems.push(format!("{e:#}"));
            }
        }
        for d in &plugins {
            if let Err(e) = instantiate(&registry, d.kind, d.name.as_str()) {
                problems.push(e);
            }
        }
        if problems.is_empty() {
            out.push(Check::ok(name, format!("tz-sdk {sdk}: {}", names.join(", "))));
        } else {
            out.push(Check::fail(
                name,
                format!("tz-sdk {sdk}: {}", problems.join("; ")),
                "rebuild the library, or remove the duplicate from the plugin path",
            ));
        }
    }
    out.push(basics(&registry));
    (out, registry)
}

/// Creates the plugin with its default config (and asks an algorithm its role).
fn instantiate(registry: &Registry, kind: PluginKind, name: &str) -> Result<(), String> {
    let host = TracingHost::handle;
    let r = match kind {
        PluginKind::Task => registry.task(name, "", host()).map(|_| ()),
        // Creating an algorithm asks its role.
        PluginKind::Algorithm => registry.algorithm(name, "", host()).map(|_| ()),
        PluginKind::Curriculum => registry.curriculum(name, "", host()).map(|_| ()),
    };
    r.map_err(|e| format!("{name}: {e}"))
}

/// A run needs a task, one advantage estimator and a curriculum.
fn basics(registry: &Registry) -> Check {
    let names = |kind: PluginKind| -> Vec<String> {
        registry
            .plugins()
            .filter(|e| e.descriptor.kind == kind)
            .map(|e| e.descriptor.name.to_string())
            .collect()
    };
    let estimators: Vec<String> = names(PluginKind::Algorithm)
        .into_iter()
        .filter(|n| {
            registry
                .algorithm(n, "", TracingHost::handle())
                .is_ok_and(|a| a.role() == AlgorithmRole::Estimator)
        })
        .collect();
    let (tasks, curricula) = (names(PluginKind::Task), names(PluginKind::Curriculum));
    let mut missing = Vec::new();
    if tasks.is_empty() {
        missing.push("task plugin");
    }
    if estimators.is_empty() {
        missing.push("advantage estimator (grpo, ppo)");
    }
    if curricula.is_empty() {
        missing.push("curriculum plugin");
    }
    if missing.is_empty() {
        Check::ok(
            "plugins",
            format!(
                "tasks: {}; estimators: {}; curricula: {}",
                tasks.join(", "),
                estimators.join(", "),
                curricula.join(", ")
            ),
        )
    } else {
        Check::fail("plugins", format!("found no {}", missing.join(", no ")), FIX_BUILD)
    }
}
