//! Chat templates from `tokenizer_config.json`, rendered the way
//! transformers' `apply_chat_template` renders them.
//!
//! transformers compiles the Jinja source with `trim_blocks` and
//! `lstrip_blocks`, adds `raise_exception`, `strftime_now` and a `tojson` that
//! does not HTML-escape, and passes `messages`, `tools=None`,
//! `documents=None`, `add_generation_prompt` and the special-token strings
//! (`bos_token`, `eos_token`, ...). [`ChatTemplate`] does the same over
//! minijinja, with minijinja-contrib's Python string/dict methods
//! (`.strip()`, `.split()`, `.items()`, ...). `continue_final_message` is
//! implemented as transformers does it: a marker is appended to the last
//! message and the rendering is cut at that marker.

mod pyjson;
mod strftime;

use minijinja::value::{Serde, Value};
use minijinja::{Environment, Error, ErrorKind};

use crate::error::{bail, ensure, CoreError};

/// The name the single template is registered under.
const TEMPLATE_NAME: &str = "chat_template";
/// transformers' marker for `continue_final_message` (note the trailing space).
const CONTINUE_TAG: &str = "CONTINUE_FINAL_MESSAGE_TAG ";

/// One chat turn, as in the OpenAI / transformers message format: the sdk's
/// type, so a task's chat prompt renders without a conversion.
pub use tz_sdk::ChatMessage;

/// The special-token strings a template may print (`{{ eos_token }}`). A
/// `None` is left undefined in the template, as transformers leaves unset
/// tokens out of its `special_tokens_map`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateTokens {
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub pad_token: Option<String>,
    pub unk_token: Option<String>,
}

/// How to render a conversation.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Append the header that opens the assistant's reply.
    pub add_generation_prompt: bool,
    /// Leave the last message open so the model continues it (TinyZero's
    /// "Let me solve this step by step.\n<think>" prefix). Incompatible with
    /// `add_generation_prompt`, as in transformers.
    pub continue_final_message: bool,
    /// Further template variables (`enable_thinking`, `tools`, ...); they
    /// override the special tokens of the same name.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A compiled chat template.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
}

impl ChatTemplate {
    /// Compiles a Jinja chat template; a syntax error names line and cause.
    pub fn new(source: &str) -> crate::Result<Self> {
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .expect("default delimiters are valid");
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", pyjson::tojson_filter);
        env.add_function("raise_exception", |msg: String| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_function("strftime_now", |format: String| strftime::strftime_now(&format));
        env.add_template_owned(TEMPLATE_NAME, neutralize_generation_tags(source)).map_err(|e| {
            CoreError::ChatTemplate(format!("chat template does not compile: {}", describe(&e)))
        })?;
        Ok(ChatTemplate { env, source: source.to_string() })
    }

    /// The Jinja source as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders `messages` into the prompt text.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        tokens: &TemplateTokens,
        opts: &RenderOptions,
    ) -> crate::Result<String> {
        if !opts.continue_final_message {
            return self.render_raw(messages, tokens, opts);
        }
        ensure!(
            !opts.add_generation_prompt,
            ChatTemplate: "continue_final_message and add_generation_prompt are not compatible: continue the final message, or \
             open a new assistant message, not both"
        );
        let Some(last) = messages.last() else {
            bail!(ChatTemplate: "continue_final_message is set but the conversation is empty");
        };
        ensure!(
            self.source.contains("content"),
            ChatTemplate: "continue_final_message is set but the chat template never reads a message's `content`"
        );
        let mut tagged = messages.to_vec();
        tagged.last_mut().expect("non-empty").content.push_str(CONTINUE_TAG);
        let rendered = self.render_raw(&tagged, tokens, opts)?;
        let marker = CONTINUE_TAG.trim();
        let tag_at = match rendered.rfind(marker) {
            Some(at) if rendered.contains(last.content.trim()) => at,
            _ => bail!(
                ChatTemplate: "continue_final_message is set but the final message does not appear in the rendered chat (the \
                 template drops or rewrites it)"
            ),
        };
        if rendered[tag_at..].starts_with(CONTINUE_TAG) {
            Ok(rendered[..tag_at].to_string())
        } else {
            // The template trimmed the message's trailing whitespace.
            Ok(rendered[..tag_at].trim_end().to_string())
        }
    }

    fn render_raw(
        &self,
        messages: &[ChatMessage],
        tokens: &TemplateTokens,
        opts: &RenderOptions,
    ) -> crate::Result<String> {
        let mut ctx = serde_json::Map::new();
        for (name, value) in [
            ("bos_token", &tokens.bos_token),
            ("eos_token", &tokens.eos_token),
            ("pad_token", &tokens.pad_token),
            ("unk_token", &tokens.unk_token),
        ] {
            if let Some(v) = value {
                ctx.insert(name.into(), serde_json::Value::String(v.clone()));
            }
        }
        ctx.extend(opts.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        ctx.insert("messages".into(), serde_json::to_value(messages)?);
        ctx.insert("add_generation_prompt".into(), opts.add_generation_prompt.into());
        // transformers passes these as None, so `tools is defined` holds.
        ctx.entry("tools").or_insert(serde_json::Value::Null);
        ctx.entry("documents").or_insert(serde_json::Value::Null);
        let template = self.env.get_template(TEMPLATE_NAME).expect("registered in new()");
        template
            .render(Value::from(Serde(&ctx)))
            .map_err(|e| CoreError::ChatTemplate(format!("chat template: {}", describe(&e))))
    }
}

/// One line for a minijinja error: its message (a `raise_exception` text
/// verbatim) and the template line.
fn describe(e: &Error) -> String {
    let msg = e.detail().map(str::to_string).unwrap_or_else(|| e.kind().to_string());
    match e.line() {
        Some(line) => format!("{msg} (template line {line})"),
        None => msg,
    }
}

/// transformers' `{% generation %}...{% endgeneration %}` marks assistant
/// text for masks; it renders its body unchanged. minijinja does not know the
/// tag, so it becomes `{% if true %}...{% endif %}`, which keeps the
/// whitespace-control markers and therefore the output.
fn neutralize_generation_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("%}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let lead = if inner.starts_with(['-', '+']) { &inner[..1] } else { "" };
        let body = &inner[lead.len()..];
        let trail = if body.ends_with(['-', '+']) { &body[body.len() - 1..] } else { "" };
        let word = body[..body.len() - trail.len()].trim();
        match word {
            "generation" => out.push_str(&format!("{{%{lead} if true {trail}%}}")),
            "endgeneration" => out.push_str(&format!("{{%{lead} endif {trail}%}}")),
            _ => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

    fn render(source: &str, messages: &[ChatMessage], opts: RenderOptions) -> crate::Result<String> {
        ChatTemplate::new(source)?.render(messages, &TemplateTokens::default(), &opts)
    }

    #[test]
    fn chatml_with_generation_prompt() {
        let out = render(
            CHATML,
            &[ChatMessage::user("hi")],
            RenderOptions { add_generation_prompt: true, ..Default::default() },
        )
        .unwrap();
        assert_eq!(out, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    }

    #[test]
    fn continue_final_message_cuts_after_the_last_content() {
        let msgs = [ChatMessage::user("hi"), ChatMessage::assistant("Let me think.\n<think>")];
        let out = render(CHATML, &msgs, RenderOptions { continue_final_message: true, ..Default::default() })
            .unwrap();
        assert_eq!(out, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nLet me think.\n<think>");
        // A template that strips the content drops the trailing space too.
        let strip = "{% for m in messages %}[{{ m.content.strip() }}]{% endfor %}";
        let msgs = [ChatMessage::assistant("open ")];
        let out = render(strip, &msgs, RenderOptions { continue_final_message: true, ..Default::default() })
            .unwrap();
        assert_eq!(out, "[open");
    }

    #[test]
    fn continue_final_message_and_generation_prompt_conflict() {
        let err = render(
            CHATML,
            &[ChatMessage::user("hi")],
            RenderOptions { continue_final_message: true, add_generation_prompt: true, ..Default::default() },
        )
        .unwrap_err();
        assert!(err.to_string().contains("not compatible"), "{err}");
    }

    #[test]
    fn raise_exception_message_reaches_the_caller() {
        let source = "{% if messages[0].role != 'user' %}{{ raise_exception('Conversation must start with user') }}{% endif %}";
        let err = render(source, &[ChatMessage::system("s")], RenderOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), "chat template: Conversation must start with user (template line 1)");
    }

    #[test]
    fn special_tokens_extra_variables_and_tools_none() {
        let t = ChatTemplate::new(
            "{{ bos_token }}|{{ eos_token is defined }}|{{ tools is none }}|{{ documents is defined }}|{{ flag }}",
        )
        .unwrap();
        let tokens = TemplateTokens { bos_token: Some("<s>".into()), ..Default::default() };
        let mut extra = serde_json::Map::new();
        extra.insert("flag".into(), serde_json::json!(false));
        let out = t.render(&[], &tokens, &RenderOptions { extra, ..Default::default() }).unwrap();
        // Booleans print as Python does.
        assert_eq!(out, "<s>|False|True|True|False");
    }

    #[test]
    fn trim_and_lstrip_blocks_match_jinja_settings() {
        let source = "{% for m in messages %}\n    {% if m.role == 'user' %}\nU:{{ m.content }}\n    {% endif %}\n{% endfor %}";
        let out = render(source, &[ChatMessage::user("a"), ChatMessage::user("b")], RenderOptions::default())
            .unwrap();
        assert_eq!(out, "U:a\nU:b\n");
    }

    #[test]
    fn generation_tags_render_their_body() {
        let source =
            "{% for m in messages %}{%- generation -%} {{ m.content }} {%- endgeneration %}{% endfor %}";
        assert_eq!(
            neutralize_generation_tags(source),
            "{% for m in messages %}{%- if true -%} {{ m.content }} {%- endif %}{% endfor %}"
        );
        assert_eq!(render(source, &[ChatMessage::assistant("x")], RenderOptions::default()).unwrap(), "x");
        // Degenerate tags pass through untouched (and do not panic).
        assert_eq!(neutralize_generation_tags("{%-%}{%%}{% x"), "{%-%}{%%}{% x");
    }

    #[test]
    fn syntax_error_is_reported_not_panicked() {
        let err = ChatTemplate::new("{% for m in messages %}").unwrap_err();
        assert!(err.to_string().starts_with("chat template does not compile"), "{err}");
    }
}
