//! The typed handles over plugins registered in this test's own link unit:
//! the role of an algorithm is decided once, by its registration, and a
//! call for the other role through the FFI object is an error, not a panic.

use tz_sdk::export::in_process;
use tz_sdk::handle::Algorithm;
use tz_sdk::prelude::*;
use tz_sdk::testing::recording_host;

#[derive(Serialize, Deserialize, JsonSchema, Default)]
#[serde(default, deny_unknown_fields)]
struct Scale {
    /// Factor applied to every reward.
    factor: f32,
}

struct Doubler(f32);
impl Plugin for Doubler {
    const NAME: &'static str = "doubler";
    const DESCRIPTION: &'static str = "Scales rewards (test)";
    type Config = Scale;
    fn new(c: Scale, _: HostServices) -> PluginResult<Self> {
        require_finite("factor", c.factor)?;
        Ok(Doubler(c.factor))
    }
}
impl Shaper for Doubler {
    fn shape(&self, input: &ShapeInput) -> PluginResult<Vec<f32>> {
        Ok(input.rewards.iter().map(|r| r * self.0).collect())
    }
}

struct Centre;
impl Plugin for Centre {
    const NAME: &'static str = "centre";
    const DESCRIPTION: &'static str = "Token rewards minus their mean (test)";
    type Config = Scale;
    fn new(_: Scale, _: HostServices) -> PluginResult<Self> {
        Ok(Centre)
    }
}
impl Estimator for Centre {
    fn estimate(&self, input: &AdvantageInput) -> PluginResult<AdvantageOutput> {
        let mean = input.token_rewards.iter().sum::<f32>() / input.token_rewards.len().max(1) as f32;
        Ok(AdvantageOutput {
            advantages: input.token_rewards.iter().map(|r| r - mean).collect(),
            ..AdvantageOutput::default()
        })
    }
}

tz_sdk::register_shaper!(Doubler);
tz_sdk::register_estimator!(Centre);

#[test]
fn each_algorithm_comes_back_as_the_role_it_registered() {
    let host = || recording_host().0;
    let Algorithm::Shaper(doubler) = in_process::algorithm("doubler", r#"{"factor": 2}"#, host()).unwrap()
    else {
        panic!("doubler registered as a shaper")
    };
    let input = ShapeInput { rewards: vec![0.5, 1.0], ..ShapeInput::default() };
    assert_eq!(doubler.shape(&input).unwrap(), [1.0, 2.0]);

    let Algorithm::Estimator(centre) = in_process::algorithm("centre", "", host()).unwrap() else {
        panic!("centre registered as an estimator")
    };
    assert_eq!(centre.loss_settings().unwrap(), LossSettings::default());
    let input = AdvantageInput { token_rewards: vec![1.0, 3.0], offsets: vec![0, 2], ..Default::default() };
    assert_eq!(centre.estimate(&input).unwrap().advantages, [-1.0, 1.0]);
}

#[test]
fn the_other_roles_call_through_the_ffi_object_is_an_error() {
    // The root module a host loads, called directly.
    let (host, _) = recording_host();
    let boxed = tz_sdk::export::root_module().new_algorithm()("doubler".into(), "".into(), host)
        .into_result()
        .unwrap();
    let err = boxed.estimate(&AdvantageInput::default().into()).into_result().unwrap_err();
    assert_eq!(err.as_str(), "plugin 'doubler': is not an advantage estimator");
    let err = boxed.loss_settings().into_result().unwrap_err();
    assert!(err.as_str().contains("no loss settings"), "{err}");
}

#[test]
fn require_helpers_word_every_range_the_same_way() {
    assert_eq!(
        require_in("lam", 1.5f32, 0.0..=1.0).unwrap_err(),
        "config key 'lam': must be in [0, 1], got 1.5"
    );
    assert_eq!(require_in("n", 0u32, 1..).unwrap_err(), "config key 'n': must be >= 1, got 0");
    assert_eq!(require_in("p", 1.0f64, 0.0..1.0).unwrap_err(), "config key 'p': must be in [0, 1), got 1");
    assert_eq!(
        require_finite("x", f32::NAN).unwrap_err(),
        "config key 'x': must be a finite number, got NaN"
    );
    assert!(require(true, "k", || unreachable!()).is_ok());
    let err = in_process::algorithm("doubler", r#"{"factor": "inf"}"#, recording_host().0).err().unwrap();
    assert!(err.message.starts_with("plugin 'doubler': config key 'factor'"), "{err}");
}
