//! `continual`: the operator-group curriculum of the continual-learning
//! experiments: `rounds` passes over the groups in order (by default
//! `plus → plus_minus → plus_minus_mul → plus_minus_mul_div`), training
//! `epochs_per_group` epochs on each group per pass (default 3 × 4 × 15 =
//! 180 epochs). The host turns each [`Stage`] into a data phase and snapshots
//! the model at stage boundaries. No rollout-length control.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tz_sdk::prelude::*;

use crate::schedule;

/// Configuration of the `continual` curriculum.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ContinualConfig {
    /// Data groups in training order; an empty list uses the task's groups in the task's order.
    pub groups: Vec<String>,
    /// Complete passes over the group sequence.
    pub rounds: u32,
    /// Epochs on each group in each round.
    pub epochs_per_group: u32,
}

impl Default for ContinualConfig {
    fn default() -> Self {
        ContinualConfig {
            groups: ["plus", "plus_minus", "plus_minus_mul", "plus_minus_mul_div"].map(String::from).to_vec(),
            rounds: 3,
            epochs_per_group: 15,
        }
    }
}

/// Sequential training over data groups, repeated for several rounds.
pub struct Continual {
    config: ContinualConfig,
}

impl Plugin for Continual {
    const NAME: &'static str = "continual";
    const DESCRIPTION: &'static str =
        "Continual learning over data groups in order (plus -> ... -> plus_minus_mul_div), rounds x epochs per group";
    type Config = ContinualConfig;

    fn new(config: ContinualConfig, _host: HostServices) -> PluginResult<Self> {
        Continual::with_config(config)
    }
}

impl Continual {
    /// Validates the config (one-line errors naming the key).
    pub fn with_config(config: ContinualConfig) -> PluginResult<Self> {
        schedule::check(config.rounds, &config.groups, config.epochs_per_group)?;
        Ok(Continual { config })
    }
}

impl Curriculum for Continual {
    fn plan(&self, task_groups: &[String]) -> PluginResult<Option<Plan>> {
        let groups = if self.config.groups.is_empty() { task_groups } else { &self.config.groups };
        if groups.is_empty() {
            return Err("no groups to train on: set `groups` or use a task that defines groups".into());
        }
        schedule::check(self.config.rounds, groups, self.config.epochs_per_group)?;
        Ok(Some(schedule::stages(self.config.rounds, groups, self.config.epochs_per_group)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages(plan: &Plan) -> Vec<(u32, String, u32)> {
        plan.stages.iter().map(|s| (s.round, s.group.to_string(), s.epochs)).collect()
    }

    #[test]
    fn default_plan_is_three_rounds_over_the_operator_groups() {
        let plan = Continual::with_config(ContinualConfig::default()).unwrap().plan(&[]).unwrap().unwrap();
        assert_eq!(plan.stages.len(), 12);
        let order = ["plus", "plus_minus", "plus_minus_mul", "plus_minus_mul_div"];
        for (i, (round, group, epochs)) in stages(&plan).into_iter().enumerate() {
            assert_eq!(round, i as u32 / 4 + 1);
            assert_eq!(group, order[i % 4]);
            assert_eq!(epochs, 15);
        }
        assert_eq!(plan.stages.iter().map(|s| s.epochs).sum::<u32>(), 180);
    }

    #[test]
    fn an_empty_group_list_uses_the_tasks_groups() {
        let config = ContinualConfig { groups: vec![], rounds: 2, epochs_per_group: 1 };
        let task = ["easy".to_string(), "hard".to_string()];
        let plan = Continual::with_config(config.clone()).unwrap().plan(&task).unwrap().unwrap();
        assert_eq!(
            stages(&plan),
            [(1, "easy".into(), 1), (1, "hard".into(), 1), (2, "easy".into(), 1), (2, "hard".into(), 1)]
        );
        let err = Continual::with_config(config).unwrap().plan(&[]).unwrap_err();
        assert!(err.starts_with("no groups to train on"), "{err}");
    }

    #[test]
    fn configured_groups_override_the_tasks() {
        let config = ContinualConfig { groups: vec!["b".into(), "a".into()], rounds: 1, epochs_per_group: 2 };
        let plan = Continual::with_config(config).unwrap().plan(&["a".into(), "b".into()]).unwrap().unwrap();
        assert_eq!(stages(&plan), [(1, "b".into(), 2), (1, "a".into(), 2)]);
    }

    #[test]
    fn no_window_control() {
        assert_eq!(Continual::with_config(ContinualConfig::default()).unwrap().window(), None);
    }
}
