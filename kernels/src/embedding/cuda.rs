//! Launch code for embedding.cu: row gather from a `[vocab, dim]` table and the scatter-add back.

use crate::cuda::params::to_u32;
use crate::cuda::source::EMBEDDING;
use crate::cuda::{access, need, Buf, Launch, Rows, Runner};
use crate::kernel_params;
use kiln_tensor::{DType, Result, Shape, Tensor};

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

// ---- tensors on a CUDA device ----------------------------------------------------------------
// Any axis goes through the row kernels: move the axis first (one contiguous copy unless it
// already is), view the rest as one row, and move it back afterwards (a copy only when `a > 0`). The callers range-check
// the indices on the host first (a clear error beats a NaN row).

/// `index_select(x, a, indices)` for f32 `x` and 1-D i64 `indices` on a CUDA device.
pub fn index_select_tensor(x: &Tensor, a: usize, indices: &Tensor) -> Result<Tensor> {
    const OP: &str = "index_select";
    x.expect_dtype(DType::F32, OP)?;
    indices.expect_dtype(DType::I64, "index_select (indices on a CUDA device)")?;
    let moved = x.move_axis(a, 0)?;
    let rows = x.dims()[a];
    let row_len = moved.dims()[1..].iter().product::<usize>();
    let table = moved.contiguous()?.reshape([rows, row_len])?;
    let idx = access::from_start(indices)?;
    let count = indices.elem_count();
    let mut out_dims = moved.dims().to_vec();
    out_dims[0] = count;
    let out = access::read(OP, &[&table, &idx], |r, s| {
        let mut out = r.zeros(count * row_len)?;
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
    indices.expect_dtype(DType::I64, "index_add (indices on a CUDA device)")?;
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
