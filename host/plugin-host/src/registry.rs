//! Name → plugin lookup over every loaded library.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use tz_sdk::ffi::{AlgorithmBox, CurriculumBox, HostServicesArc, TaskBox};
use tz_sdk::{PluginDescriptor, PluginKind};

use super::discovery::{library_files, SearchDir};
use super::loader::{load_library, LoadedLibrary};

/// One plugin and the library that provides it.
#[derive(Clone)]
pub struct PluginEntry {
    pub descriptor: PluginDescriptor,
    pub library: LoadedLibrary,
}

impl PluginEntry {
    pub fn path(&self) -> &PathBuf {
        &self.library.path
    }
}

/// Every plugin found on the search path, by unique name.
#[derive(Default, Clone)]
pub struct Registry {
    plugins: BTreeMap<String, PluginEntry>,
    libraries: Vec<LoadedLibrary>,
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

impl Registry {
    /// Loads every library on the search path. Any library that fails to load,
    /// or a plugin name offered by two libraries, is an error.
    pub fn discover(dirs: &[SearchDir]) -> Result<Registry> {
        let mut files: Vec<PathBuf> = Vec::new();
        for dir in dirs {
            for f in library_files(dir)? {
                if !files.contains(&f) {
                    files.push(f);
                }
            }
        }
        let mut registry = Registry::default();
        for f in files {
            registry.add(load_library(&f)?)?;
        }
        Ok(registry)
    }

    /// Adds a loaded library's plugins; a duplicate name is an error.
    pub fn add(&mut self, library: LoadedLibrary) -> Result<()> {
        for d in &library.plugins {
            if let Some(existing) = self.plugins.get(d.name.as_str()) {
                bail!(
                    "plugin '{}' is provided by two libraries: {} and {}; remove one of them from the plugin path",
                    d.name,
                    existing.path().display(),
                    library.path.display()
                );
            }
            let entry = PluginEntry { descriptor: d.clone(), library: library.clone() };
            self.plugins.insert(d.name.to_string(), entry);
        }
        self.libraries.push(library);
        Ok(())
    }

    pub fn plugins(&self) -> impl Iterator<Item = &PluginEntry> {
        self.plugins.values()
    }
    pub fn libraries(&self) -> &[LoadedLibrary] {
        &self.libraries
    }

    /// The plugin `name` of `kind`, or an error listing the known ones and the
    /// closest match.
    pub fn get(&self, kind: PluginKind, name: &str) -> Result<&PluginEntry> {
        match self.plugins.get(name) {
            Some(e) if e.descriptor.kind == kind => Ok(e),
            Some(e) => {
                bail!("'{name}' is {} plugin, not {} plugin", article(e.descriptor.kind), article(kind))
            }
            None => {
                let known: Vec<&str> = self
                    .plugins
                    .values()
                    .filter(|e| e.descriptor.kind == kind)
                    .map(|e| e.descriptor.name.as_str())
                    .collect();
                let hint = tz_sdk::config::closest(name, known.iter().copied())
                    .map(|c| format!(" (did you mean '{c}'?)"))
                    .unwrap_or_default();
                let list = if known.is_empty() { "none found".into() } else { known.join(", ") };
                Err(anyhow!(
                    "unknown {} plugin '{name}'{hint}; known {} plugins: {list}",
                    kind.as_str(),
                    kind.as_str()
                ))
            }
        }
    }

    pub fn task(&self, name: &str, config_json: &str, host: HostServicesArc) -> Result<TaskBox> {
        let e = self.get(PluginKind::Task, name)?;
        e.library.module.new_task()(name.into(), config_json.into(), host)
            .into_result()
            .map_err(|m| anyhow!("{m}"))
    }
    pub fn algorithm(&self, name: &str, config_json: &str, host: HostServicesArc) -> Result<AlgorithmBox> {
        let e = self.get(PluginKind::Algorithm, name)?;
        e.library.module.new_algorithm()(name.into(), config_json.into(), host)
            .into_result()
            .map_err(|m| anyhow!("{m}"))
    }
    pub fn curriculum(&self, name: &str, config_json: &str, host: HostServicesArc) -> Result<CurriculumBox> {
        let e = self.get(PluginKind::Curriculum, name)?;
        e.library.module.new_curriculum()(name.into(), config_json.into(), host)
            .into_result()
            .map_err(|m| anyhow!("{m}"))
    }
}
