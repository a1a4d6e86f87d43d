//! The countdown reward gives TinyZero's score on every input.
//!
//! Thousands of seeded random responses (valid expressions over the given
//! numbers, near misses, Python number quirks, odd whitespace, several or
//! broken answer tags, deep nesting, non-ASCII digits, ...) are scored here
//! and by an oracle that runs TinyZero's `compute_score` steps in CPython
//! (`.venv/bin/python`, made by `scripts/setup.sh`), including the real
//! `eval`. Every score must agree. `**` is left out: refusing it is the one
//! documented difference (checked separately in the unit tests).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use tz_countdown::expr::{parse, Limits, Mode};
use tz_countdown::reward::{judge, RewardSettings};
use tz_countdown::templates::Template;
use tz_sdk::rng::SplitMix64;

const ORACLE: &str = r#"
import json, re, sys, warnings
warnings.filterwarnings("ignore")

def extract(text):
    if "Assistant:" in text:
        text = text.split("Assistant:", 1)[1]
    elif "<|im_start|>assistant" in text:
        text = text.split("<|im_start|>assistant", 1)[1]
    else:
        return None
    line = text.split("\n")[-1]
    found = list(re.finditer(r"<answer>(.*?)</answer>", line))
    return found[-1].group(1).strip() if found else None

def score(text, target, numbers, format_score):
    eq = extract(text)
    if eq is None:
        return 0.0
    try:
        used = sorted(int(n) for n in re.findall(r"\d+", eq))
    except Exception:
        return format_score
    if used != sorted(numbers):
        return format_score
    if not re.match(r"^[\d+\-*/().\s]+$", eq):
        return format_score
    try:
        value = eval(eq, {"__builtins__": None}, {})
        return 1.0 if abs(value - target) < 1e-5 else format_score
    except Exception:
        return format_score

for line in sys.stdin:
    case = json.loads(line)
    print(score(case["s"], case["t"], case["n"], 0.1))
"#;

fn python() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh (it makes the Python venv this test compares against)",
        path.display()
    );
    path
}

struct Case {
    solution: String,
    target: i64,
    nums: Vec<i64>,
}

/// Random pieces biased towards what trips verifiers.
struct Fuzz {
    rng: SplitMix64,
    /// Probability of each quirk; half the cases are clean (0), so many are right.
    noise: f64,
}

impl Fuzz {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.range(0, items.len() as u64 - 1) as usize]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.next_f64() < p
    }

    fn space(&mut self) -> String {
        if !self.chance(self.noise) {
            return self.pick(&[" ", "", " "]).into();
        }
        self.pick(&["", "  ", "\t", "\x0c", "\r", "\x0b", "\u{a0}", "\u{1c}", "\u{3000}"]).to_string()
    }

    fn number(&mut self, nums: &[i64]) -> String {
        let n = nums[self.rng.range(0, nums.len() as u64 - 1) as usize];
        if !self.chance(self.noise) {
            return n.to_string();
        }
        match self.rng.range(0, 8) {
            0 => format!("0{n}"),
            1 => format!("{n}."),
            2 => format!("{n}.5"),
            3 => format!(".{n}"),
            4 => "00".into(),
            5 => self.rng.range(0, 200).to_string(),
            6 => "9".repeat(self.rng.range(15, 60) as usize),
            7 => "٣".into(),
            _ => n.to_string(),
        }
    }

    /// A random expression over `pool` (each number once; quirks with probability `noise`).
    fn expr(&mut self, pool: &[i64], all: &[i64]) -> String {
        if pool.len() == 1 {
            let n = pool[0];
            let leaf = if self.chance(self.noise * 0.3) { self.number(all) } else { n.to_string() };
            return self.wrap(leaf);
        }
        let split = self.rng.range(1, pool.len() as u64 - 1) as usize;
        let left = self.expr(&pool[..split], all);
        let op = if self.chance(self.noise * 0.3) {
            self.pick(&["//", "/ /", "* *", "(", ".", ")"])
        } else {
            // Mostly exact operators, so an integer target can be aimed at.
            self.pick(&["+", "-", "*", "+", "-", "*", "/"])
        };
        let right = self.expr(&pool[split..], all);
        let (a, b) = (self.space(), self.space());
        self.wrap(format!("{left}{a}{op}{b}{right}"))
    }

    fn wrap(&mut self, e: String) -> String {
        match self.rng.range(0, 12) {
            0 | 1 => format!("({e})"),
            2 => format!("-{e}"),
            3 => format!("-({e})"),
            4 => format!("+-{e}"),
            5 => format!("( {e} )"),
            _ => e,
        }
    }

    fn equation(&mut self, nums: &[i64]) -> String {
        let mut pool = nums.to_vec();
        // Shuffle, and in noisy cases sometimes drop or repeat a number.
        for i in (1..pool.len()).rev() {
            pool.swap(i, self.rng.range(0, i as u64) as usize);
        }
        if self.chance(self.noise * 0.3) {
            if self.chance(0.5) {
                pool.pop();
            } else {
                pool.push(nums[0]);
            }
        }
        let e = self.expr(&pool, nums);
        if !self.chance(self.noise) {
            return e;
        }
        match self.rng.range(0, 12) {
            0 => format!("{e} = {}", self.rng.range(0, 100)),
            1 => "()".into(),
            2 => format!("{e}()"),
            3 => format!("{}{e}{}", "(".repeat(200), ")".repeat(200)),
            4 => format!("{}{e}{}", "(".repeat(201), ")".repeat(201)),
            5 => format!("{}{e}", "-".repeat(250)),
            6 => format!("{}{e}{}", "(".repeat(190), ")".repeat(190)).replace('(', "(-"),
            7 => format!("３{e}"),
            8 => String::new(),
            _ => e,
        }
    }

    fn answer(&mut self, eq: &str) -> String {
        let (a, b) = (self.space(), self.space());
        if !self.chance(self.noise) {
            return format!("<answer>{a}{eq}{b}</answer>");
        }
        match self.rng.range(0, 5) {
            0 => format!("<answer>{a}{eq}{b}"),
            1 => format!("<answer>{a}{eq}{b}</answer></answer>"),
            2 => format!("<answer> <answer>{a}{eq}{b}</answer>"),
            3 => format!("{a}{eq}{b}</answer>"),
            _ => format!("<answer>{a}{eq}{b}</answer>"),
        }
    }

    fn case(&mut self) -> Case {
        self.noise = if self.chance(0.5) { 0.0 } else { 0.3 };
        let count = self.rng.range(2, 4) as usize;
        let nums: Vec<i64> = (0..count).map(|_| self.rng.range(1, 99) as i64).collect();
        let eq = self.equation(&nums);
        // Often aim the target at the equation's own value, so many cases are right.
        let value = parse(&eq, Mode::Tinyzero, &Limits::default()).ok().and_then(|p| p.value.ok());
        let target = match value {
            Some(v) if self.chance(0.8) => {
                v.to_string().parse::<f64>().map(|f| f.round() as i64).unwrap_or(0)
            }
            _ => self.rng.range(0, 300) as i64,
        };
        let marker = if self.chance(0.9) {
            self.pick(&["Assistant:", "<|im_start|>assistant"])
        } else {
            self.pick(&["assistant:", ""])
        };
        let mut last_line = String::new();
        for _ in 0..self.rng.range(0, 2) * (self.noise > 0.0) as u64 {
            let other = self.equation(&nums);
            last_line.push_str(&self.answer(&other));
            last_line.push_str(" wait ");
        }
        last_line.push_str(&self.answer(&eq));
        let tail = if self.chance(0.8) {
            self.pick(&["", "<|endoftext|>", "<|im_end|>", " done."])
        } else {
            self.pick(&["\nthat is all", "\n", "\r"])
        };
        let head = self.pick(&["", "User: for example <answer> (1 + 2) / 3 </answer>.\n"]);
        let middle = self.pick(&[
            " Let me solve this step by step.\n<think> ... </think>\n",
            " ",
            "\n<answer> 1 </answer>\n",
        ]);
        Case { solution: format!("{head}{marker}{middle}{last_line}{tail}"), target, nums }
    }
}

#[test]
fn reward_matches_tinyzero_compute_score_on_random_inputs() {
    let mut fuzz = Fuzz { rng: SplitMix64::new(20250601), noise: 0.0 };
    let cases: Vec<Case> = (0..30_000).map(|_| fuzz.case()).collect();

    let settings = RewardSettings::default();
    let ours: Vec<f32> = cases
        .iter()
        .map(|c| {
            judge(Template::Base, "", &c.solution, c.target, &c.nums, &settings).into_score(&settings).reward
        })
        .collect();

    let mut child = Command::new(python())
        .args(["-c", ORACLE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the Python oracle");
    let mut input = String::new();
    for c in &cases {
        let line = serde_json::json!({"s": c.solution, "t": c.target, "n": c.nums});
        input.push_str(&line.to_string());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("oracle output");
    writer.join().unwrap().expect("write cases to the oracle");
    assert!(output.status.success(), "oracle failed: {}", String::from_utf8_lossy(&output.stderr));
    let theirs: Vec<f32> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| l.parse::<f64>().unwrap() as f32).collect();
    assert_eq!(theirs.len(), cases.len());

    let mismatches: Vec<String> = cases
        .iter()
        .zip(ours.iter().zip(&theirs))
        .filter(|(_, (a, b))| a != b)
        .map(|(c, (a, b))| {
            format!("ours {a} python {b}: target {} nums {:?} text {:?}", c.target, c.nums, c.solution)
        })
        .collect();
    let correct = theirs.iter().filter(|s| **s == 1.0).count();
    let formatted = theirs.iter().filter(|s| **s == 0.1).count();
    assert!(
        mismatches.is_empty(),
        "{} of {} differ, e.g.:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches[..mismatches.len().min(10)].join("\n")
    );
    eprintln!("{correct} correct, {formatted} formatted, {} missing", cases.len() - correct - formatted);
    // The generator must exercise all three outcomes substantially.
    assert!(
        correct > 5000 && formatted > 5000 && cases.len() - correct - formatted > 1000,
        "{correct} correct, {formatted} formatted"
    );
}
