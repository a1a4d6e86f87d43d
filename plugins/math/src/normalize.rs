//! Normal forms of answers.
//!
//! [`normalize`] removes what does not change an answer: `$…$`, `\(…\)`,
//! `\[…\]` and `\text{…}` wrappers, units written as `\text{…}` after a
//! number, `\left`/`\right`, LaTeX spacing, degree signs, dollar signs, a
//! final period and all whitespace; `\dfrac`/`\tfrac`/`\cfrac` become
//! `\frac`. [`crate::value`] then reads the value of what is left.
//!
//! Callers bound the input ([`crate::verify::MAX_ANSWER_BYTES`]): the
//! unwrapping loops here are quadratic in the worst case, and nothing here
//! recurses.

use crate::value::parse_number;

/// The normal form of an answer (see the module docs).
pub fn normalize(answer: &str) -> String {
    let mut s = answer.trim().to_string();
    // Unwrap whole-answer wrappers until none is left.
    loop {
        let before = s.clone();
        for (open, close) in [("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")] {
            if s.len() >= open.len() + close.len() && s.starts_with(open) && s.ends_with(close) {
                s = s[open.len()..s.len() - close.len()].trim().to_string();
            }
        }
        if let Some(inner) = whole_command(&s) {
            s = inner.trim().to_string();
        }
        s = s.trim_end_matches('.').trim().to_string();
        if s == before {
            break;
        }
    }
    s = drop_text_units(&s);
    for (from, to) in [
        ("\\left", ""),
        ("\\right", ""),
        ("\\displaystyle", ""),
        ("\\!", ""),
        ("\\,", ""),
        ("\\;", ""),
        ("\\:", ""),
        ("\\ ", ""),
        ("^{\\circ}", ""),
        ("^\\circ", ""),
        ("\\circ", ""),
        ("°", ""),
        ("\\%", "%"),
        ("\\$", ""),
        ("$", ""),
        ("\\dfrac", "\\frac"),
        ("\\tfrac", "\\frac"),
        ("\\cfrac", "\\frac"),
        ("−", "-"),
    ] {
        s = s.replace(from, to);
    }
    s = unwrap_text_commands(&s);
    s.retain(|c| !c.is_whitespace());
    s
}

const TEXT_COMMANDS: [&str; 7] =
    ["\\text{", "\\textbf{", "\\textnormal{", "\\textit{", "\\mathrm{", "\\mathbf{", "\\mbox{"];

/// The argument when the whole string is one `\text{…}`-like command.
fn whole_command(s: &str) -> Option<&str> {
    let cmd = TEXT_COMMANDS.iter().find(|c| s.starts_with(**c))?;
    let inner = &s[cmd.len()..];
    let end = matching_brace(inner)?;
    (end == inner.len() - 1).then(|| &inner[..end])
}

/// `5\text{ cm}` → `5`: a unit after a number is not part of the answer.
fn drop_text_units(s: &str) -> String {
    if let Some(at) = TEXT_COMMANDS.iter().filter_map(|c| s.find(c)).min() {
        let head = s[..at].trim();
        if !head.is_empty() && parse_number(&normalize_plain(head)).is_some() {
            return head.to_string();
        }
    }
    s.to_string()
}

fn normalize_plain(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// `\text{abc}` → `abc` everywhere.
fn unwrap_text_commands(s: &str) -> String {
    let mut out = s.to_string();
    while let Some((at, cmd)) = TEXT_COMMANDS.iter().filter_map(|c| out.find(c).map(|i| (i, *c))).min() {
        let inner_start = at + cmd.len();
        let Some(end) = matching_brace(&out[inner_start..]) else { break };
        let inner = out[inner_start..inner_start + end].to_string();
        out.replace_range(at..inner_start + end + 1, &inner);
    }
    out
}

/// Index of the `}` closing an already opened brace at the start of `s`.
fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 1;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_and_spacing_are_removed() {
        assert_eq!(normalize(" $8$ "), "8");
        assert_eq!(normalize("\\(\\frac{1}{2}\\)"), "\\frac{1}{2}");
        assert_eq!(normalize("\\text{8}"), "8");
        assert_eq!(normalize("$\\text{(B)}$."), "(B)");
        assert_eq!(normalize("12\\text{ cm}"), "12");
        assert_eq!(normalize("\\$5"), "5");
        assert_eq!(normalize("90^\\circ"), "90");
        assert_eq!(normalize("\\left( 1, 2 \\right)"), "(1,2)");
        assert_eq!(normalize("x \\text{ and } y"), "xandy");
        assert_eq!(normalize("\\cfrac{1}{3}"), "\\frac{1}{3}");
        assert_eq!(normalize("125\\textnormal{ miles}"), "125");
        assert_eq!(normalize("15\\mbox{ cm}^2"), "15");
    }
}
