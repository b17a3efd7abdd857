//! Launch code for embedding.cu: row gather from a `[vocab, dim]` table and the scatter-add back.

use crate::cuda::params::to_u32;
use crate::cuda::source::EMBEDDING;
use crate::cuda::{need, Buf, Launch, Rows, Runner};
use crate::kernel_params;
use kiln_tensor::Result;

kernel_params! {
    pub struct EmbeddingParams { pub table: u64, pub idx: u64, pub out: u64, pub count: u32, pub dim: u32, pub vocab: u32, pub ld: u32 }
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
    };
    // SAFETY: the table span, index count and output size were checked; the kernel bounds indices.
    unsafe { r.launch(&EMBEDDING, "embedding_gather_f32", Launch::linear(count * t.n, 256), &p) }
}

/// `dtable[idx[i], :] += dout[i, :]`; `dout` contiguous `[count, dim]`, `dtable` contiguous
/// `[vocab, dim]` (not cleared: zero it first for a fresh gradient).
pub fn scatter_add(
    r: &Runner,
    dout: &Buf<f32>,
    idx: &Buf<i64>,
    count: usize,
    vocab: usize,
    dim: usize,
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
    };
    // SAFETY: as above.
    unsafe { r.launch(&EMBEDDING, "embedding_scatter_add_f32", Launch::linear(count * dim, 256), &p) }
}
