//! The arithmetic expression parser that replaces TinyZero's `eval`.
//!
//! It accepts exactly the Python expressions that can pass TinyZero's
//! character check (`^[\d+\-*/().\s]+$`) and evaluate to a number, with the
//! same tokenisation (`1.5`, `1.`, `.5`, `00`; not `05`, `1 2`, `1..5`), the
//! same precedence (unary signs bind tighter than `*`, `/`, `//`), and the
//! same whitespace rules as CPython's tokenizer (space, tab and form feed
//! anywhere; a carriage return only inside parentheses, where it is an
//! ignored line break). Values follow Python semantics ([`crate::number`]).
//!
//! Deliberate differences, all of which score as "formatted but wrong":
//! * `**` (power) is refused: the prompt does not offer it, and `9**9**9`
//!   would hang a verifier.
//! * Inputs longer than [`Limits::max_len`] bytes or with more than
//!   [`Limits::max_operators`] operators are refused. (CPython gives up itself
//!   at about 3000 operators; nesting deeper than 200 parentheses is refused
//!   by both, as by CPython's tokenizer.)
//! * `()` (an empty tuple in Python, which can never compare with a number)
//!   is a syntax error here.
//!
//! [`Mode::Strict`] additionally refuses decimal literals (`1.5`, where
//! TinyZero sees the numbers 1 and 5), leading zeros (`007`, `00`) and floor
//! division `//`: what remains is the four operations the prompt offers.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::number::{EvalError, Int, Num};

/// How permissive the parser (and so the reward) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// TinyZero's score on every input, its quirks included (`1.5` is the
    /// numbers 1 and 5 and evaluates as 1.5; `//` is floor division).
    #[default]
    Tinyzero,
    /// Also rejects decimal literals, leading zeros and `//`.
    Strict,
}

/// Resource bounds; inputs beyond them are syntax errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted expression, in bytes.
    pub max_len: usize,
    /// Deepest accepted parenthesis nesting (CPython's tokenizer stops at 200).
    pub max_depth: usize,
    /// Most unary plus binary operators.
    pub max_operators: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_len: 1024, max_depth: 200, max_operators: 256 }
    }
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
}

impl BinOp {
    pub const ALL: [BinOp; 5] = [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div, BinOp::FloorDiv];

    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::FloorDiv => "//",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }

    fn apply(self, a: &Num, b: &Num) -> Result<Num, EvalError> {
        match self {
            BinOp::Add => a.add(b),
            BinOp::Sub => a.sub(b),
            BinOp::Mul => a.mul(b),
            BinOp::Div => a.true_div(b),
            BinOp::FloorDiv => a.floor_div(b),
        }
    }
}

/// The set of binary operators an expression uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct OpSet(u8);

impl OpSet {
    pub const EMPTY: OpSet = OpSet(0);

    pub fn of(ops: &[BinOp]) -> OpSet {
        OpSet(ops.iter().fold(0, |acc, op| acc | op.bit()))
    }
    pub fn insert(&mut self, op: BinOp) {
        self.0 |= op.bit();
    }
    pub fn contains(self, op: BinOp) -> bool {
        self.0 & op.bit() != 0
    }
    pub fn is_subset(self, other: OpSet) -> bool {
        self.0 & !other.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = BinOp> {
        BinOp::ALL.into_iter().filter(move |op| self.contains(*op))
    }
}

/// Why a string is not an accepted expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyntaxError {
    Empty,
    TooLong {
        len: usize,
        max: usize,
    },
    TooDeep {
        max: usize,
    },
    TooManyOperators {
        max: usize,
    },
    /// A character that cannot start or continue a token here.
    Unexpected {
        pos: usize,
        found: char,
    },
    UnexpectedEnd,
    /// `05`: Python refuses leading zeros in integer literals.
    LeadingZeros {
        pos: usize,
    },
    /// `**`.
    Power {
        pos: usize,
    },
    /// `()`.
    EmptyParentheses {
        pos: usize,
    },
    /// Strict mode: `1.5`, `2.`, `.5`.
    DecimalLiteral {
        pos: usize,
    },
    /// Strict mode: `//`.
    FloorDivision {
        pos: usize,
    },
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyntaxError::Empty => write!(f, "empty expression"),
            SyntaxError::TooLong { len, max } => write!(f, "expression is {len} bytes long (limit {max})"),
            SyntaxError::TooDeep { max } => write!(f, "parentheses nested deeper than {max}"),
            SyntaxError::TooManyOperators { max } => write!(f, "more than {max} operators"),
            SyntaxError::Unexpected { pos, found } => write!(f, "unexpected {found:?} at {pos}"),
            SyntaxError::UnexpectedEnd => write!(f, "expression ends too early"),
            SyntaxError::LeadingZeros { pos } => write!(f, "leading zeros in the number at {pos}"),
            SyntaxError::Power { pos } => write!(f, "power operator '**' at {pos} is not allowed"),
            SyntaxError::EmptyParentheses { pos } => write!(f, "empty parentheses at {pos}"),
            SyntaxError::DecimalLiteral { pos } => write!(f, "decimal number at {pos} (strict mode)"),
            SyntaxError::FloorDivision { pos } => write!(f, "floor division '//' at {pos} (strict mode)"),
        }
    }
}

/// A syntactically valid expression and what evaluating it gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The value, or the Python exception evaluation raises.
    pub value: Result<Num, EvalError>,
    /// Binary operators used.
    pub operators: OpSet,
    /// Number of numeric literals.
    pub literals: usize,
}

/// Parses and evaluates `src` under `mode` and `limits`.
pub fn parse(src: &str, mode: Mode, limits: &Limits) -> Result<Parsed, SyntaxError> {
    if src.len() > limits.max_len {
        return Err(SyntaxError::TooLong { len: src.len(), max: limits.max_len });
    }
    let mut p = Parser {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        depth: 0,
        operators: 0,
        mode,
        limits,
        ops: OpSet::EMPTY,
        literals: 0,
    };
    p.skip_space();
    if p.pos == p.bytes.len() {
        return Err(SyntaxError::Empty);
    }
    let value = p.expression()?;
    p.skip_space();
    if p.pos != p.bytes.len() {
        return Err(p.unexpected());
    }
    Ok(Parsed { value, operators: p.ops, literals: p.literals })
}

type Value = Result<Num, EvalError>;

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    operators: usize,
    mode: Mode,
    limits: &'a Limits,
    ops: OpSet,
    literals: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    /// Error for the character at the current position (or the end).
    fn unexpected(&self) -> SyntaxError {
        match self.src[self.pos..].chars().next() {
            Some(found) => SyntaxError::Unexpected { pos: self.pos, found },
            None => SyntaxError::UnexpectedEnd,
        }
    }

    /// CPython's tokenizer skips spaces, tabs and form feeds; a `\r` is a
    /// line break, which is only ignored inside brackets.
    fn skip_space(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\x0c' => self.pos += 1,
                b'\r' if self.depth > 0 => self.pos += 1,
                _ => break,
            }
        }
    }

    fn count_operator(&mut self) -> Result<(), SyntaxError> {
        self.operators += 1;
        if self.operators > self.limits.max_operators {
            return Err(SyntaxError::TooManyOperators { max: self.limits.max_operators });
        }
        Ok(())
    }

    fn binary(&mut self, op: BinOp, lhs: Value, rhs: Value) -> Value {
        self.ops.insert(op);
        // Python evaluates both operands before applying, left first.
        let (a, b) = (lhs?, rhs?);
        op.apply(&a, &b)
    }

    /// expression := term (('+' | '-') term)*
    fn expression(&mut self) -> Result<Value, SyntaxError> {
        let mut acc = self.term()?;
        loop {
            self.skip_space();
            let op = match self.peek() {
                Some(b'+') => BinOp::Add,
                Some(b'-') => BinOp::Sub,
                _ => return Ok(acc),
            };
            self.pos += 1;
            self.count_operator()?;
            let rhs = self.term()?;
            acc = self.binary(op, acc, rhs);
        }
    }

    /// term := factor (('*' | '/' | '//') factor)*
    fn term(&mut self) -> Result<Value, SyntaxError> {
        let mut acc = self.factor()?;
        loop {
            self.skip_space();
            let op = match (self.peek(), self.peek_at(1)) {
                (Some(b'*'), Some(b'*')) => return Err(SyntaxError::Power { pos: self.pos }),
                (Some(b'*'), _) => BinOp::Mul,
                (Some(b'/'), Some(b'/')) if self.mode == Mode::Strict => {
                    return Err(SyntaxError::FloorDivision { pos: self.pos })
                }
                (Some(b'/'), Some(b'/')) => BinOp::FloorDiv,
                (Some(b'/'), _) => BinOp::Div,
                _ => return Ok(acc),
            };
            self.pos += op.symbol().len();
            self.count_operator()?;
            let rhs = self.factor()?;
            acc = self.binary(op, acc, rhs);
        }
    }

    /// factor := ('+' | '-')* primary — a loop, so long sign chains cost no stack.
    fn factor(&mut self) -> Result<Value, SyntaxError> {
        let mut negate = false;
        loop {
            self.skip_space();
            match self.peek() {
                Some(b'-') => negate = !negate,
                Some(b'+') => {}
                _ => break,
            }
            self.pos += 1;
            self.count_operator()?;
        }
        let value = self.primary()?;
        // `+x` is `x` for ints and floats alike; only the parity of `-` matters.
        Ok(if negate { value.map(|v| v.neg()) } else { value })
    }

    /// primary := number | '(' expression ')'
    fn primary(&mut self) -> Result<Value, SyntaxError> {
        self.skip_space();
        match self.peek() {
            Some(b'(') => {
                let open = self.pos;
                self.depth += 1;
                if self.depth > self.limits.max_depth {
                    return Err(SyntaxError::TooDeep { max: self.limits.max_depth });
                }
                self.pos += 1;
                self.skip_space();
                if self.peek() == Some(b')') {
                    return Err(SyntaxError::EmptyParentheses { pos: open });
                }
                let value = self.expression()?;
                self.skip_space();
                if self.peek() != Some(b')') {
                    return Err(self.unexpected());
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(value)
            }
            Some(b'0'..=b'9') => self.number(),
            Some(b'.') if matches!(self.peek_at(1), Some(b'0'..=b'9')) => self.number(),
            _ => Err(self.unexpected()),
        }
    }

    /// A Python decimal literal: `digits`, `digits.`, `digits.digits` or `.digits`.
    fn number(&mut self) -> Result<Value, SyntaxError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.pos += 1;
            }
        };
        digits(self);
        let is_float = self.peek() == Some(b'.');
        if is_float {
            self.pos += 1;
            digits(self);
        }
        self.literals += 1;
        let text = &self.src[start..self.pos];
        if is_float {
            if self.mode == Mode::Strict {
                return Err(SyntaxError::DecimalLiteral { pos: start });
            }
            // Rust parses "1.", ".5" and "00.5" and rounds correctly, as CPython does.
            return Ok(Ok(Num::Float(text.parse().expect("decimal literal"))));
        }
        let leading_zero = text.len() > 1 && text.starts_with('0');
        // Python allows "00" (all zeros) but not "05"; strict allows neither.
        if leading_zero && (self.mode == Mode::Strict || text.bytes().any(|b| b != b'0')) {
            return Err(SyntaxError::LeadingZeros { pos: start });
        }
        Ok(Ok(Num::Int(Int::from_digits(text))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str) -> Result<Result<Num, EvalError>, SyntaxError> {
        parse(src, Mode::Tinyzero, &Limits::default()).map(|p| p.value)
    }

    fn int(v: i64) -> Result<Result<Num, EvalError>, SyntaxError> {
        Ok(Ok(Num::Int(Int::Small(v as i128))))
    }

    #[test]
    fn precedence_and_associativity_follow_python() {
        assert_eq!(eval("2 + 3 * 4"), int(14));
        assert_eq!(eval("(2 + 3) * 4"), int(20));
        assert_eq!(eval("10 - 4 - 3"), int(3));
        assert_eq!(eval("-2 * 3"), int(-6));
        assert_eq!(eval("2 * -3"), int(-6));
        assert_eq!(eval("2 - -3"), int(5));
        assert_eq!(eval("-+-3"), int(3));
        assert_eq!(eval("7 // 2 * 2"), int(6));
        assert_eq!(eval("-7 // 2"), int(-4));
        assert_eq!(eval("(1 + 2) / 3"), Ok(Ok(Num::Float(1.0))));
    }

    #[test]
    fn nested_parentheses_and_unary_minus() {
        assert_eq!(eval("((((1 + 2))) * (3 - (4 - 5)))"), int(12));
        assert_eq!(eval("-(-(3))"), int(3));
        assert_eq!(eval("- ( 2 + 3 )"), int(-5));
    }

    #[test]
    fn python_number_literals() {
        assert_eq!(eval("1.5"), Ok(Ok(Num::Float(1.5))));
        assert_eq!(eval("1."), Ok(Ok(Num::Float(1.0))));
        assert_eq!(eval(".5"), Ok(Ok(Num::Float(0.5))));
        assert_eq!(eval("012.5"), Ok(Ok(Num::Float(12.5))));
        assert_eq!(eval("00"), int(0));
        assert_eq!(eval("05"), Err(SyntaxError::LeadingZeros { pos: 0 }));
        assert!(eval("1..5").is_err());
        assert!(eval("1.5.5").is_err());
        assert!(eval(".").is_err());
    }

    #[test]
    fn juxtaposition_and_calls_are_errors() {
        assert!(eval("1 2").is_err());
        assert!(eval("(1)(2)").is_err());
        assert!(eval("2(3)").is_err());
        assert!(eval("1 .5").is_err());
        assert_eq!(eval("()"), Err(SyntaxError::EmptyParentheses { pos: 0 }));
    }

    #[test]
    fn power_is_refused() {
        assert_eq!(eval("2**3"), Err(SyntaxError::Power { pos: 1 }));
        assert!(eval("2* *3").is_err());
    }

    #[test]
    fn whitespace_rules_follow_the_tokenizer() {
        assert_eq!(eval("3\t+\x0c4"), int(7));
        assert!(eval("3\r+4").is_err());
        assert_eq!(eval("(3\r+4)"), int(7));
        assert!(eval("(3)\r+4").is_err());
        assert!(eval("3\x0b+4").is_err());
        assert!(eval("3\u{a0}+4").is_err());
    }

    #[test]
    fn runtime_errors_are_values_not_syntax_errors() {
        assert_eq!(eval("1/0"), Ok(Err(EvalError::DivisionByZero)));
        assert_eq!(eval("1/(2-2) + 3"), Ok(Err(EvalError::DivisionByZero)));
        assert_eq!(eval("1//0"), Ok(Err(EvalError::DivisionByZero)));
    }

    #[test]
    fn limits_bound_length_depth_and_operators() {
        let limits = Limits::default();
        let ok = format!("{}1{}", "(".repeat(200), ")".repeat(200));
        assert_eq!(eval(&ok), int(1));
        let deep = format!("{}1{}", "(".repeat(201), ")".repeat(201));
        assert_eq!(eval(&deep), Err(SyntaxError::TooDeep { max: 200 }));
        let long = format!("1{}", " ".repeat(2000));
        assert!(matches!(eval(&long), Err(SyntaxError::TooLong { .. })));
        let many = format!("{}1", "-".repeat(limits.max_operators + 1));
        assert!(matches!(eval(&many), Err(SyntaxError::TooManyOperators { .. })));
    }

    #[test]
    fn strict_mode_rejects_decimals_leading_zeros_and_floor_division() {
        let strict = |s: &str| parse(s, Mode::Strict, &Limits::default()).map(|p| p.value);
        assert!(matches!(strict("1.5 + 2"), Err(SyntaxError::DecimalLiteral { .. })));
        assert!(matches!(strict("00 + 2"), Err(SyntaxError::LeadingZeros { .. })));
        assert!(matches!(strict("7 // 2"), Err(SyntaxError::FloorDivision { .. })));
        assert_eq!(strict("-(7 - 2) * 3"), int(-15));
    }

    #[test]
    fn operator_set_lists_binary_operators_only() {
        let p = parse("-(30 + 12) * 7 / 2", Mode::Tinyzero, &Limits::default()).unwrap();
        assert_eq!(p.operators, OpSet::of(&[BinOp::Add, BinOp::Mul, BinOp::Div]));
        assert_eq!(p.literals, 4);
    }

    #[test]
    fn non_ascii_input_is_an_error_not_a_panic() {
        assert!(matches!(eval("３+4"), Err(SyntaxError::Unexpected { pos: 0, found: '３' })));
        assert!(eval("3+\u{661}").is_err());
    }
}
