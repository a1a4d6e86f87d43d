//! The reward-model service behind `HostServices::reward_model_score`.
//!
//! Loaded once per run from the `[reward_model]` section, on its own device
//! and dtype. Every failure reaches the plugin as an error string, never a
//! panic: a load error (reported on every call, so the plugin can fall back
//! and count), a scoring error, a panic inside libtorch (caught), or a
//! non-finite score.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use tz_config::RewardModelSection;
use tz_core::device::{parse_device, parse_dtype};
use tz_core::{CoreError, Result};
use tz_core::{RewardModel, RewardModelOptions};
use tz_plugin_host::{RewardModelService, TracingHost};
use tz_sdk::ffi::HostServicesArc;
use tz_sdk::RewardModelRequest;

/// The task's host handle for a run: with the reward model of `section`
/// loaded when its `path` is set (a load error is kept and returned by
/// every call, so the run goes on), else without one.
pub fn host_for_run(section: &RewardModelSection) -> HostServicesArc {
    if section.path.is_empty() {
        TracingHost::handle()
    } else {
        TracingHost::with_reward_model(Arc::new(RewardService::load(section)))
    }
}

/// A loaded reward model, or why it could not be loaded.
pub struct RewardService {
    model: std::result::Result<Mutex<RewardModel>, String>,
}

impl RewardService {
    /// Loads the reward model of `section` (whose `path` is set). A load
    /// error is logged as a warning and kept: the run goes on and every
    /// scoring call returns it.
    pub fn load(section: &RewardModelSection) -> RewardService {
        let model = Self::try_load(section).map(Mutex::new).map_err(|e| {
            let msg = format!("the reward model {} could not be loaded: {e:#}", section.path);
            tracing::warn!("{msg}; rewards that need it fall back to what the task can do without it");
            msg
        });
        if model.is_ok() {
            tracing::info!("reward model {} loaded ({} on {})", section.path, section.dtype, section.device);
        }
        RewardService { model }
    }

    fn try_load(section: &RewardModelSection) -> Result<RewardModel> {
        let dir = tz_core::hub::resolve_model(&section.path)?;
        let opts = RewardModelOptions {
            device: parse_device(&section.device)
                .map_err(|e| CoreError::Invalid(format!("reward_model.device: {e}")))?,
            kind: parse_dtype(&section.dtype)
                .map_err(|e| CoreError::Invalid(format!("reward_model.dtype: {e}")))?,
            batch_size: section.batch_size,
            max_length: section.max_length,
            system_prompt: section.system_prompt.clone(),
        };
        RewardModel::load(&dir, opts)
    }

    /// Whether the model loaded.
    pub fn is_loaded(&self) -> bool {
        self.model.is_ok()
    }
}

impl RewardModelService for RewardService {
    /// One finite score per request, or a one-line error.
    fn score(&self, batch: &[RewardModelRequest]) -> std::result::Result<Vec<f32>, String> {
        let model = self.model.as_ref().map_err(Clone::clone)?;
        let model = model.lock().unwrap_or_else(|p| p.into_inner());
        let pairs: Vec<(&str, &str)> =
            batch.iter().map(|r| (r.prompt.as_str(), r.response.as_str())).collect();
        let scores = catch_unwind(AssertUnwindSafe(|| model.score(&pairs)))
            .map_err(|p| {
                let what = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                format!("the reward model crashed: {}", what.lines().next().unwrap_or(""))
            })?
            .map_err(|e| format!("the reward model failed: {e:#}"))?;
        if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
            return Err(format!("the reward model gave a non-finite score ({}) for response {i}", scores[i]));
        }
        Ok(scores)
    }
}
