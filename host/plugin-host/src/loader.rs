//! Loading one plugin library file and turning abi_stable's errors into
//! one-line messages a user can act on.

use std::path::{Path, PathBuf};

use tz_sdk::abi_stable::library::{lib_header_from_path, LibraryError, RootModule};
use tz_sdk::ffi::PluginLibraryRef;
use tz_sdk::PluginDescriptor;

use crate::error::{PluginHostError, Result};

/// A loaded library: its root module and the plugins it exports.
#[derive(Clone)]
pub struct LoadedLibrary {
    pub path: PathBuf,
    pub module: PluginLibraryRef,
    pub plugins: Vec<PluginDescriptor>,
}

/// Loads `path` as a plugin library, checking sdk version and type layouts.
/// Libraries are never unloaded (abi_stable leaks them by design).
pub fn load_library(path: &Path) -> Result<LoadedLibrary> {
    let module = lib_header_from_path(path)
        .and_then(|header| header.init_root_module::<PluginLibraryRef>())
        .map_err(|e| PluginHostError::Load { path: path.to_path_buf(), message: explain(path, e) })?;
    let plugins = module.plugins()().into_iter().map(PluginDescriptor::from).collect();
    Ok(LoadedLibrary { path: path.to_path_buf(), module, plugins })
}

fn first_line(s: &str) -> &str {
    s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("")
}

fn explain(path: &Path, err: LibraryError) -> String {
    let p = path.display();
    let ours = PluginLibraryRef::VERSION_STRINGS.version;
    tracing::debug!("loading {p} failed: {err}");
    match err {
        LibraryError::OpenError { err, .. } => {
            format!("cannot load plugin library {p}: {}", first_line(&err.to_string()))
        }
        LibraryError::GetSymbolError { .. } => {
            format!("{p} is not a tinyzero-rs plugin library (it exports no tz-sdk root module)")
        }
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => format!(
            "plugin library {p} was built against tz-sdk {actual_version}, but this tzhost uses tz-sdk {ours}: \
             rebuild the plugin against tz-sdk {ours}"
        ),
        LibraryError::ParseVersionError(e) => format!("plugin library {p} has an unreadable tz-sdk version: {e}"),
        LibraryError::AbiInstability(e) => format!(
            "plugin library {p} was built against a tz-sdk whose types differ from this tzhost's (tz-sdk {ours}): \
             rebuild the plugin ({})",
            first_line(&e.to_string())
        ),
        LibraryError::InvalidAbiHeader(_) | LibraryError::InvalidCAbi { .. } => format!(
            "plugin library {p} was built with an incompatible abi_stable or compiler: rebuild it against tz-sdk {ours}"
        ),
        LibraryError::RootModule { err, .. } => {
            format!("plugin library {p} failed to initialise: {}", first_line(&err.to_string()))
        }
        other => format!("plugin library {p}: {}", first_line(&other.to_string())),
    }
}
