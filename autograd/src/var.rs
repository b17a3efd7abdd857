//! `Var`: a tensor plus the op that made it, shared through an `Arc` so graphs are cheap to clone
//! and can cross threads. Construction (leaf, constant, recorded op), identity, accessors, and the
//! iterative `Drop` that frees arbitrarily deep graphs. No forward math and no backward rules here.

use crate::no_grad::is_grad_enabled;
use crate::op::Op;
use kiln_tensor::{DType, Device, Shape, Tensor};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// A process-unique Var identity; [`crate::GradStore`] is keyed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(u64);

impl VarId {
    fn fresh() -> VarId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        VarId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for VarId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

pub(crate) struct Node {
    id: VarId,
    tensor: Tensor,
    op: Op,
    requires_grad: bool,
}

/// A tensor in the autograd graph. Cloning a `Var` clones a handle, not the data.
#[derive(Clone)]
pub struct Var(Arc<Node>);

/// A handle that does not keep its Var alive (tests use it to see that a graph was freed).
#[derive(Clone)]
pub struct WeakVar(Weak<Node>);

impl WeakVar {
    pub fn upgrade(&self) -> Option<Var> {
        self.0.upgrade().map(Var)
    }
}

impl Var {
    fn make(tensor: Tensor, op: Op, requires_grad: bool) -> Var {
        Var(Arc::new(Node { id: VarId::fresh(), tensor, op, requires_grad }))
    }

    /// A leaf that requires a gradient (a parameter or an input under study).
    pub fn leaf(tensor: Tensor) -> Var {
        Self::make(tensor, Op::Leaf, true)
    }

    /// A leaf without gradient: ops whose inputs are all constants record nothing.
    pub fn constant(tensor: Tensor) -> Var {
        Self::make(tensor, Op::Leaf, false)
    }

    /// A leaf that requires a gradient or not.
    pub fn new(tensor: Tensor, requires_grad: bool) -> Var {
        Self::make(tensor, Op::Leaf, requires_grad)
    }

    /// The result of an op: recorded in the graph when gradients are enabled and some input needs
    /// one, otherwise a constant (the `Op` and everything it saved is dropped here).
    pub(crate) fn from_op(tensor: Tensor, op: Op) -> Var {
        if is_grad_enabled() && op.inputs().iter().any(|v| v.requires_grad()) {
            Self::make(tensor, op, true)
        } else {
            Self::constant(tensor)
        }
    }

    /// True when an op on these inputs will be recorded; ops use it to skip work that only
    /// backward needs (saved indices, masks) when nothing will be recorded.
    pub(crate) fn tracking(inputs: &[&Var]) -> bool {
        is_grad_enabled() && inputs.iter().any(|v| v.requires_grad())
    }

    pub fn id(&self) -> VarId {
        self.0.id
    }

    pub fn tensor(&self) -> &Tensor {
        &self.0.tensor
    }

    /// The op that made this Var (`Op::Leaf` for leaves and constants).
    pub fn op(&self) -> &Op {
        &self.0.op
    }

    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }

    pub fn is_leaf(&self) -> bool {
        matches!(self.0.op, Op::Leaf)
    }

    /// A constant sharing this Var's storage: gradients do not flow through it.
    pub fn detach(&self) -> Var {
        Var::constant(self.0.tensor.clone())
    }

    pub fn shape(&self) -> &Shape {
        self.0.tensor.shape()
    }

    pub fn dims(&self) -> &[usize] {
        self.0.tensor.dims()
    }

    pub fn rank(&self) -> usize {
        self.0.tensor.rank()
    }

    pub fn elem_count(&self) -> usize {
        self.0.tensor.elem_count()
    }

    pub fn dtype(&self) -> DType {
        self.0.tensor.dtype()
    }

    pub fn device(&self) -> Device {
        self.0.tensor.device()
    }

    pub fn downgrade(&self) -> WeakVar {
        WeakVar(Arc::downgrade(&self.0))
    }

    /// True when both handles are the same Var.
    pub fn same(&self, other: &Var) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Trade-off: the default drop of an `Arc` chain recurses once per node and overflows the stack
/// on deep graphs (an RNN unrolled over a long sequence, a 100,000-step chain). So a node being
/// freed moves its inputs onto a work list, and every input it was the last owner of is unlinked
/// the same way; each node's own drop then sees an empty op. Costs one Vec per freed graph.
impl Drop for Node {
    fn drop(&mut self) {
        let mut work = std::mem::replace(&mut self.op, Op::Leaf).into_inputs();
        while let Some(var) = work.pop() {
            if let Some(mut node) = Arc::into_inner(var.0) {
                work.extend(std::mem::replace(&mut node.op, Op::Leaf).into_inputs());
            }
        }
    }
}

impl fmt::Debug for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Var#{}({}, requires_grad={}, {:?})",
            self.id(),
            self.op().name(),
            self.requires_grad(),
            self.tensor()
        )
    }
}
