//! Helpers for tests and simple hosts: a [`HostServices`](crate::HostServices)
//! implementation that records log lines and has no reward model.

use std::sync::{Arc, Mutex};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, RErr, RResult, RSlice, RStr, RString, RVec};

use crate::ffi::{FfiHostServices, FfiHostServices_TO, HostServicesArc};
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
    fn reward_model_score(&self, _batch: RSlice<'_, RewardModelRequest>) -> RResult<RVec<f32>, RString> {
        RErr("no reward model is configured in this host".into())
    }
}

/// A host handle for tests, plus the lines it records.
pub fn recording_host() -> (HostServicesArc, LogLines) {
    let host = RecordingHost::default();
    let lines = host.lines.clone();
    (FfiHostServices_TO::from_ptr(RArc::new(host), TD_Opaque), lines)
}
