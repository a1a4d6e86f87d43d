//! The multiplication plugin through its FFI object.

use tz_sdk::handle::Task as TaskHandle;
use tz_sdk::prelude::*;
use tz_sdk::testing::recording_host;

fn task() -> TaskHandle {
    let _ = std::any::type_name::<tz_multiplication::Multiplication>();
    let (host, _) = recording_host();
    tz_sdk::export::in_process::task("multiplication", "", host).unwrap()
}

fn score(task: &TaskHandle, sample: &Sample, template: &str, prompt: &str, response: &str) -> Score {
    let input = ScoreInput {
        sample: sample.clone(),
        template: template.into(),
        prompt: prompt.into(),
        response: response.into(),
        finish: FinishReason::Stop,
    };
    task.score(std::slice::from_ref(&input)).unwrap().pop().unwrap()
}

#[test]
fn reference_solutions_score_one_in_every_template() {
    let task = task();
    let samples = task.generate("default", 500, 3).unwrap();
    for sample in &samples {
        for template in ["base", "chat", "compact"] {
            let prompt = task.prompt(sample, template).unwrap().text;
            let response = task.reference_solution(sample, template).unwrap().unwrap();
            let s = score(&task, sample, template, &prompt, &response);
            assert!(s.correct && s.reward == 1.0, "{template}: {s:?} {response:?}");
        }
        assert!((2..=6).contains(&sample.difficulty));
    }
}

#[test]
fn tinyzero_scores_and_row_round_trip() {
    let task = task();
    let row = serde_json::json!({"num1": 12, "num2": 34, "result": 408, "reward_model": {"style": "rule", "ground_truth": 408}});
    let sample = task.sample_from_row(&row).unwrap();
    let prompt = task.prompt(&sample, "base").unwrap().text;
    assert_eq!(score(&task, &sample, "base", &prompt, "</think> <answer> 408 </answer>").reward, 1.0);
    assert_eq!(score(&task, &sample, "base", &prompt, "</think> <answer> 407 </answer>").reward, 0.1);
    assert_eq!(score(&task, &sample, "base", &prompt, "</think> <answer> 4 0 8 </answer>").reward, 0.0);
    assert_eq!(
        score(&task, &sample, "base", "", "<answer> 408 </answer>").reward,
        0.0,
        "no Assistant: marker"
    );
    assert_eq!(score(&task, &sample, "compact", "12*34:", "408").reward, 1.0);
    assert_eq!(score(&task, &sample, "compact", "12*34:", "").reward, 0.0);

    let written = task.sample_to_row(&sample, "base").unwrap();
    let back = task.sample_from_row(&written).unwrap();
    assert_eq!(back, sample);
}

#[test]
fn ground_truth_alone_scores_but_cannot_prompt() {
    let task = task();
    let row = r#"{"reward_model": {"ground_truth": 408}}"#;
    let sample = task.sample_from_row(&serde_json::from_str(row).unwrap()).unwrap();
    assert_eq!(score(&task, &sample, "chat", "", "<answer>408</answer>").reward, 1.0);
    let err = task.prompt(&sample, "base").unwrap_err().message;
    assert!(err.contains("no operands"), "{err}");
}
