//! A small compact-countdown generator and checker for tests and benches:
//! three numbers in 1..=99 combined with + - * (and parentheses) into a
//! target in 1..=99; prompt `"a b c>target:"`, response the bare expression.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub nums: Vec<i64>,
    pub target: i64,
    pub solution: String,
}

impl Problem {
    pub fn prompt(&self) -> String {
        let nums: Vec<String> = self.nums.iter().map(|n| n.to_string()).collect();
        format!("{}>{}:", nums.join(" "), self.target)
    }
}

/// `count` distinct problems (by prompt) from `seed`, skipping any whose prompt is in `exclude`.
pub fn problems(seed: u64, count: usize, exclude: &std::collections::HashSet<String>) -> Vec<Problem> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let p = one(&mut rng);
        let prompt = p.prompt();
        if !exclude.contains(&prompt) && seen.insert(prompt) {
            out.push(p);
        }
    }
    out
}

fn one(rng: &mut ChaCha8Rng) -> Problem {
    loop {
        let a: Vec<i64> = (0..3).map(|_| rng.random_range(1..=99)).collect();
        let ops: Vec<char> = (0..2).map(|_| ['+', '-', '*'][rng.random_range(0..3)]).collect();
        let bracket_first = rng.random_bool(0.3);
        let expr = if bracket_first && ops[1] == '*' && ops[0] != '*' {
            format!("({}{}{}){}{}", a[0], ops[0], a[1], ops[1], a[2])
        } else {
            format!("{}{}{}{}{}", a[0], ops[0], a[1], ops[1], a[2])
        };
        let Some(v) = eval(&expr) else { continue };
        if v.fract() != 0.0 || !(1.0..=99.0).contains(&v) {
            continue;
        }
        let mut nums = a.clone();
        // Shuffle the prompt's order so it differs from the solution's.
        for i in (1..nums.len()).rev() {
            nums.swap(i, rng.random_range(0..=i));
        }
        return Problem { nums, target: v as i64, solution: expr };
    }
}

/// True when `response` (EOS and anything after it already removed) is an
/// expression over exactly the numbers `nums` that evaluates to `target`.
pub fn is_correct(response: &str, nums: &[i64], target: i64) -> bool {
    let expr = response.trim();
    if expr.is_empty() || !expr.chars().all(|c| c.is_ascii_digit() || "+-*/() ".contains(c)) {
        return false;
    }
    let mut used: Vec<i64> = Vec::new();
    let mut cur = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            cur.push(c);
        } else if !cur.is_empty() {
            match cur.parse() {
                Ok(n) => used.push(n),
                Err(_) => return false,
            }
            cur.clear();
        }
    }
    let (mut a, mut b) = (used, nums.to_vec());
    a.sort();
    b.sort();
    a == b && eval(expr).is_some_and(|v| (v - target as f64).abs() < 1e-5)
}

/// Evaluates + - * / and parentheses with the usual precedence.
pub fn eval(expr: &str) -> Option<f64> {
    let chars: Vec<char> = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let mut pos = 0;
    let v = sum(&chars, &mut pos)?;
    (pos == chars.len()).then_some(v)
}

fn sum(c: &[char], pos: &mut usize) -> Option<f64> {
    let mut v = product(c, pos)?;
    while *pos < c.len() && (c[*pos] == '+' || c[*pos] == '-') {
        let op = c[*pos];
        *pos += 1;
        let r = product(c, pos)?;
        v = if op == '+' { v + r } else { v - r };
    }
    Some(v)
}

fn product(c: &[char], pos: &mut usize) -> Option<f64> {
    let mut v = atom(c, pos)?;
    while *pos < c.len() && (c[*pos] == '*' || c[*pos] == '/') {
        let op = c[*pos];
        *pos += 1;
        let r = atom(c, pos)?;
        v = if op == '*' {
            v * r
        } else {
            if r == 0.0 {
                return None;
            }
            v / r
        };
    }
    Some(v)
}

fn atom(c: &[char], pos: &mut usize) -> Option<f64> {
    if *pos < c.len() && c[*pos] == '(' {
        *pos += 1;
        let v = sum(c, pos)?;
        if *pos < c.len() && c[*pos] == ')' {
            *pos += 1;
            return Some(v);
        }
        return None;
    }
    let start = *pos;
    while *pos < c.len() && c[*pos].is_ascii_digit() {
        *pos += 1;
    }
    if start == *pos {
        return None;
    }
    c[start..*pos].iter().collect::<String>().parse().ok()
}
