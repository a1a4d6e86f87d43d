//! What can go wrong finding, loading or creating plugins.

use std::path::PathBuf;

use tz_sdk::handle::CallError;
use tz_sdk::PluginKind;

/// A one-line error a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum PluginHostError {
    /// A `--plugin-dir` or `TZ_PLUGIN_PATH` entry that does not exist.
    #[error("{}", missing_entry(origin, path))]
    MissingSearchEntry { origin: &'static str, path: PathBuf },
    /// A plugin directory or file that cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A library file that is not a loadable plugin library of this sdk (the
    /// message says why: not a library, another sdk version, ...).
    #[error("{message}")]
    Load { path: PathBuf, message: String },
    /// Two libraries offer the same plugin name.
    #[error(
        "plugin '{name}' is provided by two libraries: {} and {}; remove one of them from the plugin path",
        first.display(),
        second.display()
    )]
    Duplicate { name: String, first: PathBuf, second: PathBuf },
    /// A plugin asked for as one kind is another.
    #[error("'{name}' is {} plugin, not {} plugin", article(*is), article(*wanted))]
    WrongKind { name: String, is: PluginKind, wanted: PluginKind },
    /// No plugin of that name and kind (with the closest name, when any).
    #[error("unknown {} plugin '{name}'{}; known {} plugins: {}", kind.as_str(), hint.as_ref().map(|h| format!(" (did you mean '{h}'?)")).unwrap_or_default(), kind.as_str(), if known.is_empty() { "none found".to_string() } else { known.join(", ") })]
    Unknown { kind: PluginKind, name: String, hint: Option<String>, known: Vec<String> },
    /// A plugin refused its config or failed a call (its own message).
    #[error(transparent)]
    Plugin(#[from] CallError),
    /// An algorithm chain without exactly one estimator.
    #[error("--algo {chain}: {problem}")]
    Chain { chain: String, problem: String },
}

pub type Result<T, E = PluginHostError> = std::result::Result<T, E>;

fn missing_entry(origin: &str, path: &std::path::Path) -> String {
    match origin {
        "--plugin-dir" => format!("--plugin-dir {}: no such file or directory", path.display()),
        _ => format!("{origin} names {}, which does not exist", path.display()),
    }
}

/// "a task", "an algorithm", "a curriculum".
fn article(kind: PluginKind) -> String {
    let k = kind.as_str();
    if k.starts_with('a') {
        format!("an {k}")
    } else {
        format!("a {k}")
    }
}
