//! `TextTokenizer` and chat templates against transformers on the Qwen-vocab
//! fixture: the same ids, the same decoded text and the same rendered prompts
//! as `AutoTokenizer.from_pretrained(fixture)`. The expected values are
//! computed by Python in the test (core/tests/python/tokenizer_reference.py).

mod reference;

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::json;
use tz_core::chat_template::{ChatMessage, ChatTemplate, RenderOptions};
use tz_core::TextTokenizer;

fn fixture_dir() -> PathBuf {
    reference::fixture("qwen-vocab-tokenizer")
}

fn tokenizer() -> &'static TextTokenizer {
    static TOK: OnceLock<TextTokenizer> = OnceLock::new();
    TOK.get_or_init(|| TextTokenizer::from_dir(&fixture_dir()).expect("fixture tokenizer loads"))
}

const TEXTS: &[&str] = &[
    "Hello world",
    "Using the numbers [19, 36, 55, 7], create an equation that equals 65.",
    "1234567890 3.14159 -42 1e10 007",
    "  leading and trailing   spaces   ",
    "tabs\tand\nnewlines\n\n\n  indented\r\nwindows \n",
    "中文分词测试，标点。日本語のテキスト 한국어",
    "café naïve résumé",
    // A decomposed accent: transformers 5 normalizes Qwen2 text to NFC.
    "cafe\u{301} and n\u{303}",
    "emoji 😀👍🏽 👨‍👩‍👧‍👦 🇺🇸",
    "<|im_start|>user\nhi<|im_end|>\n<|endoftext|>",
    "special inline: a<|im_end|>b <|endoftext|>c",
    "I'll don't WE'RE it's",
    "fn main() { println!(\"{}\", x); } // code",
    "",
    "<think> 36 - 19 = 17 </think> <answer> (55 - 36) + 7 </answer>",
];

/// A template of our own that uses what real templates use: namespace,
/// filtered loops, `.strip()`, `trim`, `tojson` on tools, `selectattr`,
/// `raise_exception`, special-token variables, `loop.first/last`.
const RICH_TEMPLATE: &str = r#"{%- set ns = namespace(sys='') -%}
{%- if messages[0].role == 'system' -%}{%- set ns.sys = messages[0].content.strip() -%}{%- endif -%}
{{- '<|im_start|>system\n' + (ns.sys or 'Default system.') }}
{%- if tools %}
{{- '\n# Tools' }}
    {%- for tool in tools %}
{{ tool | tojson }}
    {%- endfor %}
{%- endif %}
{{- ' users=' ~ (messages | selectattr('role', 'equalto', 'user') | list | length) }}
{{- '<|im_end|>\n' }}
{%- for message in messages if message.role != 'system' %}
    {%- if loop.first and message.role != 'user' %}
        {{- raise_exception('the first turn must be the user') }}
    {%- endif %}
<|im_start|>{{ message.role }}
{{ message.content | trim }}
    {%- if not (loop.last and message.role == 'assistant') %}{{ eos_token }}
{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}
<|im_start|>assistant
{% endif %}"#;

struct Chat {
    messages: Vec<ChatMessage>,
    opts: RenderOptions,
    template: Option<&'static str>,
}

fn countdown_messages() -> Vec<ChatMessage> {
    vec![
        ChatMessage::system(
            "You are a helpful assistant. You first thinks about the reasoning process in the mind and then provides \
             the user with the answer.",
        ),
        ChatMessage::user(
            "Using the numbers [19, 36, 55, 7], create an equation that equals 65. Show your work in <think> \
             </think> tags. And return the final equation in <answer> </answer> tags.",
        ),
        ChatMessage::assistant("Let me solve this step by step.\n<think>"),
    ]
}

fn tools() -> serde_json::Value {
    json!([{"type": "function", "function": {
        "name": "calc", "description": "Evaluate <expr> & return it — exactly",
        "parameters": {"type": "object", "properties": {"expr": {"type": "string"}, "scale": {"type": "number", "default": 0.5}},
                       "required": ["expr"]}}}])
}

fn chats() -> Vec<Chat> {
    let gen = RenderOptions { add_generation_prompt: true, ..Default::default() };
    let cont = RenderOptions { continue_final_message: true, ..Default::default() };
    let mut with_tools = gen.clone();
    with_tools.extra.insert("tools".into(), tools());
    vec![
        Chat {
            messages: vec![ChatMessage::system("Be brief."), ChatMessage::user("What is 2+2?")],
            opts: gen.clone(),
            template: None,
        },
        // No system message: the fixture template inserts its default one.
        Chat { messages: vec![ChatMessage::user("hi 👋")], opts: gen.clone(), template: None },
        Chat {
            messages: vec![
                ChatMessage::user("2+2?"),
                ChatMessage::assistant("4"),
                ChatMessage::user("and 3+3?"),
            ],
            opts: RenderOptions::default(),
            template: None,
        },
        // TinyZero's countdown prompt (seed 004): continue the assistant's "<think>".
        Chat { messages: countdown_messages(), opts: cont.clone(), template: None },
        // Trailing whitespace the template keeps.
        Chat {
            messages: vec![ChatMessage::user("q"), ChatMessage::assistant("Answer: ")],
            opts: cont.clone(),
            template: None,
        },
        Chat {
            messages: vec![ChatMessage::system("  sys  "), ChatMessage::user(" u1 ")],
            opts: with_tools,
            template: Some(RICH_TEMPLATE),
        },
        Chat {
            messages: vec![ChatMessage::user("a"), ChatMessage::assistant("b"), ChatMessage::user("c")],
            opts: gen,
            template: Some(RICH_TEMPLATE),
        },
        // The template trims the message, so the trailing space is dropped.
        Chat {
            messages: vec![ChatMessage::user("q"), ChatMessage::assistant("Let me see ")],
            opts: cont,
            template: Some(RICH_TEMPLATE),
        },
    ]
}

/// Ids we decode in both implementations: our encodings of the texts plus a
/// lone byte-level piece of an emoji (invalid UTF-8 on its own).
fn decode_inputs() -> Vec<Vec<u32>> {
    let tok = tokenizer();
    let mut seqs: Vec<Vec<u32>> = TEXTS.iter().map(|t| tok.encode(t, true).unwrap()).collect();
    let emoji = tok.encode("😀", false).unwrap();
    seqs.push(emoji[..1].to_vec());
    seqs.push(vec![151644, 872, 198, 151645, 151643]);
    seqs
}

/// Copies of the fixture under other tokenizer classes: transformers picks
/// `Qwen2Tokenizer` (NFC, Qwen regex) for a `model_type: qwen2` directory
/// whatever class it names, and runs tokenizer.json as written otherwise.
/// The last one has a legacy `special_tokens_map.json`, which overrides the
/// config's tokens when the config has no `added_tokens_decoder`.
const VARIANTS: &[(&str, Option<&str>, &str, Option<&str>)] = &[
    // (name, config.json, the class transformers should load, special_tokens_map.json)
    ("fast_class_qwen2_config", Some(r#"{"model_type": "qwen2"}"#), "Qwen2Tokenizer", None),
    ("fast_class_no_config", None, "TokenizersBackend", None),
    (
        "legacy_special_tokens_map",
        Some(r#"{"model_type": "qwen2"}"#),
        "Qwen2Tokenizer",
        Some(r#"{"eos_token": {"content": "<|endoftext|>", "special": true}, "pad_token": "<|im_start|>"}"#),
    ),
];

fn variant_dir(name: &str) -> PathBuf {
    static MADE: OnceLock<PathBuf> = OnceLock::new();
    let root = MADE.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tokenizer_transformers");
        let _ = std::fs::remove_dir_all(&root);
        for (name, config, _, special_map) in VARIANTS {
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::copy(fixture_dir().join("tokenizer.json"), dir.join("tokenizer.json")).unwrap();
            let mut tc: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(fixture_dir().join("tokenizer_config.json")).unwrap(),
            )
            .unwrap();
            tc["tokenizer_class"] = json!("PreTrainedTokenizerFast");
            std::fs::write(dir.join("tokenizer_config.json"), tc.to_string()).unwrap();
            if let Some(config) = config {
                std::fs::write(dir.join("config.json"), config).unwrap();
            }
            if let Some(map) = special_map {
                std::fs::write(dir.join("special_tokens_map.json"), map).unwrap();
            }
        }
        root
    });
    root.join(name)
}

/// Answers for the fixture (index 0) and each variant (1..), from one Python run.
fn transformers_answers_all() -> &'static Vec<serde_json::Value> {
    static REF: OnceLock<Vec<serde_json::Value>> = OnceLock::new();
    REF.get_or_init(|| {
        let chats: Vec<serde_json::Value> = chats()
            .iter()
            .map(|c| {
                json!({
                    "messages": c.messages,
                    "add_generation_prompt": c.opts.add_generation_prompt,
                    "continue_final_message": c.opts.continue_final_message,
                    "template": c.template,
                    "tools": c.opts.extra.get("tools"),
                })
            })
            .collect();
        let mut cases = vec![json!({
            "dir": fixture_dir(),
            "texts": TEXTS,
            "decode": decode_inputs(),
            "chats": chats,
        })];
        for (name, _, _, _) in VARIANTS {
            cases.push(
                json!({"dir": variant_dir(name), "texts": TEXTS, "decode": decode_inputs(), "chats": []}),
            );
        }
        let answers = reference::run_python("tokenizer_reference.py", &json!({ "cases": cases }));
        answers.as_array().expect("a list of answers").clone()
    })
}

fn transformers_answers() -> &'static serde_json::Value {
    &transformers_answers_all()[0]
}

#[test]
fn encode_matches_transformers_with_and_without_special_tokens() {
    let tok = tokenizer();
    let reference = transformers_answers();
    for (i, text) in TEXTS.iter().enumerate() {
        assert_eq!(
            tok.encode(text, true).unwrap(),
            reference::ids(&reference["encode"][i]),
            "ids of {text:?}"
        );
        assert_eq!(
            tok.encode(text, false).unwrap(),
            reference::ids(&reference["encode_plain"][i]),
            "ids of {text:?}"
        );
    }
    let batch = tok.encode_batch(TEXTS, true).unwrap();
    for (i, ids) in batch.iter().enumerate() {
        assert_eq!(*ids, reference::ids(&reference["encode"][i]), "batch ids of {:?}", TEXTS[i]);
    }
}

#[test]
fn digits_are_split_one_by_one() {
    let ids = tokenizer().encode("12345", false).unwrap();
    assert_eq!(ids.len(), 5);
    let pieces: Vec<String> = ids.iter().map(|&id| tokenizer().decode(&[id], false).unwrap()).collect();
    assert_eq!(pieces, ["1", "2", "3", "4", "5"]);
}

#[test]
fn decode_matches_transformers_keeping_and_skipping_special_tokens() {
    let tok = tokenizer();
    let reference = transformers_answers();
    for (i, ids) in decode_inputs().iter().enumerate() {
        assert_eq!(
            tok.decode(ids, false).unwrap(),
            reference["decode_keep"][i].as_str().unwrap(),
            "decode of {ids:?}"
        );
        assert_eq!(
            tok.decode(ids, true).unwrap(),
            reference["decode_skip"][i].as_str().unwrap(),
            "skip-decode of {ids:?}"
        );
    }
}

#[test]
fn special_tokens_match_transformers() {
    let tok = tokenizer();
    let reference = transformers_answers();
    assert_eq!(tok.eos_token().map(|t| t.id as u64), reference["eos_token_id"].as_u64());
    assert_eq!(tok.pad_token_id().map(u64::from), reference["pad_token_id"].as_u64());
    let tokens = tok.template_tokens();
    let map = &reference["special_tokens_map"];
    assert_eq!(tokens.eos_token.as_deref(), map["eos_token"].as_str());
    assert_eq!(tokens.pad_token.as_deref(), map["pad_token"].as_str());
    assert_eq!(tokens.unk_token.as_deref(), map["unk_token"].as_str());
    assert_eq!(tokens.bos_token.as_deref(), map["bos_token"].as_str());
}

#[test]
fn chat_templates_render_like_apply_chat_template() {
    let tok = tokenizer();
    let reference = transformers_answers();
    for (i, chat) in chats().iter().enumerate() {
        let text = match chat.template {
            None => tok.apply_chat_template(&chat.messages, &chat.opts).unwrap(),
            Some(source) => ChatTemplate::new(source)
                .unwrap()
                .render(&chat.messages, &tok.template_tokens(), &chat.opts)
                .unwrap(),
        };
        let want = &reference["chats"][i];
        assert_eq!(text, want["text"].as_str().unwrap(), "rendered chat {i}");
        assert_eq!(tok.encode(&text, false).unwrap(), reference::ids(&want["ids"]), "ids of chat {i}");
    }
}

#[test]
fn model_type_and_class_select_the_pipeline_like_transformers() {
    for (i, (name, _, class, _)) in VARIANTS.iter().enumerate() {
        let want = &transformers_answers_all()[i + 1];
        assert_eq!(want["tokenizer_class"].as_str(), Some(*class), "transformers' class for {name}");
        let tok = TextTokenizer::from_dir(&variant_dir(name)).unwrap();
        for (j, text) in TEXTS.iter().enumerate() {
            assert_eq!(
                tok.encode(text, true).unwrap(),
                reference::ids(&want["encode"][j]),
                "{name}: ids of {text:?}"
            );
        }
        for (j, ids) in decode_inputs().iter().enumerate() {
            assert_eq!(
                tok.decode(ids, false).unwrap(),
                want["decode_keep"][j].as_str().unwrap(),
                "{name}: decode {ids:?}"
            );
        }
        let tokens = tok.template_tokens();
        assert_eq!(
            tokens.unk_token.as_deref(),
            want["special_tokens_map"]["unk_token"].as_str(),
            "{name}: unk"
        );
        assert_eq!(tok.eos_token().map(|t| t.id as u64), want["eos_token_id"].as_u64(), "{name}: eos");
        assert_eq!(tok.pad_token_id().map(u64::from), want["pad_token_id"].as_u64(), "{name}: pad");
    }
}

#[test]
fn stop_ids_gather_generation_config_config_and_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixture_dir().join(file), dir.path().join(file)).unwrap();
    }
    std::fs::write(dir.path().join("config.json"), r#"{"eos_token_id": 151643}"#).unwrap();
    let base = TextTokenizer::from_dir(dir.path()).unwrap();
    // config.json first, then the tokenizer's eos_token (<|im_end|>).
    assert_eq!(base.eos_token_ids(), [151643, 151645]);
    std::fs::write(dir.path().join("generation_config.json"), r#"{"eos_token_id": [151645, 151643]}"#)
        .unwrap();
    let instruct = TextTokenizer::from_dir(dir.path()).unwrap();
    assert_eq!(instruct.eos_token_ids(), [151645, 151643]);
}

#[test]
fn chat_template_jinja_file_overrides_tokenizer_config() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixture_dir().join(file), dir.path().join(file)).unwrap();
    }
    std::fs::write(
        dir.path().join("chat_template.jinja"),
        "{% for m in messages %}[{{ m.content }}]{% endfor %}",
    )
    .unwrap();
    let tok = TextTokenizer::from_dir(dir.path()).unwrap();
    assert_eq!(tok.apply_chat_template(&[ChatMessage::user("x")], &RenderOptions::default()).unwrap(), "[x]");
}

#[test]
fn bad_tokenizer_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = TextTokenizer::from_dir(dir.path()).unwrap_err();
    assert!(err.to_string().contains("has no tokenizer.json"), "{err}");
    std::fs::copy(fixture_dir().join("tokenizer.json"), dir.path().join("tokenizer.json")).unwrap();
    std::fs::write(dir.path().join("tokenizer_config.json"), r#"{"eos_token": "<|nope|>"}"#).unwrap();
    let err = TextTokenizer::from_dir(dir.path()).unwrap_err();
    assert!(err.to_string().contains("eos_token '<|nope|>'"), "{err}");
    std::fs::write(dir.path().join("tokenizer_config.json"), r#"{"chat_template": "{% if %}"}"#).unwrap();
    let err = TextTokenizer::from_dir(dir.path()).unwrap_err();
    assert!(format!("{err:#}").contains("chat template does not compile"), "{err:#}");
}
