//! Config parsing errors and the JSON form of boundary types.

use tz_sdk::config::{closest, describe_keys, parse_config};
use tz_sdk::prelude::*;
use tz_sdk::*;

/// A config like a plugin's.
#[derive(Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
struct Demo {
    /// Reward for a well-formed wrong answer.
    format_score: f32,
    /// Extraction mode.
    mode: String,
    /// Operands per problem.
    operands: Vec<u32>,
}

impl Default for Demo {
    fn default() -> Self {
        Demo { format_score: 0.1, mode: "tinyzero".into(), operands: vec![3, 4] }
    }
}

#[test]
fn empty_config_means_defaults_and_given_keys_override() {
    assert_eq!(parse_config::<Demo>("demo", "").unwrap(), Demo::default());
    let c: Demo = parse_config("demo", r#"{"mode": "strict"}"#).unwrap();
    assert_eq!(c.mode, "strict");
    assert_eq!(c.format_score, 0.1);
}

#[test]
fn unknown_key_names_plugin_key_and_closest_valid_key() {
    let err = parse_config::<Demo>("demo", r#"{"format_scor": 0}"#).unwrap_err();
    assert_eq!(
        err,
        "plugin 'demo': unknown config key 'format_scor' (did you mean 'format_score'?); valid keys: format_score, mode, operands"
    );
}

#[test]
fn wrong_type_names_the_key_path() {
    let err = parse_config::<Demo>("demo", r#"{"operands": [3, "four"]}"#).unwrap_err();
    assert!(
        err.starts_with("plugin 'demo': config key 'operands[1]': invalid type: string \"four\""),
        "{err}"
    );
    let err = parse_config::<Demo>("demo", "{oops").unwrap_err();
    assert!(err.starts_with("plugin 'demo': config is not valid JSON"), "{err}");
}

#[test]
fn key_docs_come_from_doc_comments_in_declaration_order() {
    let keys = describe_keys(
        &tz_sdk::config::default_config_json::<Demo>(),
        &tz_sdk::config::config_schema_json::<Demo>(),
    );
    let names: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(names, ["format_score", "mode", "operands"]);
    assert_eq!(keys[0].doc, "Reward for a well-formed wrong answer.");
    assert_eq!(keys[0].kind, "number");
    assert_eq!(keys[2].default, "[3,4]");
}

#[test]
fn closest_ignores_far_candidates() {
    assert_eq!(closest("grpo", ["ppo", "grpo", "cosine"]), Some("grpo"));
    assert_eq!(closest("gpro", ["ppo", "grpo", "cosine"]), Some("grpo"));
    assert_eq!(closest("zzzzzz", ["ppo", "grpo"]), None);
}

#[test]
fn boundary_types_round_trip_through_json() {
    let score = Score {
        reward: 0.1,
        correct: false,
        formatted: true,
        answer: Some("1+2".into()),
        reason: "wrong".into(),
    };
    let back: Score = serde_json::from_str(&serde_json::to_string(&score).unwrap()).unwrap();
    assert_eq!(back, score);
    let loss = LossSettings::default();
    let back: LossSettings = serde_json::from_str(&serde_json::to_string(&loss).unwrap()).unwrap();
    assert_eq!(back, loss);
    assert!(!loss.needs_reference() && !loss.needs_critic());
    assert_eq!(
        serde_json::to_string(&LossAggregation::SeqMeanTokenSumNorm).unwrap(),
        "\"seq-mean-token-sum-norm\""
    );
    assert_eq!(serde_json::to_string(&KlEstimator::K3).unwrap(), "\"k3\"");
}

#[test]
fn splitmix_is_reproducible_and_in_range() {
    let mut a = tz_sdk::rng::SplitMix64::new(42);
    let mut b = tz_sdk::rng::SplitMix64::new(42);
    for _ in 0..1000 {
        let x = a.range(3, 9);
        assert_eq!(x, b.range(3, 9));
        assert!((3..=9).contains(&x));
        let f = a.next_f64();
        assert_eq!(f, b.next_f64());
        assert!((0.0..1.0).contains(&f));
    }
}
