//! Which tokenizer class transformers 5's `AutoTokenizer` picks for a
//! checkpoint, reduced to what changes the ids: run `tokenizer.json` as
//! written (`TokenizersBackend`, `PreTrainedTokenizerFast`), or rebuild its
//! pipeline around the vocabulary as `Qwen2Tokenizer` or `LlamaTokenizer`
//! do. The rules (`tokenization_auto.py`, `AutoTokenizer.from_pretrained`):
//!
//! - `model_type: qwen2` always gets `Qwen2Tokenizer` (transformers lists
//!   qwen2 among the models whose hub class is wrong);
//! - `model_type: mistral` gets `TokenizersBackend` (the `mistral_common`
//!   backend is not installed), whatever class the files name;
//! - otherwise the class named by `tokenizer_config.json` (else by
//!   `config.json`): `LlamaTokenizer[Fast]` rebuilds a SentencePiece-style
//!   pipeline, unless `tokenizer.json` is byte-level (Llama 3, DeepSeek-R1
//!   distills), which is run as written; `Qwen2Tokenizer[Fast]` rebuilds
//!   Qwen's; any other class runs the file as written;
//! - no class at all: the model type's registered class (`qwen3` →
//!   `Qwen2Tokenizer`), else as written.

/// How `tokenizer.json` is turned into the tokenizer transformers runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pipeline {
    AsWritten,
    Qwen2,
    Llama,
}

/// `hub_class`: `tokenizer_config.json`'s `tokenizer_class`, else
/// `config.json`'s. `byte_level`: `tokenizer.json` mentions `"ByteLevel"`
/// (transformers' own test).
pub(super) fn resolve(model_type: Option<&str>, hub_class: Option<&str>, byte_level: bool) -> Pipeline {
    let class = hub_class.map(|c| c.strip_suffix("Fast").unwrap_or(c));
    match (model_type, class) {
        (Some("qwen2"), _) => Pipeline::Qwen2,
        (Some("mistral"), _) => Pipeline::AsWritten,
        (_, Some("LlamaTokenizer")) if byte_level => Pipeline::AsWritten,
        (_, Some("LlamaTokenizer")) => Pipeline::Llama,
        (_, Some("Qwen2Tokenizer")) => Pipeline::Qwen2,
        (_, Some(_)) => Pipeline::AsWritten,
        (Some("qwen3"), None) => Pipeline::Qwen2,
        (_, None) => Pipeline::AsWritten,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_resolve_as_transformers_resolves_them() {
        use Pipeline::*;
        let cases = [
            (Some("qwen2"), Some("PreTrainedTokenizerFast"), true, Qwen2),
            (Some("qwen3"), Some("Qwen2Tokenizer"), true, Qwen2),
            (Some("qwen3"), Some("PreTrainedTokenizerFast"), true, AsWritten),
            (Some("qwen3"), None, true, Qwen2),
            // TinyLlama / Llama 2: SentencePiece-style tokenizer.json.
            (Some("llama"), Some("LlamaTokenizer"), false, Llama),
            (Some("llama"), Some("LlamaTokenizerFast"), false, Llama),
            // DeepSeek-R1-Distill-Llama names LlamaTokenizerFast over a byte-level file.
            (Some("llama"), Some("LlamaTokenizerFast"), true, AsWritten),
            // Llama 3.x.
            (Some("llama"), Some("PreTrainedTokenizerFast"), true, AsWritten),
            (Some("mistral"), Some("LlamaTokenizer"), false, AsWritten),
            (None, Some("LlamaTokenizer"), false, Llama),
            (None, None, false, AsWritten),
        ];
        for (model_type, class, byte_level, want) in cases {
            assert_eq!(resolve(model_type, class, byte_level), want, "{model_type:?} {class:?} {byte_level}");
        }
    }
}
