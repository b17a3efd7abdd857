//! Launch code for softmax.cu: softmax / log-softmax of each row of a `[rows, n]` matrix with
//! contiguous rows, and the backward map from the saved output. Outputs are contiguous.

use crate::cuda::reduce::{row_launch, BLOCK};
use crate::cuda::source::SOFTMAX;
use crate::cuda::{access, need, Buf, Rows, Runner};
use crate::kernel_params;
use kiln_tensor::{DType, Error, Result, Tensor};

kernel_params! {
    pub struct SoftmaxParams { pub x: u64, pub y: u64, pub rows: u32, pub n: u32, pub ld: u32, pub log: u32 }
}
kernel_params! {
    pub struct SoftmaxBackwardParams {
        pub y: u64, pub g: u64, pub dx: u64, pub rows: u32, pub n: u32, pub ld_y: u32, pub ld_g: u32, pub log: u32, pub pad: u32,
    }
}

/// `y = softmax(x)` (or log-softmax) row by row; `y` is contiguous `[rows, n]`.
pub fn softmax_rows(r: &Runner, x: (&Buf<f32>, Rows), log: bool, y: &mut Buf<f32>) -> Result<()> {
    const OP: &str = "softmax_rows";
    r.check(&[x.0, y])?;
    let rows = x.1;
    rows.check(OP, x.0)?;
    need(OP, "output", y, rows.rows * rows.n)?;
    if rows.rows == 0 {
        return Ok(());
    }
    let p = SoftmaxParams {
        x: x.0.addr(rows.offset)?,
        y: y.addr_mut(0)?,
        rows: rows.rows as u32,
        n: rows.n as u32,
        ld: rows.ld as u32,
        log: log as u32,
    };
    // SAFETY: check()/need() covered every element read and written.
    unsafe { r.launch(&SOFTMAX, "softmax_rows_f32", row_launch(rows.rows, BLOCK), &p) }
}

/// Gradient w.r.t. the input from the saved output `y` and upstream `g` (same rows and n).
pub fn softmax_backward_rows(
    r: &Runner,
    y: (&Buf<f32>, Rows),
    g: (&Buf<f32>, Rows),
    log: bool,
    dx: &mut Buf<f32>,
) -> Result<()> {
    const OP: &str = "softmax_backward_rows";
    r.check(&[y.0, g.0, dx])?;
    let (yr, gr) = (y.1, g.1);
    if (yr.rows, yr.n) != (gr.rows, gr.n) {
        return Err(Error::invalid(
            OP,
            format!("output is {}x{} but its gradient {}x{}", yr.rows, yr.n, gr.rows, gr.n),
        ));
    }
    yr.check(OP, y.0)?;
    gr.check(OP, g.0)?;
    need(OP, "output", dx, yr.rows * yr.n)?;
    if yr.rows == 0 {
        return Ok(());
    }
    let p = SoftmaxBackwardParams {
        y: y.0.addr(yr.offset)?,
        g: g.0.addr(gr.offset)?,
        dx: dx.addr_mut(0)?,
        rows: yr.rows as u32,
        n: yr.n as u32,
        ld_y: yr.ld as u32,
        ld_g: gr.ld as u32,
        log: log as u32,
        pad: 0,
    };
    // SAFETY: as above.
    unsafe { r.launch(&SOFTMAX, "softmax_backward_rows_f32", row_launch(yr.rows, BLOCK), &p) }
}

// ---- tensors on a CUDA device ----------------------------------------------------------------

/// `x` with `axis` moved last, as a contiguous `[rows, n]` matrix on the device (no copy when
/// `axis` already is last and `x` contiguous).
fn rows_along(x: &Tensor, axis: usize) -> Result<(Tensor, Rows)> {
    let dense = x.move_axis(axis, x.rank() - 1)?.contiguous()?;
    let n = x.dims()[axis];
    let rows = x.elem_count().checked_div(n).unwrap_or(0);
    let offset = dense.layout().offset();
    Ok((dense, Rows { offset, rows, n, ld: n }))
}

/// softmax / log-softmax of an f32 tensor on a CUDA device along `axis`.
pub fn softmax_tensor(x: &Tensor, axis: usize, log: bool) -> Result<Tensor> {
    let op = if log { "log_softmax" } else { "softmax" };
    x.expect_dtype(DType::F32, op)?;
    let (dense, rows) = rows_along(x, axis)?;
    let out = access::read_f32(op, &[&dense], |r, v| {
        let mut y = r.output(dense.elem_count())?;
        softmax_rows(r, (v[0].0, rows), log, &mut y)?;
        access::f32_tensor(r, y, dense.shape().clone())
    })?;
    out.move_axis(x.rank() - 1, axis)?.contiguous()
}

/// The gradient through softmax / log-softmax from the saved output `y`, on a CUDA device.
pub fn softmax_backward_tensor(y: &Tensor, grad: &Tensor, axis: usize, log: bool) -> Result<Tensor> {
    const OP: &str = "softmax_backward";
    y.expect_dtype(DType::F32, OP)?;
    let (yd, yr) = rows_along(y, axis)?;
    let (gd, gr) = rows_along(grad, axis)?;
    let out = access::read_f32(OP, &[&yd, &gd], |r, v| {
        let mut dx = r.output(yd.elem_count())?;
        softmax_backward_rows(r, (v[0].0, yr), (v[1].0, gr), log, &mut dx)?;
        access::f32_tensor(r, dx, yd.shape().clone())
    })?;
    out.move_axis(y.rank() - 1, axis)?.contiguous()
}
