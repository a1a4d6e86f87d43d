//! Named, timed phases of a step, veRL's `timing_s/*`: `gen`, `reward`,
//! `old_log_prob`, `ref`, `values`, `adv`, `update_critic`,
//! `update_actor` (and `step`, `testing` around them).

use std::time::Instant;

/// The wall-clock seconds of each phase that ran, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Phases {
    done: Vec<(&'static str, f64)>,
}

impl Phases {
    /// Starts with phases timed elsewhere (the rollout's `gen` and `reward`).
    pub fn with(done: &[(&'static str, f64)]) -> Phases {
        Phases { done: done.to_vec() }
    }

    /// Runs `f` as the phase `name`.
    pub fn time<R>(&mut self, name: &'static str, f: impl FnOnce() -> R) -> R {
        let t0 = Instant::now();
        let out = f();
        self.done.push((name, t0.elapsed().as_secs_f64()));
        out
    }

    /// `(name, seconds)` of every phase that ran.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        self.done.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_keep_their_names_order_and_results() {
        let mut p = Phases::with(&[("gen", 1.5)]);
        assert_eq!(p.time("adv", || 7), 7);
        let names: Vec<&str> = p.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["gen", "adv"]);
        assert!(p.iter().all(|(_, s)| s >= 0.0));
    }
}
