//! From scored responses to the figures `tzhost eval` prints and writes:
//! overall, by difficulty and by data group.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use super::metrics::{ProblemOutcome, Summary};

/// One problem and its `n` scored responses.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemResult {
    pub group: String,
    pub difficulty: u32,
    pub outcome: ProblemOutcome,
    /// Per response: generated tokens.
    pub lengths: Vec<usize>,
    /// Per response: the new-token limit ended it.
    pub truncated: Vec<bool>,
    /// Per response: the task's reward.
    pub rewards: Vec<f32>,
}

/// The figures of one set of problems (all of them, or one bucket).
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub summary: Summary,
    pub mean_response_length: f64,
    pub truncated_fraction: f64,
    pub mean_reward: f64,
    /// Fraction of responses in which the task found an answer.
    pub answered_fraction: f64,
}

impl Figures {
    pub fn over(problems: &[&ProblemResult]) -> Result<Figures, String> {
        let outcomes: Vec<ProblemOutcome> = problems.iter().map(|p| p.outcome.clone()).collect();
        let summary = Summary::over(&outcomes)?;
        let responses = (problems.len() * summary.n) as f64;
        let sum = |f: &dyn Fn(&ProblemResult) -> f64| problems.iter().map(|p| f(p)).sum::<f64>() / responses;
        Ok(Figures {
            mean_response_length: sum(&|p| p.lengths.iter().sum::<usize>() as f64),
            truncated_fraction: sum(&|p| p.truncated.iter().filter(|&&t| t).count() as f64),
            mean_reward: sum(&|p| p.rewards.iter().map(|&r| r as f64).sum()),
            answered_fraction: sum(&|p| p.outcome.answers.iter().filter(|a| a.is_some()).count() as f64),
            summary,
        })
    }

    /// `{"problems", "mean@n", "pass@1", ..., "pass@n", "maj@n", ...}`.
    pub fn to_json(&self) -> Value {
        let n = self.summary.n;
        let mut m = Map::new();
        m.insert("problems".into(), json!(self.summary.problems));
        m.insert(format!("mean@{n}"), json!(self.summary.mean_at_n));
        for (k, p) in &self.summary.pass_at {
            m.insert(format!("pass@{k}"), json!(p));
        }
        m.insert(format!("maj@{n}"), json!(self.summary.maj_at_n));
        m.insert("response_length/mean".into(), json!(self.mean_response_length));
        m.insert("truncated_fraction".into(), json!(self.truncated_fraction));
        // Rewards are f32: their mean is written at f32 precision.
        m.insert("reward/mean".into(), json!(tz_sdk::decimal::f32_precision(self.mean_reward)));
        m.insert("answered_fraction".into(), json!(self.answered_fraction));
        Value::Object(m)
    }
}

/// Overall figures and the same by difficulty and by group.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalFigures {
    pub overall: Figures,
    pub by_difficulty: BTreeMap<u32, Figures>,
    pub by_group: BTreeMap<String, Figures>,
}

impl EvalFigures {
    pub fn over(problems: &[ProblemResult]) -> Result<EvalFigures, String> {
        let all: Vec<&ProblemResult> = problems.iter().collect();
        let overall = Figures::over(&all)?;
        let mut difficulties: BTreeMap<u32, Vec<&ProblemResult>> = BTreeMap::new();
        let mut groups: BTreeMap<String, Vec<&ProblemResult>> = BTreeMap::new();
        for p in problems {
            difficulties.entry(p.difficulty).or_default().push(p);
            groups.entry(p.group.clone()).or_default().push(p);
        }
        let by_difficulty = difficulties
            .into_iter()
            .map(|(d, ps)| Figures::over(&ps).map(|f| (d, f)))
            .collect::<Result<_, _>>()?;
        let by_group =
            groups.into_iter().map(|(g, ps)| Figures::over(&ps).map(|f| (g, f))).collect::<Result<_, _>>()?;
        Ok(EvalFigures { overall, by_difficulty, by_group })
    }

    /// `{"metrics": {...}, "by_difficulty": {"3": {...}}, "by_group": {...}}`.
    pub fn to_json(&self) -> Value {
        let difficulty: Map<String, Value> =
            self.by_difficulty.iter().map(|(d, f)| (d.to_string(), f.to_json())).collect();
        let group: Map<String, Value> = self.by_group.iter().map(|(g, f)| (g.clone(), f.to_json())).collect();
        json!({"metrics": self.overall.to_json(), "by_difficulty": difficulty, "by_group": group})
    }

    /// A plain-text table: the overall figures, then one row per difficulty and per group.
    pub fn table(&self) -> String {
        let n = self.overall.summary.n;
        let mut out = String::new();
        let s = &self.overall.summary;
        let _ = writeln!(out, "{:<28} {:>10}", "metric", "value");
        let _ = writeln!(out, "{:<28} {:>10.4}", format!("mean@{n} (pass@1 estimate)"), s.mean_at_n);
        for (k, p) in &s.pass_at {
            let _ = writeln!(out, "{:<28} {:>10.4}", format!("pass@{k}"), p);
        }
        let _ = writeln!(out, "{:<28} {:>10.4}", format!("maj@{n}"), s.maj_at_n);
        let _ =
            writeln!(out, "{:<28} {:>10.2}", "response length (tokens)", self.overall.mean_response_length);
        let _ = writeln!(out, "{:<28} {:>10.4}", "truncated fraction", self.overall.truncated_fraction);
        let _ = writeln!(out, "{:<28} {:>10.4}", "answer found fraction", self.overall.answered_fraction);
        let _ = writeln!(out, "{:<28} {:>10.4}", "mean reward", self.overall.mean_reward);
        let header = |out: &mut String, by: &str| {
            let _ = writeln!(
                out,
                "\n{by:<20} {:>8} {:>9} {:>9} {:>9} {:>8} {:>9}",
                "problems",
                format!("mean@{n}"),
                format!("pass@{n}"),
                format!("maj@{n}"),
                "length",
                "truncated"
            );
        };
        let row = |out: &mut String, name: &str, f: &Figures| {
            let _ = writeln!(
                out,
                "{name:<20} {:>8} {:>9.4} {:>9.4} {:>9.4} {:>8.2} {:>9.4}",
                f.summary.problems,
                f.summary.mean_at_n,
                f.summary.pass(n).unwrap_or(f64::NAN),
                f.summary.maj_at_n,
                f.mean_response_length,
                f.truncated_fraction
            );
        };
        header(&mut out, "difficulty");
        for (d, f) in &self.by_difficulty {
            row(&mut out, &d.to_string(), f);
        }
        header(&mut out, "group");
        for (g, f) in &self.by_group {
            row(&mut out, g, f);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(group: &str, difficulty: u32, correct: &[bool], lengths: &[usize]) -> ProblemResult {
        ProblemResult {
            group: group.into(),
            difficulty,
            outcome: ProblemOutcome {
                correct: correct.to_vec(),
                answers: correct
                    .iter()
                    .map(|&c| Some(if c { "right" } else { "wrong" }.to_string()))
                    .collect(),
            },
            lengths: lengths.to_vec(),
            truncated: lengths.iter().map(|&l| l >= 10).collect(),
            rewards: correct.iter().map(|&c| if c { 1.0 } else { 0.1 }).collect(),
        }
    }

    #[test]
    fn buckets_split_by_difficulty_and_group() {
        let problems = [
            problem("plus", 3, &[true, false], &[4, 10]),
            problem("plus", 4, &[false, false], &[10, 10]),
            problem("plus_minus", 3, &[true, true], &[2, 2]),
        ];
        let f = EvalFigures::over(&problems).unwrap();
        assert!((f.overall.summary.mean_at_n - 0.5).abs() < 1e-12);
        assert!((f.overall.mean_response_length - 38.0 / 6.0).abs() < 1e-12);
        assert!((f.overall.truncated_fraction - 3.0 / 6.0).abs() < 1e-12);
        assert_eq!(f.by_difficulty.keys().copied().collect::<Vec<_>>(), [3, 4]);
        assert!((f.by_difficulty[&3].summary.mean_at_n - 0.75).abs() < 1e-12);
        assert_eq!(f.by_difficulty[&4].summary.pass(2), Some(0.0));
        assert_eq!(f.by_group["plus"].summary.problems, 2);
        assert_eq!(f.by_group["plus_minus"].summary.maj_at_n, 1.0);

        let json = f.to_json();
        assert_eq!(json["metrics"]["problems"], 3);
        assert!(json["metrics"]["pass@2"].is_number() && json["metrics"]["maj@2"].is_number());
        assert_eq!(json["by_difficulty"]["4"]["mean@2"], 0.0);
        let table = f.table();
        assert!(table.contains("pass@2") && table.contains("plus_minus"), "{table}");
    }
}
