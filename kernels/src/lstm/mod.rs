//! The recurrent half of an LSTM layer, one direction over a whole sequence, as one kernel: given
//! the input projection of every step (`proj = x W_ihᵀ + b_ih + b_hh`, computed before by one big
//! matmul) and `W_hh`, run `gates = proj[t] + h W_hhᵀ` and the cell update for every step, and in
//! backward run the whole back-propagation through time. PyTorch's gate order (i, f, g, o).
//!
//! Why one op per direction rather than per-step graph nodes: the recurrence is the only part of an
//! LSTM that cannot be batched over time, and as a chain of small graph ops it pays an allocation,
//! a graph node and a dispatch per gate per step (≈20 per step, 512 steps per W3 layer). Here it is
//! a loop over steps inside one kernel, parallel over batch rows (rows never interact).
//!
//! Inputs and outputs (B batch, T steps, H hidden):
//! - `proj [B, T, 4H]`, `w_hh [4H, H]` (any layout; made contiguous here).
//! - `lengths` (optional, one per row, 1..=T): steps `t >= lengths[b]` are padding. They leave the
//!   state unchanged, so a forward direction ends at its last real token, and the reverse direction
//!   starts there (packed-sequence semantics).
//! - output `states [B, T, 2H]`: for each step the state *after* it, `h` then `c` (frozen through
//!   padding, zero before the first real step), and `gates [B, T, 4H]`, the activated gates saved
//!   for backward (zero at padding steps).
//!
//! The checks and the choice of implementation live here; the scalar oracle is `reference.rs`, the
//! fast f32 version `cpu.rs`. No autograd here (the op that records this is kiln-autograd's).

pub mod cpu;
#[cfg(test)]
mod cpu_tests;
pub mod cuda;
pub mod reference;

use crate::backend::{backend, Backend};
use crate::{check, float_dispatch, simd};
use kiln_tensor::{DType, Element, Error, Result, Shape, Tensor};

/// The direction and padding of one run: which steps are real for which row, in which order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steps {
    /// Per row, its number of real steps (`None`: all `T`).
    pub lengths: Option<Vec<usize>>,
    /// Run from the last step to the first.
    pub reverse: bool,
}

impl Steps {
    /// Whether step `t` of row `b` is a real token.
    #[inline]
    pub fn active(&self, b: usize, t: usize) -> bool {
        match &self.lengths {
            Some(l) => t < l[b],
            None => true,
        }
    }

    /// The step processed `i`-th (`0..t_len`).
    #[inline]
    pub fn step(&self, i: usize, t_len: usize) -> usize {
        if self.reverse {
            t_len - 1 - i
        } else {
            i
        }
    }
}

/// The dimensions every LSTM kernel shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub batch: usize,
    pub steps: usize,
    pub hidden: usize,
}

/// What the forward pass returns: the per-step states and the saved gate activations.
pub struct Forward {
    pub states: Tensor,
    pub gates: Tensor,
}

/// What the backward pass returns.
pub struct Backward {
    /// Gradient w.r.t. `proj` (the pre-activation gates), `[B, T, 4H]`.
    pub proj: Tensor,
    /// Gradient w.r.t. `w_hh`, `[4H, H]`.
    pub w_hh: Tensor,
}

/// The dense operands of the backward pass, shapes as in the module docs.
pub struct BackwardArgs<'a, T> {
    /// Gradient flowing into `states`, `[B, T, 2H]`.
    pub grad: &'a [T],
    pub states: &'a [T],
    pub gates: &'a [T],
    pub w_hh: &'a [T],
}

/// f32 on the CPU back end runs `cpu.rs`; everything else (f64 for gradient checks,
/// `KILN_KERNELS=reference`) the reference.
fn fast_path(dtype: DType) -> bool {
    dtype == DType::F32 && backend() == Backend::Cpu
}

fn dims_of(op: &'static str, proj: &Shape, w_hh: &Shape, steps: &Steps) -> Result<Dims> {
    let (p, w) = (proj.dims(), w_hh.dims());
    if p.len() != 3 || w.len() != 2 || w[0] != 4 * w[1] || p[2] != w[0] || w[1] == 0 {
        return Err(Error::invalid(
            op,
            format!("expected proj [batch, steps, 4H] and w_hh [4H, H], got proj {proj} and w_hh {w_hh}"),
        ));
    }
    let dims = Dims { batch: p[0], steps: p[1], hidden: w[1] };
    if let Some(l) = &steps.lengths {
        if l.len() != dims.batch || l.iter().any(|&n| n == 0 || n > dims.steps) {
            return Err(Error::invalid(
                op,
                format!("lengths {l:?} do not fit {} sequences of {} steps", dims.batch, dims.steps),
            ));
        }
    }
    Ok(dims)
}

fn expect_shape(op: &'static str, t: &Tensor, want: &[usize]) -> Result<()> {
    if t.dims() != want {
        return Err(Error::ShapeMismatch { op, lhs: Shape::from(want.to_vec()), rhs: t.shape().clone() });
    }
    Ok(())
}

/// Runs `f` on the dense, row-major slices of `tensors` (copied first where a layout is strided).
fn with_dense<T: Element, R>(tensors: &[&Tensor], f: impl FnOnce(&[&[T]]) -> R) -> Result<R> {
    let dense: Vec<Tensor> = tensors.iter().map(|t| t.contiguous()).collect::<Result<_>>()?;
    let refs: Vec<&Tensor> = dense.iter().collect();
    Tensor::with_slices(&refs, |views: &[(&[T], &kiln_tensor::Layout)]| {
        let slices: Vec<&[T]> =
            views.iter().map(|(s, l)| &s[l.contiguous_range().expect("made contiguous above")]).collect();
        f(&slices)
    })
}

/// The forward pass over the whole sequence (see the module docs for shapes and semantics).
pub fn forward(proj: &Tensor, w_hh: &Tensor, steps: &Steps) -> Result<Forward> {
    const OP: &str = "lstm_forward";
    check::float_pair(OP, proj, w_hh)?;
    check::same_device(OP, proj, w_hh)?;
    let d = dims_of(OP, proj.shape(), w_hh.shape(), steps)?;
    if !proj.device().is_cpu() {
        return crate::cuda::lstm::forward_tensor(proj, w_hh, steps, d);
    }
    let (b, t, h) = (d.batch, d.steps, d.hidden);
    fn pack<T: Element>(states: Vec<T>, gates: Vec<T>, [b, t, h]: [usize; 3]) -> Result<Forward> {
        Ok(Forward { states: Tensor::from_vec(states, [b, t, 2 * h])?, gates: Tensor::from_vec(gates, [b, t, 4 * h])? })
    }
    if fast_path(proj.dtype()) {
        let (states, gates) =
            with_dense(&[proj, w_hh], |s: &[&[f32]]| cpu::forward(simd::isa(), s[0], s[1], d, steps))?;
        return pack(states, gates, [b, t, h]);
    }
    float_dispatch!(proj.dtype(), OP, T => {
        let (states, gates) = with_dense(&[proj, w_hh], |s: &[&[T]]| reference::forward(s[0], s[1], d, steps))?;
        pack(states, gates, [b, t, h])
    })
}

/// The backward pass: from the gradient flowing into `states` and what [`forward`] returned, the
/// gradients of `proj` and `w_hh`.
pub fn backward(grad_states: &Tensor, fwd: &Forward, w_hh: &Tensor, steps: &Steps) -> Result<Backward> {
    const OP: &str = "lstm_backward";
    for t in [&fwd.states, &fwd.gates, w_hh] {
        check::float_pair(OP, grad_states, t)?;
        check::same_device(OP, grad_states, t)?;
    }
    let gate_shape = Shape::from(fwd.gates.dims().to_vec());
    let d = dims_of(OP, &gate_shape, w_hh.shape(), steps)?;
    let (b, t, h) = (d.batch, d.steps, d.hidden);
    expect_shape(OP, &fwd.states, &[b, t, 2 * h])?;
    expect_shape(OP, grad_states, &[b, t, 2 * h])?;
    if !grad_states.device().is_cpu() {
        return crate::cuda::lstm::backward_tensor(grad_states, fwd, w_hh, steps, d);
    }
    fn pack<T: Element>(dproj: Vec<T>, dw: Vec<T>, [b, t, h]: [usize; 3]) -> Result<Backward> {
        Ok(Backward { proj: Tensor::from_vec(dproj, [b, t, 4 * h])?, w_hh: Tensor::from_vec(dw, [4 * h, h])? })
    }
    let operands = [grad_states, &fwd.states, &fwd.gates, w_hh];
    if fast_path(grad_states.dtype()) {
        let (dproj, dw) = with_dense(&operands, |s: &[&[f32]]| {
            cpu::backward(simd::isa(), &BackwardArgs { grad: s[0], states: s[1], gates: s[2], w_hh: s[3] }, d, steps)
        })?;
        return pack(dproj, dw, [b, t, h]);
    }
    float_dispatch!(grad_states.dtype(), OP, T => {
        let (dproj, dw) = with_dense(&operands, |s: &[&[T]]| {
            reference::backward(&BackwardArgs { grad: s[0], states: s[1], gates: s[2], w_hh: s[3] }, d, steps)
        })?;
        pack(dproj, dw, [b, t, h])
    })
}
