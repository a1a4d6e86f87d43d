//! Normal forms of answers, and their numeric values.
//!
//! [`normalize`] removes what does not change an answer: `$…$`, `\(…\)`,
//! `\[…\]` and `\text{…}` wrappers, units written as `\text{…}` after a
//! number, `\left`/`\right`, LaTeX spacing, degree signs, dollar signs, a
//! final period and all whitespace; `\dfrac`/`\tfrac` become `\frac`.
//! [`parse_number`] then reads integers, decimals, thousands separators
//! (`1,234`), fractions (`3/4`, `\frac{3}{4}`, `\frac34`, `1\frac{1}{2}`),
//! signs and a trailing `%`, exactly where it can (as a fraction of `i128`).

/// An exact fraction in lowest terms, positive denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    pub num: i128,
    pub den: i128,
}

impl Ratio {
    pub fn new(num: i128, den: i128) -> Option<Ratio> {
        if den == 0 {
            return None;
        }
        let g = gcd(num.unsigned_abs(), den.unsigned_abs()).max(1) as i128;
        let sign = if den < 0 { -1 } else { 1 };
        Some(Ratio { num: num / g * sign, den: den / g * sign })
    }

    fn add(self, o: Ratio) -> Option<Ratio> {
        Ratio::new(
            self.num.checked_mul(o.den)?.checked_add(o.num.checked_mul(self.den)?)?,
            self.den.checked_mul(o.den)?,
        )
    }

    fn div(self, o: Ratio) -> Option<Ratio> {
        Ratio::new(self.num.checked_mul(o.den)?, self.den.checked_mul(o.num)?)
    }

    pub fn is_integer(self) -> bool {
        self.den == 1
    }

    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A numeric answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number {
    /// The exact value, when it fits.
    pub exact: Option<Ratio>,
    pub approx: f64,
    /// Written with a trailing `%`.
    pub percent: bool,
}

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
        ("−", "-"),
    ] {
        s = s.replace(from, to);
    }
    s = unwrap_text_commands(&s);
    s.retain(|c| !c.is_whitespace());
    s
}

const TEXT_COMMANDS: [&str; 4] = ["\\text{", "\\textbf{", "\\mathrm{", "\\mbox{"];

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

/// The numeric value of a normalized answer, if it is a number.
pub fn parse_number(s: &str) -> Option<Number> {
    let (s, percent) = match s.strip_suffix('%') {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (exact, approx) = parse_unsigned(body)?;
    let sign = if negative { -1.0 } else { 1.0 };
    let exact = match exact {
        Some(r) if negative => Ratio::new(-r.num, r.den),
        other => other,
    };
    Some(Number { exact, approx: sign * approx, percent })
}

/// A non-negative number: decimal, `a/b`, `\frac{a}{b}` or `n\frac{a}{b}`.
fn parse_unsigned(s: &str) -> Option<(Option<Ratio>, f64)> {
    if let Some(at) = s.find("\\frac") {
        let whole = if at == 0 { None } else { Some(parse_decimal(&s[..at])?) };
        let (a, b) = frac_args(&s[at + "\\frac".len()..])?;
        // `\frac{-1}{2}` is allowed: parse the arguments as signed numbers.
        let (na, nb) = (parse_number(a)?, parse_number(b)?);
        if na.percent || nb.percent {
            return None;
        }
        let frac = na.exact.zip(nb.exact).and_then(|(x, y)| x.div(y));
        let frac_approx = na.approx / nb.approx;
        return Some(match whole {
            None => (frac, frac_approx),
            Some((w, wa)) => (w.zip(frac).and_then(|(w, f)| w.add(f)), wa + frac_approx),
        });
    }
    if let Some((a, b)) = s.split_once('/') {
        let ((ea, aa), (eb, ab)) = (parse_decimal(a)?, parse_decimal(b)?);
        return Some((ea.zip(eb).and_then(|(x, y)| x.div(y)), aa / ab));
    }
    parse_decimal(s)
}

/// `{a}{b}` or the shorthand `34` (two single characters) after `\frac`.
fn frac_args(s: &str) -> Option<(&str, &str)> {
    let (a, rest) = brace_or_char(s)?;
    let (b, rest) = brace_or_char(rest)?;
    rest.is_empty().then_some((a, b))
}

fn brace_or_char(s: &str) -> Option<(&str, &str)> {
    if let Some(inner) = s.strip_prefix('{') {
        let end = matching_brace(inner)?;
        Some((&inner[..end], &inner[end + 1..]))
    } else {
        let c = s.chars().next()?;
        Some((&s[..c.len_utf8()], &s[c.len_utf8()..]))
    }
}

/// Digits with an optional decimal point and thousands separators (`1,234.5`).
fn parse_decimal(s: &str) -> Option<(Option<Ratio>, f64)> {
    let (int_part, frac_part) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let int_digits: String = if int_part.contains(',') {
        let groups: Vec<&str> = int_part.split(',').collect();
        let valid = (1..=3).contains(&groups[0].len()) && groups[1..].iter().all(|g| g.len() == 3);
        if !valid {
            return None;
        }
        groups.concat()
    } else {
        int_part.to_string()
    };
    if !int_digits.bytes().chain(frac_part.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let approx: f64 =
        format!("{}.{}", if int_digits.is_empty() { "0" } else { &int_digits }, frac_part).parse().ok()?;
    let exact = (|| {
        let digits = format!("{int_digits}{frac_part}");
        let num: i128 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
        let den = 10i128.checked_pow(frac_part.len() as u32)?;
        Ratio::new(num, den)
    })();
    Some((exact, approx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(s: &str) -> Option<Ratio> {
        parse_number(&normalize(s)).and_then(|n| n.exact)
    }

    fn r(num: i128, den: i128) -> Option<Ratio> {
        Ratio::new(num, den)
    }

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
    }

    #[test]
    fn numbers_in_many_spellings() {
        assert_eq!(exact("8"), r(8, 1));
        assert_eq!(exact("-8"), r(-8, 1));
        assert_eq!(exact("1,234"), r(1234, 1));
        assert_eq!(exact("1,234,567.5"), r(2469135, 2));
        assert_eq!(exact("0.5"), r(1, 2));
        assert_eq!(exact(".5"), r(1, 2));
        assert_eq!(exact("3/4"), r(3, 4));
        assert_eq!(exact("\\frac{3}{4}"), r(3, 4));
        assert_eq!(exact("\\dfrac{3}{4}"), r(3, 4));
        assert_eq!(exact("\\frac34"), r(3, 4));
        assert_eq!(exact("-\\frac{1}{2}"), r(-1, 2));
        assert_eq!(exact("\\frac{-1}{2}"), r(-1, 2));
        assert_eq!(exact("1\\frac{1}{2}"), r(3, 2));
        assert_eq!(parse_number(&normalize("50\\%")).map(|n| (n.exact, n.percent)), Some((r(50, 1), true)));
    }

    #[test]
    fn not_numbers() {
        for s in ["1,2", "12,34", "x+1", "(1,2)", "", "-", "1/", "\\frac{1}", "1.2.3", "٣"] {
            assert!(parse_number(&normalize(s)).is_none(), "{s}");
        }
    }

    #[test]
    fn division_by_zero_has_no_exact_value() {
        let n = parse_number("1/0").unwrap();
        assert_eq!(n.exact, None);
        assert!(n.approx.is_infinite());
    }
}
