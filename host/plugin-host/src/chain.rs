//! A run's algorithm chain: reward shapers in order, then one estimator.

use tz_sdk::handle::{Algorithm, Estimator, Shaper};

use crate::error::{PluginHostError, Result};

/// The algorithm chain of a run, each plugin already split by its role.
pub struct AlgorithmChain {
    pub shapers: Vec<Shaper>,
    pub estimator: Estimator,
}

impl AlgorithmChain {
    /// Splits `algorithms` (in chain order) by role; exactly one must be an
    /// estimator. `names` is the chain as the user gave it, for the message.
    pub fn new(algorithms: Vec<Algorithm>) -> Result<AlgorithmChain> {
        let chain = algorithms.iter().map(Algorithm::name).collect::<Vec<_>>().join(",");
        let mut shapers = Vec::new();
        let mut estimators = Vec::new();
        for a in algorithms {
            match a {
                Algorithm::Shaper(s) => shapers.push(s),
                Algorithm::Estimator(e) => estimators.push(e),
            }
        }
        let problem = match estimators.len() {
            1 => return Ok(AlgorithmChain { shapers, estimator: estimators.pop().expect("one estimator") }),
            0 => "the chain needs one advantage estimator (e.g. grpo or ppo)".to_string(),
            n => format!(
                "the chain has {n} advantage estimators ({}); keep exactly one",
                estimators.iter().map(Estimator::name).collect::<Vec<_>>().join(", ")
            ),
        };
        Err(PluginHostError::Chain { chain, problem })
    }
}
