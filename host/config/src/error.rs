//! What can go wrong reading, overriding or resolving a run config: one
//! enum whose kinds a caller can act on (a file to fix, a `--set` to
//! retype, a key to rename, a plugin to install), each a one-line message
//! naming the file, flag or key and, where known, the layer a value came
//! from.

use std::path::PathBuf;

use tz_plugin_host::PluginHostError;

use crate::layers::Origin;
use crate::ranges::RangeError;
use crate::validate::KeyError;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file that cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Text that is not TOML: the parser's message on one line (it names
    /// the line and column), after the file when there is one.
    #[error("{}{message}", file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default())]
    Syntax { file: Option<PathBuf>, message: String },
    /// Any error of a config file, after the file's name.
    #[error("{}", path.display())]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<ConfigError>,
    },
    /// A `--set` value that is not one TOML value.
    #[error("'{raw}' {problem}")]
    Value { raw: String, problem: String },
    /// A malformed `--set key=value` (`problem` says what is wrong).
    #[error("--set '{assignment}': {problem}")]
    Set { assignment: String, problem: String },
    /// A key that cannot be set: not dotted, or under a value.
    #[error("{problem}{}", in_origin(origin))]
    KeyPath { key: String, problem: String, origin: Option<Origin> },
    /// An unknown key or a value of the wrong type.
    #[error("{error}{}", in_origin(origin))]
    Key { error: KeyError, origin: Option<Origin> },
    /// A value serde refused at `key` (after the type checks).
    #[error("key '{key}': {message}")]
    Deserialize { key: String, message: String },
    /// A setting outside its range.
    #[error("{error}{}", in_origin(origin))]
    Range { error: RangeError, origin: Option<Origin> },
    /// A key a plugin does not have (with the closest it has, when any).
    #[error("unknown key '{key}'{}{}", suggestion.as_ref().map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default(), in_origin(origin))]
    UnknownPluginKey { key: String, suggestion: Option<String>, origin: Option<Origin> },
    /// A plugin table that names no plugin of its kind (`table` is the
    /// dotted table, `task.plugins.x`).
    #[error("{table}: {error}")]
    PluginTable { table: String, error: PluginHostError },
    /// A plugin that is missing or refuses its settings.
    #[error(transparent)]
    Plugin(#[from] PluginHostError),
}

pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

impl From<RangeError> for ConfigError {
    fn from(error: RangeError) -> Self {
        ConfigError::Range { error, origin: None }
    }
}

/// " (in file x.toml)" after a message, or nothing.
fn in_origin(origin: &Option<Origin>) -> String {
    origin.as_ref().map(|o| format!(" (in {o})")).unwrap_or_default()
}
