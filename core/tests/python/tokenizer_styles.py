"""Test tokenizers in the style of each model family, built with the `tokenizers`
package (no real tokenizer can be downloaded in the tests).

Reads one JSON request on stdin and writes the directories; prints {} on stdout.
  request: {"make": [{"dir": str, "style": "tinyllama" | "llama3" | "qwen3",
                      "chat_template": str (Jinja source) | null}]}

Styles (what the published files of those families look like):
- "tinyllama": SentencePiece-style BPE converted to tokenizer.json as TinyLlama
  and Llama 2 ship it: <unk> <s> </s>, the 256 byte pieces <0x00>..<0xFF> for
  byte fallback, a Prepend("▁") + Replace(" ", "▁") normalizer, a decoder that
  undoes it, a post-processor adding <s>; tokenizer_config names
  LlamaTokenizer with add_bos_token / legacy: false, and TinyLlama's
  eos/pad/unk.
- "llama3": byte-level BPE as Llama 3.x ships it: Llama 3's split regex
  (digits in groups of up to 3) + ByteLevel, <|begin_of_text|> added by the
  post-processor, the header and <|eot_id|> special tokens, class
  PreTrainedTokenizerFast, eos <|eot_id|>; generation_config lists three stop ids.
- "qwen3": byte-level BPE as Qwen3 ships it: NFC, Qwen's split regex (single
  digits) + ByteLevel, <|endoftext|> <|im_start|> <|im_end|> special and
  <think> </think> added tokens, class Qwen2Tokenizer, eos <|im_end|>.

Merges are learnt from a small fixed corpus (English, arithmetic, the
countdown prompt, chat markup), so common words are single tokens and rarer
text exercises the merges, byte fallback and byte-level paths.
"""
import json
import sys
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

CORPUS = [
    "Using the numbers [19, 36, 55, 7], create an equation that equals 65.",
    "You can use basic arithmetic operations (+, -, *, /) and each number can only be used once.",
    "Show your work in <think> </think> tags. And return the final equation in <answer> </answer> tags.",
    "Let me solve this step by step. 55 - 36 = 19, and 19 + 7 = 26, which is not 65.",
    "A user asks a question, and the assistant solves it. The assistant first thinks about the reasoning",
    "process in the mind and then provides the user with the answer.",
    "What is the capital of France? The capital of France is Paris.",
    "Hello world! How are you today? I'm fine, thanks. It's a nice day, isn't it?",
    "The quick brown fox jumps over the lazy dog. 1234567890 3.14159 -42",
    "def main():\n    print('hello')\n    return 0\n",
    "system user assistant answer question reasoning equation numbers",
] * 8

SPECIAL = {
    "tinyllama": ["<unk>", "<s>", "</s>"],
    "llama3": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>",
               "<|eot_id|>", "<|finetune_right_pad_id|>"],
    "qwen3": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
}
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
              r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def added_tokens_decoder(tok, special, extra=()):
    out = {}
    for content in list(special) + list(extra):
        out[str(tok.token_to_id(content))] = {
            "content": content, "lstrip": False, "normalized": False, "rstrip": False,
            "single_word": False, "special": content in special,
        }
    return out


def tinyllama():
    special = SPECIAL["tinyllama"]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    # Train on ▁-joined words (SentencePiece pieces never span a ▁ boundary inside).
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=420, special_tokens=special, show_progress=False))
    data = json.loads(tok.to_str())
    # Layout of a converted SentencePiece model: specials, the 256 byte pieces, then the learnt pieces.
    learnt = [t for t, _ in sorted(data["model"]["vocab"].items(), key=lambda kv: kv[1]) if t not in special]
    pieces = special + [f"<0x{b:02X}>" for b in range(256)] + [t for t in learnt if not t.startswith("<0x")]
    data["model"]["vocab"] = {t: i for i, t in enumerate(pieces)}
    data["pre_tokenizer"] = None
    for added in data["added_tokens"]:
        added["id"] = data["model"]["vocab"][added["content"]]
    tok = Tokenizer.from_str(json.dumps(data))
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    config = {
        "add_bos_token": True, "add_eos_token": False, "added_tokens_decoder": added_tokens_decoder(tok, special),
        "bos_token": "<s>", "clean_up_tokenization_spaces": False, "eos_token": "</s>", "legacy": False,
        "model_max_length": 2048, "pad_token": "</s>", "padding_side": "right", "sp_model_kwargs": {},
        "tokenizer_class": "LlamaTokenizer", "unk_token": "<unk>", "use_default_system_prompt": False,
    }
    return tok, config, None


def byte_level(special, split, extra=(), nfc=False):
    tok = Tokenizer(models.BPE())
    if nfc:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    if extra:
        tok.add_tokens(list(extra))
    return tok


def llama3():
    special = SPECIAL["llama3"]
    tok = byte_level(special, LLAMA3_SPLIT)
    bos = "<|begin_of_text|>"
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
                                      special_tokens=[(bos, tok.token_to_id(bos))]),
    ])
    config = {
        "added_tokens_decoder": added_tokens_decoder(tok, special), "bos_token": bos,
        "clean_up_tokenization_spaces": True, "eos_token": "<|eot_id|>",
        "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 131072,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    stops = [tok.token_to_id(t) for t in ("<|end_of_text|>", "<|eom_id|>", "<|eot_id|>")]
    generation = {"bos_token_id": tok.token_to_id(bos), "do_sample": True, "eos_token_id": stops,
                  "temperature": 0.6, "top_p": 0.9}
    return tok, config, generation


def qwen3():
    special = SPECIAL["qwen3"]
    extra = ["<think>", "</think>"]
    tok = byte_level(special, QWEN_SPLIT, extra=extra, nfc=True)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    config = {
        "add_bos_token": False, "add_prefix_space": False,
        "added_tokens_decoder": added_tokens_decoder(tok, special, extra),
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"], "bos_token": None,
        "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>", "errors": "replace",
        "model_max_length": 131072, "pad_token": "<|endoftext|>", "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer", "unk_token": None,
    }
    generation = {"bos_token_id": tok.token_to_id("<|endoftext|>"), "do_sample": True,
                  "eos_token_id": [tok.token_to_id("<|im_end|>"), tok.token_to_id("<|endoftext|>")],
                  "pad_token_id": tok.token_to_id("<|endoftext|>"), "temperature": 0.6, "top_k": 20, "top_p": 0.95}
    return tok, config, generation


def make(job):
    tok, config, generation = {"tinyllama": tinyllama, "llama3": llama3, "qwen3": qwen3}[job["style"]]()
    out = Path(job["dir"])
    out.mkdir(parents=True, exist_ok=True)
    if job.get("chat_template") is not None:
        config["chat_template"] = job["chat_template"]
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False))
    if generation is not None:
        (out / "generation_config.json").write_text(json.dumps(generation, indent=2))


def main():
    req = json.load(sys.stdin)
    for job in req.get("make", []):
        make(job)
    json.dump({}, sys.stdout)


if __name__ == "__main__":
    main()
