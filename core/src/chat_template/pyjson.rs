//! `tojson` as transformers defines it for chat templates: Python's
//! `json.dumps(x, ensure_ascii=False, indent=None, separators=None,
//! sort_keys=False)`.
//!
//! Why not minijinja's own `tojson`: it HTML-escapes `<`, `>`, `&` and `'`
//! and writes compact JSON (`{"a":1}`), while Python writes `{"a": 1}`. Tool
//! schemas rendered into a prompt must be byte-identical to what transformers
//! renders, or the model sees a different prompt than it was trained on.

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// Formatting options with Python's defaults.
struct DumpOptions {
    ensure_ascii: bool,
    indent: Option<String>,
    item_separator: String,
    key_separator: String,
    sort_keys: bool,
}

/// The `tojson` filter registered in the chat-template environment.
pub(crate) fn tojson_filter(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    let indent: Option<Value> = kwargs.get("indent")?;
    let separators: Option<Value> = kwargs.get("separators")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;

    let indent = match indent {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) if v.is_integer() => Some(" ".repeat(i64::try_from(v)?.max(0) as usize)),
        Some(v) => match v.as_str() {
            Some(s) => Some(s.to_string()),
            None => return Err(invalid("tojson: indent must be an integer or a string")),
        },
    };
    // Python switches the item separator to "," when indenting.
    let (mut item_separator, mut key_separator) = if indent.is_some() {
        (",".to_string(), ": ".to_string())
    } else {
        (", ".to_string(), ": ".to_string())
    };
    if let Some(seps) = separators.filter(|s| !s.is_none()) {
        let parts: Vec<Value> = seps.try_iter()?.collect();
        match parts.as_slice() {
            [item, key] if item.as_str().is_some() && key.as_str().is_some() => {
                item_separator = item.as_str().unwrap_or_default().to_string();
                key_separator = key.as_str().unwrap_or_default().to_string();
            }
            _ => return Err(invalid("tojson: separators must be a pair of strings")),
        }
    }
    let opts = DumpOptions {
        ensure_ascii: ensure_ascii.unwrap_or(false),
        indent,
        item_separator,
        key_separator,
        sort_keys: sort_keys.unwrap_or(false),
    };
    let mut out = String::new();
    write_value(&mut out, value, &opts, 0)?;
    Ok(out)
}

fn invalid(msg: &str) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.to_string())
}

fn write_value(out: &mut String, value: &Value, opts: &DumpOptions, depth: usize) -> Result<(), Error> {
    match value.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Undefined => return Err(invalid("tojson: cannot serialize an undefined value")),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number if value.is_integer() => out.push_str(&value.to_string()),
        ValueKind::Number => out.push_str(&python_float_repr(f64::try_from(value.clone())?)),
        ValueKind::String => write_string(out, value.as_str().unwrap_or_default(), opts.ensure_ascii),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            write_container(out, '[', ']', items.len(), opts, depth, |out, i| {
                write_value(out, &items[i], opts, depth + 1)
            })?;
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = value.try_iter()?.collect();
            if opts.sort_keys {
                keys.sort_by_key(|a| a.to_string());
            }
            write_container(out, '{', '}', keys.len(), opts, depth, |out, i| {
                let key = &keys[i];
                // JSON keys are strings; Python converts numbers and bools.
                let key_text = match key.kind() {
                    ValueKind::String => key.as_str().unwrap_or_default().to_string(),
                    ValueKind::None => "null".to_string(),
                    ValueKind::Bool => (if key.is_true() { "true" } else { "false" }).to_string(),
                    _ => key.to_string(),
                };
                write_string(out, &key_text, opts.ensure_ascii);
                out.push_str(&opts.key_separator);
                write_value(out, &value.get_item(key)?, opts, depth + 1)
            })?;
        }
        other => return Err(invalid(&format!("tojson: cannot serialize a value of kind {other}"))),
    }
    Ok(())
}

/// Writes `[a, b]` / `{..}` with Python's separators and indentation.
fn write_container(
    out: &mut String,
    open: char,
    close: char,
    len: usize,
    opts: &DumpOptions,
    depth: usize,
    mut write_item: impl FnMut(&mut String, usize) -> Result<(), Error>,
) -> Result<(), Error> {
    out.push(open);
    if len == 0 {
        out.push(close);
        return Ok(());
    }
    for i in 0..len {
        if i > 0 {
            out.push_str(&opts.item_separator);
        }
        if let Some(indent) = &opts.indent {
            out.push('\n');
            out.push_str(&indent.repeat(depth + 1));
        }
        write_item(out, i)?;
    }
    if let Some(indent) = &opts.indent {
        out.push('\n');
        out.push_str(&indent.repeat(depth));
    }
    out.push(close);
    Ok(())
}

/// A JSON string literal with Python's escapes (lower-case hex, `\uXXXX`
/// UTF-16 units when `ensure_ascii`).
fn write_string(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ensure_ascii && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{:04x}", unit));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: the shortest round-trip digits, positional for
/// exponents in [-4, 16), else `d.ddde+XX`.
pub(crate) fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "-1.5e-7".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if mantissa.starts_with('-') { "-" } else { "" };
    let digits: String = mantissa.trim_start_matches('-').chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        if exp < 0 {
            format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                format!("{sign}{digits}{}.0", "0".repeat(int_len - digits.len()))
            } else {
                format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
            }
        }
    } else {
        let mantissa =
            if digits.len() == 1 { digits.clone() } else { format!("{}.{}", &digits[..1], &digits[1..]) };
        format!("{sign}{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python_repr() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.5, "0.5"),
            (123.456, "123.456"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for (x, want) in cases {
            assert_eq!(python_float_repr(x), want, "repr of {x:e}");
        }
    }

    fn render(template: &str, ctx: Value) -> String {
        let mut env = minijinja::Environment::new();
        env.add_filter("tojson", tojson_filter);
        env.render_str(template, ctx).unwrap()
    }

    #[test]
    fn tojson_matches_python_json_dumps_without_html_escaping() {
        #[derive(serde::Serialize)]
        struct Doc {
            b: &'static str,
            a: (i32, f64, Option<i32>, bool),
            c: &'static str,
        }
        let v =
            Value::from(minijinja::value::Serde(Doc { b: "<a&b>", a: (1, 2.5, None, true), c: "é\n\"x\"" }));
        // Map order follows insertion (minijinja `preserve_order`), like a Python dict.
        assert_eq!(
            render("{{ v | tojson }}", minijinja::context! { v => v.clone() }),
            r#"{"b": "<a&b>", "a": [1, 2.5, null, true], "c": "é\n\"x\""}"#
        );
        assert_eq!(
            render(
                "{{ v | tojson(sort_keys=true, ensure_ascii=true) }}",
                minijinja::context! { v => v.clone() }
            ),
            r#"{"a": [1, 2.5, null, true], "b": "<a&b>", "c": "\u00e9\n\"x\""}"#
        );
        assert_eq!(
            render(
                "{{ v | tojson(indent=2) }}",
                minijinja::context! { v => Value::from(minijinja::value::Serde(serde_json::json!({"k": [1, {}], "e": []}))) }
            ),
            "{\n  \"k\": [\n    1,\n    {}\n  ],\n  \"e\": []\n}"
        );
        assert_eq!(
            render("{{ v | tojson(separators=[',', ':']) }}", minijinja::context! { v => vec![1, 2] }),
            "[1,2]"
        );
    }
}
