//! # tz-config: the run configuration
//!
//! One TOML document with a section per concern.
//!
//! Every command-line flag of the main job maps to a key here (see
//! [`RunConfig`]); `--config FILE` loads a file and `--set key=value`
//! overrides single keys. Values resolve in layers, each remembering its
//! [`Origin`]: defaults < file < flags ([`Layers`]), then the model's
//! presets where nothing was set ([`presets`]). Unknown keys and wrong
//! types are one-line errors naming the key and the closest valid key or
//! the expected type ([`validate`]). Plugin configs live under their
//! plugin's name and are handed to the plugin as JSON; their keys are
//! checked against the plugins ([`check_plugin_tables`]), and `config show`
//! writes the plugins' defaults in ([`fill_plugin_defaults`]).

pub mod annotated;
mod error;
mod layers;
mod overrides;
mod plugin_tables;
pub mod presets;
pub mod ranges;
mod run_config;
pub mod validate;

use std::path::Path;

pub use error::{ConfigError, Result};
pub use layers::{flatten, Layers, Origin, Resolved};
pub use overrides::{apply_override, parse_assignment, parse_value};
pub use plugin_tables::{check_plugin_tables, check_plugins_accept, fill_plugin_defaults, json_to_toml};
pub use run_config::*;

/// A command-line flag mapped to its config key: `(key, value, "--flag")`.
pub type FlagValue = (&'static str, toml::Value, &'static str);

/// Resolves a run config the way `tzhost train` does: defaults, then `file`,
/// then the named `flags`, then every `--set` in order.
pub fn resolve(file: Option<&Path>, flags: Vec<FlagValue>, sets: &[String]) -> Result<Resolved> {
    let mut layers = Layers::defaults();
    if let Some(f) = file {
        layers.merge_file(f)?;
    }
    for (key, value, flag) in flags {
        layers.set_value(key, value, Origin::Flag(flag.to_string()))?;
    }
    for s in sets {
        layers.set(s, Origin::Flag(format!("--set {s}")))?;
    }
    layers.resolve()
}
