//! One response's hybrid reward from the verifier's outcome, the normalised
//! RM score r̂ and the difficulty weight w:
//!
//! ```text
//! correct:      R = correct_score + β · w · r̂
//! not correct:  R = format_score  + α · w · r̂      (format_score only when an answer was found)
//! RM failed:    R = the verifier's reward alone
//! ```
//!
//! The verifier decides the base and the RM adds a bounded bonus: among
//! correct answers it prefers the ones the RM rates higher (β), among wrong
//! ones it gives partial credit (α). With `α · w_max < correct_score −
//! format_score` a correct answer always out-scores a wrong one, so the RM
//! can reorder answers within an outcome but never across outcomes.

/// The hybrid reward of one response.
pub fn hybrid_reward(
    verifier_reward: f64,
    correct: bool,
    alpha: f64,
    beta: f64,
    weight: f64,
    r_hat: f64,
) -> f64 {
    let scale = if correct { beta } else { alpha };
    verifier_reward + scale * weight * r_hat
}
