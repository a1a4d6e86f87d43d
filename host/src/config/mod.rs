//! Run configuration: one TOML document with a section per concern.
//!
//! Every command-line flag of the main job maps to a key here (see
//! [`RunConfig`]); `--config FILE` loads a file and `--set key=value`
//! overrides single keys. Plugin configs live under their plugin's name and
//! are handed to the plugin as JSON.

mod overrides;
mod run_config;

pub use overrides::{apply_override, parse_value};
pub use run_config::*;
