//! Launch code for reduce.cu: sum / mean / max / min of each row of a `[rows, n]` matrix with
//! contiguous rows (reductions over other axes permute/copy to this form first).

use crate::cuda::shared_defs::ReduceCode;
use crate::cuda::source::REDUCE;
use crate::cuda::{access, need, Buf, DevElem, Launch, Rows, Runner};
use crate::kernel_params;
use crate::reduce::reference::ReduceOp;
use kiln_tensor::{DType, Result, Shape, Tensor};

/// Which kernel version runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// v1: shared-memory tree only.
    SharedTree,
    /// v2: warp shuffles + one partial per warp (the default).
    WarpShuffle,
}

/// Threads per row: a power of two and a multiple of 32 (both versions rely on it).
pub const BLOCK: u32 = 256;
/// Blocks of a row launch; the kernels loop over rows beyond it.
pub const MAX_ROW_BLOCKS: usize = 65_535;

kernel_params! {
    pub struct ReduceRowsParams { pub x: u64, pub out: u64, pub rows: u32, pub n: u32, pub ld: u32, pub op: u32 }
}

/// The op's [`ReduceCode`].
fn op_code(op: ReduceOp) -> u32 {
    match op {
        ReduceOp::Sum => ReduceCode::Sum,
        ReduceOp::Max => ReduceCode::Max,
        ReduceOp::Min => ReduceCode::Min,
        ReduceOp::Mean => ReduceCode::Mean,
    }
    .code()
}

/// The launch every row kernel uses: one block of `block` threads per row, capped.
pub fn row_launch(rows: usize, block: u32) -> Launch {
    Launch {
        grid: (rows.clamp(1, MAX_ROW_BLOCKS) as u32, 1, 1),
        block: (block, 1, 1),
        shared_bytes: 0,
        grid_stride: true,
    }
}

/// Checks `x` and the `outputs` values `out` must hold (every row kernel of this file), and
/// returns the addresses to launch with; `None` when there is nothing to write.
fn checked<T: DevElem>(
    op_name: &'static str,
    r: &Runner,
    x: (&Buf<f32>, Rows),
    out: &mut Buf<T>,
    outputs: usize,
) -> Result<Option<(u64, u64)>> {
    r.check(&[x.0])?;
    r.check(&[&*out])?;
    x.1.check(op_name, x.0)?;
    need(op_name, "output", out, outputs)?;
    if outputs == 0 {
        return Ok(None);
    }
    Ok(Some((x.0.addr(x.1.offset)?, out.addr_mut(0)?)))
}

/// The parameters both reduction orientations share; `None` when there is nothing to reduce into.
fn params(
    op_name: &'static str,
    r: &Runner,
    op: ReduceOp,
    x: (&Buf<f32>, Rows),
    out: &mut Buf<f32>,
    outputs: usize,
) -> Result<Option<ReduceRowsParams>> {
    let m = x.1;
    Ok(checked(op_name, r, x, out, outputs)?.map(|(x, out)| ReduceRowsParams {
        x,
        out,
        rows: m.rows as u32,
        n: m.n as u32,
        ld: m.ld as u32,
        op: op_code(op),
    }))
}

/// `out[r] = op(x[r, :])` for every row; `out` gets `rows` values.
pub fn reduce_rows(r: &Runner, op: ReduceOp, x: (&Buf<f32>, Rows), out: &mut Buf<f32>, version: Version) -> Result<()> {
    let Some(p) = params("reduce_rows", r, op, x, out, x.1.rows)? else { return Ok(()) };
    let launch = row_launch(x.1.rows, BLOCK);
    // SAFETY: params() checked every row read and the outputs.
    unsafe {
        match version {
            Version::SharedTree => r.launch(&REDUCE, "reduce_rows_smem_f32", launch.with_shared(BLOCK * 4), &p),
            Version::WarpShuffle => r.launch(&REDUCE, "reduce_rows_f32", launch, &p),
        }
    }
}

/// `out[j] = op(x[:, j])` for every column of a `[rows, n]` matrix (one thread per column).
pub fn reduce_cols(r: &Runner, op: ReduceOp, x: (&Buf<f32>, Rows), out: &mut Buf<f32>) -> Result<()> {
    let Some(p) = params("reduce_cols", r, op, x, out, x.1.n)? else { return Ok(()) };
    // SAFETY: params() checked every element read and the outputs.
    unsafe { r.launch(&REDUCE, "reduce_cols_f32", Launch::linear(x.1.n, BLOCK), &p) }
}

kernel_params! {
    pub struct ArgReduceRowsParams { pub x: u64, pub out: u64, pub rows: u32, pub n: u32, pub ld: u32, pub max: u32 }
}

/// `out[r]` = index of the max (`max`) or min of row `r` of a `[rows, n]` matrix, n >= 1; ties go
/// to the first, the first NaN wins (reduce/reference.rs's rules).
pub fn arg_reduce_rows(r: &Runner, x: (&Buf<f32>, Rows), max: bool, out: &mut Buf<i64>) -> Result<()> {
    const OP: &str = "arg_reduce_rows";
    let m = x.1;
    if m.rows > 0 && m.n == 0 {
        return Err(kiln_tensor::Error::invalid(OP, "rows of length 0 have no arg-max"));
    }
    let Some((x, out)) = checked(OP, r, x, out, m.rows)? else { return Ok(()) };
    let p = ArgReduceRowsParams { x, out, rows: m.rows as u32, n: m.n as u32, ld: m.ld as u32, max: max as u32 };
    // SAFETY: checked() covered every row read and the outputs.
    unsafe { r.launch(&REDUCE, "arg_reduce_rows_f32", Launch::linear(m.rows, BLOCK), &p) }
}

// ---- tensors on a CUDA device ----------------------------------------------------------------

/// `op` of `x` over `axes` into `out_shape`. Trade-off between the two kernels: a block per output
/// (`reduce_rows`) when each output folds many values, a thread per output (`reduce_cols`) when
/// there are many outputs of few values each (a bias gradient folds the batch: 64 values for each
/// of 512 outputs, where a 256-thread block per output would idle most of its threads).
pub fn reduce_tensor(op: ReduceOp, x: &Tensor, axes: &[usize], out_shape: Shape) -> Result<Tensor> {
    const OP: &str = "reduce";
    x.expect_dtype(DType::F32, OP)?;
    let outputs = out_shape.elem_count();
    let group = x.elem_count().checked_div(outputs).unwrap_or(0);
    let kept = (0..x.rank()).filter(|d| !axes.contains(d));
    if group < BLOCK as usize && outputs >= group {
        // [group, outputs]: the reduced axes first, one column per output.
        let perm: Vec<usize> = axes.iter().copied().chain(kept).collect();
        let dense = x.permute(&perm)?.contiguous()?;
        return access::read_f32(OP, &[&dense], |r, v| {
            let mut out = r.output(outputs)?;
            let cols = Rows { offset: dense.layout().offset(), rows: group, n: outputs, ld: outputs };
            reduce_cols(r, op, (v[0].0, cols), &mut out)?;
            access::f32_tensor(r, out, out_shape)
        });
    }
    let perm: Vec<usize> = kept.chain(axes.iter().copied()).collect();
    let dense = x.permute(&perm)?.contiguous()?;
    access::read_f32(OP, &[&dense], |r, v| {
        let mut out = r.output(outputs)?;
        let rows = Rows { offset: dense.layout().offset(), rows: outputs, n: group, ld: group };
        reduce_rows(r, op, (v[0].0, rows), &mut out, Version::WarpShuffle)?;
        access::f32_tensor(r, out, out_shape)
    })
}

/// argmax / argmin of `x` along `axis` into `out_shape` (i64), on a CUDA device.
pub fn arg_reduce_tensor(x: &Tensor, axis: usize, max: bool, out_shape: Shape) -> Result<Tensor> {
    const OP: &str = "arg_reduce";
    x.expect_dtype(DType::F32, OP)?;
    let dense = x.move_axis(axis, x.rank() - 1)?.contiguous()?;
    let n = x.dims()[axis];
    let rows = out_shape.elem_count();
    access::read(OP, &[&dense], |r, s| {
        let mut out = r.output(rows)?;
        let m = Rows { offset: dense.layout().offset(), rows, n, ld: n };
        arg_reduce_rows(r, (s[0].f32(OP)?, m), max, &mut out)?;
        access::i64_tensor(r, out, out_shape)
    })
}
