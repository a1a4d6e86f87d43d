//! transformers 5's `LlamaTokenizer` (TinyLlama, Llama 2, Mistral-style
//! SentencePiece vocabularies converted to `tokenizer.json`) keeps only the
//! vocabulary, merges, added tokens and post-processor of the file and
//! rebuilds the rest: a BPE with byte fallback and fused unknowns (and no
//! unknown token), no normalizer, a `Metaspace("▁")` pre-tokenizer that
//! prepends `▁` to the first piece only (`legacy: false`, the default), to
//! every piece (`legacy: true`) or never (`add_prefix_space: false`), and a
//! decoder that maps `▁` back to spaces, joins byte pieces and strips the
//! prepended space.
//!
//! Files converted by older transformers express the same with a
//! `Prepend("▁")` + `Replace(" ", "▁")` normalizer, which differs after
//! special tokens (`"</s>\n"`: the normalizer prepends `▁` to every piece).

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::ModelWrapper;
use tokenizers::normalizers::replace::Replace;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::{NormalizerWrapper, Tokenizer};

use crate::error::{bail, CoreError};

/// `add_prefix_space` and `legacy` of `tokenizer_config.json` (None = the
/// class defaults: true and false).
pub(super) fn apply(
    tok: &mut Tokenizer,
    add_prefix_space: Option<bool>,
    legacy: Option<bool>,
) -> crate::Result<()> {
    let ModelWrapper::BPE(bpe) = tok.get_model() else {
        bail!(Tokenizer: "a Llama tokenizer must be a BPE model");
    };
    let mut bpe = bpe.clone();
    bpe.dropout = None;
    bpe.unk_token = None;
    bpe.continuing_subword_prefix = None;
    bpe.end_of_word_suffix = None;
    bpe.fuse_unk = true;
    bpe.byte_fallback = true;
    bpe.ignore_merges = false;
    let add_prefix_space = add_prefix_space.unwrap_or(true);
    let scheme = match (add_prefix_space, legacy.unwrap_or(false)) {
        (false, _) => PrependScheme::Never,
        (true, true) => PrependScheme::Always,
        (true, false) => PrependScheme::First,
    };
    let replace = Replace::new("▁", " ").map_err(|e| CoreError::Tokenizer(format!("Llama decoder: {e}")))?;
    let mut decoders = vec![replace.into(), ByteFallback::new().into(), Fuse::new().into()];
    if add_prefix_space {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    tok.with_model(bpe);
    tok.with_normalizer(None::<NormalizerWrapper>).map_err(|e| CoreError::Tokenizer(e.to_string()))?;
    tok.with_pre_tokenizer(Some(Metaspace::new('▁', scheme, false)));
    tok.with_decoder(Some(DecoderSequence::new(decoders)));
    Ok(())
}
