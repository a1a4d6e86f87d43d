//! `--model DIR`: the files a Hugging Face model directory needs, its
//! config.json (a Qwen2-architecture model), and its tokenizer.

use std::path::Path;

use tz_core::config::Qwen2Config;

use super::Check;

const FIX_DOWNLOAD: &str = "download the whole model, e.g. huggingface-cli download Qwen/Qwen2.5-0.5B --local-dir DIR";

pub fn check(dir: &Path) -> Vec<Check> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        out.push(Check::fail(
            "model files",
            format!("{} is not a directory", dir.display()),
            format!("give a local model directory; {FIX_DOWNLOAD}"),
        ));
        return out;
    }
    out.push(files(dir));
    let config = dir.join("config.json");
    if !config.is_file() {
        out.push(Check::skip("model config", "no config.json to read"));
    } else {
        out.push(config_check(&config));
    }
    out.push(tokenizer(dir));
    out.push(Check::skip(
        "model forward",
        "not checked by this build (the forward-pass check comes with the model loader)",
    ));
    out
}

fn config_check(config: &Path) -> Check {
    match Qwen2Config::from_file(config).and_then(|c| c.validate().map(|()| c)) {
        Ok(c) => Check::ok(
            "model config",
            format!(
                "{} layers, hidden {}, heads {}/{} (q/kv), vocab {}, {:.0}M parameters{}",
                c.num_hidden_layers,
                c.hidden_size,
                c.num_attention_heads,
                c.num_key_value_heads,
                c.vocab_size,
                c.num_parameters() as f64 / 1e6,
                if c.tie_word_embeddings { ", tied embeddings" } else { "" }
            ),
        ),
        Err(e) => Check::fail(
            "model config",
            format!("{e:#}"),
            "tzhost trains Qwen2-architecture models (Qwen2.5, DeepSeek-R1-Distill-Qwen); check config.json",
        ),
    }
}

/// config.json, tokenizer.json and the weights (one file or an index of shards).
fn files(dir: &Path) -> Check {
    let mut missing = Vec::new();
    for f in ["config.json", "tokenizer.json"] {
        if !dir.join(f).is_file() {
            missing.push(f.to_string());
        }
    }
    let shards: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "safetensors")).collect())
        .unwrap_or_default();
    let index = dir.join("model.safetensors.index.json");
    if shards.is_empty() {
        missing.push("*.safetensors (the weights)".into());
    } else if index.is_file() {
        // Every shard the index names must be there.
        if let Ok(text) = std::fs::read_to_string(&index) {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let mut named: Vec<&str> =
                v["weight_map"].as_object().map(|m| m.values().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
            named.sort();
            named.dedup();
            missing.extend(named.into_iter().filter(|s| !dir.join(s).is_file()).map(|s| s.to_string()));
        }
    }
    if missing.is_empty() {
        let bytes: u64 = shards.iter().filter_map(|p| p.metadata().ok()).map(|m| m.len()).sum();
        Check::ok(
            "model files",
            format!("config.json, tokenizer.json, {} weight file(s), {:.2} GB", shards.len(), bytes as f64 / 1e9),
        )
    } else {
        Check::fail("model files", format!("{} lacks {}", dir.display(), missing.join(", ")), FIX_DOWNLOAD)
    }
}

fn tokenizer(dir: &Path) -> Check {
    let path = dir.join("tokenizer.json");
    if !path.is_file() {
        return Check::fail("tokenizer", "no tokenizer.json", FIX_DOWNLOAD);
    }
    let tok = match tokenizers::Tokenizer::from_file(&path) {
        Ok(t) => t,
        Err(e) => {
            return Check::fail(
                "tokenizer",
                format!("{}: {e}", path.display()),
                "re-download tokenizer.json (it must be a Hugging Face `tokenizers` file)",
            )
        }
    };
    let text = "Using the numbers [44, 19, 35], create an equation that equals 98.";
    match tok.encode(text, false) {
        Ok(enc) if !enc.get_ids().is_empty() => {
            let back = tok.decode(enc.get_ids(), false).unwrap_or_default();
            let round_trip = if back == text { "round-trips" } else { "does not round-trip exactly" };
            Check::ok(
                "tokenizer",
                format!(
                    "vocabulary {}, a countdown prompt is {} tokens and {round_trip}",
                    tok.get_vocab_size(true),
                    enc.get_ids().len()
                ),
            )
        }
        Ok(_) => Check::fail("tokenizer", "encodes text to no tokens", "re-download tokenizer.json"),
        Err(e) => Check::fail("tokenizer", format!("encoding failed: {e}"), "re-download tokenizer.json"),
    }
}
