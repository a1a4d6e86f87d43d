//! The host side of `HostServices`: plugin log lines go to our tracing, and
//! reward-model calls to the run's [`RewardModelService`] when it has one.

use std::sync::Arc;

use tz_sdk::abi_stable::sabi_trait::TD_Opaque;
use tz_sdk::abi_stable::std_types::{RArc, RErr, ROk, RResult, RSlice, RStr, RString, RVec};
use tz_sdk::ffi::{FfiHostServices, FfiHostServices_TO, FfiRewardModelRequest, HostServicesArc};
use tz_sdk::{LogLevel, RewardModelRequest};

/// A neural reward model the host serves to plugins (the trainer's
/// implementation runs a sequence-classification model; tests script one).
pub trait RewardModelService: Send + Sync {
    /// One finite score per request, or a one-line error.
    fn score(&self, batch: &[RewardModelRequest]) -> Result<Vec<f32>, String>;
}

/// Forwards plugin logs to `tracing` (target `plugin`) and serves the
/// neural reward model when the run configures one.
#[derive(Clone, Default)]
pub struct TracingHost {
    reward_model: Option<Arc<dyn RewardModelService>>,
}

impl TracingHost {
    /// A handle without a reward model.
    pub fn handle() -> HostServicesArc {
        FfiHostServices_TO::from_ptr(RArc::new(TracingHost::default()), TD_Opaque)
    }

    /// A handle whose reward-model calls go to `service`.
    pub fn with_reward_model(service: Arc<dyn RewardModelService>) -> HostServicesArc {
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
    fn reward_model_score(&self, batch: RSlice<'_, FfiRewardModelRequest>) -> RResult<RVec<f32>, RString> {
        let Some(service) = &self.reward_model else {
            return RErr("no reward model is configured for this run (set reward_model.path)".into());
        };
        let batch: Vec<RewardModelRequest> = batch.iter().cloned().map(Into::into).collect();
        match service.score(&batch) {
            Ok(scores) => ROk(RVec::from(scores)),
            Err(e) => RErr(RString::from(e)),
        }
    }
}
