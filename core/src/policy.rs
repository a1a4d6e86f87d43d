//! A policy: a Hugging Face model directory loaded for training or
//! sampling (weights in a `VarStore`, the Qwen2 forward pass, the
//! tokenizer), and what a trainer does with it besides the forward pass:
//! save it as a model directory, freeze it as a reference, copy its weights.

use std::path::Path;

use tch::nn::VarStore;
use tch::{Device, Kind};

use crate::checkpoint::{ModelDir, SaveOptions};
use crate::error::{Context, Result};
use crate::model::Qwen2;
use crate::rollout::TokenDecoder;
use crate::sft::TokenEncoder;
use crate::tokenizer::TextTokenizer;
use crate::weight_change::{current_weights, Weights};

/// A loaded model: weights in a VarStore, the forward pass, the tokenizer.
pub struct Policy {
    pub dir: ModelDir,
    pub vs: VarStore,
    pub model: Qwen2,
    pub tokenizer: Tokenizer,
}

/// [`TextTokenizer`] with the core's encoder/decoder traits.
pub struct Tokenizer(pub TextTokenizer);

impl TokenDecoder for Tokenizer {
    fn decode(&self, ids: &[u32]) -> Result<String> {
        self.0.decode(ids, false)
    }
    fn eos_token_ids(&self) -> Vec<u32> {
        self.0.eos_token_ids().to_vec()
    }
}

impl TokenEncoder for Tokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.0.encode(text, false)
    }
}

impl Tokenizer {
    pub fn pad_id(&self) -> u32 {
        self.0.pad_token_id().or_else(|| self.0.eos_token_ids().first().copied()).unwrap_or(0)
    }
}

impl Policy {
    /// Loads the model directory onto `device` in `kind`.
    pub fn load(dir: &Path, device: Device, kind: Kind) -> Result<Policy> {
        let dir = ModelDir::open(dir)?;
        let mut vs = VarStore::new(device);
        let model = Qwen2::new(&vs.root(), dir.config());
        if kind != Kind::Float {
            vs.set_kind(kind);
        }
        dir.load_weights(&vs).with_context(|| format!("loading weights from {}", dir.root().display()))?;
        let tokenizer = Tokenizer(dir.tokenizer()?);
        Ok(Policy { dir, vs, model, tokenizer })
    }

    /// Loads `dir` with every parameter frozen (a KL reference model).
    pub fn load_frozen(dir: &Path, device: Device, kind: Kind) -> Result<Policy> {
        let mut policy = Policy::load(dir, device, kind)?;
        policy.vs.freeze();
        Ok(policy)
    }

    pub fn device(&self) -> Device {
        self.model.device()
    }

    /// Writes the policy as a Hugging Face model directory at `dir`, in the
    /// weights' own dtype, with the config and tokenizer files of the
    /// directory it was loaded from (atomically: a temporary directory, then
    /// a rename).
    pub fn save_model_dir(&self, dir: &Path) -> Result<()> {
        let dtype = self.model.kind();
        self.dir.save_like(&self.vs, dir, &SaveOptions { dtype, ..SaveOptions::default() })
    }

    /// Deep CPU f32 copies of the parameters, sorted by name.
    pub fn weights(&self) -> Weights {
        current_weights(&self.vs)
    }
}
