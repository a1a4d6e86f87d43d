//! The loss settings an estimator's config carries, under the names users
//! know from veRL (`clip_ratio_high`, `kl_loss_type`-style estimator names,
//! `loss_agg_mode` values), and their validation.
//!
//! The sdk's [`LossSettings`] is the type the trainer reads; these mirror
//! enums exist because config keys need a JSON Schema (for `tzhost plugins`)
//! and veRL's aliases (`low_var_kl`, `kl`, `mse`), which the sdk enums do
//! not carry.
//!
//! The loss keys every estimator shares are declared once, in
//! [`estimator_config!`]: serde's `flatten` would not combine with
//! `deny_unknown_fields` (unknown keys must stay errors naming the key).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tz_sdk::{
    require, require_finite, require_in, CriticSettings, KlEstimator, KlPlacement, KlSettings,
    LossAggregation, LossSettings, PluginResult,
};

/// Where the KL penalty to the frozen reference model goes.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KlPlacementName {
    /// No KL term, and no reference model is loaded.
    None,
    /// Added to the actor loss (GRPO style, veRL `use_kl_loss`).
    Loss,
    /// Subtracted from every token's reward (PPO style, veRL `use_kl_in_reward`).
    Reward,
}

/// The per-token KL estimator (veRL names are accepted as aliases).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KlEstimatorName {
    /// `logp - ref` (veRL `kl`).
    #[serde(alias = "kl")]
    K1,
    /// `|logp - ref|`.
    Abs,
    /// `0.5 (logp - ref)^2` (veRL `mse`).
    #[serde(alias = "mse")]
    K2,
    /// `exp(ref - logp) - (ref - logp) - 1`, clamped (veRL `low_var_kl`).
    #[serde(alias = "low_var_kl")]
    K3,
}

/// How per-token losses are reduced to one number (veRL `loss_agg_mode`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossAggName {
    /// Mean over all valid tokens of the batch (DAPO, veRL default).
    #[serde(rename = "token-mean")]
    TokenMean,
    /// Per-response token sums, averaged over responses.
    #[serde(rename = "seq-mean-token-sum")]
    SeqMeanTokenSum,
    /// Per-response token means, averaged over responses (original GRPO).
    #[serde(rename = "seq-mean-token-mean")]
    SeqMeanTokenMean,
    /// Per-response token sums over the max response length, averaged over responses (Dr. GRPO).
    #[serde(rename = "seq-mean-token-sum-norm")]
    SeqMeanTokenSumNorm,
}

impl From<KlPlacementName> for KlPlacement {
    fn from(v: KlPlacementName) -> Self {
        match v {
            KlPlacementName::None => KlPlacement::None,
            KlPlacementName::Loss => KlPlacement::Loss,
            KlPlacementName::Reward => KlPlacement::Reward,
        }
    }
}

impl From<KlEstimatorName> for KlEstimator {
    fn from(v: KlEstimatorName) -> Self {
        match v {
            KlEstimatorName::K1 => KlEstimator::K1,
            KlEstimatorName::Abs => KlEstimator::Abs,
            KlEstimatorName::K2 => KlEstimator::K2,
            KlEstimatorName::K3 => KlEstimator::K3,
        }
    }
}

impl From<LossAggName> for LossAggregation {
    fn from(v: LossAggName) -> Self {
        match v {
            LossAggName::TokenMean => LossAggregation::TokenMean,
            LossAggName::SeqMeanTokenSum => LossAggregation::SeqMeanTokenSum,
            LossAggName::SeqMeanTokenMean => LossAggregation::SeqMeanTokenMean,
            LossAggName::SeqMeanTokenSumNorm => LossAggregation::SeqMeanTokenSumNorm,
        }
    }
}

/// The loss keys shared by every estimator config, gathered for validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossKnobs {
    pub clip_ratio_low: f32,
    pub clip_ratio_high: f32,
    pub clip_ratio_c: f32,
    pub kl_placement: KlPlacementName,
    pub kl_estimator: KlEstimatorName,
    pub kl_coef: f32,
    pub kl_target: f32,
    pub kl_horizon: f32,
    pub entropy_coef: f32,
    pub loss_agg_mode: LossAggName,
}

/// veRL HEAD's actor defaults with no KL term; estimators change a few.
pub const VERL_LOSS: LossKnobs = LossKnobs {
    clip_ratio_low: 0.2,
    clip_ratio_high: 0.2,
    clip_ratio_c: 0.0,
    kl_placement: KlPlacementName::None,
    kl_estimator: KlEstimatorName::K3,
    kl_coef: 0.001,
    kl_target: 0.0,
    kl_horizon: 10_000.0,
    entropy_coef: 0.0,
    loss_agg_mode: LossAggName::TokenMean,
};

/// Declares an estimator's config struct: its own keys with their defaults,
/// then the loss keys of [`LossKnobs`] (defaults from `loss_defaults`), and
/// implements `Default` and `loss_knobs()`.
///
/// ```ignore
/// estimator_config! {
///     /// Configuration of `x`.
///     pub struct XConfig {
///         /// Doc of an own key.
///         pub gamma: f32 = 1.0,
///     }
///     loss_defaults = VERL_LOSS;
/// }
/// ```
#[macro_export]
macro_rules! estimator_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$fmeta:meta])* pub $field:ident : $fty:ty = $default:expr,)*
        }
        loss_defaults = $loss:expr;
    ) => {
        $(#[$meta])*
        #[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $fty,)*
            /// Lower PPO clip range: the ratio is clipped below at `1 - clip_ratio_low`.
            pub clip_ratio_low: f32,
            /// Upper PPO clip range: the ratio is clipped above at `1 + clip_ratio_high` (DAPO clip-higher: 0.28).
            pub clip_ratio_high: f32,
            /// Dual-clip constant c > 1: caps the loss of negative-advantage tokens at c·|A| (veRL uses 3). 0 = off.
            pub clip_ratio_c: f32,
            /// Where the KL penalty to the frozen reference model goes: `none` (no reference model), `loss` or `reward`.
            pub kl_placement: $crate::loss_config::KlPlacementName,
            /// Per-token KL estimator: `k1` (`kl`), `abs`, `k2` (`mse`) or `k3` (`low_var_kl`).
            pub kl_estimator: $crate::loss_config::KlEstimatorName,
            /// KL coefficient beta (the initial one when `kl_target` > 0).
            pub kl_coef: f32,
            /// Target KL of the adaptive coefficient controller (Ziegler et al. 2019); 0 keeps `kl_coef` fixed.
            pub kl_target: f32,
            /// Horizon of the adaptive KL controller, in responses.
            pub kl_horizon: f32,
            /// Entropy bonus coefficient: the loss subtracts `entropy_coef · H` (TinyZero's PPO: 0.001).
            pub entropy_coef: f32,
            /// Loss reduction: `token-mean`, `seq-mean-token-sum`, `seq-mean-token-mean` or `seq-mean-token-sum-norm` (Dr. GRPO).
            pub loss_agg_mode: $crate::loss_config::LossAggName,
        }

        impl Default for $name {
            fn default() -> Self {
                let loss: $crate::loss_config::LossKnobs = $loss;
                $name {
                    $($field: $default,)*
                    clip_ratio_low: loss.clip_ratio_low,
                    clip_ratio_high: loss.clip_ratio_high,
                    clip_ratio_c: loss.clip_ratio_c,
                    kl_placement: loss.kl_placement,
                    kl_estimator: loss.kl_estimator,
                    kl_coef: loss.kl_coef,
                    kl_target: loss.kl_target,
                    kl_horizon: loss.kl_horizon,
                    entropy_coef: loss.entropy_coef,
                    loss_agg_mode: loss.loss_agg_mode,
                }
            }
        }

        impl $name {
            /// The loss keys, for [`LossKnobs::settings`]($crate::loss_config::LossKnobs::settings).
            pub fn loss_knobs(&self) -> $crate::loss_config::LossKnobs {
                $crate::loss_config::LossKnobs {
                    clip_ratio_low: self.clip_ratio_low,
                    clip_ratio_high: self.clip_ratio_high,
                    clip_ratio_c: self.clip_ratio_c,
                    kl_placement: self.kl_placement,
                    kl_estimator: self.kl_estimator,
                    kl_coef: self.kl_coef,
                    kl_target: self.kl_target,
                    kl_horizon: self.kl_horizon,
                    entropy_coef: self.entropy_coef,
                    loss_agg_mode: self.loss_agg_mode,
                }
            }
        }
    };
}

impl LossKnobs {
    /// Checks every key's range and builds the ABI settings.
    pub fn settings(&self, critic: Option<CriticSettings>) -> PluginResult<LossSettings> {
        for (key, v) in [
            ("clip_ratio_low", self.clip_ratio_low),
            ("clip_ratio_high", self.clip_ratio_high),
            ("clip_ratio_c", self.clip_ratio_c),
            ("kl_coef", self.kl_coef),
            ("kl_target", self.kl_target),
            ("kl_horizon", self.kl_horizon),
            ("entropy_coef", self.entropy_coef),
        ] {
            require_finite(key, v)?;
        }
        // The lower bound 1 - clip_ratio_low must stay a positive ratio.
        require_in("clip_ratio_low", self.clip_ratio_low, 0.0..1.0)?;
        require_in("clip_ratio_high", self.clip_ratio_high, 0.0..)?;
        // Dual clip caps the loss of negative-advantage tokens at c·|A|; c <= 1
        // would cap it below the clipped objective itself (veRL asserts c > 1).
        require(self.clip_ratio_c == 0.0 || self.clip_ratio_c > 1.0, "clip_ratio_c", || {
            format!("must be > 1 (or 0 to turn dual clip off), got {}", self.clip_ratio_c)
        })?;
        require_in("kl_coef", self.kl_coef, 0.0..)?;
        require(self.kl_target >= 0.0, "kl_target", || {
            format!("must be >= 0 (0 keeps the KL coefficient fixed), got {}", self.kl_target)
        })?;
        require(self.kl_horizon > 0.0, "kl_horizon", || format!("must be > 0, got {}", self.kl_horizon))?;
        Ok(LossSettings {
            clip_low: self.clip_ratio_low,
            clip_high: self.clip_ratio_high,
            dual_clip: self.clip_ratio_c,
            kl: KlSettings {
                placement: self.kl_placement.into(),
                estimator: self.kl_estimator.into(),
                coef: self.kl_coef,
                adaptive_target: self.kl_target,
                adaptive_horizon: self.kl_horizon,
            },
            entropy_coef: self.entropy_coef,
            aggregation: self.loss_agg_mode.into(),
            critic,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knobs() -> LossKnobs {
        LossKnobs {
            clip_ratio_low: 0.2,
            clip_ratio_high: 0.28,
            clip_ratio_c: 0.0,
            kl_placement: KlPlacementName::Loss,
            kl_estimator: KlEstimatorName::K3,
            kl_coef: 0.001,
            kl_target: 0.0,
            kl_horizon: 10_000.0,
            entropy_coef: 0.0,
            loss_agg_mode: LossAggName::SeqMeanTokenSumNorm,
        }
    }

    #[test]
    fn knobs_map_onto_the_abi_settings() {
        let s = knobs().settings(None).unwrap();
        assert_eq!(s.clip_low, 0.2);
        assert_eq!(s.clip_high, 0.28);
        assert_eq!(s.kl.placement, KlPlacement::Loss);
        assert_eq!(s.kl.estimator, KlEstimator::K3);
        assert_eq!(s.aggregation, LossAggregation::SeqMeanTokenSumNorm);
        assert!(!s.needs_critic());
        assert!(s.needs_reference());
    }

    #[test]
    fn dual_clip_constant_at_most_one_is_rejected() {
        let err = LossKnobs { clip_ratio_c: 0.5, ..knobs() }.settings(None).unwrap_err();
        assert!(err.starts_with("config key 'clip_ratio_c': must be > 1"), "{err}");
        assert!(LossKnobs { clip_ratio_c: 3.0, ..knobs() }.settings(None).is_ok());
    }

    #[test]
    fn clip_ratio_low_of_one_or_more_is_rejected() {
        let err = LossKnobs { clip_ratio_low: 1.0, ..knobs() }.settings(None).unwrap_err();
        assert!(err.contains("'clip_ratio_low'"), "{err}");
    }

    #[test]
    fn non_finite_values_are_rejected_by_key() {
        let err = LossKnobs { kl_coef: f32::NAN, ..knobs() }.settings(None).unwrap_err();
        assert!(err.starts_with("config key 'kl_coef': must be a finite number"), "{err}");
    }

    #[test]
    fn verl_estimator_aliases_parse() {
        for (text, want) in [
            ("\"low_var_kl\"", KlEstimatorName::K3),
            ("\"k3\"", KlEstimatorName::K3),
            ("\"kl\"", KlEstimatorName::K1),
            ("\"mse\"", KlEstimatorName::K2),
            ("\"abs\"", KlEstimatorName::Abs),
        ] {
            assert_eq!(serde_json::from_str::<KlEstimatorName>(text).unwrap(), want, "{text}");
        }
        let agg: LossAggName = serde_json::from_str("\"seq-mean-token-mean\"").unwrap();
        assert_eq!(agg, LossAggName::SeqMeanTokenMean);
    }
}
