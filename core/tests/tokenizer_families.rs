//! Tokenizers and chat templates of the Llama, Llama 3 and Qwen3 families
//! against transformers: the same ids, decoded text, special tokens, stop ids
//! and rendered chats as `AutoTokenizer.from_pretrained(dir)`.
//!
//! No real tokenizer can be downloaded here, so core/tests/python/tokenizer_styles.py
//! builds one of each style with the `tokenizers` package (a SentencePiece-style
//! BPE with byte fallback and `▁` like TinyLlama's, byte-level BPEs like Llama
//! 3's and Qwen3's), with the published chat templates of TinyLlama-1.1B-Chat,
//! Llama-3.2-Instruct and Qwen3 (core/tests/testdata/chat_templates). Each
//! style is then copied under the `config.json` / tokenizer classes real
//! checkpoints use, which decide how transformers runs the file.

mod reference;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::json;
use tz_core::chat_template::{ChatMessage, RenderOptions};
use tz_core::TextTokenizer;

const TEXTS: &[&str] = &[
    "Hello world",
    "Using the numbers [19, 36, 55, 7], create an equation that equals 65.",
    "1234567890 3.14159 -42 1e10 007",
    "  leading and trailing   spaces   ",
    "tabs\tand\nnewlines\n\n\n  indented\r\nwindows \n",
    "café naïve résumé 中文 日本語",
    "emoji 😀👍🏽 🇺🇸",
    "I'll don't WE'RE it's",
    "",
    " ",
    "<think> 36 - 19 = 17 </think> <answer> (55 - 36) + 7 </answer>",
    // Special tokens of every style inline (each is plain text in the others).
    "a</s>b <s> c<unk>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "<|im_start|>user\nhi<|im_end|>\n<|endoftext|>",
    "</s>\n<|assistant|>\n",
];

fn template(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/chat_templates").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A variant: a style's files under one `config.json` and tokenizer class.
struct Variant {
    name: &'static str,
    style: &'static str,
    /// `config.json` of the directory (None: no config.json).
    config: Option<serde_json::Value>,
    /// Overrides of `tokenizer_config.json` keys.
    tokenizer_config: serde_json::Value,
    /// The class transformers should pick.
    class: &'static str,
}

fn variants() -> Vec<Variant> {
    vec![
        Variant {
            name: "tinyllama",
            style: "tinyllama",
            config: Some(json!({"model_type": "llama", "eos_token_id": 2, "bos_token_id": 1})),
            tokenizer_config: json!({}),
            class: "LlamaTokenizer",
        },
        Variant {
            name: "tinyllama_legacy",
            style: "tinyllama",
            config: Some(json!({"model_type": "llama"})),
            tokenizer_config: json!({"legacy": true}),
            class: "LlamaTokenizer",
        },
        Variant {
            name: "tinyllama_no_prefix_space_fast_class",
            style: "tinyllama",
            config: None,
            tokenizer_config: json!({"add_prefix_space": false, "tokenizer_class": "LlamaTokenizerFast"}),
            class: "LlamaTokenizer",
        },
        // Mistral checkpoints name LlamaTokenizer too, but run tokenizer.json as written.
        Variant {
            name: "mistral_sentencepiece",
            style: "tinyllama",
            config: Some(json!({"model_type": "mistral"})),
            tokenizer_config: json!({}),
            class: "TokenizersBackend",
        },
        Variant {
            name: "llama3",
            style: "llama3",
            config: Some(json!({"model_type": "llama", "eos_token_id": [1, 4, 5], "bos_token_id": 0})),
            tokenizer_config: json!({}),
            class: "TokenizersBackend",
        },
        // DeepSeek-R1-Distill-Llama: LlamaTokenizerFast over a byte-level file, add_bos_token set.
        Variant {
            name: "llama3_llama_class",
            style: "llama3",
            config: Some(json!({"model_type": "llama"})),
            tokenizer_config: json!({"tokenizer_class": "LlamaTokenizerFast", "add_bos_token": true,
                                     "add_eos_token": false}),
            class: "TokenizersBackend",
        },
        Variant {
            name: "qwen3",
            style: "qwen3",
            config: Some(json!({"model_type": "qwen3", "eos_token_id": 2})),
            tokenizer_config: json!({}),
            class: "Qwen2Tokenizer",
        },
        Variant {
            name: "qwen3_fast_class",
            style: "qwen3",
            config: Some(json!({"model_type": "qwen3"})),
            tokenizer_config: json!({"tokenizer_class": "PreTrainedTokenizerFast"}),
            class: "TokenizersBackend",
        },
    ]
}

fn chat_template_of(style: &str) -> String {
    match style {
        "tinyllama" => template("tinyllama-zephyr.jinja"),
        "llama3" => template("llama-3.2.jinja"),
        "qwen3" => template("qwen3.jinja"),
        other => panic!("no style {other}"),
    }
}

fn work_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tokenizer_families")
}

/// Builds every style once, then each variant directory from its style.
fn variant_dir(name: &str) -> PathBuf {
    static MADE: OnceLock<()> = OnceLock::new();
    MADE.get_or_init(|| {
        let _ = std::fs::remove_dir_all(work_dir());
        let styles = ["tinyllama", "llama3", "qwen3"];
        let make: Vec<serde_json::Value> = styles
            .iter()
            .map(|s| json!({"dir": work_dir().join("styles").join(s), "style": s, "chat_template": chat_template_of(s)}))
            .collect();
        reference::run_python("tokenizer_styles.py", &json!({ "make": make }));
        for v in variants() {
            let dir = work_dir().join(v.name);
            std::fs::create_dir_all(&dir).unwrap();
            let style = work_dir().join("styles").join(v.style);
            for entry in std::fs::read_dir(&style).unwrap() {
                let path = entry.unwrap().path();
                std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
            }
            let tc_path = dir.join("tokenizer_config.json");
            let mut tc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&tc_path).unwrap()).unwrap();
            for (k, value) in v.tokenizer_config.as_object().unwrap() {
                tc[k] = value.clone();
            }
            std::fs::write(&tc_path, tc.to_string()).unwrap();
            if let Some(config) = &v.config {
                std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
            }
        }
    });
    work_dir().join(name)
}

struct Chat {
    messages: Vec<ChatMessage>,
    opts: RenderOptions,
}

fn options(generation: bool, cont: bool, extra: serde_json::Value) -> RenderOptions {
    RenderOptions {
        add_generation_prompt: generation,
        continue_final_message: cont,
        extra: extra.as_object().cloned().unwrap_or_default(),
    }
}

fn countdown() -> Vec<ChatMessage> {
    vec![
        ChatMessage::system("You are a helpful assistant."),
        ChatMessage::user("Using the numbers [19, 36, 55, 7], create an equation that equals 65."),
        ChatMessage::assistant("Let me solve this step by step.\n<think>"),
    ]
}

/// The chats rendered for a style (the Llama 3.2 template reads today's
/// date unless `date_string` is given, so it is always given).
fn chats(style: &str) -> Vec<Chat> {
    let date = if style == "llama3" { json!({"date_string": "26 Jul 2024"}) } else { json!({}) };
    let with = |extra: serde_json::Value| {
        let mut all = date.clone();
        for (k, v) in extra.as_object().unwrap() {
            all[k] = v.clone();
        }
        all
    };
    let mut out = vec![
        Chat {
            messages: vec![ChatMessage::system("Be brief."), ChatMessage::user("What is 2+2?")],
            opts: options(true, false, with(json!({}))),
        },
        Chat { messages: vec![ChatMessage::user("hi 👋")], opts: options(true, false, with(json!({}))) },
        Chat {
            messages: vec![
                ChatMessage::user("2+2?"),
                ChatMessage::assistant("4"),
                ChatMessage::user("and 3+3?"),
            ],
            opts: options(false, false, with(json!({}))),
        },
        Chat { messages: countdown(), opts: options(false, true, with(json!({}))) },
    ];
    if style == "qwen3" {
        for thinking in [true, false] {
            out.push(Chat {
                messages: vec![ChatMessage::user("What is 2+2?")],
                opts: options(true, false, json!({"enable_thinking": thinking})),
            });
        }
        // Earlier turns lose their reasoning; the last assistant turn keeps it.
        out.push(Chat {
            messages: vec![
                ChatMessage::user("2+2?"),
                ChatMessage::assistant("<think>\nadd them\n</think>\n\n4"),
                ChatMessage::user("3+3?"),
                ChatMessage::assistant("<think>add</think>6"),
            ],
            opts: options(false, false, json!({"enable_thinking": false})),
        });
    }
    out
}

/// Ids decoded in both: our encodings of the texts plus lone pieces of a
/// multi-byte character (byte fallback / byte-level fragments).
fn decode_inputs(tok: &TextTokenizer) -> Vec<Vec<u32>> {
    let mut seqs: Vec<Vec<u32>> = TEXTS.iter().map(|t| tok.encode(t, true).unwrap()).collect();
    let emoji = tok.encode("😀", false).unwrap();
    seqs.push(emoji[..1].to_vec());
    seqs.push(emoji[emoji.len() - 1..].to_vec());
    seqs
}

fn answers() -> &'static Vec<serde_json::Value> {
    static ANSWERS: OnceLock<Vec<serde_json::Value>> = OnceLock::new();
    ANSWERS.get_or_init(|| {
        let cases: Vec<serde_json::Value> = variants()
            .iter()
            .map(|v| {
                let dir = variant_dir(v.name);
                let tok = TextTokenizer::from_dir(&dir).unwrap();
                let chats: Vec<serde_json::Value> = chats(v.style)
                    .iter()
                    .map(|c| {
                        json!({"messages": c.messages, "add_generation_prompt": c.opts.add_generation_prompt,
                               "continue_final_message": c.opts.continue_final_message, "kwargs": c.opts.extra})
                    })
                    .collect();
                json!({"dir": dir, "texts": TEXTS, "decode": decode_inputs(&tok), "chats": chats})
            })
            .collect();
        let answers = reference::run_python("tokenizer_reference.py", &json!({ "cases": cases }));
        answers.as_array().expect("a list of answers").clone()
    })
}

fn for_each_variant(mut check: impl FnMut(&Variant, &TextTokenizer, &serde_json::Value)) {
    for (v, want) in variants().iter().zip(answers()) {
        let tok = TextTokenizer::from_dir(&variant_dir(v.name)).unwrap();
        check(v, &tok, want);
    }
}

#[test]
fn transformers_picks_the_expected_class_for_each_variant() {
    for_each_variant(|v, _, want| assert_eq!(want["tokenizer_class"].as_str(), Some(v.class), "{}", v.name));
}

#[test]
fn encode_matches_transformers_with_and_without_special_tokens() {
    for_each_variant(|v, tok, want| {
        for (i, text) in TEXTS.iter().enumerate() {
            assert_eq!(
                tok.encode(text, true).unwrap(),
                reference::ids(&want["encode"][i]),
                "{}: {text:?}",
                v.name
            );
            assert_eq!(
                tok.encode(text, false).unwrap(),
                reference::ids(&want["encode_plain"][i]),
                "{}: {text:?} without special tokens",
                v.name
            );
        }
    });
}

#[test]
fn decode_matches_transformers_keeping_and_skipping_special_tokens() {
    for_each_variant(|v, tok, want| {
        for (i, ids) in decode_inputs(tok).iter().enumerate() {
            assert_eq!(
                tok.decode(ids, false).unwrap(),
                want["decode_keep"][i].as_str().unwrap(),
                "{}: {ids:?}",
                v.name
            );
            assert_eq!(
                tok.decode(ids, true).unwrap(),
                want["decode_skip"][i].as_str().unwrap(),
                "{}: {ids:?}",
                v.name
            );
        }
    });
}

#[test]
fn special_tokens_and_every_stop_id_match_transformers() {
    for_each_variant(|v, tok, want| {
        assert_eq!(tok.eos_token().map(|t| t.id as u64), want["eos_token_id"].as_u64(), "{}: eos", v.name);
        assert_eq!(tok.pad_token().map(|t| t.id as u64), want["pad_token_id"].as_u64(), "{}: pad", v.name);
        let tokens = tok.template_tokens();
        let map = &want["special_tokens_map"];
        assert_eq!(tokens.bos_token.as_deref(), map["bos_token"].as_str(), "{}: bos", v.name);
        assert_eq!(tokens.eos_token.as_deref(), map["eos_token"].as_str(), "{}: eos", v.name);
        assert_eq!(tokens.unk_token.as_deref(), map["unk_token"].as_str(), "{}: unk", v.name);
        // generate() stops on generation_config's ids: every one of them stops us too.
        for id in reference::ids(&want["generation_eos"]) {
            assert!(
                tok.eos_token_ids().contains(&id),
                "{}: stop id {id} missing from {:?}",
                v.name,
                tok.eos_token_ids()
            );
        }
    });
    // Llama 3 instruct: <|end_of_text|>, <|eom_id|>, <|eot_id|> all stop.
    let llama3 = TextTokenizer::from_dir(&variant_dir("llama3")).unwrap();
    assert_eq!(llama3.eos_token_ids().len(), 3, "{:?}", llama3.eos_token_ids());
}

#[test]
fn chat_templates_render_like_apply_chat_template() {
    for_each_variant(|v, tok, want| {
        for (i, chat) in chats(v.style).iter().enumerate() {
            let text = tok.apply_chat_template(&chat.messages, &chat.opts).unwrap();
            let reference = &want["chats"][i];
            assert_eq!(text, reference["text"].as_str().unwrap(), "{}: chat {i}", v.name);
            assert_eq!(
                tok.encode(&text, false).unwrap(),
                reference::ids(&reference["ids"]),
                "{}: ids of chat {i}",
                v.name
            );
        }
    });
}

#[test]
fn qwen3_enable_thinking_false_opens_an_empty_think_block() {
    let tok = TextTokenizer::from_dir(&variant_dir("qwen3")).unwrap();
    let render = |thinking: bool| {
        tok.apply_chat_template(
            &[ChatMessage::user("hi")],
            &options(true, false, json!({"enable_thinking": thinking})),
        )
        .unwrap()
    };
    assert_eq!(render(true), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    assert_eq!(
        render(false),
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    );
}
