//! Exhaustive search for a solution, for rows that carry none (TinyZero's
//! data has only `target` and `nums`): every way of combining the numbers
//! pairwise, with exact rational arithmetic, until one hits the target.

use crate::expr::BinOp;
use crate::tree::{Node, Tree};

/// The search grows factorially; beyond this many numbers it is not tried.
pub const MAX_SOLVER_OPERANDS: usize = 5;

/// An expression (without spaces) that uses every number in `nums` once,
/// only the operators in `ops`, and equals `target` exactly.
pub fn solve(nums: &[i64], target: i64, ops: &[BinOp]) -> Option<String> {
    if nums.is_empty() || nums.len() > MAX_SOLVER_OPERANDS {
        return None;
    }
    let mut tree = Tree::default();
    let items: Vec<(u8, Rational)> =
        nums.iter().map(|&v| (tree.push(Node::Leaf(v)), Rational::int(v as i128))).collect();
    let goal = Rational::int(target as i128);
    search(&mut tree, &items, ops, goal).map(|root| tree.render(root, false))
}

fn search(tree: &mut Tree, items: &[(u8, Rational)], ops: &[BinOp], goal: Rational) -> Option<u8> {
    if let [(root, value)] = items {
        return (*value == goal).then_some(*root);
    }
    for i in 0..items.len() {
        for j in 0..items.len() {
            if i == j {
                continue;
            }
            for &op in ops {
                // `+` and `*` commute: try each unordered pair once.
                if matches!(op, BinOp::Add | BinOp::Mul) && i > j {
                    continue;
                }
                let Some(value) = items[i].1.apply(op, items[j].1) else { continue };
                let mark = tree.len();
                let node = tree.push(Node::Op(op, items[i].0, items[j].0));
                let mut rest: Vec<(u8, Rational)> =
                    items.iter().enumerate().filter(|(k, _)| *k != i && *k != j).map(|(_, it)| *it).collect();
                rest.push((node, value));
                if let Some(root) = search(tree, &rest, ops, goal) {
                    return Some(root);
                }
                tree.truncate(mark);
            }
        }
    }
    None
}

/// An exact fraction in lowest terms with a positive denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rational {
    num: i128,
    den: i128,
}

impl Rational {
    fn int(v: i128) -> Self {
        Rational { num: v, den: 1 }
    }

    fn new(num: i128, den: i128) -> Option<Self> {
        if den == 0 {
            return None;
        }
        let g = gcd(num.unsigned_abs(), den.unsigned_abs()).max(1) as i128;
        let sign = if den < 0 { -1 } else { 1 };
        Some(Rational { num: num / g * sign, den: den / g * sign })
    }

    fn apply(self, op: BinOp, other: Rational) -> Option<Rational> {
        let (a, b, c, d) = (self.num, self.den, other.num, other.den);
        match op {
            BinOp::Add => Rational::new(a.checked_mul(d)?.checked_add(c.checked_mul(b)?)?, b.checked_mul(d)?),
            BinOp::Sub => Rational::new(a.checked_mul(d)?.checked_sub(c.checked_mul(b)?)?, b.checked_mul(d)?),
            BinOp::Mul => Rational::new(a.checked_mul(c)?, b.checked_mul(d)?),
            BinOp::Div => Rational::new(a.checked_mul(d)?, b.checked_mul(c)?),
            BinOp::FloorDiv => None,
        }
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{parse, Limits, Mode};

    const ALL: [BinOp; 4] = [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div];

    fn check(nums: &[i64], target: i64, ops: &[BinOp]) -> String {
        let s = solve(nums, target, ops).expect("solvable");
        let parsed = parse(&s, Mode::Strict, &Limits::default()).unwrap();
        assert!(parsed.value.unwrap().matches_target(target), "{s}");
        assert_eq!(parsed.literals, nums.len(), "{s}");
        s
    }

    #[test]
    fn finds_solutions_from_tinyzero_rows() {
        check(&[48, 66, 23], 137, &ALL);
        check(&[20, 51, 84, 7], 421, &ALL);
        check(&[45, 34, 38, 24], 93, &ALL);
    }

    #[test]
    fn needs_fractions_sometimes() {
        // 24 from 1 3 4 6 needs 6 / (1 - 3/4).
        check(&[1, 3, 4, 6], 24, &ALL);
    }

    #[test]
    fn respects_the_operator_set_and_reports_impossible() {
        let s = check(&[5, 7, 9], 21, &[BinOp::Add]);
        assert!(!s.contains('-'));
        assert_eq!(solve(&[5, 7, 9], 22, &[BinOp::Add]), None);
        assert_eq!(solve(&[1, 2, 3, 4, 5, 6], 21, &ALL), None, "too many numbers to search");
    }
}
