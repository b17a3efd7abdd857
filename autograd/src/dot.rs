//! Graphviz DOT export of the graph below a Var: one node per Var (its op and shape), one edge per
//! input -> output. For pictures of what autograd recorded; it reads the graph and changes nothing.

use crate::op::Op;
use crate::var::{Var, VarId};
use std::collections::HashSet;
use std::fmt::Write;

impl Var {
    /// The graph that produced this Var as Graphviz DOT (`dot -Tsvg`), inputs above outputs.
    /// Leaves that require a gradient are filled; constants are dashed.
    pub fn graph_dot(&self) -> String {
        let mut nodes: Vec<Var> = Vec::new();
        let mut seen: HashSet<VarId> = HashSet::from([self.id()]);
        let mut stack = vec![self.clone()];
        while let Some(v) = stack.pop() {
            for input in v.op().inputs() {
                if seen.insert(input.id()) {
                    stack.push(input.clone());
                }
            }
            nodes.push(v);
        }
        nodes.sort_by_key(|v| v.id());

        let mut out = String::from("digraph kiln {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
        for v in &nodes {
            let name = match (v.op(), v.requires_grad()) {
                (Op::Leaf, true) => "leaf",
                (Op::Leaf, false) => "const",
                (op, _) => op.name(),
            };
            let style = match (v.op(), v.requires_grad()) {
                (Op::Leaf, true) => ", style=filled, fillcolor=\"#dde8f7\"",
                (Op::Leaf, false) => ", style=dashed",
                _ => "",
            };
            let _ = writeln!(
                out,
                "  n{} [label=\"#{} {}\\n{} {:?}\"{}];",
                v.id(),
                v.id(),
                name,
                v.shape(),
                v.dtype(),
                style
            );
        }
        for v in &nodes {
            for input in v.op().inputs() {
                let _ = writeln!(out, "  n{} -> n{};", input.id(), v.id());
            }
        }
        out.push_str("}\n");
        out
    }
}
