//! The binary interface itself: the root module every plugin library exports
//! and the FFI-safe trait objects it hands out.
//!
//! Plugin authors never implement these traits by hand: they implement the
//! plain Rust traits in [`crate::plugin`], and [`crate::adapter`] wraps them so
//! that every call runs under `catch_unwind` (abi_stable would otherwise end
//! the whole host with `exit(1)` on a plugin panic). Hosts never call them
//! by hand either: [`crate::handle`] wraps each box in a typed handle that
//! speaks plain Rust and returns `Result`.
//!
//! Compatibility rules (abi_stable prefix types): new methods and new root
//! module fields are only ever appended after the `last_prefix_field` marks,
//! and the sdk version is bumped; abi_stable checks version and layout when a
//! library is loaded.

// The sabi_trait macro predates the non_local_definitions lint.
#![allow(non_local_definitions)]

use abi_stable::library::RootModule;
use abi_stable::package_version_strings;
use abi_stable::sabi_trait;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RArc, RBox, ROk, ROption, RResult, RSlice, RStr, RString, RVec};
use abi_stable::{declare_root_module_statics, StableAbi};

pub use crate::abi_types::*;
use crate::types::{AlgorithmRole, LogLevel};

/// A task instance across the boundary (see [`crate::plugin::Task`]).
#[sabi_trait]
pub trait FfiTask: Send + Sync {
    fn groups(&self) -> RResult<RVec<RString>, RString>;
    fn templates(&self) -> RResult<RVec<RString>, RString>;
    fn generate(&self, group: RStr<'_>, count: u64, seed: u64) -> RResult<RVec<FfiSample>, RString>;
    fn sample_from_row(&self, row_json: RStr<'_>) -> RResult<FfiSample, RString>;
    fn sample_to_row(&self, sample: &FfiSample, template: RStr<'_>) -> RResult<RString, RString>;
    fn prompt(&self, sample: &FfiSample, template: RStr<'_>) -> RResult<FfiPromptSpec, RString>;
    fn score(&self, batch: RSlice<'_, FfiScoreInput>) -> RResult<RVec<FfiScore>, RString>;
    #[sabi(last_prefix_field)]
    fn reference_solution(
        &self,
        sample: &FfiSample,
        template: RStr<'_>,
    ) -> RResult<ROption<RString>, RString>;
    // Appended for stateful rewards (the hybrid task), with default bodies.
    // The vtable's layout changed with them: abi_stable refuses a library
    // built before them at load time ("rebuild the plugin"), never a crash.
    fn warm_up_size(&self) -> RResult<u64, RString> {
        ROk(0)
    }
    fn warm_up(&self, _batch: RSlice<'_, FfiScoreInput>) -> RResult<RVec<FfiMetric>, RString> {
        ROk(RVec::new())
    }
    fn state(&self) -> RResult<RString, RString> {
        ROk(RString::from("null"))
    }
    fn restore(&self, _state_json: RStr<'_>) -> RResult<(), RString> {
        ROk(())
    }
    fn end_batch(&self) -> RResult<RVec<FfiMetric>, RString> {
        ROk(RVec::new())
    }
}

/// An algorithm instance across the boundary (see [`crate::plugin::Algorithm`]).
#[sabi_trait]
pub trait FfiAlgorithm: Send + Sync {
    fn role(&self) -> RResult<AlgorithmRole, RString>;
    fn loss_settings(&self) -> RResult<FfiLossSettings, RString>;
    fn shape(&self, input: &FfiShapeInput) -> RResult<RVec<f32>, RString>;
    #[sabi(last_prefix_field)]
    fn estimate(&self, input: &FfiAdvantageInput) -> RResult<FfiAdvantageOutput, RString>;
}

/// A curriculum instance across the boundary (see [`crate::plugin::Curriculum`]).
#[sabi_trait]
pub trait FfiCurriculum: Send + Sync {
    fn plan(&self, groups: RSlice<'_, RString>) -> RResult<ROption<FfiPlan>, RString>;
    fn window(&self) -> RResult<ROption<u32>, RString>;
    fn observe(&mut self, stats: &FfiBatchStats) -> RResult<RVec<FfiMetric>, RString>;
    fn state(&self) -> RResult<RString, RString>;
    #[sabi(last_prefix_field)]
    fn restore(&mut self, state_json: RStr<'_>) -> RResult<(), RString>;
}

/// What the host offers plugins (see [`crate::plugin::HostServices`]).
#[sabi_trait]
pub trait FfiHostServices: Send + Sync + Clone {
    fn log(&self, level: LogLevel, plugin: RStr<'_>, message: RStr<'_>);
    #[sabi(last_prefix_field)]
    fn reward_model_score(&self, batch: RSlice<'_, FfiRewardModelRequest>) -> RResult<RVec<f32>, RString>;
}

pub type TaskBox = FfiTask_TO<'static, RBox<()>>;
pub type AlgorithmBox = FfiAlgorithm_TO<'static, RBox<()>>;
pub type CurriculumBox = FfiCurriculum_TO<'static, RBox<()>>;
pub type HostServicesArc = FfiHostServices_TO<'static, RArc<()>>;

/// The root module of a plugin library: one per `.so`, exporting every plugin
/// the library registered (see [`crate::export_plugin_library!`]).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginLibraryRef)))]
#[sabi(missing_field(panic))]
pub struct PluginLibrary {
    /// Descriptors of every plugin in the library.
    pub plugins: extern "C" fn() -> RVec<FfiPluginDescriptor>,
    /// Creates one plugin: `(name, config_json, host)`.
    pub new_task: extern "C" fn(RStr<'_>, RStr<'_>, HostServicesArc) -> RResult<TaskBox, RString>,
    pub new_algorithm: extern "C" fn(RStr<'_>, RStr<'_>, HostServicesArc) -> RResult<AlgorithmBox, RString>,
    #[sabi(last_prefix_field)]
    pub new_curriculum: extern "C" fn(RStr<'_>, RStr<'_>, HostServicesArc) -> RResult<CurriculumBox, RString>,
}

impl RootModule for PluginLibraryRef {
    declare_root_module_statics! {PluginLibraryRef}
    const BASE_NAME: &'static str = "tz_plugin";
    const NAME: &'static str = "tz-sdk";
    /// The sdk's Cargo version: a library built against an incompatible sdk
    /// is refused at load time with both versions named.
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
