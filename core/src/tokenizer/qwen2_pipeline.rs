//! transformers 5 does not run a Qwen2 `tokenizer.json` as written: its
//! `Qwen2Tokenizer` constructor takes only the vocabulary, merges, added
//! tokens and post-processor from the file and rebuilds the rest (NFC
//! normalizer, Qwen's split regex + byte-level pre-tokenizer, byte-level
//! decoder, a BPE without `<unk>` that does not skip merges). It does so
//! whenever `tokenizer_class` names Qwen2 *or* the directory's `config.json`
//! says `model_type: qwen2`, whatever class the tokenizer config names.
//!
//! We rebuild the loaded tokenizer the same way, so ids match transformers
//! also for files whose own pipeline differs (no normalizer, so decomposed
//! accents; an `<unk>` that transformers drops instead).

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::ModelWrapper;
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{SplitDelimiterBehavior, Tokenizer};

use crate::error::{bail, CoreError};

/// Qwen2's pre-tokenizer pattern (contractions, letters, single digits,
/// punctuation runs, newlines, spaces), as in transformers' Qwen2Tokenizer.
const PRETOKENIZE_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Rebuilds `tok` into the pipeline `Qwen2Tokenizer` builds. Errors if the
/// model is not a BPE (the class cannot apply).
pub(super) fn apply(tok: &mut Tokenizer) -> crate::Result<()> {
    let ModelWrapper::BPE(bpe) = tok.get_model() else {
        bail!(Tokenizer: "a Qwen2 tokenizer must be a BPE model");
    };
    let mut bpe = bpe.clone();
    bpe.dropout = None;
    bpe.unk_token = None;
    bpe.continuing_subword_prefix = None;
    bpe.end_of_word_suffix = None;
    bpe.fuse_unk = false;
    bpe.byte_fallback = false;
    bpe.ignore_merges = false;
    let split =
        Split::new(SplitPattern::Regex(PRETOKENIZE_REGEX.into()), SplitDelimiterBehavior::Isolated, false)
            .map_err(|e| CoreError::Tokenizer(format!("Qwen2 pre-tokenizer: {e}")))?;
    let pre_tokenizer = Sequence::new(vec![split.into(), ByteLevel::new(false, true, false).into()]);
    tok.with_model(bpe);
    tok.with_normalizer(Some(NFC)).map_err(|e| CoreError::Tokenizer(e.to_string()))?;
    tok.with_pre_tokenizer(Some(pre_tokenizer));
    tok.with_decoder(Some(ByteLevelDecoder::default()));
    Ok(())
}
