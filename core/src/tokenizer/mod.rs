//! [`TextTokenizer`]: a checkpoint's tokenizer as transformers loads it.
//!
//! `tokenizer.json` drives the `tokenizers` crate; `tokenizer_config.json`
//! names the special tokens and carries the chat template; the stop tokens
//! are gathered from `generation_config.json`, `config.json` and the
//! tokenizer's `eos_token`, because checkpoints disagree on where they put
//! them (Qwen2.5-Instruct's config says `<|endoftext|>`, its generation
//! config adds `<|im_end|>`, which is what the chat template ends turns with).

use std::path::{Path, PathBuf};

use serde::Deserialize;

mod class;
mod llama_pipeline;
mod qwen2_pipeline;

use crate::chat_template::{ChatMessage, ChatTemplate, RenderOptions, TemplateTokens};
use crate::error::{ensure, Context, CoreError};
use crate::generation_config::{token_id_list, GenerationConfig};
use class::Pipeline;

/// A special token: its text and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialToken {
    pub content: String,
    pub id: u32,
}

/// Encode/decode plus the special tokens and chat template of a checkpoint.
#[derive(Debug)]
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    bos: Option<SpecialToken>,
    eos: Option<SpecialToken>,
    pad: Option<SpecialToken>,
    unk: Option<SpecialToken>,
    eos_ids: Vec<u32>,
    chat_template: Option<ChatTemplate>,
}

/// A token in `tokenizer_config.json`: a string, an `AddedToken` object, or
/// `null` (explicitly unset).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum TokenSpec {
    Text(String),
    Added { content: String },
}

/// `chat_template` is a string, or (older files) a list of named templates.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ChatTemplateSpec {
    Single(String),
    Named(Vec<NamedTemplate>),
}

#[derive(Debug, Clone, Deserialize)]
struct NamedTemplate {
    name: String,
    template: String,
}

/// The keys of `tokenizer_config.json` we read. `Option<Option<_>>`
/// distinguishes a missing key (class default applies) from `null`.
#[derive(Debug, Default, Deserialize)]
struct TokenizerConfigFile {
    #[serde(default)]
    tokenizer_class: Option<String>,
    #[serde(default, deserialize_with = "present")]
    bos_token: Option<Option<TokenSpec>>,
    #[serde(default, deserialize_with = "present")]
    eos_token: Option<Option<TokenSpec>>,
    #[serde(default, deserialize_with = "present")]
    pad_token: Option<Option<TokenSpec>>,
    #[serde(default, deserialize_with = "present")]
    unk_token: Option<Option<TokenSpec>>,
    #[serde(default)]
    chat_template: Option<ChatTemplateSpec>,
    /// Present in files written by transformers >= 4.34; without it,
    /// `special_tokens_map.json` overrides the special tokens (legacy layout).
    #[serde(default)]
    added_tokens_decoder: Option<serde_json::Value>,
    /// When either is given, transformers rebuilds the post-processor from
    /// them (BOS / EOS around each sequence).
    #[serde(default)]
    add_bos_token: Option<bool>,
    #[serde(default)]
    add_eos_token: Option<bool>,
    /// `LlamaTokenizer`'s Metaspace settings.
    #[serde(default)]
    add_prefix_space: Option<bool>,
    #[serde(default)]
    legacy: Option<bool>,
}

/// What the model's `config.json` says about its tokenizer.
#[derive(Debug, Default)]
struct ModelHints {
    model_type: Option<String>,
    tokenizer_class: Option<String>,
}

/// `special_tokens_map.json` (legacy checkpoints).
#[derive(Debug, Default, Deserialize)]
struct SpecialTokensMapFile {
    #[serde(default, deserialize_with = "present")]
    bos_token: Option<Option<TokenSpec>>,
    #[serde(default, deserialize_with = "present")]
    eos_token: Option<Option<TokenSpec>>,
    #[serde(default, deserialize_with = "present")]
    pad_token: Option<Option<TokenSpec>>,
    #[serde(default, deserialize_with = "present")]
    unk_token: Option<Option<TokenSpec>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<TokenSpec>>, D::Error> {
    Option::<TokenSpec>::deserialize(d).map(Some)
}

/// The class default of a special token `config` leaves out (`Qwen2Tokenizer`:
/// `<|endoftext|>` for unk/eos/pad; `LlamaTokenizer`: `<unk>`, `<s>`, `</s>`).
fn class_default(pipeline: Pipeline, key: &str) -> Option<&'static str> {
    match (pipeline, key) {
        (Pipeline::Qwen2, "unk_token" | "eos_token" | "pad_token") => Some("<|endoftext|>"),
        (Pipeline::Llama, "unk_token") => Some("<unk>"),
        (Pipeline::Llama, "bos_token") => Some("<s>"),
        (Pipeline::Llama, "eos_token") => Some("</s>"),
        _ => None,
    }
}

impl TextTokenizer {
    /// Loads the tokenizer of a checkpoint directory: `tokenizer.json`
    /// (required), and when present `tokenizer_config.json`,
    /// `special_tokens_map.json` (used as transformers does for configs
    /// without `added_tokens_decoder`),
    /// `chat_template.jinja` (which wins over the config's template, as in
    /// transformers), `generation_config.json` and `config.json` (for stop ids).
    pub fn from_dir(dir: &Path) -> crate::Result<Self> {
        let tokenizer_json = dir.join("tokenizer.json");
        ensure!(
            tokenizer_json.is_file(),
            Tokenizer: "{} has no tokenizer.json (only fast tokenizers are supported; re-save the tokenizer with transformers)",
            dir.display()
        );
        let model_config = dir.join("config.json");
        let model_config: Option<serde_json::Value> = if model_config.is_file() {
            let text = std::fs::read_to_string(&model_config)
                .with_context(|| format!("cannot read {}", model_config.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not valid JSON", model_config.display()))?,
            )
        } else {
            None
        };
        let hint = |key: &str| {
            model_config.as_ref().and_then(|c| c.get(key)).and_then(|t| t.as_str()).map(str::to_string)
        };
        let hints = ModelHints { model_type: hint("model_type"), tokenizer_class: hint("tokenizer_class") };
        let config_path = dir.join("tokenizer_config.json");
        let map_path = dir.join("special_tokens_map.json");
        let mut tok = Self::build(
            &tokenizer_json,
            config_path.is_file().then_some(config_path.as_path()),
            map_path.is_file().then_some(map_path.as_path()),
            &hints,
        )?;
        let jinja = dir.join("chat_template.jinja");
        if jinja.is_file() {
            let source = std::fs::read_to_string(&jinja)
                .with_context(|| format!("cannot read {}", jinja.display()))?;
            tok.chat_template =
                Some(ChatTemplate::new(&source).with_context(|| format!("{}", jinja.display()))?);
        }
        let mut eos_ids = Vec::new();
        if let Some(generation) = GenerationConfig::from_dir(dir)? {
            eos_ids.extend(generation.eos_token_ids());
        }
        if let Some(config) = &model_config {
            eos_ids.extend(token_id_list(config.get("eos_token_id")));
        }
        eos_ids.extend(tok.eos_ids.iter().copied());
        tok.eos_ids = dedup_in_order(eos_ids);
        Ok(tok)
    }

    /// Loads `tokenizer.json` and optionally a `tokenizer_config.json`
    /// (without a model `config.json`, the tokenizer class alone decides
    /// which pipeline applies).
    pub fn from_files(tokenizer_json: &Path, tokenizer_config: Option<&Path>) -> crate::Result<Self> {
        Self::build(tokenizer_json, tokenizer_config, None, &ModelHints::default())
    }

    /// `hints`: the directory's config.json, whose `model_type` can decide
    /// the tokenizer class (see [`class`]).
    fn build(
        tokenizer_json: &Path,
        tokenizer_config: Option<&Path>,
        special_tokens_map: Option<&Path>,
        hints: &ModelHints,
    ) -> crate::Result<Self> {
        let mut config: TokenizerConfigFile = match tokenizer_config {
            Some(path) => read_json(path, "tokenizer_config.json")?,
            None => TokenizerConfigFile::default(),
        };
        if let (None, Some(path)) = (&config.added_tokens_decoder, special_tokens_map) {
            let map: SpecialTokensMapFile = read_json(path, "special_tokens_map.json")?;
            for (slot, value) in [
                (&mut config.bos_token, map.bos_token),
                (&mut config.eos_token, map.eos_token),
                (&mut config.pad_token, map.pad_token),
                (&mut config.unk_token, map.unk_token),
            ] {
                if value.is_some() {
                    *slot = value;
                }
            }
        }
        let json_text = std::fs::read_to_string(tokenizer_json)
            .with_context(|| format!("cannot read {}", tokenizer_json.display()))?;
        let hub_class = config.tokenizer_class.as_deref().or(hints.tokenizer_class.as_deref());
        let pipeline =
            class::resolve(hints.model_type.as_deref(), hub_class, json_text.contains("\"ByteLevel\""));
        let mut inner = load_tokenizer_json(tokenizer_json, &json_text, pipeline, &config)?;

        let resolve = |key: &str, spec: &Option<Option<TokenSpec>>| -> crate::Result<Option<SpecialToken>> {
            let content = match spec {
                Some(Some(TokenSpec::Text(s) | TokenSpec::Added { content: s })) => s.clone(),
                Some(None) => return Ok(None),
                // The class's defaults, where the vocabulary has them.
                None => {
                    let default = class_default(pipeline, key);
                    let found = default.and_then(|d| inner.token_to_id(d).map(|id| (d, id)));
                    return Ok(found.map(|(d, id)| SpecialToken { content: d.into(), id }));
                }
            };
            let id = inner.token_to_id(&content).with_context(|| {
                format!(
                    "{key} '{content}' of {} is not in {}",
                    describe_path(tokenizer_config),
                    tokenizer_json.display()
                )
            })?;
            Ok(Some(SpecialToken { content, id }))
        };
        let bos = resolve("bos_token", &config.bos_token)?;
        let eos = resolve("eos_token", &config.eos_token)?;
        let pad = resolve("pad_token", &config.pad_token)?;
        let unk = resolve("unk_token", &config.unk_token)?;
        if config.add_bos_token.is_some() || config.add_eos_token.is_some() {
            let added_bos = bos.as_ref().filter(|_| config.add_bos_token == Some(true));
            let added_eos = eos.as_ref().filter(|_| config.add_eos_token == Some(true));
            let template = bos_eos_template(added_bos, added_eos).with_context(|| {
                format!("{}: add_bos_token / add_eos_token", describe_path(tokenizer_config))
            })?;
            inner.with_post_processor(Some(template));
        }

        let chat_template = match config.chat_template {
            None => None,
            Some(ChatTemplateSpec::Single(source)) => Some(source),
            Some(ChatTemplateSpec::Named(list)) => {
                list.into_iter().find(|t| t.name == "default").map(|t| t.template)
            }
        }
        .map(|source| ChatTemplate::new(&source).with_context(|| describe_path(tokenizer_config)))
        .transpose()?;

        let eos_ids = eos.iter().map(|t| t.id).collect();
        Ok(TextTokenizer { inner, bos, eos, pad, unk, eos_ids, chat_template })
    }

    /// Token ids of `text`. `add_special_tokens` applies the tokenizer's
    /// post-processor (BOS for Llama-style tokenizers; nothing for Qwen).
    /// Special-token text inside `text` (`<|im_end|>`) becomes its id.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> crate::Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| CoreError::Tokenizer(format!("encode: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Encodes many texts (in parallel).
    pub fn encode_batch(&self, texts: &[&str], add_special_tokens: bool) -> crate::Result<Vec<Vec<u32>>> {
        let encodings = self
            .inner
            .encode_batch(texts.to_vec(), add_special_tokens)
            .map_err(|e| CoreError::Tokenizer(format!("encode: {e}")))?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// Text of `ids`; special tokens are kept unless `skip_special_tokens`
    /// (TinyZero's reward sees them kept).
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> crate::Result<String> {
        self.inner.decode(ids, skip_special_tokens).map_err(|e| CoreError::Tokenizer(format!("decode: {e}")))
    }

    /// Decodes many sequences.
    pub fn decode_batch(&self, seqs: &[&[u32]], skip_special_tokens: bool) -> crate::Result<Vec<String>> {
        self.inner
            .decode_batch(seqs, skip_special_tokens)
            .map_err(|e| CoreError::Tokenizer(format!("decode: {e}")))
    }

    /// Every id that ends a generation: generation_config's, then config's,
    /// then the tokenizer's `eos_token`, without duplicates.
    pub fn eos_token_ids(&self) -> &[u32] {
        &self.eos_ids
    }

    /// The id used to pad batches: `pad_token`, else the first stop id.
    pub fn pad_token_id(&self) -> Option<u32> {
        self.pad.as_ref().map(|t| t.id).or_else(|| self.eos_ids.first().copied())
    }

    pub fn bos_token(&self) -> Option<&SpecialToken> {
        self.bos.as_ref()
    }
    pub fn eos_token(&self) -> Option<&SpecialToken> {
        self.eos.as_ref()
    }
    pub fn pad_token(&self) -> Option<&SpecialToken> {
        self.pad.as_ref()
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Number of ids including added tokens (smaller than Qwen's padded
    /// embedding).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The chat template, if the checkpoint has one.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.chat_template.as_ref()
    }

    /// Renders `messages` with the checkpoint's chat template, as
    /// `tokenizer.apply_chat_template(messages, tokenize=False, ...)` does.
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        opts: &RenderOptions,
    ) -> crate::Result<String> {
        let template = self.chat_template.as_ref().context(
            "this tokenizer has no chat template (no `chat_template` in tokenizer_config.json and no \
             chat_template.jinja); use a plain prompt instead",
        )?;
        template.render(messages, &self.template_tokens(), opts)
    }

    /// The special-token strings a template sees.
    pub fn template_tokens(&self) -> TemplateTokens {
        let text = |t: &Option<SpecialToken>| t.as_ref().map(|t| t.content.clone());
        TemplateTokens {
            bos_token: text(&self.bos),
            eos_token: text(&self.eos),
            pad_token: text(&self.pad),
            unk_token: text(&self.unk),
        }
    }
}

/// Reads `tokenizer.json` (`text`, from `path`), rebuilt as transformers'
/// `Qwen2Tokenizer` or `LlamaTokenizer` builds it when that class applies
/// (see [`class`], [`qwen2_pipeline`], [`llama_pipeline`]).
fn load_tokenizer_json(
    path: &Path,
    text: &str,
    pipeline: Pipeline,
    config: &TokenizerConfigFile,
) -> crate::Result<tokenizers::Tokenizer> {
    let mut tok: tokenizers::Tokenizer = text.parse().map_err(|e| {
        CoreError::Tokenizer(format!("{} is not a valid tokenizer.json: {e}", path.display()))
    })?;
    match pipeline {
        Pipeline::AsWritten => {}
        Pipeline::Qwen2 => qwen2_pipeline::apply(&mut tok).with_context(|| format!("{}", path.display()))?,
        Pipeline::Llama => llama_pipeline::apply(&mut tok, config.add_prefix_space, config.legacy)
            .with_context(|| format!("{}", path.display()))?,
    }
    Ok(tok)
}

/// transformers' `update_post_processor`: `[bos] $A [eos]` (and the pair
/// form), for the tokens that are switched on and defined.
fn bos_eos_template(
    bos: Option<&SpecialToken>,
    eos: Option<&SpecialToken>,
) -> crate::Result<tokenizers::processors::template::TemplateProcessing> {
    let piece = |t: Option<&SpecialToken>, seq: u32| t.map(|t| format!("{}:{seq}", t.content));
    let single: Vec<String> =
        [piece(bos, 0), Some("$A:0".into()), piece(eos, 0)].into_iter().flatten().collect();
    let pair: Vec<String> = single
        .iter()
        .cloned()
        .chain([piece(bos, 1), Some("$B:1".into()), piece(eos, 1)].into_iter().flatten())
        .collect();
    let specials: Vec<(String, u32)> =
        bos.iter().chain(eos.iter()).map(|t| (t.content.clone(), t.id)).collect();
    tokenizers::processors::template::TemplateProcessing::builder()
        .try_single(single.join(" "))
        .map_err(|e| CoreError::Tokenizer(e.to_string()))?
        .try_pair(pair.join(" "))
        .map_err(|e| CoreError::Tokenizer(e.to_string()))?
        .special_tokens(specials)
        .build()
        .map_err(|e| CoreError::Tokenizer(e.to_string()))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, kind: &str) -> crate::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a valid {kind}", path.display()))
}

fn describe_path(path: Option<&Path>) -> String {
    path.map(|p| p.display().to_string())
        .unwrap_or_else(|| PathBuf::from("tokenizer_config.json").display().to_string())
}

fn dedup_in_order(ids: Vec<u32>) -> Vec<u32> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}
