//! Estimators of evaluation metrics over `n` sampled responses per problem:
//! mean@k, the unbiased pass@k, and maj@k (majority vote).
//!
//! Every estimator takes one problem's outcomes; [`Summary`] averages them
//! over problems. Public so the trainer's validation can report the same
//! figures as `tzhost eval`.
//!
//! * **mean@n**: the fraction of the `n` responses that are correct; its mean
//!   over problems is the standard estimate of pass@1.
//! * **pass@k** (Chen et al. 2021, "Evaluating Large Language Models
//!   Trained on Code"): the probability that at least one of `k` responses
//!   drawn without replacement from the `n` is correct,
//!   `1 - C(n-c, k) / C(n, k)`. Computed as the product
//!   `prod_{i=n-c+1}^{n} (1 - k/i)`, which needs no big binomials and stays
//!   in [0, 1] for any `n`.
//! * **maj@n**: the answers the task extracted ([`tz_sdk::Score::answer`],
//!   normalised by the task) vote; the problem counts as solved when the
//!   answer with the most votes is correct. Responses with no answer do not
//!   vote; with no vote at all the problem is unsolved. **Ties** are scored
//!   as the expected result of breaking them uniformly at random: the mean
//!   correctness of the tied answers (so two tied answers, one right, score
//!   0.5). This keeps the figure independent of sample order. Should
//!   responses that share an answer string disagree on correctness (a task
//!   whose normalisation merges texts it judges differently), the answer's
//!   correctness is the fraction of its votes that are correct.

use std::collections::BTreeMap;

/// `1 - C(n-c, k) / C(n, k)`: the chance that `k` of `n` responses, `c` of
/// them correct, drawn without replacement, include a correct one.
///
/// # Panics
/// When `k` is 0 or larger than `n`, or `c > n` (callers check `k <= n`).
pub fn pass_at_k(n: usize, c: usize, k: usize) -> f64 {
    assert!(k >= 1 && k <= n && c <= n, "pass@k needs 1 <= k <= n and c <= n (n={n}, c={c}, k={k})");
    if n - c < k {
        // Fewer wrong responses than draws: some draw is correct.
        return 1.0;
    }
    // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i).
    let all_wrong: f64 = (n - c + 1..=n).map(|i| 1.0 - k as f64 / i as f64).product();
    1.0 - all_wrong
}

/// The fraction of correct responses (one problem's pass@1 estimate).
pub fn mean_correct(correct: &[bool]) -> f64 {
    if correct.is_empty() {
        return 0.0;
    }
    correct.iter().filter(|&&c| c).count() as f64 / correct.len() as f64
}

/// Majority vote over one problem's responses: `(extracted answer, correct)`
/// per response. Returns the (tie-averaged) correctness of the winning
/// answer, in [0, 1]; see the module docs for the rules.
pub fn majority_vote<S: AsRef<str>>(responses: &[(Option<S>, bool)]) -> f64 {
    // answer -> (votes, correct votes)
    let mut tally: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (answer, correct) in responses {
        if let Some(a) = answer {
            let e = tally.entry(a.as_ref()).or_default();
            e.0 += 1;
            e.1 += *correct as usize;
        }
    }
    let Some(top) = tally.values().map(|&(votes, _)| votes).max() else {
        return 0.0;
    };
    let tied: Vec<f64> = tally
        .values()
        .filter(|&&(votes, _)| votes == top)
        .map(|&(votes, ok)| ok as f64 / votes as f64)
        .collect();
    tied.iter().sum::<f64>() / tied.len() as f64
}

/// The k values pass@k is reported for: 1, 2, 4, ... up to `n`, and `n`.
pub fn k_ladder(n: usize) -> Vec<usize> {
    let mut ks: Vec<usize> =
        std::iter::successors(Some(1usize), |k| k.checked_mul(2)).take_while(|&k| k <= n).collect();
    if n >= 1 && ks.last() != Some(&n) {
        ks.push(n);
    }
    ks
}

/// One problem's `n` scored responses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProblemOutcome {
    pub correct: Vec<bool>,
    /// The task's extracted, normalised answer per response (None: no answer).
    pub answers: Vec<Option<String>>,
}

impl ProblemOutcome {
    pub fn n(&self) -> usize {
        self.correct.len()
    }

    fn votes(&self) -> Vec<(Option<&str>, bool)> {
        self.answers.iter().map(|a| a.as_deref()).zip(self.correct.iter().copied()).collect()
    }
}

/// Means over problems of the estimators above.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub problems: usize,
    /// Responses per problem.
    pub n: usize,
    /// Mean over problems of the fraction correct (mean@n, = pass@1).
    pub mean_at_n: f64,
    /// `(k, pass@k)` for every k of [`k_ladder`].
    pub pass_at: Vec<(usize, f64)>,
    pub maj_at_n: f64,
}

impl Summary {
    /// Summarises problems that all have the same number of responses `n >= 1`.
    pub fn over(problems: &[ProblemOutcome]) -> Result<Summary, String> {
        let n = problems.first().map_or(0, ProblemOutcome::n);
        if n == 0 {
            return Err("no scored responses to summarise".into());
        }
        if let Some(bad) = problems.iter().position(|p| p.n() != n || p.answers.len() != n) {
            return Err(format!(
                "problem {bad} has {} responses ({} answers), expected {n}",
                problems[bad].n(),
                problems[bad].answers.len()
            ));
        }
        let count = problems.len() as f64;
        let mean = |f: &dyn Fn(&ProblemOutcome) -> f64| problems.iter().map(f).sum::<f64>() / count;
        let pass_at = k_ladder(n)
            .into_iter()
            .map(|k| {
                (k, mean(&|p: &ProblemOutcome| pass_at_k(n, p.correct.iter().filter(|&&c| c).count(), k)))
            })
            .collect();
        Ok(Summary {
            problems: problems.len(),
            n,
            mean_at_n: mean(&|p: &ProblemOutcome| mean_correct(&p.correct)),
            pass_at,
            maj_at_n: mean(&|p: &ProblemOutcome| majority_vote(&p.votes())),
        })
    }

    /// pass@k for one `k` of the ladder.
    pub fn pass(&self, k: usize) -> Option<f64> {
        self.pass_at.iter().find(|(kk, _)| *kk == k).map(|(_, v)| *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// C(n, k) exactly, for the small cases the tests check against.
    fn binomial(n: u128, k: u128) -> u128 {
        if k > n {
            return 0;
        }
        (0..k).fold(1u128, |acc, i| acc * (n - i) / (i + 1))
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn pass_at_k_matches_hand_computed_cases() {
        // n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10.
        assert!(close(pass_at_k(5, 2, 2), 0.7));
        // n=10, c=3, k=5: 1 - C(7,5)/C(10,5) = 1 - 21/252.
        assert!(close(pass_at_k(10, 3, 5), 1.0 - 21.0 / 252.0));
        // n=4, c=1, k=2: 1 - C(3,2)/C(4,2) = 1 - 3/6.
        assert!(close(pass_at_k(4, 1, 2), 0.5));
        assert_eq!(pass_at_k(5, 0, 3), 0.0, "no correct response, never solved");
        assert_eq!(pass_at_k(5, 4, 2), 1.0, "one wrong response cannot fill two draws");
        assert_eq!(pass_at_k(8, 8, 8), 1.0);
    }

    #[test]
    fn pass_at_1_is_the_fraction_correct() {
        for n in 1..=12 {
            for c in 0..=n {
                assert!(close(pass_at_k(n, c, 1), c as f64 / n as f64), "n={n} c={c}");
            }
        }
    }

    #[test]
    fn pass_at_k_product_equals_the_binomial_ratio() {
        for n in 1..=30usize {
            for c in 0..=n {
                for k in 1..=n {
                    let exact = 1.0
                        - binomial((n - c) as u128, k as u128) as f64 / binomial(n as u128, k as u128) as f64;
                    assert!((pass_at_k(n, c, k) - exact).abs() < 1e-12, "n={n} c={c} k={k}");
                }
            }
        }
    }

    #[test]
    fn pass_at_k_stays_finite_and_monotone_for_large_n() {
        // C(1000, 500) overflows f64; the product does not.
        let mut last = 0.0;
        for k in [1, 10, 100, 500, 1000] {
            let p = pass_at_k(1000, 3, k);
            assert!(p.is_finite() && (0.0..=1.0).contains(&p) && p >= last, "k={k}: {p}");
            last = p;
        }
        assert!(close(pass_at_k(1000, 1, 1), 0.001));
    }

    #[test]
    fn majority_vote_picks_the_most_common_answer() {
        let v = |xs: &[(Option<&str>, bool)]| majority_vote(xs);
        assert_eq!(v(&[(Some("a"), true), (Some("b"), false), (Some("a"), true)]), 1.0);
        assert_eq!(v(&[(Some("a"), false), (Some("a"), false), (Some("b"), true)]), 0.0);
        // Responses without an answer do not vote.
        assert_eq!(v(&[(None, false), (None, false), (Some("b"), true)]), 1.0);
        assert_eq!(v(&[(None, false), (None, false)]), 0.0, "no answers at all: unsolved");
        assert_eq!(v(&[]), 0.0);
    }

    #[test]
    fn majority_vote_ties_score_the_mean_of_the_tied_answers() {
        let v = |xs: &[(Option<&str>, bool)]| majority_vote(xs);
        assert_eq!(v(&[(Some("a"), true), (Some("b"), false)]), 0.5);
        // Three-way tie, one right: 1/3, whatever the order.
        let third = v(&[(Some("c"), false), (Some("a"), true), (Some("b"), false)]);
        assert!(close(third, 1.0 / 3.0));
        assert!(close(v(&[(Some("a"), true), (Some("b"), false), (Some("c"), false)]), third));
        // A tie below a clear winner does not count.
        assert_eq!(v(&[(Some("a"), true), (Some("a"), true), (Some("b"), false), (Some("c"), false)]), 1.0);
        // An answer whose votes disagree counts its fraction correct.
        assert_eq!(v(&[(Some("a"), true), (Some("a"), false)]), 0.5);
    }

    #[test]
    fn k_ladder_doubles_and_ends_at_n() {
        assert_eq!(k_ladder(1), [1]);
        assert_eq!(k_ladder(8), [1, 2, 4, 8]);
        assert_eq!(k_ladder(10), [1, 2, 4, 8, 10]);
        assert!(k_ladder(0).is_empty());
    }

    #[test]
    fn summary_averages_over_problems() {
        let p = |correct: &[bool], answers: &[Option<&str>]| ProblemOutcome {
            correct: correct.to_vec(),
            answers: answers.iter().map(|a| a.map(str::to_string)).collect(),
        };
        let problems = [
            // 2 of 4 correct, "x" (correct) wins the vote 2:1.
            p(&[true, true, false, false], &[Some("x"), Some("x"), Some("y"), None]),
            // none correct.
            p(&[false; 4], &[Some("z"), Some("z"), None, None]),
        ];
        let s = Summary::over(&problems).unwrap();
        assert_eq!((s.problems, s.n), (2, 4));
        assert!(close(s.mean_at_n, (0.5 + 0.0) / 2.0));
        assert_eq!(s.pass_at.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [1, 2, 4]);
        assert!(close(s.pass(1).unwrap(), s.mean_at_n));
        // n=4, c=2, k=2: 1 - C(2,2)/C(4,2) = 5/6.
        assert!(close(s.pass(2).unwrap(), (5.0 / 6.0) / 2.0));
        assert!(close(s.pass(4).unwrap(), 0.5));
        assert!(close(s.maj_at_n, 0.5));
        let uneven = [p(&[true], &[None]), p(&[true, false], &[None, None])];
        assert!(Summary::over(&uneven).unwrap_err().contains("problem 1 has 2 responses"));
        assert!(Summary::over(&[]).is_err());
    }
}
