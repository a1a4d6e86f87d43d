//! The host side of `HostServices`: plugin log lines go to our tracing, and
//! reward-model calls to the run's [`RewardService`] when it has one.

use std::sync::Arc;

use tz_sdk::abi_stable::sabi_trait::TD_Opaque;
use tz_sdk::abi_stable::std_types::{RArc, RErr, ROk, RResult, RSlice, RStr, RString, RVec};
use tz_sdk::ffi::{FfiHostServices, FfiHostServices_TO, HostServicesArc};
use tz_sdk::{LogLevel, RewardModelRequest};

use super::reward_service::RewardService;

/// Forwards plugin logs to `tracing` (target `plugin`) and serves the
/// neural reward model when the run configures one.
#[derive(Clone, Default)]
pub struct TracingHost {
    reward_model: Option<Arc<RewardService>>,
}

impl TracingHost {
    /// A handle without a reward model.
    pub fn handle() -> HostServicesArc {
        FfiHostServices_TO::from_ptr(RArc::new(TracingHost::default()), TD_Opaque)
    }

    /// The task's handle for a run: with the reward model of `section`
    /// loaded when its `path` is set (a load error is kept and returned by
    /// every call, so the run goes on), else without one.
    pub fn for_run(section: &crate::config::RewardModelSection) -> HostServicesArc {
        if section.path.is_empty() {
            Self::handle()
        } else {
            Self::with_reward_model(Arc::new(RewardService::load(section)))
        }
    }

    /// A handle whose reward-model calls go to `service`.
    pub fn with_reward_model(service: Arc<RewardService>) -> HostServicesArc {
        FfiHostServices_TO::from_ptr(RArc::new(TracingHost { reward_model: Some(service) }), TD_Opaque)
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
    fn reward_model_score(&self, batch: RSlice<'_, RewardModelRequest>) -> RResult<RVec<f32>, RString> {
        let Some(service) = &self.reward_model else {
            return RErr("no reward model is configured for this run (set reward_model.path)".into());
        };
        match service.score(batch.as_slice()) {
            Ok(scores) => ROk(RVec::from(scores)),
            Err(e) => RErr(RString::from(e)),
        }
    }
}
