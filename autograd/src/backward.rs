//! The backward pass: topological order of the graph below an output (iterative, so depth is
//! unbounded), the seed, and accumulation of gradients over fan-out. The per-op formulas live in
//! `rules/`; this file only walks the graph and adds up what the rules return.
//!
//! [`grad_of`] (PyTorch's `torch.autograd.grad(out, inputs)`) computes the gradients of chosen
//! leaves only: the walk keeps the Vars from which a chosen leaf can be reached and rules skip every
//! other input ([`needs_grad`]), so an attack's gradient with respect to the pixels does not pay for
//! the weight gradients of every layer (for a conv net, about a third of a backward pass).

use crate::grad_store::GradStore;
use crate::no_grad::NoGradGuard;
use crate::op::Op;
use crate::rules;
use crate::var::{Var, VarId};
use kiln_kernels::elementwise::{binary, BinaryOp};
use kiln_tensor::{Error, Result, Tensor};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

thread_local! {
    /// During a [`grad_of`] pass: the Vars on a path to a chosen leaf (None: every Var that
    /// requires a gradient is wanted, as in [`backward`]).
    static WANTED: RefCell<Option<HashSet<VarId>>> = const { RefCell::new(None) };
}

/// Whether the running backward pass wants `v`'s gradient: `v` requires one and, inside
/// [`grad_of`], a chosen leaf is reachable from it. Rules ask this before computing a gradient.
pub(crate) fn needs_grad(v: &Var) -> bool {
    v.requires_grad() && WANTED.with(|w| w.borrow().as_ref().is_none_or(|set| set.contains(&v.id())))
}

/// Restores "everything wanted" when a [`grad_of`] pass ends, also by an error.
struct WantedGuard;

impl Drop for WantedGuard {
    fn drop(&mut self) {
        WANTED.with(|w| *w.borrow_mut() = None);
    }
}

/// Gradients of a one-element `loss` (seeded with 1) w.r.t. every leaf below it that requires one.
pub fn backward(loss: &Var) -> Result<GradStore> {
    if loss.elem_count() != 1 {
        return Err(Error::invalid(
            "backward",
            format!("the output has shape {}; give a seed with backward_with for non-scalar outputs", loss.shape()),
        ));
    }
    let seed = loss.tensor().ones_like()?;
    run(loss, seed, false)
}

/// Gradients of `sum(out * seed)`: `seed` is the gradient flowing into `out` (same shape and dtype).
pub fn backward_with(out: &Var, seed: Tensor) -> Result<GradStore> {
    run(out, seed, false)
}

/// Like [`backward_with`], but keeps the gradient of every Var in the graph, not only the leaves
/// (for studying a graph; costs memory proportional to the whole graph).
pub fn backward_retain_all(out: &Var, seed: Tensor) -> Result<GradStore> {
    run(out, seed, true)
}

/// Gradients of a one-element `loss` with respect to the leaves `wrt` only (each must require a
/// gradient); no other gradient is computed. The store holds exactly the leaves of `wrt` that
/// `loss` depends on.
pub fn grad_of(loss: &Var, wrt: &[&Var]) -> Result<GradStore> {
    if loss.elem_count() != 1 {
        return Err(Error::invalid("grad_of", format!("the output has shape {}; it must be one number", loss.shape())));
    }
    grad_of_with(loss, loss.tensor().ones_like()?, wrt)
}

/// [`grad_of`] of `sum(out * seed)`: `seed` is the gradient flowing into `out`.
pub fn grad_of_with(out: &Var, seed: Tensor, wrt: &[&Var]) -> Result<GradStore> {
    if let Some(v) = wrt.iter().find(|v| !matches!(v.op(), Op::Leaf) || !v.requires_grad()) {
        return Err(Error::invalid(
            "grad_of",
            format!("{v:?} is not a leaf that requires a gradient (grad_of differentiates with respect to leaves)"),
        ));
    }
    if !out.requires_grad() {
        return Err(Error::invalid("grad_of", "the output does not require a gradient"));
    }
    let chosen: HashSet<VarId> = wrt.iter().map(|v| v.id()).collect();
    // Inputs come before the Vars made from them, so one forward sweep marks every Var from
    // which a chosen leaf is reachable.
    let mut wanted = HashSet::new();
    for var in topological_order(out) {
        if chosen.contains(&var.id()) || var.op().inputs().iter().any(|i| wanted.contains(&i.id())) {
            wanted.insert(var.id());
        }
    }
    WANTED.with(|w| *w.borrow_mut() = Some(wanted));
    let _restore = WantedGuard;
    run(out, seed, false)
}

impl Var {
    /// Same as [`backward`].
    pub fn backward(&self) -> Result<GradStore> {
        backward(self)
    }
}

/// Every Var below `root` that requires a gradient, inputs before the Vars made from them.
/// Depth-first with an explicit stack: a node is emitted after all its inputs.
fn topological_order(root: &Var) -> Vec<Var> {
    let mut order = Vec::new();
    let mut seen: HashSet<VarId> = HashSet::new();
    let mut stack: Vec<(Var, bool)> = vec![(root.clone(), false)];
    while let Some((var, inputs_done)) = stack.pop() {
        if inputs_done {
            order.push(var);
            continue;
        }
        if !seen.insert(var.id()) {
            continue;
        }
        let inputs: Vec<Var> =
            var.op().inputs().into_iter().filter(|v| v.requires_grad() && !seen.contains(&v.id())).cloned().collect();
        stack.push((var, true));
        stack.extend(inputs.into_iter().map(|v| (v, false)));
    }
    order
}

fn run(out: &Var, seed: Tensor, retain_all: bool) -> Result<GradStore> {
    if !out.requires_grad() {
        return Err(Error::invalid(
            "backward",
            "the output does not require a gradient (no input of its graph is a leaf that requires one)",
        ));
    }
    check_grad("backward (seed)", out, &seed)?;
    let seed = seed.deep_copy()?;
    // Gradients are plain tensors: nothing computed here is recorded, even if the caller records.
    let _guard = NoGradGuard::new();
    let order = topological_order(out);
    let mut pending: HashMap<VarId, Tensor> = HashMap::from([(out.id(), seed)]);
    let mut store = GradStore::new();
    for var in order.iter().rev() {
        // Trade-off: an interior gradient is dropped as soon as its rule has run (unless asked to
        // retain all), so peak memory follows the frontier of the pass, not the whole graph.
        let Some(grad) = pending.remove(&var.id()) else { continue };
        if !needs_grad(var) {
            continue;
        }
        if matches!(var.op(), Op::Leaf) {
            store.insert_id(var.id(), owned(grad)?);
            continue;
        }
        let input_grads = rules::input_grads(var.op(), var.tensor(), &grad)?;
        if retain_all {
            store.insert_id(var.id(), owned(grad.clone())?);
        }
        for (input, g) in var.op().inputs().into_iter().zip(input_grads) {
            let Some(g) = g else { continue };
            if !needs_grad(input) {
                continue;
            }
            check_grad(var.op().name(), input, &g)?;
            let total = match pending.remove(&input.id()) {
                Some(acc) => binary(BinaryOp::Add, &acc, &g)?,
                None => g,
            };
            pending.insert(input.id(), total);
        }
    }
    Ok(store)
}

/// A stored gradient owns a dense buffer of its own: a rule may hand back a view (a narrow of the
/// output gradient for `cat`, a broadcast for `sum`), and two leaves must never share storage that
/// an optimizer might update in place. Fresh kernel outputs pass through without a copy.
fn owned(grad: Tensor) -> Result<Tensor> {
    if grad.owns_whole_storage() {
        Ok(grad)
    } else {
        grad.deep_copy()
    }
}

/// A gradient must have its Var's shape and dtype; a mismatch is a bug in a rule or a bad seed,
/// reported as an error rather than silently broadcast.
fn check_grad(op: &'static str, var: &Var, grad: &Tensor) -> Result<()> {
    if grad.shape() != var.shape() {
        return Err(Error::ShapeMismatch { op, lhs: var.shape().clone(), rhs: grad.shape().clone() });
    }
    if grad.dtype() != var.dtype() {
        return Err(Error::DTypeMismatch { op, lhs: var.dtype(), rhs: grad.dtype() });
    }
    Ok(())
}
