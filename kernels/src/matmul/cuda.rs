//! Launch code for matmul.cu: batched SGEMM `C = alpha * A @ B + beta * C` with A and B read
//! through strides (transposes are stride swaps), C with unit column stride.

use crate::cuda::params::to_u32;
use crate::cuda::source::MATMUL;
use crate::cuda::{access, need, Buf, Launch, Runner};
use crate::kernel_params;
use kiln_tensor::{DType, Error, Layout, Result, Shape, Tensor};

/// Which kernel version runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// v1: one thread per output element.
    Naive,
    /// v2: 64x64 shared-memory tiles, 4x4 register blocks per thread (the default).
    Tiled,
}

/// A matrix operand: element (b, i, j) is at `offset + b*bs + i*rs + j*cs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mat {
    pub offset: usize,
    pub rs: usize,
    pub cs: usize,
    pub bs: usize,
}

impl Mat {
    /// Row-major `[batch, rows, cols]`.
    pub fn row_major(rows: usize, cols: usize) -> Mat {
        Mat { offset: 0, rs: cols, cs: 1, bs: rows * cols }
    }

    /// The same storage read as its transpose.
    pub fn t(self) -> Mat {
        Mat { rs: self.cs, cs: self.rs, ..self }
    }

    fn span(&self, batch: usize, rows: usize, cols: usize) -> usize {
        if batch == 0 || rows == 0 || cols == 0 {
            return 0;
        }
        self.offset + (batch - 1) * self.bs + (rows - 1) * self.rs + (cols - 1) * self.cs + 1
    }
}

kernel_params! {
    pub struct GemmParams {
        pub a: u64, pub b: u64, pub c: u64,
        pub m: u32, pub n: u32, pub k: u32, pub batch: u32,
        pub a_rs: u32, pub a_cs: u32, pub b_rs: u32, pub b_cs: u32, pub c_rs: u32,
        pub a_bs: u32, pub b_bs: u32, pub c_bs: u32,
        pub alpha: f32, pub beta: f32,
    }
}

/// Sizes of one batched GEMM: `batch` products of `[m, k] @ [k, n]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmDims {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
}

#[allow(clippy::too_many_arguments)]
pub fn gemm(
    r: &Runner,
    version: Version,
    d: GemmDims,
    a: (&Buf<f32>, Mat),
    b: (&Buf<f32>, Mat),
    c: (&mut Buf<f32>, Mat),
    alpha: f32,
    beta: f32,
) -> Result<()> {
    const OP: &str = "gemm";
    r.check(&[a.0, b.0, c.0])?;
    if c.1.cs != 1 {
        return Err(Error::invalid(OP, "the output needs unit column stride"));
    }
    need(OP, "A", a.0, a.1.span(d.batch, d.m, d.k))?;
    need(OP, "B", b.0, b.1.span(d.batch, d.k, d.n))?;
    need(OP, "C", c.0, c.1.span(d.batch, d.m, d.n))?;
    if d.batch == 0 || d.m == 0 || d.n == 0 {
        return Ok(());
    }
    let u = |what, v| to_u32(OP, what, v);
    let p = GemmParams {
        a: a.0.addr(a.1.offset)?,
        b: b.0.addr(b.1.offset)?,
        c: c.0.addr_mut(c.1.offset)?,
        m: u("m", d.m)?,
        n: u("n", d.n)?,
        k: u("k", d.k)?,
        batch: u("batch", d.batch)?,
        a_rs: u("stride", a.1.rs)?,
        a_cs: u("stride", a.1.cs)?,
        b_rs: u("stride", b.1.rs)?,
        b_cs: u("stride", b.1.cs)?,
        c_rs: u("stride", c.1.rs)?,
        a_bs: u("stride", a.1.bs)?,
        b_bs: u("stride", b.1.bs)?,
        c_bs: u("stride", c.1.bs)?,
        alpha,
        beta,
    };
    let batch = u("batch", d.batch.min(65_535))?;
    if d.batch > 65_535 {
        return Err(Error::invalid(OP, format!("batch {} exceeds the grid's 65535", d.batch)));
    }
    let (kernel, launch) = match version {
        Version::Naive => (
            "gemm_naive_f32",
            Launch {
                grid: (d.n.div_ceil(16) as u32, d.m.div_ceil(16) as u32, batch),
                block: (16, 16, 1),
                shared_bytes: 0,
                grid_stride: false,
            },
        ),
        Version::Tiled => (
            "gemm_tiled_f32",
            Launch {
                grid: (d.n.div_ceil(64) as u32, d.m.div_ceil(64) as u32, batch),
                block: (16, 16, 1),
                shared_bytes: 0,
                grid_stride: false,
            },
        ),
    };
    // SAFETY: the spans of A, B and C were checked against their buffers.
    unsafe { r.launch(&MATMUL, kernel, launch, &p) }
}

// ---- tensors on a CUDA device ----------------------------------------------------------------

/// A `[batch.., rows, cols]` layout as one batched GEMM operand and its batch count, when its
/// batch dims merge into a single stride (contiguous and broadcast views do); `None` otherwise.
fn as_mat(l: &Layout) -> Option<(Mat, usize)> {
    let r = l.rank();
    let (dims, strides) = (l.dims(), l.strides());
    let mut merged: Option<(usize, usize)> = None; // (stride of one step, steps so far)
    for i in (0..r - 2).rev().filter(|&i| dims[i] != 1) {
        merged = match merged {
            None => Some((strides[i], dims[i])),
            Some((bs, acc)) if strides[i] == bs * acc => Some((bs, acc * dims[i])),
            Some(_) => return None,
        };
    }
    let batch = dims[..r - 2].iter().product();
    let mat = Mat { offset: l.offset(), rs: strides[r - 2], cs: strides[r - 1], bs: merged.map_or(0, |m| m.0) };
    Some((mat, batch))
}

/// `t` read through `l` as a GEMM operand, copied contiguous on the device first when its batch
/// dims do not merge.
fn operand(t: &Tensor, l: &Layout) -> Result<(Tensor, Mat, usize)> {
    let view = t.with_layout(l.clone())?;
    if let Some((m, batch)) = as_mat(l) {
        return Ok((view, m, batch));
    }
    let dense = view.contiguous()?;
    let (m, batch) = as_mat(dense.layout())
        .ok_or_else(|| Error::invalid("matmul", format!("cannot read {l:?} as a batched matrix")))?;
    Ok((dense, m, batch))
}

/// `a @ b` on a CUDA device; `al`/`bl` are the operands broadcast to `[batch.., m, k]` and
/// `[batch.., k, n]`, `shape` the output's `[batch.., m, n]`. Runs the tiled kernel (v2).
pub fn matmul_tensor(a: &Tensor, b: &Tensor, shape: &Shape, al: &Layout, bl: &Layout) -> Result<Tensor> {
    const OP: &str = "matmul";
    a.expect_dtype(DType::F32, OP)?;
    let (at, am, batch) = operand(a, al)?;
    let (bt, bm, _) = operand(b, bl)?;
    let r = shape.rank();
    let (m, n, k) = (shape.dims()[r - 2], shape.dims()[r - 1], al.dims()[r - 1]);
    access::read_f32(OP, &[&at, &bt], |run, v| {
        let mut out = run.output(shape.elem_count())?;
        let d = GemmDims { batch, m, n, k };
        gemm(run, Version::Tiled, d, (v[0].0, am), (v[1].0, bm), (&mut out, Mat::row_major(m, n)), 1.0, 0.0)?;
        access::f32_tensor(run, out, shape.clone())
    })
}
