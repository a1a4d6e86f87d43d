//! Properties of the countdown plugin, checked through its FFI object (as the
//! host sees it): generated samples are solvable by their own reference
//! solution in every template and belong to their group; no input, however
//! malformed, makes scoring panic or return anything but 0, the format score
//! or the correct score.

use tz_countdown::expr::{parse, Limits, Mode};
use tz_countdown::groups::Group;
use tz_countdown::rows::Problem;
use tz_sdk::handle::Task as TaskHandle;
use tz_sdk::prelude::*;
use tz_sdk::rng::SplitMix64;
use tz_sdk::testing::recording_host;

fn task(config: &str) -> TaskHandle {
    // Naming a type of the crate keeps its registration linked into this test.
    let _ = std::any::type_name::<tz_countdown::Countdown>();
    let (host, _) = recording_host();
    tz_sdk::export::in_process::task("countdown", config, host).unwrap()
}

/// What the host would pass as the prompt text: the template's text, or for
/// `chat` the messages rendered in ChatML (Qwen's chat template).
fn prompt_text(spec: &PromptSpec) -> String {
    if spec.messages.is_empty() {
        return spec.text.to_string();
    }
    let mut out = String::new();
    for (i, m) in spec.messages.iter().enumerate() {
        out.push_str(&format!("<|im_start|>{}\n{}", m.role, m.content));
        if i + 1 < spec.messages.len() || !spec.continue_final_message {
            out.push_str("<|im_end|>\n");
        }
    }
    out
}

fn score_one(task: &TaskHandle, sample: &Sample, template: &str, prompt: &str, response: &str) -> Score {
    let input = ScoreInput {
        sample: sample.clone(),
        template: template.into(),
        prompt: prompt.into(),
        response: response.into(),
        finish: FinishReason::Stop,
    };
    let mut scores = task.score(std::slice::from_ref(&input)).unwrap();
    scores.pop().unwrap()
}

#[test]
fn every_generated_reference_solution_scores_one_and_matches_its_group() {
    for mode in ["tinyzero", "strict"] {
        let task = task(&format!(r#"{{"mode": "{mode}", "format_score": 0.0}}"#));
        let mut groups: Vec<String> = task.groups().unwrap();
        groups.push("all".into());
        let templates = task.templates().unwrap();
        for group in &groups {
            let samples = task.generate(group.as_str(), 400, 11).unwrap();
            assert_eq!(samples.len(), 400);
            for sample in &samples {
                let problem = Problem::from_sample(sample).unwrap();
                let solution = problem.solution.as_deref().expect("generated samples carry a solution");
                let parsed = parse(solution, Mode::Strict, &Limits::default()).unwrap();
                let classified = Group::classify(parsed.operators).expect("four-operator solution");
                assert_eq!(classified.name(), sample.group.as_str(), "{sample:?}");
                if group != "all" {
                    assert_eq!(sample.group.as_str(), group);
                }
                assert_eq!(sample.difficulty as usize, problem.nums.len());
                for template in &templates {
                    let spec = task.prompt(sample, template.as_str()).unwrap();
                    let response = task.reference_solution(sample, template.as_str()).unwrap().unwrap();
                    let score = score_one(&task, sample, template, &prompt_text(&spec), &response);
                    assert!(
                        score.correct && score.reward == 1.0,
                        "{mode} {template}: {score:?} for {sample:?} / {response:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn reference_solution_is_found_for_rows_without_one() {
    let task = task("");
    let row = serde_json::json!({"target": 421, "nums": [20, 51, 84, 7]}).to_string();
    let sample = task.sample_from_row(&serde_json::from_str(&row).unwrap()).unwrap();
    let spec = task.prompt(&sample, "base").unwrap();
    let response = task.reference_solution(&sample, "base").unwrap().unwrap();
    assert_eq!(score_one(&task, &sample, "base", &spec.text, &response).reward, 1.0);
}

#[test]
fn generation_is_reproducible_and_groups_use_different_streams() {
    let task = task("");
    let a = task.generate("plus", 50, 5).unwrap();
    let b = task.generate("plus", 50, 5).unwrap();
    let c = task.generate("plus_minus", 50, 5).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.iter().map(|s| &s.data).collect::<Vec<_>>(), c.iter().map(|s| &s.data).collect::<Vec<_>>());
    let err = task.generate("minus", 1, 0).unwrap_err().message;
    assert!(err.contains("unknown group 'minus'"), "{err}");
}

/// Random byte strings (as lossy UTF-8) and random strings over the
/// expression alphabet: scoring never panics and returns one of three values.
#[test]
fn scoring_never_panics_on_random_input() {
    let format_score = 0.25;
    for mode in ["tinyzero", "strict"] {
        let task = task(&format!(r#"{{"mode": "{mode}", "format_score": {format_score}}}"#));
        let sample = task.generate("all", 1, 1).unwrap().pop().unwrap();
        let mut rng = SplitMix64::new(99);
        let alphabet: Vec<char> =
            "0123456789+-*/().  \t\r\n<>answer/:Assistant٣\u{a0}\u{1c}".chars().collect();
        let mut batch = Vec::new();
        for i in 0..20_000 {
            let len = rng.range(0, 80) as usize;
            let text = if i % 2 == 0 {
                let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                (0..len).map(|_| alphabet[rng.range(0, alphabet.len() as u64 - 1) as usize]).collect()
            };
            let template = ["base", "qwen-instruct", "chat", "compact"][i % 4];
            let response = match i % 3 {
                0 => format!("Assistant: <answer>{text}</answer>"),
                1 => text.clone(),
                _ => format!("<answer>{text}"),
            };
            batch.push(ScoreInput {
                sample: sample.clone(),
                template: template.into(),
                prompt: "".into(),
                response,
                finish: FinishReason::Length,
            });
        }
        let scores = task.score(batch.as_slice()).unwrap();
        for s in scores {
            assert!([0.0, format_score, 1.0].contains(&s.reward), "{s:?}");
            assert_eq!(s.correct, s.reward == 1.0);
        }
    }
}

#[test]
fn empty_and_non_utf8_responses_score_zero() {
    let task = task("");
    let sample = task.generate("plus", 1, 3).unwrap().pop().unwrap();
    for template in ["base", "qwen-instruct", "chat", "compact"] {
        assert_eq!(score_one(&task, &sample, template, "", "").reward, 0.0);
        let lossy = String::from_utf8_lossy(&[0xff, 0xfe, b'<', 0xc3]).into_owned();
        assert_eq!(score_one(&task, &sample, template, "", &lossy).reward, 0.0);
    }
}

#[test]
fn bad_config_is_refused_with_the_key_named() {
    let (host, _) = recording_host();
    let err =
        tz_sdk::export::in_process::task("countdown", r#"{"min_operands": 5}"#, host.clone()).err().unwrap();
    assert!(err.message.contains("min_operands"), "{err}");
    let err = tz_sdk::export::in_process::task("countdown", r#"{"format_scor": 0.0}"#, host).err().unwrap();
    assert!(err.message.contains("did you mean 'format_score'"), "{err}");
}
