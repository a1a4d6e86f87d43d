//! Helpers for tests and simple hosts: a [`HostServices`](crate::HostServices)
//! implementation that records log lines and has no reward model, or a
//! scripted one ([`recording_host_with_reward_model`]).

use std::sync::{Arc, Mutex};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, RErr, ROk, RResult, RSlice, RStr, RString, RVec};

use crate::ffi::{FfiHostServices, FfiHostServices_TO, FfiRewardModelRequest, HostServicesArc};
use crate::types::{LogLevel, RewardModelRequest};

/// Log lines a [`RecordingHost`] received: (level, plugin, message).
pub type LogLines = Arc<Mutex<Vec<(LogLevel, String, String)>>>;

/// Records every log line; reward-model calls fail ("no reward model").
#[derive(Clone, Default)]
pub struct RecordingHost {
    pub lines: LogLines,
}

impl FfiHostServices for RecordingHost {
    fn log(&self, level: LogLevel, plugin: RStr<'_>, message: RStr<'_>) {
        self.lines.lock().unwrap().push((level, plugin.to_string(), message.to_string()));
    }
    fn reward_model_score(&self, _batch: RSlice<'_, FfiRewardModelRequest>) -> RResult<RVec<f32>, RString> {
        RErr("no reward model is configured in this host".into())
    }
}

/// A host handle for tests, plus the lines it records.
pub fn recording_host() -> (HostServicesArc, LogLines) {
    let host = RecordingHost::default();
    let lines = host.lines.clone();
    (FfiHostServices_TO::from_ptr(RArc::new(host), TD_Opaque), lines)
}

/// A scripted reward model: answers each batch of requests.
pub type RewardModelFn = Arc<dyn Fn(&[RewardModelRequest]) -> Result<Vec<f32>, String> + Send + Sync>;

/// Records log lines like [`RecordingHost`] and answers reward-model calls
/// with a function (to test plugins that use the host's reward model).
#[derive(Clone)]
pub struct ScriptedRewardHost {
    pub lines: LogLines,
    pub reward_model: RewardModelFn,
}

impl FfiHostServices for ScriptedRewardHost {
    fn log(&self, level: LogLevel, plugin: RStr<'_>, message: RStr<'_>) {
        self.lines.lock().unwrap().push((level, plugin.to_string(), message.to_string()));
    }
    fn reward_model_score(&self, batch: RSlice<'_, FfiRewardModelRequest>) -> RResult<RVec<f32>, RString> {
        let batch: Vec<RewardModelRequest> = batch.iter().cloned().map(Into::into).collect();
        match (self.reward_model)(&batch) {
            Ok(scores) => ROk(RVec::from(scores)),
            Err(e) => RErr(RString::from(e)),
        }
    }
}

/// A host handle whose reward model is `score`, plus the lines it records.
pub fn recording_host_with_reward_model(
    score: impl Fn(&[RewardModelRequest]) -> Result<Vec<f32>, String> + Send + Sync + 'static,
) -> (HostServicesArc, LogLines) {
    let host = ScriptedRewardHost { lines: LogLines::default(), reward_model: Arc::new(score) };
    let lines = host.lines.clone();
    (FfiHostServices_TO::from_ptr(RArc::new(host), TD_Opaque), lines)
}
