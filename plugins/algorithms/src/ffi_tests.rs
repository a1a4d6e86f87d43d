//! The plugins through the same FFI objects and typed handles the host
//! uses (`tz_sdk::export::in_process`), including config errors.

use tz_sdk::export::in_process;
use tz_sdk::handle::{Algorithm, Estimator, Shaper};
use tz_sdk::prelude::*;
use tz_sdk::testing::recording_host;

fn algorithm(name: &str, config: &str) -> Result<Algorithm, String> {
    let (host, _) = recording_host();
    in_process::algorithm(name, config, host).map_err(|e| e.message)
}

fn estimator(name: &str, config: &str) -> Estimator {
    match algorithm(name, config).unwrap() {
        Algorithm::Estimator(e) => e,
        Algorithm::Shaper(_) => panic!("{name} is a shaper"),
    }
}

fn shaper(name: &str, config: &str) -> Shaper {
    match algorithm(name, config).unwrap() {
        Algorithm::Shaper(s) => s,
        Algorithm::Estimator(_) => panic!("{name} is an estimator"),
    }
}

#[test]
fn the_library_describes_all_four_plugins_with_documented_keys() {
    let mut names: Vec<String> = in_process::descriptors().iter().map(|d| d.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["cosine", "grpo", "overlong", "ppo"]);
    for d in in_process::descriptors() {
        assert_eq!(d.kind, PluginKind::Algorithm);
        for key in tz_sdk::config::describe_keys(&d.default_config, &d.config_schema) {
            assert!(!key.doc.is_empty(), "{}: key '{}' has no doc", d.name, key.key);
        }
    }
}

#[test]
fn grpo_estimates_through_the_ffi_object() {
    let algo = algorithm("grpo", r#"{"norm_adv_by_std": false, "clip_ratio_high": 0.28}"#).unwrap();
    assert_eq!(algo.role(), AlgorithmRole::Estimator);
    let Algorithm::Estimator(grpo) = algo else { unreachable!() };
    assert_eq!(grpo.loss_settings().unwrap().clip_high, 0.28);
    let input = AdvantageInput {
        token_rewards: vec![0.0, 1.0, 0.0, 0.0],
        offsets: vec![0, 2, 4],
        group_ids: vec![3, 3],
        values: Vec::new(),
    };
    let out = grpo.estimate(&input).unwrap();
    assert_eq!(out.advantages, [0.5, 0.5, -0.5, -0.5]);
}

#[test]
fn shapers_chain_through_the_ffi_objects() {
    let overlong = shaper("overlong", r#"{"buffer_len": 100}"#);
    let cosine = shaper("cosine", r#"{"exceed_length": -1}"#);
    let mut input = ShapeInput {
        rewards: vec![1.0, 0.0],
        response_lengths: vec![0, 1000],
        max_length: 1000,
        correct: vec![true, false],
        truncated: vec![false, true],
        group_ids: vec![0, 0],
    };
    input.rewards = cosine.shape(&input).unwrap();
    assert_eq!(input.rewards, [1.0, -1.0]);
    let shaped = overlong.shape(&input).unwrap();
    assert_eq!(shaped, [1.0, -2.0]);
}

#[test]
fn ppo_without_values_fails_with_a_one_line_error() {
    let ppo = estimator("ppo", "");
    assert!(ppo.loss_settings().unwrap().needs_critic());
    let input = AdvantageInput {
        token_rewards: vec![1.0],
        offsets: vec![0, 1],
        group_ids: vec![0],
        values: Vec::new(),
    };
    let err = ppo.estimate(&input).unwrap_err().to_string();
    assert!(err.starts_with("plugin 'ppo': ppo needs critic values"), "{err}");
    assert!(!err.contains('\n'));
}

#[test]
fn unknown_config_key_suggests_the_closest() {
    let err = algorithm("grpo", r#"{"clip_ratio_hihg": 0.28}"#).err().unwrap();
    assert!(err.contains("unknown config key 'clip_ratio_hihg'"), "{err}");
    assert!(err.contains("did you mean 'clip_ratio_high'?"), "{err}");
}

#[test]
fn wrong_type_names_the_key() {
    let err = algorithm("ppo", r#"{"gamma": "high"}"#).err().unwrap();
    assert!(err.contains("config key 'gamma'"), "{err}");
    let err = algorithm("grpo", r#"{"loss_agg_mode": "token-sum"}"#).err().unwrap();
    assert!(err.contains("config key 'loss_agg_mode'"), "{err}");
}

#[test]
fn out_of_range_values_are_rejected_at_construction() {
    let err = algorithm("cosine", r#"{"min_value_wrong": 1}"#).err().unwrap();
    assert_eq!(
        err,
        "plugin 'cosine': config key 'min_value_wrong': wrong-answer rewards must not be positive, got 1"
    );
    let err = algorithm("grpo", r#"{"clip_ratio_c": 0.9}"#).err().unwrap();
    assert!(err.starts_with("plugin 'grpo': config key 'clip_ratio_c'"), "{err}");
}

#[test]
fn verl_kl_names_are_accepted() {
    let grpo = estimator("grpo", r#"{"kl_placement": "loss", "kl_estimator": "low_var_kl"}"#);
    let kl = grpo.loss_settings().unwrap().kl;
    assert_eq!((kl.placement, kl.estimator), (KlPlacement::Loss, KlEstimator::K3));
}
