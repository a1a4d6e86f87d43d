//! The numeric value of a normalized answer: a small evaluator of constant
//! expressions, exact where it can be.
//!
//! It reads what models write for a number: literals (`1,234.5`, `.5`, and
//! the decimal comma `1000,99` / `0,111` when the answer is a single
//! literal), `+ - * /`, `\cdot`, `\times`, `\div`, powers `^`, parentheses,
//! `\frac{a}{b}` (and the shorthand `\frac34`), mixed numbers
//! (`1\frac{1}{2}`), `\sqrt{x}`, `\sqrt x`, `\sqrt[n]{x}`, `\pi` and implicit
//! multiplication (`3\sqrt{13}`, `\frac{9}{4}\pi`). Values are exact
//! fractions of `i128` while they can be, else `f64`. Anything else — a
//! variable, a comma inside an expression, an unknown command — is not a
//! number, and the verifier compares the text instead.
//!
//! Model output is untrusted: the evaluator nests at most [`MAX_DEPTH`]
//! levels (brackets, `\frac`, `\sqrt`, signs, powers) and gives up beyond,
//! so no input can overflow the stack; it never loops without consuming
//! input, so time is linear in the input.

/// Nesting levels the evaluator follows before it gives up on a value.
pub const MAX_DEPTH: usize = 64;

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
        Some(Ratio { num: (num / g).checked_mul(sign)?, den: (den / g).checked_mul(sign)? })
    }

    pub fn integer(n: i128) -> Ratio {
        Ratio { num: n, den: 1 }
    }

    fn add(self, o: Ratio) -> Option<Ratio> {
        Ratio::new(
            self.num.checked_mul(o.den)?.checked_add(o.num.checked_mul(self.den)?)?,
            self.den.checked_mul(o.den)?,
        )
    }

    fn mul(self, o: Ratio) -> Option<Ratio> {
        Ratio::new(self.num.checked_mul(o.num)?, self.den.checked_mul(o.den)?)
    }

    fn recip(self) -> Option<Ratio> {
        Ratio::new(self.den, self.num)
    }

    fn neg(self) -> Option<Ratio> {
        Ratio::new(self.num.checked_neg()?, self.den)
    }

    fn pow(self, e: i128) -> Option<Ratio> {
        if e.unsigned_abs() > 128 {
            return None;
        }
        let base = if e < 0 { self.recip()? } else { self };
        let mut out = Ratio::integer(1);
        for _ in 0..e.unsigned_abs() {
            out = out.mul(base)?;
        }
        Some(out)
    }

    /// The exact `n`-th root, when numerator and denominator are perfect powers.
    fn root(self, n: u32) -> Option<Ratio> {
        if self.num < 0 && n % 2 == 0 {
            return None;
        }
        let r = |x: i128| {
            let guess = (x.unsigned_abs() as f64).powf(1.0 / n as f64).round() as i128;
            (guess - 1..=guess + 1)
                .find(|c| *c >= 0 && c.checked_pow(n) == Some(x.abs()))
                .map(|c| c * x.signum())
        };
        Ratio::new(r(self.num)?, r(self.den)?)
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

/// A value: exact when every step was, and always approximately.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Value {
    pub exact: Option<Ratio>,
    pub approx: f64,
}

impl Value {
    fn exact(r: Ratio) -> Value {
        Value { exact: Some(r), approx: r.to_f64() }
    }

    fn approx(x: f64) -> Value {
        Value { exact: None, approx: x }
    }

    fn combine(
        self,
        o: Value,
        exact: impl Fn(Ratio, Ratio) -> Option<Ratio>,
        approx: impl Fn(f64, f64) -> f64,
    ) -> Value {
        Value {
            exact: self.exact.zip(o.exact).and_then(|(a, b)| exact(a, b)),
            approx: approx(self.approx, o.approx),
        }
    }

    fn add(self, o: Value) -> Value {
        self.combine(o, Ratio::add, |a, b| a + b)
    }

    fn sub(self, o: Value) -> Value {
        self.add(o.neg())
    }

    fn mul(self, o: Value) -> Value {
        self.combine(o, Ratio::mul, |a, b| a * b)
    }

    fn div(self, o: Value) -> Value {
        self.combine(o, |a, b| a.mul(b.recip()?), |a, b| a / b)
    }

    fn neg(self) -> Value {
        Value { exact: self.exact.and_then(Ratio::neg), approx: -self.approx }
    }

    fn pow(self, e: Value) -> Value {
        let exact = match (self.exact, e.exact) {
            (Some(b), Some(x)) if x.is_integer() => b.pow(x.num),
            (Some(b), Some(x)) if x.num == 1 && x.den <= 16 => b.root(x.den as u32),
            _ => None,
        };
        Value { exact, approx: self.approx.powf(e.approx) }
    }

    fn root(self, n: u32) -> Option<Value> {
        if n == 0 || (self.approx < 0.0 && n % 2 == 0) {
            return None;
        }
        let approx = if n == 2 {
            self.approx.sqrt()
        } else {
            self.approx.signum() * self.approx.abs().powf(1.0 / n as f64)
        };
        Some(Value { exact: self.exact.and_then(|r| r.root(n)), approx })
    }
}

/// A numeric answer: its value and whether it was written as a percentage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number {
    pub exact: Option<Ratio>,
    pub approx: f64,
    /// Written with `%` (or `percent`, `percentage`, `pct`).
    pub percent: bool,
}

/// Suffixes that make a number a percentage (`28%`, `28percent`).
const PERCENT: [&str; 4] = ["%", "percentage", "percent", "pct"];

/// The numeric value of a normalized answer (no whitespace), if it is a number.
pub fn parse_number(s: &str) -> Option<Number> {
    let lower_end = |suffix: &str| {
        s.len() > suffix.len()
            && s.is_char_boundary(s.len() - suffix.len())
            && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    let (body, percent) = match PERCENT.iter().find(|p| lower_end(p)) {
        Some(p) => (&s[..s.len() - p.len()], true),
        None => (s, false),
    };
    let value = whole_literal(body).or_else(|| evaluate(body))?;
    value.approx.is_finite().then_some(Number { exact: value.exact, approx: value.approx, percent })
}

/// A single signed literal, where commas are thousands separators
/// (`7,425,000`, `1,000.99`) or a decimal comma (`1000,99`, `0,111`, `1,22`),
/// as Math-Verify reads them: groups of three after a first group of one to
/// three digits not starting with 0 are thousands; one comma otherwise is a
/// decimal point.
fn whole_literal(s: &str) -> Option<Value> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if !body.contains(',') {
        return None;
    }
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let groups: Vec<&str> = int_part.split(',').collect();
    let thousands = (1..=3).contains(&groups[0].len())
        && !groups[0].starts_with('0')
        && groups[1..].iter().all(|g| g.len() == 3);
    let plain = if thousands {
        format!("{}.{}", groups.concat(), frac_part.unwrap_or(""))
    } else if groups.len() == 2 && frac_part.is_none() && !groups[0].is_empty() && !groups[1].is_empty() {
        format!("{}.{}", groups[0], groups[1])
    } else {
        return None;
    };
    let v = decimal(&plain)?;
    Some(if negative { v.neg() } else { v })
}

/// `123`, `12.5`, `.5`, `5.` as an exact value.
fn decimal(s: &str) -> Option<Value> {
    let (int_digits, frac_digits) = s.split_once('.').unwrap_or((s, ""));
    if (int_digits.is_empty() && frac_digits.is_empty())
        || !int_digits.bytes().chain(frac_digits.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let approx: f64 =
        format!("{}.{frac_digits}0", if int_digits.is_empty() { "0" } else { int_digits }).parse().ok()?;
    let exact = (|| {
        let digits = format!("{int_digits}{frac_digits}");
        let num: i128 = digits
            .trim_start_matches('0')
            .parse()
            .ok()
            .or_else(|| digits.bytes().all(|b| b == b'0').then_some(0))?;
        Ratio::new(num, 10i128.checked_pow(frac_digits.len() as u32)?)
    })();
    Some(Value { exact, approx })
}

/// The value of a whole expression, or None.
fn evaluate(s: &str) -> Option<Value> {
    let mut p = Parser { s: s.as_bytes(), pos: 0, depth: 0 };
    let v = p.expr()?;
    (p.pos == p.s.len()).then_some(v)
}

/// Recursive descent over the bytes of a normalized answer, `depth` bounded.
struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.s[self.pos..].starts_with(token.as_bytes()) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// A command `\name` not followed by another letter (`\pi` but not `\pip`).
    fn eat_command(&mut self, name: &str) -> bool {
        let end = self.pos + name.len();
        let whole = self.s[self.pos..].starts_with(name.as_bytes())
            && !self.s.get(end).is_some_and(|c| c.is_ascii_alphabetic());
        if whole {
            self.pos = end;
        }
        whole
    }

    /// Runs `f` one nesting level deeper; None beyond [`MAX_DEPTH`].
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let out = f(self);
        self.depth -= 1;
        out
    }

    fn expr(&mut self) -> Option<Value> {
        let mut v = self.term()?;
        loop {
            if self.eat("+") {
                v = v.add(self.term()?);
            } else if self.eat("-") {
                v = v.sub(self.term()?);
            } else {
                return Some(v);
            }
        }
    }

    fn term(&mut self) -> Option<Value> {
        let mut v = self.signed()?;
        loop {
            if self.eat("*") || self.eat_command("\\cdot") || self.eat_command("\\times") {
                v = v.mul(self.signed()?);
            } else if self.eat("/") || self.eat_command("\\div") {
                v = v.div(self.signed()?);
            } else if self.starts_atom() {
                // Implicit multiplication: 3\sqrt{2}, 2(3+1), \frac{9}{4}\pi.
                v = v.mul(self.power()?);
            } else {
                return Some(v);
            }
        }
    }

    fn signed(&mut self) -> Option<Value> {
        if self.eat("-") {
            return self.nested(|p| p.signed()).map(Value::neg);
        }
        if self.eat("+") {
            return self.nested(|p| p.signed());
        }
        self.power()
    }

    fn power(&mut self) -> Option<Value> {
        let base = self.atom()?;
        if self.eat("^") {
            let e = self.nested(|p| p.argument())?;
            return Some(base.pow(e));
        }
        Some(base)
    }

    fn starts_atom(&self) -> bool {
        matches!(self.peek(), Some(b'(' | b'{' | b'\\')) && !self.s[self.pos..].starts_with(b"\\cdot")
    }

    fn atom(&mut self) -> Option<Value> {
        match self.peek()? {
            b'0'..=b'9' | b'.' => self.number(),
            b'(' => self.group(b'(', b')'),
            b'{' => self.group(b'{', b'}'),
            b'\\' if self.eat_command("\\frac") => self.nested(|p| Some(p.argument()?.div(p.argument()?))),
            b'\\' if self.eat_command("\\sqrt") => self.nested(|p| p.sqrt()),
            b'\\' if self.eat_command("\\pi") => Some(Value::approx(std::f64::consts::PI)),
            _ => None,
        }
    }

    fn group(&mut self, open: u8, close: u8) -> Option<Value> {
        self.pos += 1;
        let v = self.nested(|p| p.expr())?;
        (self.peek() == Some(close) && open != close).then(|| self.pos += 1)?;
        Some(v)
    }

    /// `\sqrt{x}`, `\sqrt x`, `\sqrt[n]{x}`.
    fn sqrt(&mut self) -> Option<Value> {
        let mut n = 2;
        if self.eat("[") {
            let start = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            n = std::str::from_utf8(&self.s[start..self.pos])
                .ok()?
                .parse()
                .ok()
                .filter(|n| (1..=64).contains(n))?;
            self.eat("]").then_some(())?;
        }
        self.argument()?.root(n)
    }

    /// A LaTeX argument: `{expr}`, one digit (`\frac34`), or one command (`\sqrt\pi`).
    fn argument(&mut self) -> Option<Value> {
        match self.peek()? {
            b'{' => self.group(b'{', b'}'),
            c @ b'0'..=b'9' => {
                self.pos += 1;
                Some(Value::exact(Ratio::integer((c - b'0') as i128)))
            }
            b'\\' => self.atom(),
            _ => None,
        }
    }

    /// Digits with an optional point; an integer followed by `\frac{a}{b}`
    /// of integers is a mixed number (`1\frac{1}{2}` = 3/2).
    fn number(&mut self) -> Option<Value> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'.') {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).ok()?;
        let v = decimal(text)?;
        if !text.contains('.') && self.s[self.pos..].starts_with(b"\\frac") {
            let save = self.pos;
            self.pos += "\\frac".len();
            let frac = self.nested(|p| Some((p.argument()?, p.argument()?)));
            match frac {
                Some((a, b))
                    if a.exact.is_some_and(Ratio::is_integer) && b.exact.is_some_and(Ratio::is_integer) =>
                {
                    return Some(v.add(a.div(b)));
                }
                _ => self.pos = save,
            }
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(s: &str) -> Option<Ratio> {
        parse_number(s).and_then(|n| n.exact)
    }

    fn approx(s: &str) -> Option<f64> {
        parse_number(s).map(|n| n.approx)
    }

    fn r(num: i128, den: i128) -> Option<Ratio> {
        Ratio::new(num, den)
    }

    #[test]
    fn literals_with_separators() {
        assert_eq!(exact("8"), r(8, 1));
        assert_eq!(exact("-8"), r(-8, 1));
        assert_eq!(exact("1,234"), r(1234, 1));
        assert_eq!(exact("7,425,000"), r(7_425_000, 1));
        assert_eq!(exact("1,234,567.5"), r(2469135, 2));
        assert_eq!(exact("0.5"), r(1, 2));
        assert_eq!(exact(".5"), r(1, 2));
        assert_eq!(exact("1000.0"), r(1000, 1));
    }

    #[test]
    fn decimal_commas() {
        assert_eq!(exact("1000,99"), r(100_099, 100));
        assert_eq!(exact("0,111"), r(111, 1000));
        assert_eq!(exact("1,22"), r(61, 50));
        assert_eq!(exact("-2,5"), r(-5, 2));
        for s in ["1,2,3", "12,345,6", ",5", "5,", "1,000,00.5"] {
            assert_eq!(parse_number(s), None, "{s}");
        }
    }

    #[test]
    fn fractions_and_mixed_numbers() {
        assert_eq!(exact("3/4"), r(3, 4));
        assert_eq!(exact("\\frac{3}{4}"), r(3, 4));
        assert_eq!(exact("\\frac34"), r(3, 4));
        assert_eq!(exact("\\frac3{3}"), r(1, 1));
        assert_eq!(exact("-\\frac{1}{2}"), r(-1, 2));
        assert_eq!(exact("\\frac{-1}{2}"), r(-1, 2));
        assert_eq!(exact("1\\frac{1}{2}"), r(3, 2));
        assert_eq!(exact("\\frac{\\frac{1}{2}}{3}"), r(1, 6));
        assert_eq!(exact("(\\frac{1}{3})"), r(1, 3));
    }

    #[test]
    fn roots_powers_and_pi() {
        assert_eq!(exact("\\sqrt{16}"), r(4, 1));
        assert_eq!(exact("\\sqrt[3]{27}"), r(3, 1));
        assert_eq!(exact("2^{10}"), r(1024, 1));
        assert_eq!(exact("2^-1"), None, "a sign is not an argument");
        assert_eq!(exact("2^{-1}"), r(1, 2));
        assert!((approx("\\sqrt3").unwrap() - 3f64.sqrt()).abs() < 1e-12);
        assert!((approx("3\\sqrt{13}").unwrap() - approx("\\sqrt{117}").unwrap()).abs() < 1e-12);
        assert!((approx("\\frac{9}{4}\\pi").unwrap() - 9.0 * std::f64::consts::PI / 4.0).abs() < 1e-12);
        assert_eq!(exact("\\sqrt{2}"), None);
        assert_eq!(parse_number("\\sqrt{-4}"), None);
    }

    #[test]
    fn arithmetic() {
        assert_eq!(exact("9+1"), r(10, 1));
        assert_eq!(exact("2\\cdot3"), r(6, 1));
        assert_eq!(exact("2\\times(3-1)"), r(4, 1));
        assert_eq!(exact("1/2/2"), r(1, 4));
        assert_eq!(parse_number("1/0"), None, "not finite");
    }

    #[test]
    fn percentages() {
        for s in ["28%", "28percent", "28Percent", "28pct", "28percentage"] {
            let n = parse_number(s).unwrap();
            assert!(n.percent && n.exact == r(28, 1), "{s}");
        }
        assert_eq!(parse_number("%"), None);
    }

    #[test]
    fn not_numbers() {
        for s in [
            "x+1",
            "(1,2)",
            "",
            "-",
            "1/",
            "\\frac{1}",
            "1.2.3",
            "٣",
            "\\pip",
            "2x",
            "(1",
            "1)",
            "\\sqrt[0]{4}",
        ] {
            assert_eq!(parse_number(s), None, "{s}");
        }
    }

    #[test]
    fn deep_nesting_gives_up_without_overflowing_the_stack() {
        let deep = "\\frac{1}{".repeat(30_000) + "2" + &"}".repeat(30_000);
        assert_eq!(parse_number(&deep), None);
        let parens = "(".repeat(100_000) + "1" + &")".repeat(100_000);
        assert_eq!(parse_number(&parens), None);
        let signs = "-".repeat(100_000) + "1";
        assert_eq!(parse_number(&signs), None);
        let powers = "2^{".repeat(50_000) + "1" + &"}".repeat(50_000);
        assert_eq!(parse_number(&powers), None);
        let shallow = "\\frac{1}{".repeat(MAX_DEPTH / 2 - 1) + "2" + &"}".repeat(MAX_DEPTH / 2 - 1);
        assert!(parse_number(&shallow).is_some());
    }
}
