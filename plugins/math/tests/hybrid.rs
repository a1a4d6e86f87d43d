//! The `hybrid` task: its formulas on hand-computed values, the warm-up
//! calibration, the fallback to the verifier when the reward model fails,
//! and its saved state — through the FFI object with a scripted reward model.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tz_math::hybrid::calibration::RmBounds;
use tz_math::hybrid::combine::hybrid_reward;
use tz_math::hybrid::difficulty::{
    group_uncertainty, sigmoid_weight, tanh_weight, update_running_mean, WeightRange,
};
use tz_sdk::handle::Task as TaskHandle;
use tz_sdk::prelude::*;
use tz_sdk::testing::{recording_host, recording_host_with_reward_model, LogLines};

const RANGE: WeightRange = WeightRange { w_min: 0.5, w_max: 1.5, k: 10.0 };

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn sigmoid_scorer_on_hand_computed_values() {
    // 0.5 + 1 / (1 + e^-2)
    assert!(close(sigmoid_weight(RANGE, 0.5, 0.3), 1.380_797_078));
    // At the running mean: the middle of the range.
    assert!(close(sigmoid_weight(RANGE, 0.25, 0.25), 1.0));
    // 0.5 + 1 / (1 + e^5)
    assert!(close(sigmoid_weight(RANGE, 0.0, 0.5), 0.506_692_851));
}

#[test]
fn tanh_scorer_on_hand_computed_values() {
    assert!(close(tanh_weight(RANGE, 0.0), 0.5));
    // 0.5 + tanh(0.125)
    assert!(close(tanh_weight(RANGE, 0.5), 0.624_353_002));
    // 0.5 + tanh(1)
    assert!(close(tanh_weight(RANGE, 1.0), 1.261_594_156));
}

#[test]
fn question_uncertainty_running_mean_and_combination() {
    assert!(close(group_uncertainty(&[true, false, false, false]), 0.433_012_702));
    assert_eq!(group_uncertainty(&[true, true]), 0.0);
    assert_eq!(group_uncertainty(&[false, false, false]), 0.0);
    assert!(close(group_uncertainty(&[true, false]), 0.5));
    assert_eq!(update_running_mean(None, 0.3, 0.9), 0.3);
    assert!(close(update_running_mean(Some(0.5), 0.25, 0.9), 0.475));
    assert!(close(hybrid_reward(1.0, true, 0.5, 0.25, 1.2, 0.5), 1.15));
    assert!(close(hybrid_reward(0.0, false, 0.5, 0.25, 1.2, 0.5), 0.3));
}

#[test]
fn calibration_takes_the_finite_extremes_and_clamps() {
    let b = RmBounds::calibrate(&[0.3, -1.2, f32::NAN, 2.0, f32::INFINITY]).unwrap();
    assert_eq!((b.min_rm as f32, b.max_rm as f32), (-1.2, 2.0));
    assert!(close(b.normalise(0.4), 0.5));
    assert_eq!(b.normalise(5.0), 1.0);
    assert_eq!(b.normalise(-9.0), 0.0);
    assert_eq!(RmBounds { min_rm: 1.0, max_rm: 1.0 }.normalise(3.0), 0.5);
    assert!(RmBounds::calibrate(&[f32::NAN]).is_none());
}

// ---- through the plugin -------------------------------------------------

fn data_path() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/data/dummy_math_tasks.jsonl")
        .display()
        .to_string()
}

/// The scores a scripted reward model hands out, in call order.
type Script = Arc<Mutex<Vec<Result<Vec<f32>, String>>>>;

fn hybrid(extra: &str, script: Script) -> (TaskHandle, LogLines) {
    let _ = std::any::type_name::<tz_math::hybrid::Hybrid>();
    let (host, lines) = recording_host_with_reward_model(move |batch| {
        let next = script.lock().unwrap().remove(0)?;
        assert_eq!(next.len(), batch.len(), "scripted scores per request");
        Ok(next)
    });
    let config = format!(r#"{{"data": {:?}, "warm_up_samples": 4{extra}}}"#, data_path());
    (tz_sdk::export::in_process::task("hybrid", &config, host).unwrap(), lines)
}

fn input(sample: &Sample, response: &str) -> ScoreInput {
    ScoreInput {
        sample: sample.clone(),
        template: "chat".into(),
        prompt: "".into(),
        response: response.into(),
        finish: FinishReason::Stop,
    }
}

fn samples(task: &TaskHandle) -> Vec<Sample> {
    task.generate("default", 16, 7).unwrap()
}

fn by_question<'a>(samples: &'a [Sample], question: &str) -> &'a Sample {
    samples.iter().find(|s| s.data.contains(question)).unwrap()
}

/// Warm-up: one question, 2 of 4 right (σ_u = 0.5); RM scores -2..2.
fn warm_up(task: &TaskHandle, samples: &[Sample]) -> Vec<Metric> {
    let q = by_question(samples, "What is 5 + 3?");
    let batch = [
        input(q, "<answer>8</answer>"),
        input(q, "<answer>8</answer>"),
        input(q, "<answer>9</answer>"),
        input(q, "no idea"),
    ];
    task.warm_up(batch.as_slice()).unwrap()
}

/// Two questions: q1 one right, one wrong (σ_u = 0.5); q2 both wrong (σ_u = 0).
fn batch(samples: &[Sample]) -> Vec<ScoreInput> {
    let q1 = by_question(samples, "What is 6 * 4?");
    let q2 = by_question(samples, "What is 9 * 9?");
    vec![
        input(q1, "<answer>24</answer>"),
        input(q1, "<answer>25</answer>"),
        input(q2, "<answer>80</answer>"),
        input(q2, "<answer>82</answer>"),
    ]
}

fn rewards(task: &TaskHandle, batch: &[ScoreInput]) -> Vec<f64> {
    task.score(batch).unwrap().iter().map(|s| f64::from(s.reward)).collect()
}

fn metric(metrics: &[Metric], name: &str) -> f64 {
    metrics
        .iter()
        .find(|m| m.name.as_str() == name)
        .unwrap_or_else(|| panic!("no {name} in {metrics:?}"))
        .value
}

fn all_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-5, "got {got:?}, want {want:?}");
    }
}

fn script(calls: Vec<Result<Vec<f32>, String>>) -> Script {
    Arc::new(Mutex::new(calls))
}

#[test]
fn warm_up_calibrates_the_bounds_and_logs_them() {
    let (task, lines) = hybrid("", script(vec![Ok(vec![-2.0, 0.0, 2.0, 1.0])]));
    assert_eq!(task.warm_up_size().unwrap(), 4);
    let m = warm_up(&task, &samples(&task));
    assert_eq!((metric(&m, "reward/rm_min"), metric(&m, "reward/rm_max")), (-2.0, 2.0));
    assert_eq!(metric(&m, "reward/sigma_bar"), 0.5);
    let lines = lines.lock().unwrap();
    assert!(lines.iter().any(|(_, _, l)| l.contains("RM bounds: min=-2.0000, max=2.0000")), "{lines:?}");
    let state: serde_json::Value = serde_json::from_str(&task.state().unwrap()).unwrap();
    assert_eq!(state["bounds"]["min_rm"], -2.0);
    assert_eq!(state["bounds"]["max_rm"], 2.0);
}

#[test]
fn sigmoid_rewards_on_hand_computed_values() {
    let (task, _) = hybrid("", script(vec![Ok(vec![-2.0, 0.0, 2.0, 1.0]), Ok(vec![2.0, 0.0, -2.0, 1.0])]));
    let s = samples(&task);
    warm_up(&task, &s);
    // σ̄ = 0.9·0.5 + 0.1·mean(0.5, 0) = 0.475; r̂ = 1, 0.5, 0, 0.75;
    // w(q1) = 0.5 + 1/(1 + e^-0.25) = 1.0621765, w(q2) = 0.5 + 1/(1 + e^4.75) = 0.5085775.
    let got = rewards(&task, &batch(&s));
    all_close(&got, &[1.0 + 0.5 * 1.062_176_5, 0.5 * 1.062_176_5 * 0.5, 0.0, 0.5 * 0.508_577_5 * 0.75]);
    let m = task.end_batch().unwrap();
    assert!(close(metric(&m, "reward/sigma_bar"), 0.475));
    assert_eq!(metric(&m, "reward/rm_fallback_count"), 0.0);
    assert!(close(metric(&m, "reward/rm_norm/mean"), 0.5625));
}

#[test]
fn tanh_rewards_on_hand_computed_values() {
    let (task, _) = hybrid(
        r#", "scorer": "tanh""#,
        script(vec![Ok(vec![-2.0, 0.0, 2.0, 1.0]), Ok(vec![2.0, 0.0, -2.0, 1.0])]),
    );
    let s = samples(&task);
    warm_up(&task, &s);
    // w = 0.5 + tanh(r̂³): 1.2615942, 0.6243530, 0.5, 0.5 + tanh(0.421875)
    let got = rewards(&task, &batch(&s));
    all_close(&got, &[1.630_797_1, 0.156_088_3, 0.0, 0.336_940_8]);
}

#[test]
fn rm_errors_fall_back_to_the_verifier_with_a_warning_and_a_count() {
    let (task, lines) = hybrid(
        "",
        script(vec![
            Ok(vec![-2.0, 0.0, 2.0, 1.0]),
            Err("the reward model ran out of memory".into()),
            Ok(vec![2.0, f32::NAN, -2.0, 1.0]),
        ]),
    );
    let s = samples(&task);
    warm_up(&task, &s);
    // The whole batch falls back: the verifier's 1, 0, 0, 0.
    assert_eq!(rewards(&task, &batch(&s)), vec![1.0, 0.0, 0.0, 0.0]);
    let m = task.end_batch().unwrap();
    assert_eq!(metric(&m, "reward/rm_fallback_count"), 4.0);
    assert!(lines.lock().unwrap().iter().any(|(level, _, l)| *level == LogLevel::Warn
        && l.contains("out of memory")
        && l.contains("verifier alone")));
    // One non-finite score: only that response falls back.
    let got = rewards(&task, &batch(&s));
    assert_eq!(got[1], 0.0);
    assert!(got[0] > 1.0 && got[3] > 0.0, "{got:?}");
    let m = task.end_batch().unwrap();
    assert_eq!(metric(&m, "reward/rm_fallback_count"), 1.0);
    assert_eq!(metric(&m, "reward/rm_fallback_total"), 5.0);
}

#[test]
fn without_a_reward_model_training_goes_on_with_the_verifier() {
    let (host, lines) = recording_host();
    let config = format!(r#"{{"data": {:?}}}"#, data_path());
    let task = tz_sdk::export::in_process::task("hybrid", &config, host).unwrap();
    let s = samples(&task);
    let m = warm_up(&task, &s);
    assert_eq!(metric(&m, "reward/rm_fallback_count"), 4.0);
    assert_eq!(rewards(&task, &batch(&s)), vec![1.0, 0.0, 0.0, 0.0]);
    assert_eq!(metric(&task.end_batch().unwrap(), "reward/rm_fallback_count"), 4.0);
    assert!(lines.lock().unwrap().iter().any(|(_, _, l)| l.contains("no reward model")));
}

#[test]
fn only_end_batch_commits_the_running_mean_and_state_restores_it() {
    let rm = vec![2.0, 0.0, -2.0, 1.0];
    let (task, _) = hybrid(
        "",
        script(vec![Ok(vec![-2.0, 0.0, 2.0, 1.0]), Ok(rm.clone()), Ok(rm.clone()), Ok(rm.clone())]),
    );
    let s = samples(&task);
    warm_up(&task, &s);
    // A validation-style scoring without end_batch moves nothing.
    let first = rewards(&task, &batch(&s));
    assert_eq!(rewards(&task, &batch(&s)), first);
    task.end_batch().unwrap();
    let saved = task.state().unwrap();
    let after_commit = rewards(&task, &batch(&s));
    assert_ne!(after_commit, first, "σ̄ moved from 0.5 to 0.475");

    let (resumed, _) = hybrid("", script(vec![Ok(rm)]));
    resumed.restore(saved.as_str()).unwrap();
    assert_eq!(rewards(&resumed, &batch(&samples(&resumed))), after_commit);
}

#[test]
fn scorer_and_bounds_are_checked() {
    let (host, _) = recording_host();
    let err = tz_sdk::export::in_process::task("hybrid", r#"{"scorer": "cosine"}"#, host.clone())
        .err()
        .unwrap()
        .message;
    assert!(err.contains("scorer") && err.contains("sigmoid") && err.contains("tanh"), "{err}");
    let err = tz_sdk::export::in_process::task(
        "hybrid",
        r#"{"warm_up_samples": 0, "min_rm": 1, "max_rm": 1}"#,
        host.clone(),
    )
    .err()
    .unwrap()
    .message;
    assert!(err.contains("max_rm"), "{err}");
    let no_data = tz_sdk::export::in_process::task("hybrid", "", host).unwrap();
    let err = no_data.generate("default", 4, 1).unwrap_err().message;
    assert!(err.contains("task.plugins.hybrid.data"), "{err}");
}

#[test]
fn generate_draws_every_row_before_repeating_one() {
    let (task, _) = hybrid("", script(vec![]));
    let drawn = task.generate("default", 20, 3).unwrap();
    let first: std::collections::HashSet<&str> = drawn.iter().take(16).map(|s| s.data.as_str()).collect();
    assert_eq!(first.len(), 16);
    assert_eq!(drawn.len(), 20);
    let again = task.generate("default", 20, 3).unwrap();
    assert_eq!(drawn, again);
}
