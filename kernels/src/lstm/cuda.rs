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

// ---- tensors on a CUDA device ----------------------------------------------------------------
// The whole-sequence op of lstm/mod.rs on a GPU, per step: one GEMM (`h @ W_hhᵀ`), one add of the
// step's input projection, the fused cell kernel, and for padded batches a blend that freezes the
// state of rows past their length. Trade-off: a launch-bound loop (≈5 launches a step) next to the
// CPU's single fused kernel; a persistent-kernel LSTM is the GPU's answer and needs a GPU to test.

use crate::cuda::access::{self, from_start};
use crate::elementwise::{binary, BinaryOp};
use crate::join::stack;
use crate::lstm::{Backward, Dims, Forward, Steps};
use crate::matmul::matmul;
use kiln_tensor::{DType, Shape, Tensor};

/// `(h, c, act)` of one step from the pre-activation gates `[B, 4H]` and `c_prev` `[B, H]`.
fn cell_forward_tensor(pre: &Tensor, c_prev: &Tensor, d: Dims) -> Result<(Tensor, Tensor, Tensor)> {
    const OP: &str = "lstm_cell";
    let (pre, c_prev) = (from_start(pre)?, from_start(c_prev)?);
    let bh = d.batch * d.hidden;
    access::read_f32(OP, &[&pre, &c_prev], |r, v| {
        let (mut h, mut c, mut act) = (r.output(bh)?, r.output(bh)?, r.output(4 * bh)?);
        let out = CellOut { h: &mut h, c: &mut c, act: &mut act };
        cell_forward(r, v[0].0, 0, 4 * d.hidden, v[1].0, d.batch, d.hidden, out)?;
        let shape = [d.batch, d.hidden];
        Ok((
            access::f32_tensor(r, h, shape)?,
            access::f32_tensor(r, c, shape)?,
            access::f32_tensor(r, act, [d.batch, 4 * d.hidden])?,
        ))
    })
}

/// `(dgates, dc_prev)` of one step.
fn cell_backward_tensor(
    dh: &Tensor,
    dc: &Tensor,
    act: &Tensor,
    c_prev: &Tensor,
    c: &Tensor,
    d: Dims,
) -> Result<(Tensor, Tensor)> {
    const OP: &str = "lstm_cell_backward";
    let ops = [dh, dc, act, c_prev, c].map(from_start).into_iter().collect::<Result<Vec<_>>>()?;
    let refs: Vec<&Tensor> = ops.iter().collect();
    let bh = d.batch * d.hidden;
    access::read_f32(OP, &refs, |r, v| {
        let (mut dgates, mut dc_prev) = (r.output(4 * bh)?, r.output(bh)?);
        let g = CellGrads { dh: v[0].0, dc_next: Some(v[1].0), act: v[2].0, c_prev: v[3].0, c: v[4].0 };
        cell_backward(r, g, d.batch, d.hidden, &mut dgates, &mut dc_prev)?;
        Ok((
            access::f32_tensor(r, dgates, [d.batch, 4 * d.hidden])?,
            access::f32_tensor(r, dc_prev, [d.batch, d.hidden])?,
        ))
    })
}

/// Per processed step, the `[B, 1]` mask of rows still inside their length (None: no padding):
/// one upload of all steps' masks, viewed step by step.
fn step_masks(steps: &Steps, d: Dims, device: kiln_tensor::Device) -> Result<Option<Vec<Tensor>>> {
    let Some(lengths) = &steps.lengths else { return Ok(None) };
    let m: Vec<f32> = (0..d.steps)
        .flat_map(|i| {
            let t = steps.step(i, d.steps);
            lengths.iter().map(move |&l| if t < l { 1.0 } else { 0.0 })
        })
        .collect();
    let all = Tensor::from_vec(m, [d.steps, d.batch, 1])?.to_device(device)?;
    (0..d.steps).map(|i| all.narrow(0, i, 1)?.squeeze(0)).collect::<Result<_>>().map(Some)
}

/// `old + m (new - old)`: `new` where the row is active, `old` where it is padding.
fn blend(m: &Tensor, new: &Tensor, old: &Tensor) -> Result<Tensor> {
    binary(BinaryOp::Add, old, &binary(BinaryOp::Mul, m, &binary(BinaryOp::Sub, new, old)?)?)
}

fn zeros(shape: impl Into<Shape>, device: kiln_tensor::Device) -> Result<Tensor> {
    Tensor::zeros(shape, DType::F32).to_device(device)
}

/// The sequence forward of lstm/mod.rs on a CUDA device (shapes and semantics there).
pub fn forward_tensor(proj: &Tensor, w_hh: &Tensor, steps: &Steps, d: Dims) -> Result<Forward> {
    proj.expect_dtype(DType::F32, "lstm_forward")?;
    let device = proj.device();
    if d.batch * d.steps == 0 {
        let empty = |width: usize| zeros([d.batch, d.steps, width], device);
        return Ok(Forward { states: empty(2 * d.hidden)?, gates: empty(4 * d.hidden)? });
    }
    let masks = step_masks(steps, d, device)?;
    let w_t = w_hh.t()?;
    let (mut h, mut c) = (zeros([d.batch, d.hidden], device)?, zeros([d.batch, d.hidden], device)?);
    let mut per_step: Vec<Option<(Tensor, Tensor, Tensor)>> = vec![None; d.steps];
    for i in 0..d.steps {
        let t = steps.step(i, d.steps);
        let pre = binary(BinaryOp::Add, &proj.narrow(1, t, 1)?.squeeze(1)?, &matmul(&h, &w_t)?)?;
        let (mut h_new, mut c_new, mut act) = cell_forward_tensor(&pre, &c, d)?;
        if let Some(m) = &masks {
            h_new = blend(&m[i], &h_new, &h)?;
            c_new = blend(&m[i], &c_new, &c)?;
            act = binary(BinaryOp::Mul, &act, &m[i])?;
        }
        (h, c) = (h_new, c_new);
        per_step[t] = Some((h.clone(), c.clone(), act));
    }
    let per_step: Vec<(Tensor, Tensor, Tensor)> = per_step.into_iter().flatten().collect();
    // [h | c] per step: two stacks over the steps and one cat (a cat per step would copy twice).
    let hs = stack(&per_step.iter().map(|(h, _, _)| h).collect::<Vec<_>>(), 1)?;
    let cs = stack(&per_step.iter().map(|(_, c, _)| c).collect::<Vec<_>>(), 1)?;
    let states = crate::join::cat(&[&hs, &cs], 2)?;
    let gates = stack(&per_step.iter().map(|(_, _, a)| a).collect::<Vec<_>>(), 1)?;
    Ok(Forward { states, gates })
}

/// The back-propagation through time of lstm/mod.rs on a CUDA device.
pub fn backward_tensor(grad_states: &Tensor, fwd: &Forward, w_hh: &Tensor, steps: &Steps, d: Dims) -> Result<Backward> {
    grad_states.expect_dtype(DType::F32, "lstm_backward")?;
    let device = grad_states.device();
    if d.batch * d.steps == 0 {
        let proj = zeros([d.batch, d.steps, 4 * d.hidden], device)?;
        return Ok(Backward { proj, w_hh: zeros([4 * d.hidden, d.hidden], device)? });
    }
    let masks = step_masks(steps, d, device)?;
    let hidden = d.hidden;
    let at = |t: &Tensor, step: usize, from: usize, len: usize| -> Result<Tensor> {
        t.narrow(1, step, 1)?.squeeze(1)?.narrow(1, from, len)
    };
    let (mut dh_next, mut dc_next) = (zeros([d.batch, hidden], device)?, zeros([d.batch, hidden], device)?);
    let mut dproj: Vec<Option<Tensor>> = vec![None; d.steps];
    for i in (0..d.steps).rev() {
        let t = steps.step(i, d.steps);
        let dh = binary(BinaryOp::Add, &at(grad_states, t, 0, hidden)?, &dh_next)?;
        let dc = binary(BinaryOp::Add, &at(grad_states, t, hidden, hidden)?, &dc_next)?;
        let c_prev = match i {
            0 => zeros([d.batch, hidden], device)?,
            _ => at(&fwd.states, steps.step(i - 1, d.steps), hidden, hidden)?,
        };
        let act = at(&fwd.gates, t, 0, 4 * hidden)?;
        let c = at(&fwd.states, t, hidden, hidden)?;
        let (mut dgates, mut dc_prev) = cell_backward_tensor(&dh, &dc, &act, &c_prev, &c, d)?;
        if let Some(m) = &masks {
            // A padding step copied the state: its gradient passes straight to the step before.
            dgates = binary(BinaryOp::Mul, &dgates, &m[i])?;
            dc_prev = blend(&m[i], &dc_prev, &dc)?;
        }
        let mut dh_prev = matmul(&dgates, w_hh)?;
        if let Some(m) = &masks {
            dh_prev = blend(&m[i], &dh_prev, &dh)?;
        }
        (dh_next, dc_next) = (dh_prev, dc_prev);
        dproj[t] = Some(dgates);
    }
    let dproj: Vec<Tensor> = dproj.into_iter().flatten().collect();
    let proj = stack(&dproj.iter().collect::<Vec<_>>(), 1)?;
    // dW_hh = sum over steps of dgatesᵀ h_prev, as one GEMM over every (row, step) like the CPU
    // kernel (instead of a GEMM and an add per step): h_prev of every step is the state one step
    // earlier in the walk, zeros before the first.
    let h = fwd.states.narrow(2, 0, hidden)?;
    let first = zeros([d.batch, hidden], device)?.unsqueeze(1)?;
    let h_prev = match (steps.reverse, d.steps) {
        (_, 1) => first,
        (false, t) => crate::join::cat(&[&first, &h.narrow(1, 0, t - 1)?], 1)?,
        (true, t) => crate::join::cat(&[&h.narrow(1, 1, t - 1)?, &first], 1)?,
    };
    let rows = d.batch * d.steps;
    let w_hh = matmul(&proj.reshape([rows, 4 * hidden])?.t()?, &h_prev.contiguous()?.reshape([rows, hidden])?)?;
    Ok(Backward { proj, w_hh })
}
