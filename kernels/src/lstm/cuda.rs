//! Launch code for lstm.cu: the fused gate step of one LSTM time step (gates `[B, 4H]` in PyTorch's
//! i, f, g, o order, already the sum of both GEMMs and the biases) and its backward.

use crate::cuda::params::to_u32;
use crate::cuda::source::LSTM;
use crate::cuda::{need, Buf, Launch, Runner};
use crate::kernel_params;
use kiln_tensor::Result;

kernel_params! {
    pub struct LstmForwardParams {
        pub gates: u64, pub c_prev: u64, pub h: u64, pub c: u64, pub act: u64,
        pub batch: u32, pub hidden: u32, pub ld_gates: u32, pub pad: u32,
    }
}
kernel_params! {
    pub struct LstmBackwardParams {
        pub dh: u64, pub dc_next: u64, pub act: u64, pub c_prev: u64, pub c: u64, pub dgates: u64, pub dc_prev: u64,
        pub batch: u32, pub hidden: u32,
    }
}

/// Outputs of one forward step, each contiguous: `h`, `c` `[B, H]`; `act` `[B, 4H]` (saved).
pub struct CellOut<'a> {
    pub h: &'a mut Buf<f32>,
    pub c: &'a mut Buf<f32>,
    pub act: &'a mut Buf<f32>,
}

/// One step: `gates` rows are `ld_gates` apart (so a step can read its slice of a `[T, B, 4H]`
/// projection through an offset); `c_prev` contiguous `[B, H]`.
#[allow(clippy::too_many_arguments)]
pub fn cell_forward(
    r: &Runner,
    gates: &Buf<f32>,
    gates_offset: usize,
    ld_gates: usize,
    c_prev: &Buf<f32>,
    batch: usize,
    hidden: usize,
    out: CellOut<'_>,
) -> Result<()> {
    const OP: &str = "lstm_cell";
    r.check(&[gates, c_prev, &*out.h, &*out.c, &*out.act])?;
    let bh = batch * hidden;
    if batch > 0 {
        need(OP, "gates", gates, gates_offset + (batch - 1) * ld_gates + 4 * hidden)?;
    }
    if ld_gates < 4 * hidden {
        return Err(kiln_tensor::Error::invalid(OP, format!("gate row stride {ld_gates} < 4 * hidden {hidden}")));
    }
    need(OP, "c_prev", c_prev, bh)?;
    need(OP, "h", out.h, bh)?;
    need(OP, "c", out.c, bh)?;
    need(OP, "activations", out.act, 4 * bh)?;
    let p = LstmForwardParams {
        gates: gates.addr(gates_offset)?,
        c_prev: c_prev.addr(0)?,
        h: out.h.addr_mut(0)?,
        c: out.c.addr_mut(0)?,
        act: out.act.addr_mut(0)?,
        batch: to_u32(OP, "batch", batch)?,
        hidden: to_u32(OP, "hidden", hidden)?,
        ld_gates: to_u32(OP, "gate stride", ld_gates)?,
        pad: 0,
    };
    // SAFETY: every buffer was checked for the elements the kernel touches.
    unsafe { r.launch(&LSTM, "lstm_cell_forward_f32", Launch::linear(bh, 256), &p) }
}

/// Inputs of one backward step (all contiguous): `dh` `[B, H]`, `dc_next` (gradient into `c` from
/// step t+1; None at the last step), the saved `act` `[B, 4H]`, `c_prev` and `c` `[B, H]`.
pub struct CellGrads<'a> {
    pub dh: &'a Buf<f32>,
    pub dc_next: Option<&'a Buf<f32>>,
    pub act: &'a Buf<f32>,
    pub c_prev: &'a Buf<f32>,
    pub c: &'a Buf<f32>,
}

/// Writes `dgates` `[B, 4H]` (w.r.t. the pre-activations) and `dc_prev` `[B, H]`.
pub fn cell_backward(
    r: &Runner,
    g: CellGrads<'_>,
    batch: usize,
    hidden: usize,
    dgates: &mut Buf<f32>,
    dc_prev: &mut Buf<f32>,
) -> Result<()> {
    const OP: &str = "lstm_cell_backward";
    r.check(&[g.dh, g.act, g.c_prev, g.c, &*dgates, &*dc_prev])?;
    let bh = batch * hidden;
    for (what, b, n) in [("dh", g.dh, bh), ("activations", g.act, 4 * bh), ("c_prev", g.c_prev, bh), ("c", g.c, bh)] {
        need(OP, what, b, n)?;
    }
    let dc_next = match g.dc_next {
        Some(b) => {
            r.check(&[b])?;
            need(OP, "dc_next", b, bh)?;
            b.addr(0)?
        }
        None => 0,
    };
    need(OP, "dgates", dgates, 4 * bh)?;
    need(OP, "dc_prev", dc_prev, bh)?;
    let p = LstmBackwardParams {
        dh: g.dh.addr(0)?,
        dc_next,
        act: g.act.addr(0)?,
        c_prev: g.c_prev.addr(0)?,
        c: g.c.addr(0)?,
        dgates: dgates.addr_mut(0)?,
        dc_prev: dc_prev.addr_mut(0)?,
        batch: to_u32(OP, "batch", batch)?,
        hidden: to_u32(OP, "hidden", hidden)?,
    };
    // SAFETY: as above; a null dc_next is handled by the kernel.
    unsafe { r.launch(&LSTM, "lstm_cell_backward_f32", Launch::linear(bh, 256), &p) }
}
