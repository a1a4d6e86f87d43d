//! Where plugin libraries are looked for.

use std::path::{Path, PathBuf};

use crate::error::{PluginHostError, Result};

/// The file suffix of shared libraries on this platform.
pub const DYLIB_SUFFIX: &str = std::env::consts::DLL_SUFFIX;

/// The name prefix of the plugins that ship with tzhost (`libtz_countdown.so`).
/// Next to the executable only these are loaded: that directory also holds
/// other build outputs. Directories named explicitly are plugin directories,
/// and every library in them is loaded.
pub const BUILTIN_PREFIX: &str = "libtz_";

/// A place to look for plugin libraries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDir {
    pub path: PathBuf,
    /// Only files starting with [`BUILTIN_PREFIX`] (the executable's directory).
    pub builtin_only: bool,
    /// Where this entry came from, for error messages.
    pub origin: &'static str,
}

/// The search path: the executable's directory (and its `plugins/`), then
/// `--plugin-dir` entries, then `TZ_PLUGIN_PATH` entries. An explicitly named
/// entry that does not exist is an error; it may also name a single file.
pub fn search_dirs(cli_dirs: &[PathBuf], env_path: Option<&str>) -> Result<Vec<SearchDir>> {
    let mut dirs = Vec::new();
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        dirs.push(SearchDir { path: exe_dir.join("plugins"), builtin_only: false, origin: "executable" });
        dirs.push(SearchDir { path: exe_dir, builtin_only: true, origin: "executable" });
    }
    for d in cli_dirs {
        if !d.exists() {
            return Err(PluginHostError::MissingSearchEntry { origin: "--plugin-dir", path: d.clone() });
        }
        dirs.push(SearchDir { path: d.clone(), builtin_only: false, origin: "--plugin-dir" });
    }
    for d in env_path.unwrap_or("").split(':').filter(|s| !s.is_empty()) {
        let p = PathBuf::from(d);
        if !p.exists() {
            return Err(PluginHostError::MissingSearchEntry { origin: "TZ_PLUGIN_PATH", path: p });
        }
        dirs.push(SearchDir { path: p, builtin_only: false, origin: "TZ_PLUGIN_PATH" });
    }
    Ok(dirs)
}

/// The library files of one search entry, sorted, canonicalised.
pub fn library_files(dir: &SearchDir) -> Result<Vec<PathBuf>> {
    if dir.path.is_file() {
        let file = dir
            .path
            .canonicalize()
            .map_err(|source| PluginHostError::Unreadable { path: dir.path.clone(), source })?;
        return Ok(vec![file]);
    }
    let Ok(entries) = std::fs::read_dir(&dir.path) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(DYLIB_SUFFIX) && (!dir.builtin_only || name.starts_with(BUILTIN_PREFIX))
        })
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    files.sort();
    Ok(files)
}
