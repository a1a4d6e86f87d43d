//! `random`: the control for `continual`. The same schedule (rounds × groups
//! × epochs) over groups `0, 1, 2, 3` that the data layer fills by a random,
//! equal-sized split of one data set, so any difference from `continual` comes
//! from the operator ordering, not from the schedule. No rollout-length
//! control.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tz_sdk::prelude::*;

use crate::schedule;

/// Configuration of the `random` control curriculum.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RandomConfig {
    /// Names of the random splits, in training order (the data layer splits one data set into this many equal parts).
    pub groups: Vec<String>,
    /// Complete passes over the group sequence.
    pub rounds: u32,
    /// Epochs on each group in each round.
    pub epochs_per_group: u32,
}

impl Default for RandomConfig {
    fn default() -> Self {
        RandomConfig {
            groups: ["0", "1", "2", "3"].map(String::from).to_vec(),
            rounds: 3,
            epochs_per_group: 15,
        }
    }
}

/// The random-split control schedule.
pub struct Random {
    config: RandomConfig,
}

impl Plugin for Random {
    const NAME: &'static str = "random";
    const DESCRIPTION: &'static str =
        "Control for continual: the same rounds x groups x epochs schedule over random equal splits 0..3 of one data set";
    type Config = RandomConfig;

    fn new(config: RandomConfig, _host: HostServices) -> PluginResult<Self> {
        Random::with_config(config)
    }
}

impl Random {
    /// Validates the config (one-line errors naming the key).
    pub fn with_config(config: RandomConfig) -> PluginResult<Self> {
        if config.groups.is_empty() {
            return Err("config key 'groups': needs at least one split name".into());
        }
        schedule::check(config.rounds, &config.groups, config.epochs_per_group)?;
        Ok(Random { config })
    }
}

impl Curriculum for Random {
    /// The splits are data-layer groups, not task groups: the task's list is not used.
    fn plan(&self, _task_groups: &[String]) -> PluginResult<Option<Plan>> {
        Ok(Some(schedule::stages(self.config.rounds, &self.config.groups, self.config.epochs_per_group)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_plan_cycles_the_four_splits_three_times() {
        let plan =
            Random::with_config(RandomConfig::default()).unwrap().plan(&["plus".into()]).unwrap().unwrap();
        let got: Vec<(u32, &str)> = plan.stages.iter().map(|s| (s.round, s.group.as_str())).collect();
        let mut want = Vec::new();
        for round in 1..=3 {
            for g in ["0", "1", "2", "3"] {
                want.push((round, g));
            }
        }
        assert_eq!(got, want);
        assert!(plan.stages.iter().all(|s| s.epochs == 15));
    }

    #[test]
    fn an_empty_split_list_is_rejected() {
        let err =
            Random::with_config(RandomConfig { groups: vec![], ..RandomConfig::default() }).err().unwrap();
        assert_eq!(err, "config key 'groups': needs at least one split name");
    }
}
