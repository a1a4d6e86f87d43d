//! transformers 5 does not run a Qwen2 `tokenizer.json` as written: its
//! `Qwen2Tokenizer` constructor takes only the vocabulary, merges, added
//! tokens and post-processor from the file and rebuilds the rest (NFC
//! normalizer, Qwen's split regex + byte-level pre-tokenizer, byte-level
//! decoder, a BPE without `<unk>`). It does so whenever `tokenizer_class`
//! names Qwen2 *or* the directory's `config.json` says `model_type: qwen2`,
//! whatever class the tokenizer config names.
//!
//! We patch the JSON the same way before building the tokenizer, so ids match
//! transformers also for files whose own pipeline differs (no normalizer,
//! decomposed accents; an `<unk>` that transformers drops instead).

use serde_json::{json, Value};

/// Qwen2's pre-tokenizer pattern (contractions, letters, single digits,
/// punctuation runs, newlines, spaces), as in transformers' Qwen2Tokenizer.
const PRETOKENIZE_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Tokenizer classes that select the Qwen2 pipeline by name.
pub(super) const QWEN2_CLASSES: [&str; 2] = ["Qwen2Tokenizer", "Qwen2TokenizerFast"];

/// Rewrites a parsed `tokenizer.json` into the pipeline `Qwen2Tokenizer`
/// builds. Errors if the model is not a BPE (the class cannot apply).
pub(super) fn apply(tokenizer_json: &mut Value) -> anyhow::Result<()> {
    let root =
        tokenizer_json.as_object_mut().ok_or_else(|| anyhow::anyhow!("tokenizer.json is not an object"))?;
    let model = root.get_mut("model").and_then(Value::as_object_mut);
    let Some(model) = model.filter(|m| m.get("type").and_then(Value::as_str) == Some("BPE")) else {
        anyhow::bail!("a Qwen2 tokenizer must be a BPE model");
    };
    model.insert("dropout".into(), Value::Null);
    model.insert("unk_token".into(), Value::Null);
    model.insert("continuing_subword_prefix".into(), json!(""));
    model.insert("end_of_word_suffix".into(), json!(""));
    model.insert("fuse_unk".into(), json!(false));
    model.insert("byte_fallback".into(), json!(false));
    model.insert("ignore_merges".into(), json!(false));
    root.insert("normalizer".into(), json!({"type": "NFC"}));
    root.insert(
        "pre_tokenizer".into(),
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": PRETOKENIZE_REGEX}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
        ]}),
    );
    root.insert(
        "decoder".into(),
        json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}),
    );
    Ok(())
}
