//! `--model DIR|HUB_ID`: the checkpoint directory (a hub id must already be
//! in the Hugging Face cache: the doctor downloads nothing), its
//! config.json (its family: Qwen2, Llama, Qwen3 or Mistral), its tokenizer,
//! and one forward pass with its weights.

use std::path::PathBuf;
use std::time::Instant;

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use tz_core::config::RopeScaling;
use tz_core::hub::{HubSettings, ModelRef};
use tz_core::{CoreError, Decoder, ModelConfig, ModelDir};

use super::{Check, Status};
use crate::error::{DoctorError, Result};

const FIX_FAMILY: &str =
    "tzhost trains Qwen2/Qwen2.5, Llama (TinyLlama, Llama 3.x, SmolLM2), Qwen3 and Mistral models; check config.json";

const FIX_DOWNLOAD: &str =
    "download the whole model, e.g. huggingface-cli download Qwen/Qwen2.5-0.5B (or --local-dir DIR)";

/// `device`: where the forward pass runs (CPU when None).
pub fn check(spec: &str, device: Option<Device>) -> Vec<Check> {
    let dir = match local_dir(spec) {
        Ok(d) => d,
        Err(e) => return vec![Check::fail("model files", e, FIX_DOWNLOAD)],
    };
    let model = match ModelDir::open(&dir) {
        Ok(m) => m,
        // An unsupported family or a bad config.json is not a download problem.
        Err(e) if matches!(e.root(), CoreError::Config(_)) => {
            return vec![Check::fail("model config", format!("{e:#}"), FIX_FAMILY)]
        }
        Err(e) => return vec![Check::fail("model files", format!("{e:#}"), FIX_DOWNLOAD)],
    };
    let mut out = vec![files(&model), config_check(model.config()), tokenizer(&model)];
    if out.iter().any(|c| c.status == Status::Fail) {
        out.push(Check::skip("model forward", "skipped: fix the checks above first"));
    } else {
        out.push(forward(&model, device.unwrap_or(Device::Cpu)));
    }
    out
}

/// A directory as is; a hub id from the local Hugging Face cache only.
pub(crate) fn local_dir(spec: &str) -> Result<PathBuf, String> {
    match ModelRef::parse(spec).map_err(|e| format!("{e:#}"))? {
        ModelRef::Dir(d) => Ok(d),
        ModelRef::Hub { repo_id, revision } => {
            let settings = HubSettings::from_env();
            settings.cached_snapshot(&repo_id, &revision).ok_or_else(|| {
                format!(
                    "{spec} is not in the Hugging Face cache ({}); the doctor does not download",
                    settings.repo_cache_dir(&repo_id).display()
                )
            })
        }
    }
}

fn files(model: &ModelDir) -> Check {
    let weights = &model.weight_files().files;
    let bytes: u64 = weights.iter().filter_map(|p| p.metadata().ok()).map(|m| m.len()).sum();
    let tok: Vec<String> = model
        .tokenizer_files()
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    Check::ok(
        "model files",
        format!(
            "{}: config.json, {} weight file(s) ({:.2} GB), {}",
            model.root().display(),
            weights.len(),
            bytes as f64 / 1e9,
            if tok.is_empty() { "no tokenizer files".to_string() } else { tok.join(", ") }
        ),
    )
}

fn config_check(c: &ModelConfig) -> Check {
    let arch = match c.validate().and_then(|()| c.architecture()) {
        Ok(arch) => arch,
        Err(e) => return Check::fail("model config", format!("{e:#}"), FIX_FAMILY),
    };
    let mut extras = Vec::new();
    match arch.rope.scaling {
        RopeScaling::Default => {}
        RopeScaling::Linear { factor } => extras.push(format!("linear RoPE ×{factor}")),
        RopeScaling::Dynamic { factor, .. } => extras.push(format!("dynamic RoPE ×{factor}")),
        RopeScaling::Llama3 { factor, .. } => extras.push(format!("Llama 3 RoPE ×{factor}")),
    }
    if let Some(w) = arch.sliding_window() {
        let layers = arch.layer_windows.iter().filter(|w| w.is_some()).count();
        extras.push(format!("sliding window {w} on {layers} layers"));
    }
    if c.tie_word_embeddings {
        extras.push("tied embeddings".into());
    }
    Check::ok(
        "model config",
        format!(
            "family {} ({}), {} layers, hidden {}, heads {}/{} (q/kv) of {}, vocab {}, {:.0}M parameters{}",
            arch.family,
            c.extra
                .get("architectures")
                .and_then(|a| a.get(0))
                .and_then(|a| a.as_str())
                .unwrap_or("no architectures"),
            c.num_hidden_layers,
            c.hidden_size,
            c.num_attention_heads,
            c.num_key_value_heads,
            arch.head_dim,
            c.vocab_size,
            c.num_parameters() as f64 / 1e6,
            extras.iter().map(|e| format!(", {e}")).collect::<String>()
        ),
    )
}

/// A sample prompt: countdown in TinyZero's words.
const PROMPT: &str = "Using the numbers [44, 19, 35], create an equation that equals 98.";

fn tokenizer(model: &ModelDir) -> Check {
    let tok =
        match model.tokenizer() {
            Ok(t) => t,
            Err(e) => return Check::fail(
                "tokenizer",
                format!("{e:#}"),
                "re-download the tokenizer files (tokenizer.json must be a Hugging Face `tokenizers` file)",
            ),
        };
    match tok.encode(PROMPT, false) {
        Ok(ids) if !ids.is_empty() => {
            let back = tok.decode(&ids, false).unwrap_or_default();
            let round_trip = if back == PROMPT { "round-trips" } else { "does not round-trip exactly" };
            let eos: Vec<String> = tok.eos_token_ids().iter().map(u32::to_string).collect();
            Check::ok(
                "tokenizer",
                format!(
                    "vocabulary {}, stop ids [{}], a countdown prompt is {} tokens and {round_trip}",
                    tok.vocab_size(),
                    eos.join(", "),
                    ids.len()
                ),
            )
        }
        Ok(_) => Check::fail("tokenizer", "encodes text to no tokens", "re-download tokenizer.json"),
        Err(e) => Check::fail("tokenizer", format!("encoding failed: {e:#}"), "re-download tokenizer.json"),
    }
}

/// Loads the weights into the decoder and runs one forward pass over a
/// tokenized prompt: every weight present with its shape, logits of the
/// right shape, all finite. bf16 on a GPU, f32 on the CPU.
fn forward(model: &ModelDir, device: Device) -> Check {
    let fix = "the weights do not match config.json (another architecture or a damaged download); re-download the model";
    let run = || -> Result<String> {
        let cfg = model.config();
        let tok = model.tokenizer()?;
        let mut vs = VarStore::new(device);
        let net = Decoder::new(&vs.root(), cfg);
        if device.is_cuda() {
            vs.set_kind(Kind::BFloat16);
        }
        model.load_weights(&vs)?;
        let ids: Vec<i64> = tok.encode(PROMPT, false)?.into_iter().map(i64::from).collect();
        let input = Tensor::from_slice(&ids).unsqueeze(0).to_device(device);
        let t0 = Instant::now();
        let logits = tch::no_grad(|| net.logits(&net.forward(&input, None, None)));
        let took = t0.elapsed().as_secs_f64();
        let shape = logits.size();
        if shape != [1, ids.len() as i64, cfg.vocab_size as i64] {
            let expected = format!("[1, {}, {}]", ids.len(), cfg.vocab_size);
            return Err(DoctorError::Unusable(format!("logits have shape {shape:?}, expected {expected}")));
        }
        if logits.isfinite().all().int64_value(&[]) != 1 {
            return Err(DoctorError::Unusable("the logits contain NaN or infinity".into()));
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
            let first = msg.unwrap_or_default().lines().next().unwrap_or("").to_string();
            Check::fail("model forward", format!("libtorch error: {first}"), fix)
        }
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
        let _model = Decoder::new(&vs.root(), &cfg);
        let tok = tz_core::presets::tiny_tokenizer().unwrap();
        tz_core::presets::write_model_dir(&dir.path().join("m"), &cfg, &vs, &tok, &serde_json::json!({}))
            .unwrap();
        dir
    }

    #[test]
    fn a_complete_model_directory_passes_every_check() {
        let dir = tiny_model_dir();
        let checks = check(dir.path().join("m").to_str().unwrap(), None);
        for c in &checks {
            assert_eq!(c.status, Status::Ok, "{c}");
        }
        let fwd = checks.iter().find(|c| c.name == "model forward").unwrap();
        assert!(fwd.detail.contains("all finite"), "{fwd}");
    }

    #[test]
    fn a_hub_id_that_is_not_cached_is_not_downloaded() {
        let cache = tempfile::tempdir().unwrap();
        std::env::set_var("HF_HUB_CACHE", cache.path());
        let checks = check("Qwen/Qwen2.5-0.5B", None);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, Status::Fail);
        assert!(checks[0].detail.contains("not in the Hugging Face cache"), "{}", checks[0]);
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
        let spec = m.to_str().unwrap();
        let fwd = check(spec, None).into_iter().find(|c| c.name == "model forward").unwrap();
        assert_eq!(fwd.status, Status::Fail, "{fwd}");
        assert!(fwd.detail.contains("model.layers.4.") && fwd.detail.contains("is missing"), "{fwd}");
        std::fs::remove_file(m.join("model.safetensors")).unwrap();
        let files = check(spec, None).into_iter().find(|c| c.name == "model files").unwrap();
        assert_eq!(files.status, Status::Fail);
        assert!(files.detail.contains("model.safetensors"), "{files}");
        assert!(files.fix.as_deref().unwrap().contains("huggingface-cli download"));
    }

    #[test]
    fn the_family_is_reported_and_an_unsupported_one_named() {
        let dir = tiny_model_dir();
        let m = dir.path().join("m");
        let spec = m.to_str().unwrap();
        let config = check(spec, None).into_iter().find(|c| c.name == "model config").unwrap();
        assert!(config.detail.starts_with("family qwen2 (Qwen2ForCausalLM), 4 layers"), "{config}");
        let mut cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(m.join("config.json")).unwrap()).unwrap();
        cfg["model_type"] = serde_json::json!("gpt2");
        std::fs::write(m.join("config.json"), cfg.to_string()).unwrap();
        let checks = check(spec, None);
        assert_eq!(checks.len(), 1);
        assert_eq!((checks[0].name.as_str(), checks[0].status), ("model config", Status::Fail));
        assert!(
            checks[0]
                .detail
                .contains("model_type 'gpt2' is not supported (supported: qwen2, llama, qwen3, mistral)"),
            "{}",
            checks[0]
        );
    }
}
