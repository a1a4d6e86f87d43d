//! Name → plugin lookup over every loaded library.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tz_sdk::ffi::HostServicesArc;
use tz_sdk::handle::{Algorithm, CallError, Curriculum, Task};
use tz_sdk::{PluginDescriptor, PluginKind};

use crate::chain::AlgorithmChain;
use crate::discovery::{library_files, SearchDir};
use crate::error::{PluginHostError, Result};
use crate::loader::{load_library, LoadedLibrary};

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
                return Err(PluginHostError::Duplicate {
                    name: d.name.clone(),
                    first: existing.path().clone(),
                    second: library.path.clone(),
                });
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
            Some(e) => Err(PluginHostError::WrongKind {
                name: name.to_string(),
                is: e.descriptor.kind,
                wanted: kind,
            }),
            None => {
                let known: Vec<String> = self
                    .plugins
                    .values()
                    .filter(|e| e.descriptor.kind == kind)
                    .map(|e| e.descriptor.name.clone())
                    .collect();
                let hint =
                    tz_sdk::config::closest(name, known.iter().map(String::as_str)).map(str::to_string);
                Err(PluginHostError::Unknown { kind, name: name.to_string(), hint, known })
            }
        }
    }

    /// Creates the task `name` from its JSON config.
    pub fn task(&self, name: &str, config_json: &str, host: HostServicesArc) -> Result<Task> {
        let e = self.get(PluginKind::Task, name)?;
        let boxed = e.library.module.new_task()(name.into(), config_json.into(), host)
            .into_result()
            .map_err(CallError::from)?;
        Ok(Task::new(name, boxed))
    }

    /// Creates the algorithm `name` (a shaper or an estimator, by its role).
    pub fn algorithm(&self, name: &str, config_json: &str, host: HostServicesArc) -> Result<Algorithm> {
        let e = self.get(PluginKind::Algorithm, name)?;
        let boxed = e.library.module.new_algorithm()(name.into(), config_json.into(), host)
            .into_result()
            .map_err(CallError::from)?;
        Ok(Algorithm::new(name, boxed)?)
    }

    /// Creates the algorithms `names` in order and checks they form a chain
    /// (shapers, then exactly one estimator). `config_of(name)` gives each
    /// plugin's JSON config.
    pub fn algorithm_chain(
        &self,
        names: &[String],
        config_of: &dyn Fn(&str) -> String,
        host: &dyn Fn() -> HostServicesArc,
    ) -> Result<AlgorithmChain> {
        let algorithms =
            names.iter().map(|n| self.algorithm(n, &config_of(n), host())).collect::<Result<Vec<_>>>()?;
        AlgorithmChain::new(algorithms)
    }

    /// Creates the curriculum `name` from its JSON config.
    pub fn curriculum(&self, name: &str, config_json: &str, host: HostServicesArc) -> Result<Curriculum> {
        let e = self.get(PluginKind::Curriculum, name)?;
        let boxed = e.library.module.new_curriculum()(name.into(), config_json.into(), host)
            .into_result()
            .map_err(CallError::from)?;
        Ok(Curriculum::new(name, boxed))
    }
}
