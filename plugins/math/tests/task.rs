//! The math plugin through its FFI object, on the example data.

use std::path::PathBuf;

use tz_sdk::handle::Task as TaskHandle;
use tz_sdk::prelude::*;
use tz_sdk::testing::recording_host;

fn task() -> TaskHandle {
    let _ = std::any::type_name::<tz_math::Math>();
    let (host, _) = recording_host();
    tz_sdk::export::in_process::task("math", "", host).unwrap()
}

fn score(task: &TaskHandle, sample: &Sample, template: &str, response: &str) -> Score {
    let input = ScoreInput {
        sample: sample.clone(),
        template: template.into(),
        prompt: "".into(),
        response: response.into(),
        finish: FinishReason::Stop,
    };
    task.score(std::slice::from_ref(&input)).unwrap().pop().unwrap()
}

fn example_samples(task: &TaskHandle) -> Vec<Sample> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/dummy_math_tasks.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines().map(|line| task.sample_from_row(&serde_json::from_str(line).unwrap()).unwrap()).collect()
}

#[test]
fn example_file_has_sixteen_problems_solved_by_their_reference() {
    let task = task();
    let samples = example_samples(&task);
    assert_eq!(samples.len(), 16);
    for sample in &samples {
        for template in ["chat", "base", "qwen-instruct"] {
            let response = task.reference_solution(sample, template).unwrap().unwrap();
            let s = score(&task, sample, template, &response);
            assert!(s.correct && s.reward == 1.0, "{template} {s:?} {sample:?}");
        }
    }
}

#[test]
fn correct_incorrect_unparseable() {
    let task = task();
    let samples = example_samples(&task);
    let eight = &samples[0];
    assert_eq!(score(&task, eight, "chat", "<think>5+3</think> <answer> $8$ </answer>").reward, 1.0);
    assert_eq!(score(&task, eight, "chat", "so the answer is \\boxed{8.0}").reward, 1.0);
    let wrong = score(&task, eight, "chat", "<answer> 9 </answer>");
    assert!(!wrong.correct && wrong.formatted && wrong.reward == 0.0, "{wrong:?}");
    let none = score(&task, eight, "chat", "eight, I think");
    assert!(!none.formatted && none.reward == 0.0, "{none:?}");
    let fraction = &samples[15];
    assert_eq!(score(&task, fraction, "chat", "<answer>\\frac{3}{4}</answer>").reward, 1.0);
    assert_eq!(score(&task, fraction, "chat", "<answer>0.75</answer>").reward, 1.0);
    assert_eq!(score(&task, fraction, "chat", "<answer>75\\%</answer>").reward, 1.0);
}

#[test]
fn verl_rows_and_round_trip() {
    let task = task();
    let row = serde_json::json!({
        "data_source": "openai/gsm8k",
        "prompt": [{"role": "user", "content": "Natalia sold 48 clips ... How many?"}],
        "reward_model": {"style": "rule", "ground_truth": "72"},
        "extra_info": {"split": "train", "index": 3},
    });
    let sample = task.sample_from_row(&row).unwrap();
    assert_eq!(sample.index, 3);
    assert_eq!(score(&task, &sample, "chat", "<answer>72</answer>").reward, 1.0);
    let written = task.sample_to_row(&sample, "chat").unwrap();
    let back = task.sample_from_row(&written).unwrap();
    assert_eq!(back, sample);
    let err = task.generate("default", 1, 0).unwrap_err().message;
    assert!(err.contains("no generator"), "{err}");
}

#[test]
fn ground_truth_alone_is_enough_to_score_but_not_to_prompt() {
    let task = task();
    let row = serde_json::json!({"reward_model": {"style": "rule", "ground_truth": "8"}});
    let sample = task.sample_from_row(&row).unwrap();
    assert_eq!(score(&task, &sample, "chat", "<answer>8</answer>").reward, 1.0);
    assert_eq!(score(&task, &sample, "chat", "<answer>9</answer>").reward, 0.0);
    let err = task.prompt(&sample, "chat").unwrap_err().message;
    assert!(err.contains("has no question"), "{err}");
}

#[test]
fn system_prompt_and_instruction_are_settings() {
    let (host, _) = recording_host();
    let config = r#"{"system_prompt": "", "instruction": "\nPut the answer in \\boxed{}."}"#;
    let task = tz_sdk::export::in_process::task("math", config, host).unwrap();
    let sample = example_samples(&task).remove(0);
    let chat = task.prompt(&sample, "chat").unwrap();
    assert_eq!(chat.messages.len(), 1, "no system message");
    assert_eq!(chat.messages[0].content, "What is 5 + 3?\nPut the answer in \\boxed{}.");
    let chatml = task.prompt(&sample, "qwen-instruct").unwrap().text;
    assert!(chatml.starts_with("<|im_start|>user\nWhat is 5 + 3?\nPut"), "{chatml}");
    let default = self::task().prompt(&sample, "chat").unwrap();
    assert_eq!(default.messages[0].role, "system");
    assert!(default.messages[1].content.ends_with("in <answer> </answer> tags."));
}

/// Issue 15.7: 30,000 nested \frac overflowed the stack (exit 134).
#[test]
fn thirty_thousand_nested_fractions_score_as_wrong() {
    let task = task();
    let sample = example_samples(&task).remove(0);
    for response in [
        format!("<answer>{}1{}</answer>", "\\frac{1}{".repeat(30_000), "}".repeat(30_000)),
        format!("\\boxed{{{}8{}}}", "\\sqrt{".repeat(30_000), "}".repeat(30_000)),
        format!("<answer>{}8{}</answer>", "(".repeat(30_000), ")".repeat(30_000)),
    ] {
        let s = score(&task, &sample, "chat", &response);
        assert!(s.formatted && !s.correct && s.reward == 0.0, "{s:?}");
    }
}
