//! `fixed`: the vanilla fixed-length baseline. Every batch is generated with
//! the same `max_response_length` (which may be below the run's max, e.g. to
//! compare a short fixed budget with `adaptive`). No data stages.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tz_sdk::prelude::*;

/// Configuration of the `fixed` window.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FixedConfig {
    /// The max new-token limit of every batch (the trainer caps it at the run's max).
    pub max_response_length: u32,
}

impl Default for FixedConfig {
    /// TinyZero's `data.max_response_length`.
    fn default() -> Self {
        FixedConfig { max_response_length: 1024 }
    }
}

/// A constant rollout-length window.
pub struct Fixed {
    config: FixedConfig,
}

impl Plugin for Fixed {
    const NAME: &'static str = "fixed";
    const DESCRIPTION: &'static str =
        "Vanilla baseline: a constant rollout-length window (max_response_length)";
    type Config = FixedConfig;

    fn new(config: FixedConfig, _host: HostServices) -> PluginResult<Self> {
        Fixed::with_config(config)
    }
}

impl Fixed {
    /// Validates the config (one-line errors naming the key).
    pub fn with_config(config: FixedConfig) -> PluginResult<Self> {
        if config.max_response_length == 0 {
            return Err("config key 'max_response_length': must be at least 1".into());
        }
        Ok(Fixed { config })
    }
}

impl Curriculum for Fixed {
    fn window(&self) -> Option<u32> {
        Some(self.config.max_response_length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_constant() {
        let mut f = Fixed::with_config(FixedConfig { max_response_length: 300 }).unwrap();
        assert_eq!(f.window(), Some(300));
        f.observe(&BatchStats { window: 300, max_window: 1024, ..BatchStats::default() }).unwrap();
        assert_eq!(f.window(), Some(300));
        assert_eq!(f.plan(&["plus".into()]).unwrap(), None);
    }

    #[test]
    fn a_zero_length_is_rejected() {
        let err = Fixed::with_config(FixedConfig { max_response_length: 0 }).err().unwrap();
        assert_eq!(err, "config key 'max_response_length': must be at least 1");
    }
}
