//! The operator groups of the continual-learning data (seed 001).
//!
//! A sample belongs to a group by its **reference solution**: group `G`
//! holds the samples whose solution uses only `G`'s operators **and** uses
//! `G`'s newest operator (the one `G` adds to the group before it). So:
//!
//! | group | operators allowed | must use |
//! |---|---|---|
//! | `plus` | `+` | `+` |
//! | `plus_minus` | `+ -` | `-` |
//! | `plus_minus_mul` | `+ - *` | `*` |
//! | `plus_minus_mul_div` | `+ - * /` | `/` |
//!
//! Equivalently, a solution's group is the smallest group whose operators
//! cover it ([`Group::classify`]). "Uses exactly the group's operator set"
//! would be impossible for `plus_minus_mul_div` with three numbers (two
//! operators), which is why the rule asks for the newest operator only.
//! Other solutions with other operators may exist; the group describes the
//! generator's construction, not every way to reach the target.

use crate::expr::{BinOp, OpSet};

/// One operator group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Plus,
    PlusMinus,
    PlusMinusMul,
    PlusMinusMulDiv,
}

impl Group {
    /// In curriculum order.
    pub const ALL: [Group; 4] = [Group::Plus, Group::PlusMinus, Group::PlusMinusMul, Group::PlusMinusMulDiv];

    pub fn name(self) -> &'static str {
        match self {
            Group::Plus => "plus",
            Group::PlusMinus => "plus_minus",
            Group::PlusMinusMul => "plus_minus_mul",
            Group::PlusMinusMulDiv => "plus_minus_mul_div",
        }
    }

    pub fn from_name(name: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.name() == name)
    }

    /// The operators a solution in this group may use.
    pub fn operators(self) -> &'static [BinOp] {
        static OPS: [BinOp; 4] = [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div];
        &OPS[..self as usize + 1]
    }

    /// The operator this group adds to the previous one; its solutions use it.
    pub fn newest(self) -> BinOp {
        self.operators()[self as usize]
    }

    /// The group of a solution that uses `ops`; `None` for an empty set or
    /// one with an operator outside the four (floor division).
    pub fn classify(ops: OpSet) -> Option<Group> {
        Group::ALL.into_iter().find(|g| ops.is_subset(OpSet::of(g.operators())) && ops.contains(g.newest()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_curriculum_order() {
        let names: Vec<_> = Group::ALL.iter().map(|g| g.name()).collect();
        assert_eq!(names, ["plus", "plus_minus", "plus_minus_mul", "plus_minus_mul_div"]);
        for g in Group::ALL {
            assert_eq!(Group::from_name(g.name()), Some(g));
        }
        assert_eq!(Group::from_name("minus"), None);
    }

    #[test]
    fn classify_picks_the_smallest_covering_group() {
        use BinOp::*;
        assert_eq!(Group::classify(OpSet::of(&[Add])), Some(Group::Plus));
        assert_eq!(Group::classify(OpSet::of(&[Sub])), Some(Group::PlusMinus));
        assert_eq!(Group::classify(OpSet::of(&[Add, Sub])), Some(Group::PlusMinus));
        assert_eq!(Group::classify(OpSet::of(&[Mul])), Some(Group::PlusMinusMul));
        assert_eq!(Group::classify(OpSet::of(&[Add, Div])), Some(Group::PlusMinusMulDiv));
        assert_eq!(Group::classify(OpSet::of(&[Add, FloorDiv])), None);
        assert_eq!(Group::classify(OpSet::EMPTY), None);
    }
}
