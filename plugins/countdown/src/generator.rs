//! Seeded Countdown problems with a reference solution, by operator group.
//!
//! Like TinyZero's data (`Jiayi-Pan/Countdown-Tasks-3to4`): 3 or 4 numbers
//! (configurable), each drawn uniformly from `1..=max_number` (repeats
//! allowed), and a positive integer target that is reachable. A problem is
//! built forwards: the numbers are combined pairwise in random order with the
//! group's operators until one value is left, which becomes the target. The
//! steps follow the classic Countdown rules, so every intermediate value is a
//! positive integer:
//! * `a - b` only when `a > b`;
//! * `a * b` and `a / b` only with operands above 1 (no `x*1` or `x/1`,
//!   which would make the group's operator meaningless);
//! * `a / b` only when it divides exactly.
//!
//! The group's newest operator is always used (see [`crate::groups`]), and a
//! target above `max_target` starts the draw again. Each step picks uniformly
//! among the valid (pair, operator) moves; while the newest operator is still
//! unused it is preferred at random, and forced on the last step.

use tz_sdk::rng::SplitMix64;

use crate::expr::BinOp;
use crate::groups::Group;
use crate::tree::{Node, Tree};

/// What the generator draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub min_operands: usize,
    pub max_operands: usize,
    pub max_number: i64,
    pub max_target: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { min_operands: 3, max_operands: 4, max_number: 99, max_target: 1000 }
    }
}

/// The most operands a problem may have (keeps the search small and the arena in `u8`).
pub const MAX_OPERANDS: usize = 6;
/// Draws before giving up on settings that admit (almost) no problem.
const MAX_ATTEMPTS: u32 = 100_000;

/// One generated problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub nums: Vec<i64>,
    pub target: i64,
    /// The reference solution, without spaces (`(30+12)*7`).
    pub solution: String,
    pub group: Group,
}

/// A reusable generator (keeps its buffers between problems).
#[derive(Debug, Default)]
pub struct Generator {
    tree: Tree,
}

impl Generator {
    /// One problem of `group`, drawn from `rng`.
    pub fn problem(
        &mut self,
        group: Group,
        settings: &Settings,
        rng: &mut SplitMix64,
    ) -> Result<Problem, String> {
        for _ in 0..MAX_ATTEMPTS {
            if let Some((root, target)) = self.attempt(group, settings, rng) {
                let operands = self.tree_leaves();
                return Ok(Problem {
                    nums: operands,
                    target,
                    solution: self.tree.render(root, false),
                    group,
                });
            }
        }
        Err(format!(
            "no {} problem with {}..={} numbers up to {} and a target up to {} found in {MAX_ATTEMPTS} draws; \
             raise max_target or max_number",
            group.name(),
            settings.min_operands,
            settings.max_operands,
            settings.max_number,
            settings.max_target
        ))
    }

    /// The leaves (the numbers, in draw order) of the current tree.
    fn tree_leaves(&self) -> Vec<i64> {
        (0..self.tree.len())
            .filter_map(|i| match self.tree.node(i as u8) {
                Node::Leaf(v) => Some(v),
                Node::Op(..) => None,
            })
            .collect()
    }

    /// One forward construction; `None` when it missed the group or the target range.
    fn attempt(&mut self, group: Group, s: &Settings, rng: &mut SplitMix64) -> Option<(u8, i64)> {
        let count = rng.range(s.min_operands as u64, s.max_operands as u64) as usize;
        self.tree.clear();
        // (node, value) of the values still to combine.
        let mut items = [(0u8, 0i64); MAX_OPERANDS];
        for item in items.iter_mut().take(count) {
            let v = rng.range(1, s.max_number as u64) as i64;
            *item = (self.tree.push(Node::Leaf(v)), v);
        }
        let mut live = count;
        let newest = group.newest();
        let mut used_newest = false;
        while live > 1 {
            let prefer_newest = !used_newest && (live == 2 || rng.next_u64() & 1 == 0);
            let only = if prefer_newest && count_moves(&items[..live], group, Some(newest)) > 0 {
                Some(newest)
            } else {
                None
            };
            let total = count_moves(&items[..live], group, only);
            if total == 0 {
                return None;
            }
            let (i, j, op, value) = nth_move(&items[..live], group, only, rng.next_u64() % total as u64);
            used_newest |= op == newest;
            let node = self.tree.push(Node::Op(op, items[i].0, items[j].0));
            items[i] = (node, value);
            items[j] = items[live - 1];
            live -= 1;
        }
        let (root, target) = items[0];
        (used_newest && (1..=s.max_target).contains(&target)).then_some((root, target))
    }
}

/// Values stay far below overflow and below any sensible target.
const VALUE_CAP: i64 = 10_000_000;

/// The value of `a op b` when it is a valid Countdown step.
fn step(op: BinOp, a: i64, b: i64) -> Option<i64> {
    match op {
        BinOp::Add => Some(a + b).filter(|v| *v <= VALUE_CAP),
        BinOp::Sub => (a > b).then(|| a - b),
        BinOp::Mul => (a > 1 && b > 1).then(|| a * b).filter(|v| *v <= VALUE_CAP),
        BinOp::Div => (b > 1 && a % b == 0).then(|| a / b),
        BinOp::FloorDiv => None,
    }
}

fn ops_for(group: Group, only: Option<BinOp>) -> &'static [BinOp] {
    static EACH: [BinOp; 5] = BinOp::ALL;
    match only {
        Some(op) => std::slice::from_ref(&EACH[op as usize]),
        None => group.operators(),
    }
}

fn count_moves(items: &[(u8, i64)], group: Group, only: Option<BinOp>) -> usize {
    let mut n = 0;
    for (i, a) in items.iter().enumerate() {
        for (j, b) in items.iter().enumerate() {
            if i != j {
                n += ops_for(group, only).iter().filter(|op| step(**op, a.1, b.1).is_some()).count();
            }
        }
    }
    n
}

/// The `k`-th valid move in the order [`count_moves`] counts them.
fn nth_move(
    items: &[(u8, i64)],
    group: Group,
    only: Option<BinOp>,
    mut k: u64,
) -> (usize, usize, BinOp, i64) {
    for (i, a) in items.iter().enumerate() {
        for (j, b) in items.iter().enumerate() {
            if i == j {
                continue;
            }
            for &op in ops_for(group, only) {
                if let Some(v) = step(op, a.1, b.1) {
                    if k == 0 {
                        return (i, j, op, v);
                    }
                    k -= 1;
                }
            }
        }
    }
    unreachable!("k is below the number of valid moves")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{parse, Limits, Mode};

    #[test]
    fn same_seed_same_problems() {
        let draw = |seed| {
            let mut g = Generator::default();
            let mut rng = SplitMix64::new(seed);
            (0..50)
                .map(|_| g.problem(Group::PlusMinusMul, &Settings::default(), &mut rng).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn problems_respect_the_settings() {
        let settings = Settings { min_operands: 3, max_operands: 5, max_number: 20, max_target: 300 };
        let mut g = Generator::default();
        let mut rng = SplitMix64::new(1);
        for group in Group::ALL {
            for _ in 0..500 {
                let p = g.problem(group, &settings, &mut rng).unwrap();
                assert!((3..=5).contains(&p.nums.len()), "{p:?}");
                assert!(p.nums.iter().all(|n| (1..=20).contains(n)), "{p:?}");
                assert!((1..=300).contains(&p.target), "{p:?}");
            }
        }
    }

    #[test]
    fn solutions_evaluate_to_the_target_and_use_the_group_operators() {
        let mut g = Generator::default();
        let mut rng = SplitMix64::new(3);
        for group in Group::ALL {
            for _ in 0..300 {
                let p = g.problem(group, &Settings::default(), &mut rng).unwrap();
                let parsed = parse(&p.solution, Mode::Strict, &Limits::default()).unwrap();
                assert!(parsed.value.unwrap().matches_target(p.target), "{p:?}");
                assert_eq!(Group::classify(parsed.operators), Some(group), "{p:?}");
                assert_eq!(parsed.literals, p.nums.len());
            }
        }
    }

    #[test]
    fn impossible_settings_give_an_error_not_a_hang() {
        let settings = Settings { min_operands: 3, max_operands: 3, max_number: 9, max_target: 2 };
        let mut rng = SplitMix64::new(0);
        let err = Generator::default().problem(Group::Plus, &settings, &mut rng).unwrap_err();
        assert!(err.contains("raise max_target"), "{err}");
    }
}
