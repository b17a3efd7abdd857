//! Launch code for embedding.cu: row gather from a `[vocab, dim]` table and the scatter-add back,
//! and torch-style `gather` / `scatter_add` along any axis.

use crate::cuda::params::{to_u32, Strided};
use crate::cuda::source::EMBEDDING;
use crate::cuda::{access, need, Buf, Launch, Rows, Runner};
use crate::kernel_params;
use kiln_tensor::{DType, Error, Layout, Result, Shape, Tensor};

kernel_params! {
    pub struct EmbeddingParams {
        pub table: u64, pub idx: u64, pub out: u64, pub count: u32, pub dim: u32, pub vocab: u32, pub ld: u32, pub skip: i64,
    }
}

/// `out[i, :] = table[idx[i], :]` for `count` indices; `table` is `[vocab, dim]` with contiguous
/// rows; `out` contiguous `[count, dim]`. Out-of-range indices give NaN rows.
pub fn gather(r: &Runner, table: (&Buf<f32>, Rows), idx: &Buf<i64>, count: usize, out: &mut Buf<f32>) -> Result<()> {
    const OP: &str = "embedding_gather";
    r.check(&[table.0, out])?;
    r.check(&[idx])?;
    let t = table.1;
    t.check(OP, table.0)?;
    need(OP, "indices", idx, count)?;
    need(OP, "output", out, count * t.n)?;
    let p = EmbeddingParams {
        table: table.0.addr(t.offset)?,
        idx: idx.addr(0)?,
        out: out.addr_mut(0)?,
        count: to_u32(OP, "count", count)?,
        dim: t.n as u32,
        vocab: t.rows as u32,
        ld: t.ld as u32,
        skip: -1,
    };
    // SAFETY: the table span, index count and output size were checked; the kernel bounds indices.
    unsafe { r.launch(&EMBEDDING, "embedding_gather_f32", Launch::linear(count * t.n, 256), &p) }
}

/// `dtable[idx[i], :] += dout[i, :]`; `dout` contiguous `[count, dim]`, `dtable` contiguous
/// `[vocab, dim]` (not cleared: zero it first for a fresh gradient). Row `skip` (padding) gets
/// nothing.
#[allow(clippy::too_many_arguments)]
pub fn scatter_add(
    r: &Runner,
    dout: &Buf<f32>,
    idx: &Buf<i64>,
    count: usize,
    vocab: usize,
    dim: usize,
    skip: Option<usize>,
    dtable: &mut Buf<f32>,
) -> Result<()> {
    const OP: &str = "embedding_scatter_add";
    r.check(&[dout, dtable])?;
    r.check(&[idx])?;
    need(OP, "gradient", dout, count * dim)?;
    need(OP, "indices", idx, count)?;
    need(OP, "table gradient", dtable, vocab * dim)?;
    let p = EmbeddingParams {
        table: dout.addr(0)?,
        idx: idx.addr(0)?,
        out: dtable.addr_mut(0)?,
        count: to_u32(OP, "count", count)?,
        dim: to_u32(OP, "dim", dim)?,
        vocab: to_u32(OP, "vocab", vocab)?,
        ld: to_u32(OP, "dim", dim)?,
        skip: skip.map_or(-1, |s| s as i64),
    };
    // SAFETY: as above.
    unsafe { r.launch(&EMBEDDING, "embedding_scatter_add_f32", Launch::linear(count * dim, 256), &p) }
}

kernel_params! {
    pub struct AxisIndexParams {
        pub src: u64, pub idx: u64, pub out: u64, pub n: u32, pub bound: u32, pub axis_stride: u32, pub s: Strided,
    }
}

/// Checks the index (`il`) has `limit`'s rank and no larger dims outside `axis`, and fits its
/// buffer; returns the element count. Every coordinate the axis kernels form is then inside `limit`.
fn check_index(op: &'static str, (idx, il): (&Buf<i64>, &Layout), limit: &[usize], axis: usize) -> Result<usize> {
    let fits = il.rank() == limit.len()
        && axis < limit.len()
        && il.dims().iter().zip(limit).enumerate().all(|(d, (i, l))| d == axis || i <= l);
    if !fits {
        return Err(Error::ShapeMismatch { op, lhs: limit.to_vec().into(), rhs: il.shape().clone() });
    }
    need(op, "indices", idx, il.storage_span())?;
    Ok(to_u32(op, "index elements", il.shape().elem_count())? as usize)
}

/// `strides` with the one along `axis` taken out (0), and that stride.
fn without_axis(strides: &[usize], axis: usize) -> (Vec<usize>, usize) {
    let mut walk = strides.to_vec();
    let along = std::mem::replace(&mut walk[axis], 0);
    (walk, along)
}

/// torch.gather: `out[i] = x[i with coordinate axis = idx[i]]`, i over the index's shape; `out`
/// contiguous in that shape. The index may be no larger than x outside `axis`.
pub fn gather_axis(
    r: &Runner,
    (x, xl): (&Buf<f32>, &Layout),
    idx: (&Buf<i64>, &Layout),
    axis: usize,
    out: &mut Buf<f32>,
) -> Result<()> {
    const OP: &str = "gather";
    r.check(&[x, out])?;
    r.check(&[idx.0])?;
    let n = check_index(OP, idx, xl.dims(), axis)?;
    need(OP, "input", x, xl.storage_span())?;
    need(OP, "output", out, n)?;
    let (walk, axis_stride) = without_axis(xl.strides(), axis);
    let p = AxisIndexParams {
        src: x.addr(xl.offset())?,
        idx: idx.0.addr(idx.1.offset())?,
        out: out.addr_mut(0)?,
        n: n as u32,
        bound: to_u32(OP, "bound", xl.dims()[axis])?,
        axis_stride: to_u32(OP, "axis stride", axis_stride)?,
        s: Strided::new(OP, idx.1.dims(), &[idx.1.strides(), &walk])?,
    };
    // SAFETY: every coordinate formed is inside x's checked layout (the kernel bounds idx), the
    // index fits its buffer and the output holds n.
    unsafe { r.launch(&EMBEDDING, "gather_axis_f32", Launch::linear(n, 256), &p) }
}

/// The adjoint of [`gather_axis`]: `out[i with coordinate axis = idx[i]] += src[i]`, i over the
/// index's shape (`src` read through its layout restricted to that shape); `out` contiguous of
/// `out_dims` (not cleared first). Out-of-range indices are skipped.
pub fn scatter_add_axis(
    r: &Runner,
    (src, sl): (&Buf<f32>, &Layout),
    idx: (&Buf<i64>, &Layout),
    axis: usize,
    out: (&mut Buf<f32>, &[usize]),
) -> Result<()> {
    const OP: &str = "scatter_add";
    let (out, out_dims) = out;
    r.check(&[src, out])?;
    r.check(&[idx.0])?;
    let n = check_index(OP, idx, out_dims, axis)?;
    if sl.dims() != idx.1.dims() {
        return Err(Error::ShapeMismatch { op: OP, lhs: sl.shape().clone(), rhs: idx.1.shape().clone() });
    }
    need(OP, "source", src, sl.storage_span())?;
    need(OP, "output", out, out_dims.iter().product())?;
    let (walk, axis_stride) = without_axis(Layout::contiguous(Shape::from(out_dims.to_vec())).strides(), axis);
    let p = AxisIndexParams {
        src: src.addr(sl.offset())?,
        idx: idx.0.addr(idx.1.offset())?,
        out: out.addr_mut(0)?,
        n: n as u32,
        bound: to_u32(OP, "bound", out_dims[axis])?,
        axis_stride: to_u32(OP, "axis stride", axis_stride)?,
        s: Strided::new(OP, idx.1.dims(), &[idx.1.strides(), sl.strides(), &walk])?,
    };
    // SAFETY: as for gather_axis, with out the indexed operand.
    unsafe { r.launch(&EMBEDDING, "scatter_add_axis_f32", Launch::linear(n, 256), &p) }
}

/// The kernels read i64 indices; u32 ones (which the CPU takes too) are widened first. Trade-off:
/// `to_dtype` on a device goes through the host, but the callers' range check has just read the
/// indices there anyway.
pub(crate) fn i64_indices(op: &'static str, t: &Tensor) -> Result<Tensor> {
    match t.dtype() {
        DType::I64 => Ok(t.clone()),
        DType::U32 => t.to_dtype(DType::I64),
        other => Err(kiln_tensor::Error::UnsupportedDType { op, dtype: other, expected: "i64 or u32 indices" }),
    }
}

// ---- tensors on a CUDA device ----------------------------------------------------------------
// Any axis goes through the row kernels: move the axis first (one contiguous copy unless it
// already is), view the rest as one row, and move it back afterwards (a copy only when `a > 0`). The callers range-check
// the indices on the host first (a clear error beats a NaN row).

/// `index_select(x, a, indices)` for f32 `x` and 1-D i64 `indices` on a CUDA device.
pub fn index_select_tensor(x: &Tensor, a: usize, indices: &Tensor) -> Result<Tensor> {
    const OP: &str = "index_select";
    x.expect_dtype(DType::F32, OP)?;
    let indices = &i64_indices("index_select", indices)?;
    let moved = x.move_axis(a, 0)?;
    let rows = x.dims()[a];
    let row_len = moved.dims()[1..].iter().product::<usize>();
    let table = moved.contiguous()?.reshape([rows, row_len])?;
    let idx = access::from_start(indices)?;
    let count = indices.elem_count();
    let mut out_dims = moved.dims().to_vec();
    out_dims[0] = count;
    let out = access::read(OP, &[&table, &idx], |r, s| {
        let mut out = r.output(count * row_len)?;
        gather(r, (s[0].f32(OP)?, Rows::from_layout(OP, table.layout())?), s[1].i64(OP)?, count, &mut out)?;
        access::f32_tensor(r, out, out_dims.clone())
    })?;
    out.move_axis(0, a)?.contiguous()
}

/// Zeros of `shape` with slice `i` of `src` along `a` added at `indices[i]`, except at `skip`
/// (an embedding's padding row), on a CUDA device.
pub fn index_add_tensor(
    shape: &Shape,
    a: usize,
    indices: &Tensor,
    src: &Tensor,
    skip: Option<usize>,
) -> Result<Tensor> {
    const OP: &str = "index_add";
    src.expect_dtype(DType::F32, OP)?;
    let indices = &i64_indices("index_add", indices)?;
    let moved = access::from_start(&src.move_axis(a, 0)?)?;
    let (vocab, count) = (shape.dims()[a], indices.elem_count());
    let row_len = moved.dims()[1..].iter().product::<usize>();
    let idx = access::from_start(indices)?;
    let mut out_dims = moved.dims().to_vec();
    out_dims[0] = vocab;
    let out = access::read(OP, &[&moved, &idx], |r, s| {
        let mut out = r.zeros(vocab * row_len)?;
        scatter_add(r, s[0].f32(OP)?, s[1].i64(OP)?, count, vocab, row_len, skip, &mut out)?;
        access::f32_tensor(r, out, out_dims.clone())
    })?;
    out.move_axis(0, a)?.contiguous()
}

/// torch.gather on a CUDA device (f32 `x`, i64 `index`, checked by the caller).
pub fn gather_tensor(x: &Tensor, axis: usize, index: &Tensor) -> Result<Tensor> {
    const OP: &str = "gather";
    x.expect_dtype(DType::F32, OP)?;
    let index = &i64_indices("gather", index)?;
    access::read(OP, &[x, index], |r, s| {
        let mut out = r.output(index.elem_count())?;
        gather_axis(r, (s[0].f32(OP)?, x.layout()), (s[1].i64(OP)?, index.layout()), axis, &mut out)?;
        access::f32_tensor(r, out, index.shape().clone())
    })
}

/// `zeros(shape).scatter_add_(axis, index, src)` on a CUDA device; `sl` is src's layout restricted
/// to the index's extent.
pub fn scatter_add_tensor(shape: &Shape, axis: usize, index: &Tensor, src: &Tensor, sl: &Layout) -> Result<Tensor> {
    const OP: &str = "scatter_add";
    src.expect_dtype(DType::F32, OP)?;
    let index = &i64_indices("scatter_add", index)?;
    access::read(OP, &[src, index], |r, s| {
        let mut out = r.zeros(shape.elem_count())?;
        scatter_add_axis(r, (s[0].f32(OP)?, sl), (s[1].i64(OP)?, index.layout()), axis, (&mut out, shape.dims()))?;
        access::f32_tensor(r, out, shape.clone())
    })
}
