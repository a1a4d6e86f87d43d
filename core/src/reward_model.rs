//! A neural reward model: a sequence-classification checkpoint that scores
//! (prompt, response) pairs.
//!
//! The layout is transformers' `*ForSequenceClassification` of any supported
//! family (`Qwen2ForSequenceClassification`, what outcome reward models such
//! as AceMath-RM ship, `LlamaForSequenceClassification`,
//! `Qwen3ForSequenceClassification`, `MistralForSequenceClassification`):
//! the decoder backbone (`model.*`, no `lm_head`) and `score.weight`
//! [num_labels, H] without bias.
//! [`RewardModel`] renders each pair with the RM's own chat template
//! (optional system message, the prompt as the user turn, the response as the
//! assistant turn, no generation prompt, as the AceMath-RM model card does),
//! tokenises it without added special tokens, right-pads a batch and reads
//! the score where transformers reads it:
//!
//! - with `pad_token_id` in `config.json`: the right-most token that is not
//!   the pad id (so a response that itself ends in the pad token is read at
//!   the same place transformers reads it);
//! - without one: the last real token of each row (transformers allows only
//!   batches of one then; we pad internally and use the attention mask).
//!
//! The reward model has its own device and dtype, independent of the policy:
//! a 7B RM on a second GPU or the CPU next to a small policy.

use std::path::Path;

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::chat_template::{ChatMessage, RenderOptions};
use crate::checkpoint::ModelDir;
use crate::error::{ensure, Context, Result};
use crate::model::heads::ScoreHead;
use crate::model::Decoder;
use crate::tokenizer::TextTokenizer;

/// How the reward model is run.
#[derive(Debug, Clone, PartialEq)]
pub struct RewardModelOptions {
    pub device: Device,
    /// Weights and activations (`Kind::Float` or `Kind::BFloat16`); scores come out as f32.
    pub kind: Kind,
    /// Pairs per forward pass.
    pub batch_size: usize,
    /// Longest input in tokens; longer inputs keep their last `max_length`
    /// tokens (the score is read at the end, so the response's end survives).
    pub max_length: usize,
    /// A system message put before the prompt; empty = none.
    pub system_prompt: String,
}

impl Default for RewardModelOptions {
    fn default() -> Self {
        RewardModelOptions {
            device: Device::Cpu,
            kind: Kind::Float,
            batch_size: 8,
            max_length: 4096,
            system_prompt: String::new(),
        }
    }
}

/// A loaded sequence-classification reward model.
pub struct RewardModel {
    // Kept alive: the model's tensors are views of these variables.
    _vs: VarStore,
    backbone: Decoder,
    head: ScoreHead,
    tokenizer: TextTokenizer,
    /// `config.json`'s `pad_token_id`, which decides where the score is read.
    config_pad_id: Option<i64>,
    /// The id padding is written with (config, tokenizer, else EOS, else 0).
    fill_id: i64,
    opts: RewardModelOptions,
}

impl std::fmt::Debug for RewardModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RewardModel")
            .field("device", &self.opts.device)
            .field("kind", &self.opts.kind)
            .field("config_pad_id", &self.config_pad_id)
            .finish()
    }
}

/// `num_labels` as transformers derives it: the size of `id2label`, else
/// `num_labels`, else its default of 2.
pub fn num_labels(dir: &ModelDir) -> usize {
    let extra = &dir.config().extra;
    extra
        .get("id2label")
        .and_then(|m| m.as_object())
        .map(|m| m.len())
        .or_else(|| extra.get("num_labels").and_then(|n| n.as_u64()).map(|n| n as usize))
        .unwrap_or(2)
}

impl RewardModel {
    /// Loads a `*ForSequenceClassification` directory of any supported family. Errors name the
    /// directory and what is wrong (not a one-label classifier, no chat
    /// template, missing `score.weight`, ...).
    pub fn load(dir: &Path, opts: RewardModelOptions) -> Result<RewardModel> {
        ensure!(opts.batch_size > 0, "reward model batch_size must be at least 1");
        ensure!(opts.max_length > 1, "reward model max_length must be at least 2");
        let model_dir = ModelDir::open(dir)?;
        let labels = num_labels(&model_dir);
        ensure!(
            labels == 1,
            "{}: a reward model must have one output label (num_labels = 1), this one has {labels}",
            dir.display()
        );
        let tokenizer = model_dir.tokenizer()?;
        ensure!(
            tokenizer.chat_template().is_some(),
            "{}: the reward model's tokenizer has no chat template to render (prompt, response) pairs with",
            dir.display()
        );
        let mut vs = VarStore::new(opts.device);
        let cfg = model_dir.config();
        let backbone = Decoder::backbone(&vs.root(), cfg);
        let head = ScoreHead::new(&vs.root(), cfg.hidden_size, 1);
        if opts.kind != Kind::Float {
            vs.set_kind(opts.kind);
        }
        model_dir
            .load_weights(&vs)
            .with_context(|| format!("loading the reward model from {}", dir.display()))?;
        vs.freeze();
        let config_pad_id = cfg.extra.get("pad_token_id").and_then(|v| v.as_i64());
        let fill_id = config_pad_id
            .or_else(|| tokenizer.pad_token_id().map(i64::from))
            .or_else(|| tokenizer.eos_token_ids().first().map(|&e| i64::from(e)))
            .unwrap_or(0);
        Ok(RewardModel { _vs: vs, backbone, head, tokenizer, config_pad_id, fill_id, opts })
    }

    pub fn options(&self) -> &RewardModelOptions {
        &self.opts
    }

    /// The text the reward model reads for one pair.
    pub fn render(&self, prompt: &str, response: &str) -> Result<String> {
        let mut messages = Vec::with_capacity(3);
        if !self.opts.system_prompt.is_empty() {
            messages.push(ChatMessage::system(self.opts.system_prompt.clone()));
        }
        messages.push(ChatMessage::user(prompt));
        messages.push(ChatMessage::assistant(response));
        self.tokenizer.apply_chat_template(&messages, &RenderOptions::default())
    }

    /// Token ids of one pair, truncated on the left to `max_length`.
    pub fn encode(&self, prompt: &str, response: &str) -> Result<Vec<i64>> {
        let ids = self.tokenizer.encode(&self.render(prompt, response)?, false)?;
        ensure!(!ids.is_empty(), "the rendered (prompt, response) pair has no tokens");
        let start = ids.len().saturating_sub(self.opts.max_length);
        Ok(ids[start..].iter().map(|&t| i64::from(t)).collect())
    }

    /// One score per pair, in order. Pairs are batched by length (fewer pad
    /// tokens) in groups of `batch_size`.
    pub fn score(&self, pairs: &[(&str, &str)]) -> Result<Vec<f32>> {
        let encoded = pairs.iter().map(|(p, r)| self.encode(p, r)).collect::<Result<Vec<_>>>()?;
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        order.sort_by_key(|&i| encoded[i].len());
        let mut scores = vec![0f32; encoded.len()];
        for chunk in order.chunks(self.opts.batch_size) {
            let rows: Vec<&[i64]> = chunk.iter().map(|&i| encoded[i].as_slice()).collect();
            for (&i, s) in chunk.iter().zip(self.score_ids(&rows)?) {
                scores[i] = s;
            }
        }
        Ok(scores)
    }

    /// Scores already-tokenised rows (one forward pass, right padding).
    pub fn score_ids(&self, rows: &[&[i64]]) -> Result<Vec<f32>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let width = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        ensure!(width > 0, "cannot score an empty row");
        let mut ids = Vec::with_capacity(rows.len() * width);
        let mut mask = Vec::with_capacity(rows.len() * width);
        for r in rows {
            ids.extend_from_slice(r);
            ids.extend(std::iter::repeat_n(self.fill_id, width - r.len()));
            mask.extend(std::iter::repeat_n(1i64, r.len()));
            mask.extend(std::iter::repeat_n(0i64, width - r.len()));
        }
        let shape = [rows.len() as i64, width as i64];
        let ids = Tensor::from_slice(&ids).view(shape).to_device(self.opts.device);
        let mask = Tensor::from_slice(&mask).view(shape).to_device(self.opts.device);
        let scores = tch::no_grad(|| {
            let hidden = self.backbone.forward(&ids, Some(&mask), None);
            match self.config_pad_id {
                Some(pad) => self.head.forward(&hidden, &ids, pad),
                None => {
                    // Mark the padding with an id no real token has, so the
                    // head reads each row's last real token.
                    let marked = ids.where_self(&mask.ne(0), &Tensor::from(-1i64).to_device(ids.device()));
                    self.head.forward(&hidden, &marked, -1)
                }
            }
        });
        let scores: Vec<f32> = Vec::<f32>::try_from(scores.squeeze_dim(-1).to_device(Device::Cpu))
            .context("reading reward model scores")?;
        Ok(scores)
    }
}
