//! Launch code for softmax.cu: softmax / log-softmax of each row of a `[rows, n]` matrix with
//! contiguous rows, and the backward map from the saved output. Outputs are contiguous.

use crate::cuda::reduce::{row_launch, BLOCK};
use crate::cuda::source::SOFTMAX;
use crate::cuda::{need, Buf, Rows, Runner};
use crate::kernel_params;
use kiln_tensor::{Error, Result};

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
