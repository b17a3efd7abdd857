//! The fused LSTM recurrence as one graph node: `lstm_sequence(proj, w_hh, steps)` runs one
//! direction of a layer over every step (kiln-kernels' `lstm` family) and records the activated
//! gates the backward pass needs. Building an LSTM out of it (the input projection, directions,
//! layers, outputs) is kiln-models' job. No backward math here: the rule is in `rules/lstm.rs`.

use crate::op::Op;
use crate::var::Var;
use kiln_kernels::lstm::{self, Steps};
use kiln_tensor::Result;

/// The states `[B, T, 2H]` (`h` then `c` after each step) of an LSTM direction, from the input
/// projection of every step `proj [B, T, 4H]` (`x W_ihᵀ + b_ih + b_hh`) and `w_hh [4H, H]`; see
/// `kiln_kernels::lstm` for the gate order and how `steps` pads and reverses.
pub fn lstm_sequence(proj: &Var, w_hh: &Var, steps: Steps) -> Result<Var> {
    let fwd = lstm::forward(proj.tensor(), w_hh.tensor(), &steps)?;
    Ok(Var::from_op(fwd.states, Op::LstmSequence { proj: proj.clone(), w_hh: w_hh.clone(), steps, gates: fwd.gates }))
}
