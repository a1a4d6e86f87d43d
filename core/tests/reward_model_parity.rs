//! Parity of the reward-model service with transformers'
//! `*ForSequenceClassification` of every family (Qwen2, Llama, Qwen3,
//! Mistral; float32, CPU) on small random checkpoints made by
//! core/tests/python/reward_model_reference.py:
//!
//! - the chat-template rendering and the token ids equal transformers';
//! - scores agree (up to the f32 forward's roundings) with pairs scored one by one and with a
//!   right-padded batch, for a config with a `pad_token_id` (the score is read
//!   at the right-most non-pad token) and one without (the last real token);
//! - our own batching (sorted by length, several batches) gives the same
//!   scores as one pair at a time;
//! - a causal-LM checkpoint (no `score.weight`) is refused with a clear error.

mod reference;

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::json;
use tch::nn::VarStore;
use tch::{Device, Kind};
use tz_core::checkpoint::{ModelDir, SaveOptions};
use tz_core::model::{Decoder, ScoreHead};
use tz_core::{RewardModel, RewardModelOptions};
use tz_testkit::{assert_all_close, Tol};

const SYSTEM: &str = "Please reason step by step, and check your final answer within \\boxed{}.";

fn pairs() -> Vec<(String, String)> {
    [
        ("What is 5 + 3?", "<think> 5 plus 3 </think>\n<answer> 8 </answer>"),
        ("What is 12 - 7?", "5"),
        ("A box holds 8 pencils. How many pencils are in 3 boxes?", "<answer> 24 </answer><|endoftext|>"),
        ("Hi", ""),
        ("What is 3 divided by 4, as a fraction?", "\\boxed{\\frac{3}{4}} — ¾ naïve"),
    ]
    .iter()
    .map(|(p, r)| (p.to_string(), r.to_string()))
    .collect()
}

fn config(pad: Option<u32>) -> serde_json::Value {
    let mut c = json!({
        "vocab_size": 260, "hidden_size": 40, "intermediate_size": 72, "num_hidden_layers": 2,
        "num_attention_heads": 5, "num_key_value_heads": 1, "max_position_embeddings": 512,
        "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
    });
    if let Some(p) = pad {
        c["pad_token_id"] = json!(p);
    }
    c
}

/// [`config`] with a pad token and the family's own keys added.
fn family_config(extra: serde_json::Value) -> serde_json::Value {
    let mut c = config(Some(256));
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn work_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reward_model_parity")
}

/// The two RM checkpoints, an LM checkpoint, and transformers' answers.
fn reference() -> &'static serde_json::Value {
    static ANSWER: OnceLock<serde_json::Value> = OnceLock::new();
    ANSWER.get_or_init(|| {
        let _ = std::fs::remove_dir_all(work_dir());
        std::fs::create_dir_all(work_dir()).unwrap();
        let dir = |n: &str| work_dir().join(n);
        let request = json!({
            "make": [
                {"dir": dir("rm_pad"), "kind": "rm", "seed": 3, "config": config(Some(256))},
                {"dir": dir("rm_nopad"), "kind": "rm", "seed": 4, "config": config(None)},
                {"dir": dir("lm"), "kind": "lm", "seed": 5, "config": config(Some(256))},
                {"dir": dir("rm_llama"), "kind": "rm", "model_type": "llama", "seed": 6,
                 "config": family_config(json!({"attention_bias": true}))},
                {"dir": dir("rm_qwen3"), "kind": "rm", "model_type": "qwen3", "seed": 7,
                 "config": family_config(json!({"head_dim": 16}))},
                {"dir": dir("rm_mistral"), "kind": "rm", "model_type": "mistral", "seed": 8,
                 "config": family_config(json!({"sliding_window": 16}))},
            ],
            "score": [
                {"dir": dir("rm_pad"), "system": SYSTEM, "pairs": pairs()},
                {"dir": dir("rm_nopad"), "system": "", "pairs": pairs()},
                {"dir": dir("rm_llama"), "system": SYSTEM, "pairs": pairs()},
                {"dir": dir("rm_qwen3"), "system": SYSTEM, "pairs": pairs()},
                {"dir": dir("rm_mistral"), "system": SYSTEM, "pairs": pairs()},
            ],
        });
        reference::run_python("reward_model_reference.py", &request)
    })
}

fn load(name: &str, system: &str, batch_size: usize) -> RewardModel {
    let opts = RewardModelOptions { system_prompt: system.into(), batch_size, ..Default::default() };
    RewardModel::load(&work_dir().join(name), opts).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// Two f32 forwards of the configs above (ours against transformers', or
/// other batch shapes) over inputs of up to 128 tokens, at the scores' scale.
fn score_tol() -> Tol {
    Tol::f32_forward(2, 40, 72, 128)
}

fn check(name: &str, system: &str, answer: &serde_json::Value) {
    let pairs = pairs();
    let one_by_one = load(name, system, 1);
    for (i, (p, r)) in pairs.iter().enumerate() {
        assert_eq!(
            one_by_one.render(p, r).unwrap(),
            answer["texts"][i].as_str().unwrap(),
            "{name} pair {i}: text"
        );
        let ids: Vec<u32> = one_by_one.encode(p, r).unwrap().iter().map(|&t| t as u32).collect();
        assert_eq!(ids, reference::ids(&answer["ids"][i]), "{name} pair {i}: token ids");
    }
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(p, r)| (p.as_str(), r.as_str())).collect();
    let want = floats(&answer["single"]);
    let single = one_by_one.score(&refs).unwrap();
    assert_all_close(&format!("{name}: one by one against transformers"), &single, &want, score_tol());
    // Several padded batches (sizes 2, 2, 1 after sorting by length).
    let batched = load(name, system, 2).score(&refs).unwrap();
    assert_all_close(&format!("{name}: batched against transformers"), &batched, &want, score_tol());
    if !answer["batched"].is_null() {
        let theirs = floats(&answer["batched"]);
        assert_all_close(
            &format!("{name}: batched against transformers' batch"),
            &batched,
            &theirs,
            score_tol(),
        );
    }
    assert!(want.windows(2).any(|w| (w[0] - w[1]).abs() > 1e-3), "{name}: scores must differ between pairs");
}

#[test]
fn scores_match_transformers_when_the_config_has_a_pad_token() {
    check("rm_pad", SYSTEM, &reference()["scores"][0]);
}

#[test]
fn scores_match_transformers_when_the_config_has_no_pad_token() {
    check("rm_nopad", "", &reference()["scores"][1]);
}

#[test]
fn llama_qwen3_and_mistral_classifiers_match_transformers() {
    // Llama with attention biases, Qwen3 with q/k norms and a wide head_dim,
    // Mistral with a 16-token window (the rendered pairs are longer).
    for (i, name) in ["rm_llama", "rm_qwen3", "rm_mistral"].into_iter().enumerate() {
        check(name, SYSTEM, &reference()["scores"][2 + i]);
    }
}

#[test]
fn classifiers_saved_by_the_core_score_the_same_in_transformers() {
    let answer = reference();
    let names = ["rm_pad", "rm_llama", "rm_qwen3", "rm_mistral"];
    let mut score = Vec::new();
    for name in names {
        let dir = ModelDir::open(&work_dir().join(name)).unwrap();
        let vs = VarStore::new(Device::Cpu);
        let _backbone = Decoder::backbone(&vs.root(), dir.config());
        let _head = ScoreHead::new(&vs.root(), dir.config().hidden_size, 1);
        let report = dir.load_weights(&vs).unwrap();
        assert!(report.ignored.is_empty(), "{name}: {:?}", report.ignored);
        let out = work_dir().join(format!("{name}-saved"));
        dir.save_like(&vs, &out, &SaveOptions { dtype: Kind::Float, ..Default::default() }).unwrap();
        score.push(json!({"dir": out, "system": SYSTEM, "pairs": pairs()}));
    }
    let saved = reference::run_python("reward_model_reference.py", &json!({ "score": score }));
    for (i, (name, original)) in names.iter().zip([0, 2, 3, 4]).enumerate() {
        let (want, got) =
            (floats(&answer["scores"][original]["single"]), floats(&saved["scores"][i]["single"]));
        assert_eq!(got, want, "{name}: f32 weights saved by the core must score bit for bit the same");
    }
}

#[test]
fn a_causal_lm_checkpoint_is_refused_as_a_reward_model() {
    let _ = reference();
    let err = RewardModel::load(&work_dir().join("lm"), RewardModelOptions::default()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("num_labels") || msg.contains("score.weight"), "{msg}");
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let err = RewardModel::load(&work_dir().join("nope"), RewardModelOptions::default()).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err:#}");
}
