//! The trainer state saved beside each checkpoint: enough to continue a
//! killed run exactly where its last checkpoint was taken.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tz_core::kl::KlController;
use tz_sdk::{KlEstimator, KlPlacement, KlSettings};

use super::prompts::PoolState;
use super::run_dir::write_atomic;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainerState {
    pub step: u64,
    /// Index into the curriculum plan and steps taken in that stage.
    pub stage: usize,
    pub stage_step: u64,
    /// The reader of the current stage's pool.
    pub pool: Option<PoolState>,
    /// Each curriculum's own state (JSON text), by name.
    pub curricula: BTreeMap<String, String>,
    /// The task's own state (JSON text; e.g. the hybrid task's RM bounds).
    #[serde(default)]
    pub task: Option<String>,
    pub kl: KlController,
    pub elapsed_s: f64,
    pub tokens: u64,
    pub cumulative_reward: f64,
    /// Consecutive steps whose rewards were all equal.
    pub flat_steps: u64,
    pub collapsed: bool,
    /// Validation before training.
    pub before: BTreeMap<String, f64>,
    pub seed: u64,
}

impl TrainerState {
    pub fn new(seed: u64) -> Self {
        let off = KlSettings {
            placement: KlPlacement::None,
            estimator: KlEstimator::K1,
            coef: 0.0,
            adaptive_target: 0.0,
            adaptive_horizon: 1.0,
        };
        TrainerState {
            step: 0,
            stage: 0,
            stage_step: 0,
            pool: None,
            curricula: BTreeMap::new(),
            task: None,
            kl: KlController::from_settings(&off),
            elapsed_s: 0.0,
            tokens: 0,
            cumulative_reward: 0.0,
            flat_steps: 0,
            collapsed: false,
            before: BTreeMap::new(),
            seed,
        }
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        write_atomic(&dir.join("trainer_state.json"), serde_json::to_string_pretty(self)?.as_bytes())
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("trainer_state.json");
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a trainer state", path.display()))
    }
}
