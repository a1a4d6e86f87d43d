//! The `#[repr(C)]` mirrors of [`crate::types`] that actually cross the
//! boundary, and the conversions both ways.
//!
//! Each mirror derives `StableAbi`, so abi_stable checks at load time that
//! the host and a plugin agree on its layout. Authors never see these: the
//! adapters (plugin side) and the handles (host side) convert on each call.
//! Copying a batch of strings costs microseconds next to a forward pass.

use abi_stable::std_types::{ROption, RString, RVec};
use abi_stable::StableAbi;

use crate::types::*;

fn strings(v: Vec<String>) -> RVec<RString> {
    v.into_iter().map(RString::from).collect()
}

fn plain_strings(v: RVec<RString>) -> Vec<String> {
    v.into_iter().map(RString::into_string).collect()
}

/// Declares a mirror struct and its two `From` conversions, field by field:
/// `field: via` converts with `.into()`, `field: copy` moves the value as is.
macro_rules! mirror {
    ($(#[$meta:meta])* $ffi:ident <-> $plain:ident { $($field:ident : $fty:ty = $how:ident),* $(,)? }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(StableAbi, Debug, Clone, PartialEq)]
        pub struct $ffi {
            $(pub $field: $fty,)*
        }
        impl From<$plain> for $ffi {
            fn from(v: $plain) -> Self {
                $ffi { $($field: mirror!(@to $how v.$field),)* }
            }
        }
        impl From<$ffi> for $plain {
            fn from(v: $ffi) -> Self {
                $plain { $($field: mirror!(@from $how v.$field),)* }
            }
        }
    };
    (@to copy $e:expr) => { $e };
    (@from copy $e:expr) => { $e };
    (@to into $e:expr) => { $e.into() };
    (@from into $e:expr) => { $e.into() };
    (@to strings $e:expr) => { strings($e) };
    (@from strings $e:expr) => { plain_strings($e) };
    (@to vec $e:expr) => { $e.into_iter().map(Into::into).collect() };
    (@from vec $e:expr) => { $e.into_iter().map(Into::into).collect() };
    (@to option $e:expr) => { ROption::from($e.map(Into::into)) };
    (@from option $e:expr) => { $e.into_option().map(Into::into) };
}

mirror!(
    /// [`PluginDescriptor`] across the boundary.
    FfiPluginDescriptor <-> PluginDescriptor {
        name: RString = into,
        kind: PluginKind = copy,
        version: RString = into,
        description: RString = into,
        default_config: RString = into,
        config_schema: RString = into,
    }
);

mirror!(
    /// [`Sample`] across the boundary.
    FfiSample <-> Sample {
        index: u64 = copy,
        group: RString = into,
        difficulty: u32 = copy,
        data: RString = into,
    }
);

mirror!(
    /// [`ChatMessage`] across the boundary.
    FfiChatMessage <-> ChatMessage { role: RString = into, content: RString = into }
);

mirror!(
    /// [`PromptSpec`] across the boundary.
    FfiPromptSpec <-> PromptSpec {
        text: RString = into,
        messages: RVec<FfiChatMessage> = vec,
        add_generation_prompt: bool = copy,
        continue_final_message: bool = copy,
        stop: RVec<RString> = strings,
    }
);

mirror!(
    /// [`ScoreInput`] across the boundary.
    FfiScoreInput <-> ScoreInput {
        sample: FfiSample = into,
        template: RString = into,
        prompt: RString = into,
        response: RString = into,
        finish: FinishReason = copy,
    }
);

mirror!(
    /// [`Score`] across the boundary.
    FfiScore <-> Score {
        reward: f32 = copy,
        correct: bool = copy,
        formatted: bool = copy,
        answer: ROption<RString> = option,
        reason: RString = into,
    }
);

mirror!(
    /// [`ShapeInput`] across the boundary.
    FfiShapeInput <-> ShapeInput {
        rewards: RVec<f32> = into,
        response_lengths: RVec<u32> = into,
        max_length: u32 = copy,
        correct: RVec<bool> = into,
        truncated: RVec<bool> = into,
        group_ids: RVec<u32> = into,
    }
);

mirror!(
    /// [`AdvantageInput`] across the boundary.
    FfiAdvantageInput <-> AdvantageInput {
        token_rewards: RVec<f32> = into,
        offsets: RVec<u32> = into,
        group_ids: RVec<u32> = into,
        values: RVec<f32> = into,
    }
);

mirror!(
    /// [`AdvantageOutput`] across the boundary.
    FfiAdvantageOutput <-> AdvantageOutput {
        advantages: RVec<f32> = into,
        returns: RVec<f32> = into,
        metrics: RVec<FfiMetric> = vec,
    }
);

mirror!(
    /// [`LossSettings`] across the boundary.
    FfiLossSettings <-> LossSettings {
        clip_low: f32 = copy,
        clip_high: f32 = copy,
        dual_clip: f32 = copy,
        kl: KlSettings = copy,
        entropy_coef: f32 = copy,
        aggregation: LossAggregation = copy,
        critic: ROption<CriticSettings> = option,
    }
);

mirror!(
    /// [`Stage`] across the boundary.
    FfiStage <-> Stage { round: u32 = copy, group: RString = into, epochs: u32 = copy }
);

mirror!(
    /// [`Plan`] across the boundary.
    FfiPlan <-> Plan { stages: RVec<FfiStage> = vec }
);

mirror!(
    /// [`BatchStats`] across the boundary.
    FfiBatchStats <-> BatchStats {
        step: u64 = copy,
        window: u32 = copy,
        max_window: u32 = copy,
        lengths: RVec<u32> = into,
        correct: RVec<bool> = into,
        truncated: RVec<bool> = into,
    }
);

mirror!(
    /// [`Metric`] across the boundary.
    FfiMetric <-> Metric { name: RString = into, value: f64 = copy }
);

mirror!(
    /// [`RewardModelRequest`] across the boundary.
    FfiRewardModelRequest <-> RewardModelRequest { prompt: RString = into, response: RString = into }
);

/// Converts every element (a batch across the boundary, either way).
pub fn convert_all<A: Clone, B: From<A>>(items: &[A]) -> RVec<B> {
    items.iter().cloned().map(B::from).collect()
}

/// Converts every element of a returned vector.
pub fn from_all<A, B: From<A>>(items: RVec<A>) -> Vec<B> {
    items.into_iter().map(B::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_survives_a_round_trip() {
        let input = ScoreInput {
            sample: Sample { index: 3, group: "plus".into(), difficulty: 4, data: "{\"x\":1}".into() },
            template: "base".into(),
            prompt: "p".into(),
            response: "r ✓".into(),
            finish: FinishReason::Length,
        };
        assert_eq!(ScoreInput::from(FfiScoreInput::from(input.clone())), input);
        let score = Score {
            reward: 0.1,
            correct: false,
            formatted: true,
            answer: Some("7".into()),
            reason: "wrong".into(),
        };
        assert_eq!(Score::from(FfiScore::from(score.clone())), score);
        let spec = PromptSpec::chat(vec![ChatMessage::user("hi")]).with_generation_prompt().stop_at("</a>");
        assert_eq!(PromptSpec::from(FfiPromptSpec::from(spec.clone())), spec);
        let loss = LossSettings {
            critic: Some(CriticSettings { lr: 1e-5, clip_value: 0.5, warmup_steps: 2 }),
            ..LossSettings::default()
        };
        assert_eq!(LossSettings::from(FfiLossSettings::from(loss)), loss);
        let plan = Plan { stages: vec![Stage { round: 1, group: "g".into(), epochs: 2 }] };
        assert_eq!(Plan::from(FfiPlan::from(plan.clone())), plan);
    }
}
