//! `full`: the full-rollout baseline. It has no opinion on the window
//! (`window()` is `None`), so every batch uses the run's own
//! `max_response_length` (e.g. 4096 in the adaptive-rollout experiments); it
//! exists so the baseline is named in run configs and plots next to
//! `adaptive` and `fixed`. Returning `None` rather than a configured number
//! keeps one source of truth for the max: the run config.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tz_sdk::prelude::*;

/// The `full` baseline has no settings.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FullConfig {}

/// Always the run's max window.
pub struct Full;

impl Plugin for Full {
    const NAME: &'static str = "full";
    const DESCRIPTION: &'static str = "Full-rollout baseline: every batch uses the run's max_response_length";
    type Config = FullConfig;

    fn new(_config: FullConfig, _host: HostServices) -> PluginResult<Self> {
        Ok(Full)
    }
}

impl Curriculum for Full {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_leaves_window_and_data_to_the_run() {
        let mut f = Full;
        assert_eq!(f.window(), None);
        assert!(f.observe(&BatchStats::default()).unwrap().is_empty());
        assert_eq!(f.plan(&["plus".into()]).unwrap(), None);
    }
}
