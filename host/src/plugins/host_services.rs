//! The host side of `HostServices`: plugin log lines go to our tracing.

use tz_sdk::abi_stable::sabi_trait::TD_Opaque;
use tz_sdk::abi_stable::std_types::{RArc, RErr, RResult, RSlice, RStr, RString, RVec};
use tz_sdk::ffi::{FfiHostServices, FfiHostServices_TO, HostServicesArc};
use tz_sdk::{LogLevel, RewardModelRequest};

/// Forwards plugin logs to `tracing` (target `plugin`). The neural reward
/// model service is attached by the trainer when a run configures one.
#[derive(Clone, Default)]
pub struct TracingHost;

impl TracingHost {
    pub fn handle() -> HostServicesArc {
        FfiHostServices_TO::from_ptr(RArc::new(TracingHost), TD_Opaque)
    }
}

impl FfiHostServices for TracingHost {
    fn log(&self, level: LogLevel, plugin: RStr<'_>, message: RStr<'_>) {
        let (plugin, message) = (plugin.as_str(), message.as_str());
        match level {
            LogLevel::Error => tracing::error!(target: "plugin", plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
            LogLevel::Info => tracing::info!(target: "plugin", plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            LogLevel::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
        }
    }
    fn reward_model_score(&self, _batch: RSlice<'_, RewardModelRequest>) -> RResult<RVec<f32>, RString> {
        RErr("no reward model is configured for this run (set reward_model.path)".into())
    }
}
