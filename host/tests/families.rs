//! The model families end to end through `tzhost`, on random checkpoints
//! written by transformers with test tokenizers of each family's style
//! (core/tests/python/tokenizer_styles.py):
//!
//! - `tzhost generate --greedy` prints transformers' greedy text for Llama
//!   (TinyLlama-style tokenizer and Zephyr chat template; Llama 3-style
//!   byte-level tokenizer with Llama 3 RoPE scaling), Qwen3 (q/k norms, its
//!   chat template) and Mistral (a sliding window shorter than the text);
//! - `tzhost train --model <a random Llama dir>` runs GRPO steps, and the
//!   same run with `trainer.gradient_checkpointing=true` logs the same
//!   metrics; its checkpoints keep the Llama config;
//! - `tzhost doctor --model` names the family.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{json, Value};

fn work_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("families")
}

fn template(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/testdata/chat_templates").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (name, model_type, tokenizer style, config)
fn checkpoints() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    let base = |extra: Value| {
        let mut c = json!({"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
                           "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    vec![
        (
            "llama",
            "llama",
            "tinyllama",
            base(json!({"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2})),
        ),
        (
            "llama3",
            "llama",
            "llama3",
            base(json!({"bos_token_id": 0, "eos_token_id": [1, 4, 5], "tie_word_embeddings": true,
                        "rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
                        "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}})),
        ),
        (
            "qwen3",
            "qwen3",
            "qwen3",
            base(json!({"head_dim": 16, "eos_token_id": 2, "tie_word_embeddings": true})),
        ),
        (
            "mistral",
            "mistral",
            "tinyllama",
            base(json!({"bos_token_id": 1, "eos_token_id": 2, "sliding_window": 4, "head_dim": 12})),
        ),
    ]
}

/// (checkpoint, prompt, chat, new tokens)
const CASES: &[(&str, &str, bool, usize)] = &[
    ("llama", "Using the numbers [19, 36, 55, 7], create an equation that equals 65.", false, 12),
    ("llama", "What is 2 + 2? Answer briefly.", true, 12),
    ("llama3", "Hello world! 1234567 café", false, 12),
    ("qwen3", "Using the numbers [19, 36, 55, 7], create an equation that equals 65.", false, 12),
    ("qwen3", "What is 2 + 2?", true, 12),
    ("mistral", "The quick brown fox jumps over the lazy dog.", false, 12),
];

/// Makes the tokenizers and checkpoints once; transformers' greedy texts.
fn reference() -> &'static Value {
    static ANSWER: OnceLock<Value> = OnceLock::new();
    ANSWER.get_or_init(|| {
        let _ = std::fs::remove_dir_all(work_dir());
        let styles = [
            ("tinyllama", "tinyllama-zephyr.jinja"),
            ("llama3", "llama-3.2.jinja"),
            ("qwen3", "qwen3.jinja"),
        ];
        let make: Vec<Value> = styles
            .iter()
            .map(|(s, t)| json!({"dir": work_dir().join("tok").join(s), "style": s, "chat_template": template(t)}))
            .collect();
        common::run_python("core/tests/python/tokenizer_styles.py", &json!({ "make": make }));
        let make: Vec<Value> = checkpoints()
            .iter()
            .enumerate()
            .map(|(i, (name, model_type, style, config))| {
                json!({"dir": work_dir().join(name), "model_type": model_type, "config": config, "seed": i + 3,
                       "tokenizer_from": work_dir().join("tok").join(style)})
            })
            .collect();
        let generate: Vec<Value> = CASES
            .iter()
            .map(|(name, prompt, chat, n)| {
                json!({"dir": work_dir().join(name), "prompt": prompt, "chat": chat, "system": null, "new_tokens": n})
            })
            .collect();
        common::run_python("host/tests/python/generate_reference.py", &json!({"make": make, "generate": generate}))
    })
}

#[test]
fn generate_prints_transformers_greedy_text_for_every_family() {
    let answer = reference();
    for (i, (name, prompt, chat, n)) in CASES.iter().enumerate() {
        let want = &answer["texts"][i];
        assert_eq!(
            want["tokens"].as_u64(),
            Some(*n as u64),
            "case {i}: the reference must run the full length"
        );
        let dir = work_dir().join(name);
        let n = n.to_string();
        let mut args = vec!["--model", dir.to_str().unwrap(), "--prompt", prompt, "--max-new-tokens", &n];
        if *chat {
            args.push("--chat");
        }
        assert_eq!(
            common::tzhost_generate(&args),
            want["keep"].as_str().unwrap(),
            "case {i} ({name}): {args:?}"
        );
    }
}

/// A 2-step GRPO run on the random Llama checkpoint.
fn train_llama(out: &Path, checkpointing: bool) -> std::process::Output {
    let _ = reference();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tzhost"));
    cmd.args(["train", "--task", "countdown", "--algo", "grpo", "--curriculum", "fixed", "--device", "cpu"])
        .arg("--model")
        .arg(work_dir().join("llama"))
        .arg("--out")
        .arg(out);
    let sets = [
        "task.template=base".to_string(),
        "rollout.prompts_per_step=2".into(),
        "rollout.n=2".into(),
        "rollout.max_response_length=8".into(),
        "trainer.total_steps=2".into(),
        "trainer.micro_batch_size=2".into(),
        "trainer.collapse_patience=0".into(),
        // A random policy earns no reward, so every advantage is 0: the
        // entropy bonus gives the update a gradient to compare.
        "algorithm.plugins.grpo.entropy_coef=0.01".into(),
        format!("trainer.gradient_checkpointing={checkpointing}"),
        "eval.size=2".into(),
        "eval.samples=1".into(),
        "eval.greedy=false".into(),
        "logging.progress=false".into(),
        "trainer.test_every_minutes=0".into(),
    ];
    for s in &sets {
        cmd.args(["--set", s]);
    }
    cmd.env_remove("TZ_PLUGIN_PATH").env("HF_HUB_OFFLINE", "1").output().unwrap()
}

#[test]
fn train_runs_grpo_steps_on_a_llama_checkpoint_with_and_without_checkpointing() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, checkpointed) = (dir.path().join("plain"), dir.path().join("checkpointed"));
    for (run, on) in [(&plain, false), (&checkpointed, true)] {
        let o = train_llama(run, on);
        assert!(o.status.success(), "{}\n{}", common::stdout(&o), common::stderr(&o));
    }
    let (a, b) = (common::metrics(&plain), common::metrics(&checkpointed));
    let steps: Vec<u64> = a.iter().filter_map(|m| m["step"].as_u64()).collect();
    assert!(steps.contains(&2), "two GRPO steps: {steps:?}");
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        for ((key, vx), (_, vy)) in common::deterministic(x).iter().zip(common::deterministic(y).iter()) {
            match (vx.as_f64(), vy.as_f64()) {
                (Some(p), Some(c)) => {
                    assert!(
                        (p - c).abs() <= 1e-6 + 1e-4 * p.abs(),
                        "{key}: {c} with checkpointing, {p} without"
                    )
                }
                _ => assert_eq!(vx, vy, "{key}"),
            }
        }
    }
    let grad_norm = a.iter().find_map(|m| m["actor/grad_norm"].as_f64()).expect("actor/grad_norm logged");
    assert!(grad_norm > 0.0 && grad_norm.is_finite());
    // The checkpoint is still a Llama checkpoint.
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(plain.join("checkpoints/step_000002/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (config["model_type"].as_str(), config["architectures"][0].as_str()),
        (Some("llama"), Some("LlamaForCausalLM"))
    );
}

#[test]
fn doctor_names_the_family() {
    let _ = reference();
    for (name, model_type, _, _) in checkpoints() {
        let o = common::tzhost(&["doctor", "--model", work_dir().join(name).to_str().unwrap()]);
        let out = common::stdout(&o);
        assert!(out.contains(&format!("family {model_type} (")), "{name}:\n{out}\n{}", common::stderr(&o));
    }
}

#[test]
fn the_family_paper_configs_pass_the_config_check() {
    for name in [
        "hybrid-tinyllama-1.1b-chat-acemath-rm.toml",
        "countdown-qwen3-1.7b.toml",
        "countdown-llama-3.2-1b-instruct.toml",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/paper").join(name);
        let o = common::tzhost(&["config", "show", "--config", path.to_str().unwrap()]);
        assert!(o.status.success(), "{name}: {}", common::stderr(&o));
    }
}
