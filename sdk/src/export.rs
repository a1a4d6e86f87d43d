//! Registration of plugins inside a library, and the library's root module.
//!
//! `inventory` registries are per link unit: each plugin `.so` statically links
//! its own copy of this crate and therefore has its own registry. The root
//! module's functions below iterate that library-local registry, so one
//! library can export many plugins while the host sees one root module per
//! file.

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RErr, RResult, RStr, RString, RVec};

use crate::adapter::{guard, CurriculumAdapter, EstimatorAdapter, ShaperAdapter, TaskAdapter};
use crate::config::{config_schema_json, default_config_json, parse_config};
use crate::ffi::*;
use crate::plugin::{Curriculum, Estimator, HostServices, Plugin, PluginResult, Shaper, Task};
use crate::types::{PluginDescriptor, PluginKind};

/// One registered plugin. Built by the `register_*!` macros.
pub struct Registration {
    name: &'static str,
    kind: PluginKind,
    version: &'static str,
    describe: fn(&'static str) -> FfiPluginDescriptor,
    new_task: Option<fn(&str, HostServicesArc) -> PluginResult<TaskBox>>,
    new_algorithm: Option<fn(&str, HostServicesArc) -> PluginResult<AlgorithmBox>>,
    new_curriculum: Option<fn(&str, HostServicesArc) -> PluginResult<CurriculumBox>>,
}

inventory::collect!(Registration);

fn describe<P: Plugin>(kind: PluginKind, version: &'static str) -> FfiPluginDescriptor {
    PluginDescriptor {
        name: P::NAME.into(),
        kind,
        version: version.into(),
        description: P::DESCRIPTION.into(),
        default_config: default_config_json::<P::Config>(),
        config_schema: config_schema_json::<P::Config>(),
    }
    .into()
}

fn build<P: Plugin>(config_json: &str, host: HostServicesArc) -> PluginResult<P> {
    let config = parse_config::<P::Config>(P::NAME, config_json)?;
    P::new(config, HostServices::new(host, P::NAME))
}

fn new_task_impl<T: Task>(config: &str, host: HostServicesArc) -> PluginResult<TaskBox> {
    Ok(FfiTask_TO::from_value(TaskAdapter(build::<T>(config, host)?), TD_Opaque))
}
fn new_shaper_impl<T: Shaper>(config: &str, host: HostServicesArc) -> PluginResult<AlgorithmBox> {
    Ok(FfiAlgorithm_TO::from_value(ShaperAdapter(build::<T>(config, host)?), TD_Opaque))
}
fn new_estimator_impl<T: Estimator>(config: &str, host: HostServicesArc) -> PluginResult<AlgorithmBox> {
    Ok(FfiAlgorithm_TO::from_value(EstimatorAdapter(build::<T>(config, host)?), TD_Opaque))
}
fn new_curriculum_impl<T: Curriculum>(config: &str, host: HostServicesArc) -> PluginResult<CurriculumBox> {
    Ok(FfiCurriculum_TO::from_value(CurriculumAdapter(build::<T>(config, host)?), TD_Opaque))
}

impl Registration {
    /// Registration of a task plugin (use [`crate::register_task!`]).
    pub const fn task<T: Task>(version: &'static str) -> Self {
        Registration {
            name: T::NAME,
            kind: PluginKind::Task,
            version,
            describe: |v| describe::<T>(PluginKind::Task, v),
            new_task: Some(new_task_impl::<T>),
            new_algorithm: None,
            new_curriculum: None,
        }
    }
    /// Registration of a reward shaper (use [`crate::register_shaper!`]).
    pub const fn shaper<T: Shaper>(version: &'static str) -> Self {
        Registration {
            name: T::NAME,
            kind: PluginKind::Algorithm,
            version,
            describe: |v| describe::<T>(PluginKind::Algorithm, v),
            new_task: None,
            new_algorithm: Some(new_shaper_impl::<T>),
            new_curriculum: None,
        }
    }
    /// Registration of an advantage estimator (use [`crate::register_estimator!`]).
    pub const fn estimator<T: Estimator>(version: &'static str) -> Self {
        Registration {
            name: T::NAME,
            kind: PluginKind::Algorithm,
            version,
            describe: |v| describe::<T>(PluginKind::Algorithm, v),
            new_task: None,
            new_algorithm: Some(new_estimator_impl::<T>),
            new_curriculum: None,
        }
    }
    /// Registration of a curriculum plugin (use [`crate::register_curriculum!`]).
    pub const fn curriculum<T: Curriculum>(version: &'static str) -> Self {
        Registration {
            name: T::NAME,
            kind: PluginKind::Curriculum,
            version,
            describe: |v| describe::<T>(PluginKind::Curriculum, v),
            new_task: None,
            new_algorithm: None,
            new_curriculum: Some(new_curriculum_impl::<T>),
        }
    }
}

fn find(name: &str, kind: PluginKind) -> Result<&'static Registration, String> {
    inventory::iter::<Registration>
        .into_iter()
        .find(|r| r.name == name && r.kind == kind)
        .ok_or_else(|| format!("this library has no {} plugin named '{name}'", kind.as_str()))
}

extern "C" fn plugins() -> RVec<FfiPluginDescriptor> {
    // Describing is plain serde work; a panic here would be a bug in a
    // plugin's config type, so report it as an empty list rather than abort.
    match guard("<library>", "plugins", || {
        Ok(inventory::iter::<Registration>.into_iter().map(|r| (r.describe)(r.version)).collect::<RVec<_>>())
    }) {
        abi_stable::std_types::ROk(v) => v,
        RErr(_) => RVec::new(),
    }
}

extern "C" fn new_task(name: RStr<'_>, config: RStr<'_>, host: HostServicesArc) -> RResult<TaskBox, RString> {
    let name = name.as_str();
    guard(name, "new", || {
        let reg = find(name, PluginKind::Task)?;
        (reg.new_task.expect("task registration"))(config.as_str(), host)
    })
    .map_err(strip_double_prefix)
}

extern "C" fn new_algorithm(
    name: RStr<'_>,
    config: RStr<'_>,
    host: HostServicesArc,
) -> RResult<AlgorithmBox, RString> {
    let name = name.as_str();
    guard(name, "new", || {
        let reg = find(name, PluginKind::Algorithm)?;
        (reg.new_algorithm.expect("algorithm registration"))(config.as_str(), host)
    })
    .map_err(strip_double_prefix)
}

extern "C" fn new_curriculum(
    name: RStr<'_>,
    config: RStr<'_>,
    host: HostServicesArc,
) -> RResult<CurriculumBox, RString> {
    let name = name.as_str();
    guard(name, "new", || {
        let reg = find(name, PluginKind::Curriculum)?;
        (reg.new_curriculum.expect("curriculum registration"))(config.as_str(), host)
    })
    .map_err(strip_double_prefix)
}

/// Config errors already start with "plugin 'x': "; do not say it twice.
fn strip_double_prefix(e: RString) -> RString {
    let s = e.as_str();
    if let Some(rest) = s.strip_prefix("plugin '") {
        if let Some(end) = rest.find("': plugin '") {
            return RString::from(&rest[end + 3..]);
        }
    }
    e
}

/// The root module of this library (called by the exported header).
#[doc(hidden)]
pub fn root_module() -> PluginLibraryRef {
    PluginLibrary { plugins, new_task, new_algorithm, new_curriculum }.leak_into_prefix()
}

/// The symbol name abi_stable's loader looks up (`#[export_root_module]`
/// computes the same string; a unit test keeps the two in step).
#[doc(hidden)]
pub const ROOT_MODULE_LOADER_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// Exports every plugin registered in this library through one root module.
/// Call it once, at the top level of the library crate.
#[macro_export]
macro_rules! export_plugin_library {
    () => {
        #[doc(hidden)]
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        pub static TZ_PLUGIN_LIBRARY_HEADER: $crate::__private::LibHeader = {
            extern "C" fn erased_root_module() -> $crate::__private::RootModuleResult {
                $crate::__private::__call_root_module_loader($crate::export::root_module)
            }
            unsafe {
                $crate::__private::LibHeader::from_constructor::<$crate::ffi::PluginLibraryRef>(
                    erased_root_module,
                    $crate::__private::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

/// Registers a [`Task`] type with this library.
#[macro_export]
macro_rules! register_task {
    ($ty:ty) => {
        $crate::inventory::submit! { $crate::export::Registration::task::<$ty>(env!("CARGO_PKG_VERSION")) }
    };
}

/// Registers a [`Shaper`] type with this library (an algorithm plugin).
#[macro_export]
macro_rules! register_shaper {
    ($ty:ty) => {
        $crate::inventory::submit! { $crate::export::Registration::shaper::<$ty>(env!("CARGO_PKG_VERSION")) }
    };
}

/// Registers an [`Estimator`] type with this library (an algorithm plugin).
#[macro_export]
macro_rules! register_estimator {
    ($ty:ty) => {
        $crate::inventory::submit! { $crate::export::Registration::estimator::<$ty>(env!("CARGO_PKG_VERSION")) }
    };
}

/// Registers a [`Curriculum`] type with this library.
#[macro_export]
macro_rules! register_curriculum {
    ($ty:ty) => {
        $crate::inventory::submit! { $crate::export::Registration::curriculum::<$ty>(env!("CARGO_PKG_VERSION")) }
    };
}

/// In-process access for tests and for embedding the trainer: create a
/// registered plugin of this link unit directly, through the same FFI
/// objects (so the same adapters, conversions and panic guards run), as a
/// typed handle ([`crate::handle`]).
pub mod in_process {
    use super::*;
    use crate::handle::{Algorithm, CallError, Curriculum, Task};

    /// Descriptors of the plugins registered in this link unit.
    pub fn descriptors() -> Vec<PluginDescriptor> {
        plugins().into_iter().map(PluginDescriptor::from).collect()
    }
    pub fn task(name: &str, config: &str, host: HostServicesArc) -> Result<Task, CallError> {
        let boxed = new_task(name.into(), config.into(), host).into_result().map_err(CallError::from)?;
        Ok(Task::new(name, boxed))
    }
    pub fn algorithm(name: &str, config: &str, host: HostServicesArc) -> Result<Algorithm, CallError> {
        let boxed = new_algorithm(name.into(), config.into(), host).into_result().map_err(CallError::from)?;
        Algorithm::new(name, boxed)
    }
    pub fn curriculum(name: &str, config: &str, host: HostServicesArc) -> Result<Curriculum, CallError> {
        let boxed =
            new_curriculum(name.into(), config.into(), host).into_result().map_err(CallError::from)?;
        Ok(Curriculum::new(name, boxed))
    }
}
