//! `tzhost generate` prints what transformers' greedy `model.generate()`
//! decodes, on a checkpoint written by transformers (with the Qwen
//! vocabulary and its chat template) and on a tiny-preset directory written
//! by the core. The expected text comes from host/tests/python/generate_reference.py.

mod common;

use std::path::{Path, PathBuf};

use serde_json::json;
use tch::nn::VarStore;
use tch::Device;
use tz_core::model::init::{fill_from_seed, Fill};
use tz_core::presets::{tiny_config, tiny_tokenizer, write_model_dir};
use tz_core::Decoder;

fn qwen_fixture() -> PathBuf {
    tz_testkit::testdata("qwen-vocab-tokenizer")
}

fn reference(request: &serde_json::Value) -> serde_json::Value {
    common::run_python("host/tests/python/generate_reference.py", request)
}

/// A tiny-preset directory with random weights, written by the core.
fn tiny_dir(dir: &Path) {
    let cfg = tiny_config();
    let vs = VarStore::new(Device::Cpu);
    let _model = Decoder::new(&vs.root(), &cfg);
    fill_from_seed(&vs, 3, |name| {
        let mean = if name.ends_with("norm.weight") { 1.0 } else { 0.0 };
        Fill::Normal { mean, std: 0.3 }
    });
    write_model_dir(dir, &cfg, &vs, &tiny_tokenizer().unwrap(), &json!({"test": "generate"})).unwrap();
}

#[test]
fn generate_prints_what_transformers_generates() {
    let work = tempfile::tempdir().unwrap();
    let qwen = work.path().join("qwen-random");
    let tiny = work.path().join("tiny");
    tiny_dir(&tiny);
    let qwen_config = json!({
        "vocab_size": 151646, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 1,
        "num_attention_heads": 2, "num_key_value_heads": 1, "tie_word_embeddings": true,
        "eos_token_id": 151645, "pad_token_id": 151643, "max_position_embeddings": 256,
    });
    let cases: Vec<(PathBuf, &str, bool, Option<&str>, usize)> = vec![
        (
            qwen.clone(),
            "Using the numbers [19, 36, 55, 7], create an equation that equals 65.",
            false,
            None,
            12,
        ),
        (qwen.clone(), "What is 2 + 2? Answer briefly.", true, Some("You are terse."), 12),
        (tiny.clone(), "12 7 30>", false, None, 10),
    ];
    let answer = reference(&json!({
        "make": [{"dir": qwen, "tokenizer_from": qwen_fixture(), "config": qwen_config, "seed": 5}],
        "generate": cases.iter().map(|(dir, prompt, chat, system, n)| json!({
            "dir": dir, "prompt": prompt, "chat": chat, "system": system, "new_tokens": n,
        })).collect::<Vec<_>>(),
    }));
    for (i, (dir, prompt, chat, system, n)) in cases.iter().enumerate() {
        let want = &answer["texts"][i];
        let n = n.to_string();
        let mut args = vec!["--model", dir.to_str().unwrap(), "--prompt", prompt, "--max-new-tokens", &n];
        if *chat {
            args.push("--chat");
        }
        if let Some(system) = system {
            args.extend(["--system", system]);
        }
        assert_eq!(common::tzhost_generate(&args), want["keep"].as_str().unwrap(), "case {i}: {args:?}");
        if *chat {
            args.push("--skip-special-tokens");
            assert_eq!(common::tzhost_generate(&args), want["skip"].as_str().unwrap(), "case {i}: {args:?}");
        }
    }
}

#[test]
fn generate_errors_are_one_line() {
    let work = tempfile::tempdir().unwrap();
    let missing = work.path().join("nope");
    let out = common::tzhost(&["generate", "--model", missing.to_str().unwrap(), "--prompt", "x"]);
    let err = common::assert_one_line_error(&out);
    assert!(err.contains("does not exist"), "{err}");

    let out = common::tzhost_env(
        &["generate", "--model", "Qwen/Qwen2.5-0.5B", "--prompt", "x"],
        &[("HF_HUB_OFFLINE", "1"), ("HF_HUB_CACHE", work.path().to_str().unwrap())],
    );
    let err = common::assert_one_line_error(&out);
    assert!(err.contains("is not in the Hugging Face cache") && err.contains("HF_HUB_OFFLINE"), "{err}");

    // The tiny tokenizer has no chat template.
    let tiny = work.path().join("tiny");
    tiny_dir(&tiny);
    let out = common::tzhost(&["generate", "--model", tiny.to_str().unwrap(), "--prompt", "1", "--chat"]);
    let err = common::assert_one_line_error(&out);
    assert!(err.contains("no chat template"), "{err}");
}
