//! Binary expression trees over the given numbers, and their rendering with
//! the fewest parentheses that keep the meaning.

use std::fmt::Write;

use crate::expr::BinOp;

/// A node: a leaf (the number itself) or an operator over two earlier nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Leaf(i64),
    Op(BinOp, u8, u8),
}

/// An expression tree stored as a small arena; the last node is the root.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    pub fn clear(&mut self) {
        self.nodes.clear();
    }

    /// Adds a node and returns its index.
    pub fn push(&mut self, node: Node) -> u8 {
        self.nodes.push(node);
        (self.nodes.len() - 1) as u8
    }

    pub fn node(&self, index: u8) -> Node {
        self.nodes[index as usize]
    }

    pub fn truncate(&mut self, len: usize) {
        self.nodes.truncate(len);
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Renders the tree rooted at `root`: `(30+12)*7`, or with `spaced`
    /// `(30 + 12) * 7` (the style of TinyZero's prompt example).
    pub fn render(&self, root: u8, spaced: bool) -> String {
        let mut out = String::with_capacity(32);
        self.write(root, spaced, &mut out);
        out
    }

    fn write(&self, index: u8, spaced: bool, out: &mut String) {
        match self.nodes[index as usize] {
            Node::Leaf(v) => {
                let _ = write!(out, "{v}");
            }
            Node::Op(op, left, right) => {
                let prec = precedence(op);
                let left_parens = self.precedence_of(left) < prec;
                // `a - (b + c)` and `a / (b * c)` need them; `a + (b - c)` does not.
                let right_prec = self.precedence_of(right);
                let right_parens = right_prec < prec
                    || (right_prec == prec && matches!(op, BinOp::Sub | BinOp::Div | BinOp::FloorDiv));
                self.write_operand(left, left_parens, spaced, out);
                if spaced {
                    out.push(' ');
                }
                out.push_str(op.symbol());
                if spaced {
                    out.push(' ');
                }
                self.write_operand(right, right_parens, spaced, out);
            }
        }
    }

    fn write_operand(&self, index: u8, parens: bool, spaced: bool, out: &mut String) {
        if parens {
            out.push('(');
        }
        self.write(index, spaced, out);
        if parens {
            out.push(')');
        }
    }

    fn precedence_of(&self, index: u8) -> u8 {
        match self.nodes[index as usize] {
            Node::Leaf(_) => 3,
            Node::Op(op, ..) => precedence(op),
        }
    }
}

fn precedence(op: BinOp) -> u8 {
    match op {
        BinOp::Add | BinOp::Sub => 1,
        BinOp::Mul | BinOp::Div | BinOp::FloorDiv => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(build: impl FnOnce(&mut Tree) -> u8) -> (Tree, u8) {
        let mut t = Tree::default();
        let root = build(&mut t);
        (t, root)
    }

    #[test]
    fn parentheses_only_where_needed() {
        let (t, root) = tree(|t| {
            let a = t.push(Node::Leaf(30));
            let b = t.push(Node::Leaf(12));
            let c = t.push(Node::Leaf(7));
            let sum = t.push(Node::Op(BinOp::Add, a, b));
            t.push(Node::Op(BinOp::Mul, sum, c))
        });
        assert_eq!(t.render(root, false), "(30+12)*7");
        assert_eq!(t.render(root, true), "(30 + 12) * 7");
    }

    #[test]
    fn right_operand_of_minus_and_divide_keeps_its_parentheses() {
        let (t, root) = tree(|t| {
            let a = t.push(Node::Leaf(9));
            let b = t.push(Node::Leaf(4));
            let c = t.push(Node::Leaf(2));
            let d = t.push(Node::Leaf(3));
            let diff = t.push(Node::Op(BinOp::Sub, b, c));
            let left = t.push(Node::Op(BinOp::Sub, a, diff));
            let sum = t.push(Node::Op(BinOp::Add, c, d));
            let _ = t.push(Node::Op(BinOp::Add, a, diff));
            t.push(Node::Op(BinOp::Div, left, sum))
        });
        assert_eq!(t.render(root, false), "(9-(4-2))/(2+3)");
        assert_eq!(t.render(root - 1, false), "9+4-2");
    }
}
