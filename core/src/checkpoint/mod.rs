//! Hugging Face checkpoint directories, both ways.
//!
//! [`ModelDir::open`] reads what `from_pretrained` reads: `config.json`,
//! `model.safetensors` or shards listed in `model.safetensors.index.json`,
//! the tokenizer files and an optional `generation_config.json`.
//! [`ModelDir::load_weights`] fills a model's [`VarStore`] (built under the
//! HF names) from the weights; [`save_pretrained`] writes the same layout
//! back, so a checkpoint we train loads in transformers, vLLM or our own
//! tools unchanged.

mod dtype;
mod load;
mod save;

use std::path::{Path, PathBuf};

use tch::nn::VarStore;

pub use dtype::{parse_float_kind, torch_dtype_name};
pub use load::{load_weights, read_all_tensors, LoadReport, WeightFiles, INDEX_FILE, SINGLE_FILE};
pub use save::{save_pretrained, SaveOptions, DEFAULT_MAX_SHARD_BYTES};

use crate::config::Qwen2Config;
use crate::error::ensure;
use crate::generation_config::GenerationConfig;
use crate::tokenizer::TextTokenizer;

/// Tokenizer files a checkpoint may carry; [`ModelDir::tokenizer_files`]
/// lists those present so a save copies them along.
pub const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
];

/// A checkpoint directory, opened and checked.
#[derive(Debug, Clone)]
pub struct ModelDir {
    root: PathBuf,
    config: Qwen2Config,
    generation_config: Option<GenerationConfig>,
    weights: WeightFiles,
}

impl ModelDir {
    /// Opens `dir`: parses `config.json` and `generation_config.json` and
    /// finds the weight files. Weights are read later, by
    /// [`load_weights`](Self::load_weights).
    pub fn open(dir: &Path) -> crate::Result<Self> {
        ensure!(dir.is_dir(), Checkpoint: "model directory {} does not exist", dir.display());
        let config_path = dir.join("config.json");
        ensure!(
            config_path.is_file(),
            Checkpoint: "{} has no config.json; is it a Hugging Face model directory?",
            dir.display()
        );
        let config = Qwen2Config::from_file(&config_path)?;
        let generation_config = GenerationConfig::from_dir(dir)?;
        let weights = WeightFiles::discover(dir)?;
        Ok(ModelDir { root: dir.to_path_buf(), config, generation_config, weights })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn config(&self) -> &Qwen2Config {
        &self.config
    }
    pub fn generation_config(&self) -> Option<&GenerationConfig> {
        self.generation_config.as_ref()
    }
    pub fn weight_files(&self) -> &WeightFiles {
        &self.weights
    }

    /// Fills `vs` (built with the model's HF variable names) from the
    /// weights; see [`load_weights`].
    pub fn load_weights(&self, vs: &VarStore) -> crate::Result<LoadReport> {
        load_weights(vs, &self.weights, self.config.tie_word_embeddings)
    }

    /// The checkpoint's tokenizer (with its stop ids and chat template).
    pub fn tokenizer(&self) -> crate::Result<TextTokenizer> {
        TextTokenizer::from_dir(&self.root)
    }

    /// The tokenizer files present, to copy into a saved checkpoint.
    pub fn tokenizer_files(&self) -> Vec<PathBuf> {
        TOKENIZER_FILES.iter().map(|f| self.root.join(f)).filter(|p| p.is_file()).collect()
    }

    /// Saves `vs` next to this checkpoint's config, generation config and
    /// tokenizer files: the usual "save what I trained from this" call.
    pub fn save_like(&self, vs: &VarStore, dir: &Path, opts: &SaveOptions) -> crate::Result<()> {
        save_pretrained(vs, &self.config, self.generation_config.as_ref(), &self.tokenizer_files(), dir, opts)
    }
}
