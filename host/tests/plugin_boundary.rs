//! Every boundary type makes a round trip through a real plugin library
//! (`fixture_test_plugins`) and the typed handles (plain Rust types in,
//! `#[repr(C)]` mirrors across, plain types out), and plugin failures
//! (panics, bad config) come back as errors instead of ending the host.

mod common;

use common::*;
use tz_host::plugins::{load_library, Registry, TracingHost};
use tz_sdk::handle::Algorithm;
use tz_sdk::*;

fn registry() -> Registry {
    let mut r = Registry::default();
    r.add(load_library(&library("fixture_test_plugins")).unwrap()).unwrap();
    r.add(load_library(&library("reverse_task_plugin")).unwrap()).unwrap();
    r
}

fn sample() -> Sample {
    Sample {
        index: 7,
        group: "plus_minus".into(),
        difficulty: 3,
        data: r#"{"target":24,"nums":[1,2,3]}"#.into(),
    }
}

#[test]
fn task_types_round_trip() {
    let task = registry().task("echo", "", TracingHost::handle()).unwrap();
    assert_eq!(task.groups().unwrap(), ["a", "b"]);
    let generated = task.generate("b", 3, 12).unwrap();
    assert_eq!(generated.len(), 3);
    assert_eq!(generated[2].group.as_str(), "b");
    assert_eq!(generated[2].difficulty, 12 % 7);
    assert_eq!(generated[2].data.as_str(), r#"{"seed":12,"i":2}"#);

    let s = sample();
    let row = task.sample_to_row(&s, "plain").unwrap();
    assert_eq!(task.sample_from_row(&row).unwrap(), s);

    let p = task.prompt(&s, "tpl").unwrap();
    assert_eq!(p.text, format!("tpl:{}", s.data));
    assert_eq!(p.messages[0], ChatMessage::user("plus_minus"));
    assert!(p.continue_final_message && !p.add_generation_prompt);
    assert_eq!(p.stop, ["7"]);

    let inputs = vec![
        ScoreInput {
            sample: s.clone(),
            template: "plain".into(),
            prompt: "P".into(),
            response: "héllo ✓".into(),
            finish: FinishReason::Stop,
        },
        ScoreInput {
            sample: s.clone(),
            template: "x".into(),
            prompt: "".into(),
            response: "".into(),
            finish: FinishReason::Length,
        },
    ];
    let scores = task.score(&inputs).unwrap();
    assert_eq!(scores[0].reward, "héllo ✓".len() as f32);
    assert!(scores[0].correct && scores[0].formatted);
    assert_eq!(scores[0].answer.as_deref(), Some("P|héllo ✓"));
    let back: Sample = serde_json::from_str(&scores[0].reason).unwrap();
    assert_eq!(back, s);
    assert!(!scores[1].correct && !scores[1].formatted);
    assert_eq!(task.reference_solution(&s, "compact").unwrap().as_deref(), Some("compact/7"));
}

#[test]
fn algorithm_types_round_trip() {
    let loss = LossSettings {
        clip_low: 0.2,
        clip_high: 0.28,
        dual_clip: 3.0,
        kl: KlSettings {
            placement: KlPlacement::Reward,
            estimator: KlEstimator::Abs,
            coef: 0.05,
            adaptive_target: 6.0,
            adaptive_horizon: 500.0,
        },
        entropy_coef: 0.001,
        aggregation: LossAggregation::SeqMeanTokenSumNorm,
        critic: Some(CriticSettings { lr: 1e-5, clip_value: 0.5, warmup_steps: 3 }),
    };
    let config = serde_json::json!({ "loss": loss }).to_string();
    let r = registry();
    let algo = r.algorithm("echo-algo", &config, TracingHost::handle()).unwrap();
    assert_eq!(algo.role(), AlgorithmRole::Estimator);
    let Algorithm::Estimator(estimator) = algo else { panic!("echo-algo is an estimator") };
    assert_eq!(estimator.loss_settings().unwrap(), loss);
    assert!(loss.needs_critic() && loss.needs_reference());

    let Algorithm::Shaper(shaper) = r.algorithm("echo-shaper", "", TracingHost::handle()).unwrap() else {
        panic!("echo-shaper is a shaper")
    };
    let shape = ShapeInput {
        rewards: vec![1.0, 0.0],
        response_lengths: vec![3, 5],
        max_length: 2,
        correct: vec![true, false],
        truncated: vec![false, true],
        group_ids: vec![0, 4],
    };
    let shaped = shaper.shape(&shape).unwrap();
    assert_eq!(shaped, vec![1.0 + 30.0 + 2000.0 + 0.5, 50.0 + 2000.0 + 0.25 + 400.0]);

    let adv_in = AdvantageInput {
        token_rewards: vec![0.0, 1.0, -0.5],
        offsets: vec![0, 2, 3],
        group_ids: vec![1, 2],
        values: vec![0.1, 0.2, 0.3],
    };
    let out = estimator.estimate(&adv_in).unwrap();
    assert_eq!(out.advantages, adv_in.token_rewards);
    assert_eq!(out.returns, adv_in.values);
    assert_eq!(out.metrics, [Metric::new("offsets", 3.0), Metric::new("groups", 3.0)]);

    // The chain takes shapers in order and exactly one estimator.
    let chain = r.algorithm_chain(
        &["echo-shaper".to_string(), "echo-algo".to_string()],
        &|_| String::new(),
        &TracingHost::handle,
    );
    assert_eq!(chain.unwrap().shapers.len(), 1);
    let none = r.algorithm_chain(&["echo-shaper".to_string()], &|_| String::new(), &TracingHost::handle);
    let err = none.err().unwrap().to_string();
    assert_eq!(err, "--algo echo-shaper: the chain needs one advantage estimator (e.g. grpo or ppo)");
}

#[test]
fn curriculum_types_and_state_round_trip() {
    let r = registry();
    let mut cur = r.curriculum("echo-curriculum", r#"{"window": 96}"#, TracingHost::handle()).unwrap();
    let plan = cur.plan(&["plus".to_string(), "plus_minus".to_string()]).unwrap().unwrap();
    assert_eq!(plan.stages[1], Stage { round: 2, group: "plus_minus".into(), epochs: 2 });
    assert_eq!(cur.window().unwrap(), Some(96));
    let stats = BatchStats {
        step: 9,
        window: 64,
        max_window: 128,
        lengths: vec![3, 64],
        correct: vec![true, false],
        truncated: vec![false, true],
    };
    assert_eq!(cur.observe(&stats).unwrap(), [Metric::new("observed", 1.0)]);
    let state = cur.state().unwrap();

    let mut fresh = r.curriculum("echo-curriculum", "", TracingHost::handle()).unwrap();
    fresh.restore(&state).unwrap();
    assert_eq!(fresh.state().unwrap(), state);
    assert_eq!(fresh.observe(&stats).unwrap(), [Metric::new("observed", 2.0)]);
    let err = fresh.restore("{not json").unwrap_err().message;
    assert!(err.contains("saved state is not valid JSON"), "{err}");
}

#[test]
fn a_panic_in_plugin_code_becomes_an_error_and_the_host_lives_on() {
    let r = registry();
    let task = r.task("panicky", "", TracingHost::handle()).unwrap();
    let input = ScoreInput {
        sample: sample(),
        template: "x".into(),
        prompt: "".into(),
        response: "".into(),
        finish: FinishReason::Stop,
    };
    let err = task.score(&[input]).unwrap_err().message;
    assert!(err.starts_with("plugin 'panicky' panicked in score: index out of bounds"), "{err}");
    assert!(err.contains("lib.rs:"), "location missing: {err}");
    // The library still works after the panic.
    assert!(task.prompt(&sample(), "").is_ok());
    let err =
        r.task("panicky", r#"{"panic_in_new": true}"#, TracingHost::handle()).err().unwrap().to_string();
    assert!(err.contains("panicked in new: asked to panic in new"), "{err}");
}

#[test]
fn bad_config_is_an_error_naming_plugin_and_key() {
    let r = registry();
    let err = r.task("reverse", r#"{"max_lne": 4}"#, TracingHost::handle()).err().unwrap().to_string();
    assert_eq!(
        err,
        "plugin 'reverse': unknown config key 'max_lne' (did you mean 'max_len'?); valid keys: min_len, max_len, format_score"
    );
    let err = r.task("reverse", r#"{"max_len": "long"}"#, TracingHost::handle()).err().unwrap().to_string();
    assert!(
        err.starts_with("plugin 'reverse': config key 'max_len': invalid type: string \"long\""),
        "{err}"
    );
    let err = r
        .task("reverse", r#"{"min_len": 9, "max_len": 4}"#, TracingHost::handle())
        .err()
        .unwrap()
        .to_string();
    assert_eq!(err, "plugin 'reverse': config key 'min_len': must be in [1, 4], got 9");
    let err = r.task("reverse", "[1]", TracingHost::handle()).err().unwrap().to_string();
    assert!(err.contains("config must be a JSON object"), "{err}");
}

#[test]
fn example_plugin_scores_its_own_reference_solutions() {
    let task = registry().task("reverse", "", TracingHost::handle()).unwrap();
    let samples = task.generate("default", 20, 5).unwrap();
    let again = task.generate("default", 20, 5).unwrap();
    assert_eq!(samples, again, "generation must be reproducible from the seed");
    let inputs: Vec<ScoreInput> = samples
        .iter()
        .map(|s| ScoreInput {
            sample: s.clone(),
            template: "plain".into(),
            prompt: task.prompt(s, "plain").unwrap().text,
            response: task.reference_solution(s, "plain").unwrap().unwrap(),
            finish: FinishReason::Stop,
        })
        .collect();
    let scores = task.score(&inputs).unwrap();
    assert!(scores.iter().all(|s| s.correct && s.reward == 1.0));
    let wrong = ScoreInput { response: "zzz".into(), ..inputs[0].clone() };
    let bad = ScoreInput { response: "Not a word!".into(), ..inputs[0].clone() };
    let scores = task.score(&[wrong, bad]).unwrap();
    assert_eq!((scores[0].reward, scores[0].correct), (0.1, false));
    assert_eq!((scores[1].reward, scores[1].formatted), (0.0, false));
}
