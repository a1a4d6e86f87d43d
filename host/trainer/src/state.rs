//! The trainer state saved beside each checkpoint: enough to continue a
//! killed run exactly where its last checkpoint was taken.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tz_core::kl::KlController;
use tz_run_dir::write_atomic;
use tz_sdk::{KlEstimator, KlPlacement, KlSettings};

use crate::error::{Context, Result};
use crate::prompts::PoolState;

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
    /// Wall-clock seconds of the run so far (every session).
    pub elapsed_s: f64,
    /// Of `elapsed_s`, the seconds spent validating: kept out of the RL
    /// time budget (absent in states written before it existed: 0).
    #[serde(default)]
    pub validation_s: f64,
    pub tokens: u64,
    pub cumulative_reward: f64,
    /// Consecutive steps whose rewards were all equal.
    pub flat_steps: u64,
    pub collapsed: bool,
    /// Validation before training.
    pub before: BTreeMap<String, f64>,
    pub seed: u64,
    /// Data-parallel ranks that trained it (absent in older states: 1); a
    /// resume must have as many.
    #[serde(default = "one")]
    pub world_size: usize,
}

fn one() -> usize {
    1
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
            validation_s: 0.0,
            tokens: 0,
            cumulative_reward: 0.0,
            flat_steps: 0,
            collapsed: false,
            before: BTreeMap::new(),
            seed,
            world_size: 1,
        }
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        Ok(write_atomic(&dir.join("trainer_state.json"), serde_json::to_string_pretty(self)?.as_bytes())?)
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("trainer_state.json");
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a trainer state", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state written before the trainer became a library (see
    /// tests/fixtures/run-before-library/README.md).
    const OLD_STATE: &str = include_str!("../tests/fixtures/run-before-library/trainer_state.json");

    #[test]
    fn a_state_written_before_the_library_loads_and_saves_the_same_fields() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("trainer_state.json"), OLD_STATE).unwrap();
        let state = TrainerState::load(dir.path()).unwrap();
        assert_eq!(
            (state.step, state.stage_step, state.tokens, state.validation_s),
            (2, 2, state.tokens, 0.0)
        );
        assert!(state.curricula.contains_key("adaptive") && state.pool.is_some());
        assert_eq!(state.world_size, 1, "an old run was trained by one process");
        state.save(dir.path()).unwrap();
        let old: serde_json::Value = serde_json::from_str(OLD_STATE).unwrap();
        let new: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("trainer_state.json")).unwrap())
                .unwrap();
        // Every old field is written back unchanged; the new fields are the
        // validation clock and the world size.
        let (old, mut new) = (old.as_object().unwrap().clone(), new.as_object().unwrap().clone());
        assert_eq!(new.remove("validation_s"), Some(serde_json::json!(0.0)));
        assert_eq!(new.remove("world_size"), Some(serde_json::json!(1)));
        assert_eq!(new, old);
    }
}
