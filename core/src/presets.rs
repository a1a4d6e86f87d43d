//! Built-in model presets that need no download.
//!
//! `tiny`: the Qwen2 architecture at about 1M parameters (4 layers, hidden
//! 128, 4 query / 2 KV heads, intermediate 512, tied embeddings, rope theta
//! 10000) over a character-level vocabulary made for the compact countdown
//! format (`"12 7 30>49:"` → `"30+12+7"` + EOS). Token ids are fixed:
//!
//! | id | token | | id | token |
//! |---|---|---|---|---|
//! | 0 | `<pad>` | | 13–18 | `+ - * / ( )` |
//! | 1 | `<eos>` | | 19 | space |
//! | 2 | `<unk>` | | 20 | `>` |
//! | 3–12 | `0`–`9` | | 21 | `:` |
//!
//! [`ensure_tiny_countdown`] trains it from scratch on (prompt, response)
//! pairs the caller supplies (SFT, a couple of minutes on 2 CPU cores) and
//! caches the result as a complete Hugging Face model directory
//! (`config.json`, `tokenizer.json`, `tokenizer_config.json`,
//! `generation_config.json`, `model.safetensors`) that transformers loads too
//! (`AutoTokenizer` and `AutoModelForCausalLM`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use tch::nn::VarStore;
use tch::Device;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::checkpoint::{save_pretrained, SaveOptions};
use crate::config::Qwen2Config;
use crate::error::{bail, ensure, Context, CoreError};
use crate::model::Qwen2;
use crate::optim::{AdamW, AdamWConfig, Decay};
use crate::sft::{train_sft, SftConfig, SftExample};

/// The tiny vocabulary in id order (see the module table).
pub const TINY_VOCAB: [&str; 22] = [
    "<pad>", "<eos>", "<unk>", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "-", "*", "/", "(",
    ")", " ", ">", ":",
];
pub const TINY_PAD_ID: u32 = 0;
pub const TINY_EOS_ID: u32 = 1;
pub const TINY_UNK_ID: u32 = 2;
const SPECIAL_TOKENS: [&str; 3] = ["<pad>", "<eos>", "<unk>"];

/// The `tiny` architecture.
pub fn tiny_config() -> Qwen2Config {
    let extra = json!({
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "pad_token_id": TINY_PAD_ID,
        "use_cache": true,
        "use_sliding_window": false,
        "sliding_window": null,
        "max_window_layers": 4,
    });
    Qwen2Config {
        vocab_size: TINY_VOCAB.len(),
        hidden_size: 128,
        intermediate_size: 512,
        num_hidden_layers: 4,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        max_position_embeddings: 512,
        rope_theta: 10000.0,
        rms_norm_eps: 1e-6,
        tie_word_embeddings: true,
        hidden_act: "silu".into(),
        bos_token_id: None,
        eos_token_id: Some(json!(TINY_EOS_ID)),
        torch_dtype: Some("float32".into()),
        extra: extra.as_object().cloned().unwrap_or_default(),
    }
}

/// The character-level tokenizer: a byte-level BPE without merges, so every
/// character is one token (space is `Ġ` in `tokenizer.json`, as in GPT-2/Qwen
/// vocabularies), a ByteLevel pre-tokenizer and decoder, and
/// `<pad>`/`<eos>`/`<unk>` as special tokens. Byte-level on purpose:
/// transformers' `AutoTokenizer` loads any `model_type: qwen2` directory as
/// `Qwen2Tokenizer`, which imposes a ByteLevel pipeline; with this layout it
/// produces the same ids as `tokenizers` and `PreTrainedTokenizerFast` do for
/// every string over [`TINY_VOCAB`]. (Characters outside it become `<unk>`
/// here; `Qwen2Tokenizer` drops them.)
pub fn tiny_tokenizer() -> crate::Result<Tokenizer> {
    let vocab: [(String, u32); TINY_VOCAB.len()] =
        std::array::from_fn(|i| (TINY_VOCAB[i].replace(' ', "\u{120}"), i as u32));
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, Vec::new())
        .unk_token("<unk>".into())
        .build()
        .map_err(|e| CoreError::Tokenizer(format!("cannot build the tiny tokenizer: {e}")))?;
    let mut tok = Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
    tok.with_decoder(Some(ByteLevel::default().add_prefix_space(false)));
    tok.add_special_tokens(SPECIAL_TOKENS.iter().map(|s| AddedToken::from(*s, true)))
        .map_err(|e| CoreError::Tokenizer(format!("cannot add the tiny special tokens: {e}")))?;
    Ok(tok)
}

/// `$TZ_CACHE_DIR/models`, else `$XDG_CACHE_HOME/tinyzero-rs/models`, else
/// `~/.cache/tinyzero-rs/models` (the same root `scripts/setup.sh` uses).
pub fn default_models_dir() -> PathBuf {
    let root = std::env::var_os("TZ_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("tinyzero-rs")
    });
    root.join("models")
}

/// How the tiny countdown warm start is trained.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TinyCountdownRecipe {
    /// Distinct (prompt, response) pairs requested from the caller.
    pub num_pairs: usize,
    pub sft: SftConfig,
}

impl Default for TinyCountdownRecipe {
    /// 800 steps of 64 pairs (each pair seen once): about 1.5 minutes on 2
    /// CPU cores. Measured on held-out 3-number problems: about 39% greedy
    /// and 25% sampled (temperature 1) exact answers, see the crate README.
    fn default() -> Self {
        let (steps, batch_size) = (800, 64);
        Self {
            num_pairs: steps as usize * batch_size,
            sft: SftConfig {
                optimizer: AdamWConfig {
                    lr: 1e-3,
                    weight_decay: 0.01,
                    max_grad_norm: Some(1.0),
                    warmup_steps: 50,
                    total_steps: steps,
                    decay: Decay::Cosine,
                    min_lr_ratio: 0.1,
                    ..AdamWConfig::default()
                },
                batch_size,
                steps,
                logit_chunk: 1024,
                seed: 0,
                pad_id: TINY_PAD_ID,
            },
        }
    }
}

/// The directory of the tiny countdown model for `seed`, trained and written
/// on first use. `pairs(n)` must return about `n` (prompt, response) pairs in
/// the compact format, e.g. from the countdown task's reference solutions;
/// it is only called when the directory has to be built.
///
/// The same seed and pairs give the same weights on the same machine and
/// thread count. The directory appears atomically (built under a temporary
/// name, then renamed), so an interrupted run leaves no half-written model.
pub fn ensure_tiny_countdown(
    cache_dir: &Path,
    seed: u64,
    recipe: &TinyCountdownRecipe,
    pairs: impl FnOnce(usize) -> crate::Result<Vec<(String, String)>>,
) -> crate::Result<PathBuf> {
    let dir = cache_dir.join(format!("tiny-countdown-{seed}"));
    if dir.join("model.safetensors").is_file() && dir.join("config.json").is_file() {
        return Ok(dir);
    }
    let tokenizer = tiny_tokenizer()?;
    let pairs = pairs(recipe.num_pairs).context("cannot get training pairs for the tiny countdown model")?;
    ensure!(!pairs.is_empty(), "no training pairs for the tiny countdown model");
    let examples = pairs
        .iter()
        .map(|(p, r)| SftExample::from_text(&tokenizer, p, r, Some(TINY_EOS_ID)))
        .collect::<crate::Result<Vec<_>>>()?;
    if let Some(bad) =
        examples.iter().find(|e| e.prompt_ids.iter().chain(&e.response_ids).any(|&t| t == TINY_UNK_ID))
    {
        bail!(
            "a training pair uses characters outside the tiny vocabulary {:?}: prompt ids {:?}",
            TINY_VOCAB,
            bad.prompt_ids
        );
    }

    let cfg = tiny_config();
    let vs = VarStore::new(Device::Cpu);
    let model = Qwen2::new(&vs.root(), &cfg);
    // Not tch::manual_seed: the global generator is shared with every thread.
    crate::model::init::init_from_seed(&vs, seed);
    let mut opt = AdamW::from_var_store(&vs, recipe.sft.optimizer.clone());
    let sft = SftConfig { seed, ..recipe.sft.clone() };
    let start = Instant::now();
    let stats = train_sft(&model, &mut opt, &examples, &sft, |s| {
        if s.step % 100 == 0 {
            tracing::info!(step = s.step, loss = s.loss, lr = s.lr, "tiny countdown SFT");
        }
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let tail = &stats[stats.len().saturating_sub(50)..];
    let final_loss = tail.iter().map(|s| s.loss).sum::<f64>() / tail.len().max(1) as f64;
    let provenance = json!({
        "preset": "tiny-countdown",
        "seed": seed,
        "recipe": recipe,
        "pairs": pairs.len(),
        "sft_seconds": seconds,
        "final_loss": final_loss,
    });
    write_model_dir(&dir, &cfg, &vs, &tokenizer, &provenance)?;
    Ok(dir)
}

/// Writes a Hugging Face model directory for a model with the tiny
/// tokenizer through [`save_pretrained`] (f32 weights, written under a
/// temporary name and renamed into place): `config.json`,
/// `model.safetensors`, `tokenizer.json`, `tokenizer_config.json`,
/// `special_tokens_map.json`, `generation_config.json` and
/// `tinyzero_preset.json` (`provenance`: how the weights were made).
pub fn write_model_dir(
    dir: &Path,
    cfg: &Qwen2Config,
    vs: &VarStore,
    tokenizer: &Tokenizer,
    provenance: &serde_json::Value,
) -> crate::Result<()> {
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let name = dir.file_name().context("model directory has no name")?.to_string_lossy();
    // The small files are staged beside the target, then copied in by save_pretrained.
    let staging = parent.join(format!(".{name}.files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    let written = write_small_files(&staging, cfg, tokenizer, provenance).and_then(|files| {
        let opts = SaveOptions { dtype: tch::Kind::Float, ..SaveOptions::default() };
        save_pretrained(vs, cfg, None, &files, dir, &opts)
    });
    let _ = std::fs::remove_dir_all(&staging);
    written
}

fn write_small_files(
    staging: &Path,
    cfg: &Qwen2Config,
    tokenizer: &Tokenizer,
    provenance: &serde_json::Value,
) -> crate::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut write_json = |file: &str, value: &serde_json::Value| -> crate::Result<()> {
        let path = staging.join(file);
        std::fs::write(&path, serde_json::to_string_pretty(value)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        files.push(path);
        Ok(())
    };
    write_json(
        "tokenizer_config.json",
        &json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "eos_token": "<eos>",
            "pad_token": "<pad>",
            "unk_token": "<unk>",
            "padding_side": "left",
            "model_max_length": cfg.max_position_embeddings,
            "clean_up_tokenization_spaces": false,
        }),
    )?;
    write_json(
        "special_tokens_map.json",
        &json!({"eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}),
    )?;
    write_json(
        "generation_config.json",
        &json!({"eos_token_id": TINY_EOS_ID, "pad_token_id": TINY_PAD_ID, "do_sample": true, "temperature": 1.0}),
    )?;
    write_json("tinyzero_preset.json", provenance)?;
    let tokenizer_json = staging.join("tokenizer.json");
    tokenizer
        .save(&tokenizer_json, true)
        .map_err(|e| CoreError::Tokenizer(format!("cannot write {}: {e}", tokenizer_json.display())))?;
    files.push(tokenizer_json);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_vocabulary_ids_are_stable_and_round_trip() {
        let tok = tiny_tokenizer().unwrap();
        let ids = tok.encode("12 7 30>49:30+12+7", false).unwrap().get_ids().to_vec();
        assert_eq!(ids, vec![4, 5, 19, 10, 19, 6, 3, 20, 7, 12, 21, 6, 3, 13, 4, 5, 13, 10]);
        assert_eq!(tok.decode(&ids, false).unwrap(), "12 7 30>49:30+12+7");
        assert_eq!(tok.token_to_id("<eos>"), Some(TINY_EOS_ID));
        assert_eq!(tok.get_vocab_size(true), TINY_VOCAB.len());
        // Special tokens are matched whole; unknown characters become <unk>.
        assert_eq!(tok.encode("1<eos>x", false).unwrap().get_ids(), &[4, TINY_EOS_ID, TINY_UNK_ID]);
        assert_eq!(tok.decode(&[4, TINY_EOS_ID], true).unwrap(), "1");
    }

    #[test]
    fn tiny_config_has_about_one_million_parameters() {
        let cfg = tiny_config();
        cfg.validate().unwrap();
        let n = cfg.num_parameters();
        assert!((900_000..1_100_000).contains(&n), "{n}");
    }
}
