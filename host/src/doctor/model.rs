//! `--model DIR`: the files a Hugging Face model directory needs, its
//! config.json (a Qwen2-architecture model), its tokenizer, and one forward
//! pass with its weights.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tch::nn::VarStore;
use tch::{Device, Tensor};
use tz_core::config::Qwen2Config;
use tz_core::model::Qwen2;

use super::{Check, Status};

const FIX_DOWNLOAD: &str =
    "download the whole model, e.g. huggingface-cli download Qwen/Qwen2.5-0.5B --local-dir DIR";

/// `device`: where the forward pass runs (CPU when None).
pub fn check(dir: &Path, device: Option<Device>) -> Vec<Check> {
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
    if out.iter().any(|c| c.status == Status::Fail || c.status == Status::Skip) {
        out.push(Check::skip("model forward", "skipped: fix the checks above first"));
    } else {
        out.push(forward(dir, device.unwrap_or(Device::Cpu)));
    }
    out
}

/// Loads the weights into the Qwen2 model and runs one forward pass over a
/// tokenized prompt: every weight present, logits of the right shape, finite.
fn forward(dir: &Path, device: Device) -> Check {
    let fix = "the weights do not match config.json (a different architecture or a damaged download); re-download the model";
    let run = || -> anyhow::Result<String> {
        let cfg = Qwen2Config::from_file(&dir.join("config.json"))?;
        let tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut vs = VarStore::new(device);
        let model = Qwen2::new(&vs.root(), &cfg);
        let mut files = weight_files(dir);
        files.sort();
        let mut missing: Option<BTreeSet<String>> = None;
        for f in &files {
            let m: BTreeSet<String> = vs.load_partial(f)?.into_iter().collect();
            missing = Some(match missing {
                None => m,
                Some(prev) => prev.intersection(&m).cloned().collect(),
            });
        }
        let missing = missing.unwrap_or_default();
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().take(3).map(String::as_str).collect();
            anyhow::bail!(
                "{} weight(s) missing from the safetensors files, e.g. {}",
                missing.len(),
                names.join(", ")
            );
        }
        let text = "Using the numbers [44, 19, 35], create an equation that equals 98.";
        let ids: Vec<i64> = tok
            .encode(text, false)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .get_ids()
            .iter()
            .map(|&i| i as i64)
            .collect();
        let input = Tensor::from_slice(&ids).unsqueeze(0).to_device(device);
        let t0 = Instant::now();
        let logits = tch::no_grad(|| model.logits(&model.forward(&input, None, None)));
        let took = t0.elapsed().as_secs_f64();
        let shape = logits.size();
        if shape != [1, ids.len() as i64, cfg.vocab_size as i64] {
            anyhow::bail!("logits have shape {shape:?}, expected [1, {}, {}]", ids.len(), cfg.vocab_size);
        }
        if logits.isfinite().all().int64_value(&[]) != 1 {
            anyhow::bail!("the logits contain NaN or infinity");
        }
        Ok(format!(
            "{} tokens -> logits {shape:?} on {device:?} ({:?}), all finite, {took:.2}s",
            ids.len(),
            logits.kind()
        ))
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(detail)) => Check::ok("model forward", detail),
        Ok(Err(e)) => Check::fail("model forward", format!("{e:#}"), fix),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            Check::fail(
                "model forward",
                format!("libtorch error: {}", msg.unwrap_or_default().lines().next().unwrap_or("")),
                fix,
            )
        }
    }
}

fn weight_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
                .collect()
        })
        .unwrap_or_default()
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
    let shards = weight_files(dir);
    let index = dir.join("model.safetensors.index.json");
    if shards.is_empty() {
        missing.push("*.safetensors (the weights)".into());
    } else if index.is_file() {
        // Every shard the index names must be there.
        if let Ok(text) = std::fs::read_to_string(&index) {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let mut named: Vec<&str> = v["weight_map"]
                .as_object()
                .map(|m| m.values().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            named.sort();
            named.dedup();
            missing.extend(named.into_iter().filter(|s| !dir.join(s).is_file()).map(|s| s.to_string()));
        }
    }
    if missing.is_empty() {
        let bytes: u64 = shards.iter().filter_map(|p| p.metadata().ok()).map(|m| m.len()).sum();
        Check::ok(
            "model files",
            format!(
                "config.json, tokenizer.json, {} weight file(s), {:.2} GB",
                shards.len(),
                bytes as f64 / 1e9
            ),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A complete model directory of the tiny preset (random weights).
    fn tiny_model_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let cfg = tz_core::presets::tiny_config();
        let vs = VarStore::new(Device::Cpu);
        let _model = Qwen2::new(&vs.root(), &cfg);
        let tok = tz_core::presets::tiny_tokenizer().unwrap();
        tz_core::presets::write_model_dir(&dir.path().join("m"), &cfg, &vs, &tok, &serde_json::json!({}))
            .unwrap();
        dir
    }

    #[test]
    fn a_complete_model_directory_passes_every_check() {
        let dir = tiny_model_dir();
        let checks = check(&dir.path().join("m"), None);
        for c in &checks {
            assert_eq!(c.status, Status::Ok, "{c}");
        }
        let fwd = checks.iter().find(|c| c.name == "model forward").unwrap();
        assert!(fwd.detail.contains("all finite"), "{fwd}");
    }

    #[test]
    fn missing_and_mismatched_weights_fail_with_the_fix() {
        let dir = tiny_model_dir();
        let m = dir.path().join("m");
        // A config with one layer more than the weights have.
        let mut cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(m.join("config.json")).unwrap()).unwrap();
        cfg["num_hidden_layers"] = serde_json::json!(cfg["num_hidden_layers"].as_u64().unwrap() + 1);
        std::fs::write(m.join("config.json"), cfg.to_string()).unwrap();
        let fwd = check(&m, None).into_iter().find(|c| c.name == "model forward").unwrap();
        assert_eq!(fwd.status, Status::Fail, "{fwd}");
        assert!(fwd.detail.contains("missing from the safetensors files"), "{fwd}");
        std::fs::remove_file(m.join("model.safetensors")).unwrap();
        let files = check(&m, None).into_iter().find(|c| c.name == "model files").unwrap();
        assert_eq!(files.status, Status::Fail);
        assert!(files.detail.contains("*.safetensors"), "{files}");
        assert!(files.fix.as_deref().unwrap().contains("huggingface-cli download"));
    }
}
