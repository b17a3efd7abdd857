//! Indexing forwards, kiln-kernels' `embedding` family: `index_select`, `embedding` (a lookup
//! with an optional padding row) and `gather`. Indices are plain tensors (no gradient flows into
//! them). No backward math here: the rules are in `rules/embedding.rs`.

use crate::op::Op;
use crate::var::Var;
use kiln_kernels::embedding;
use kiln_tensor::{Result, Tensor};

impl Var {
    /// The slices `indices[i]` of `self` along `axis`, in order (repeats allowed): an embedding
    /// lookup when `axis` is 0.
    pub fn index_select(&self, axis: isize, indices: &Tensor) -> Result<Var> {
        let a = self.shape().resolve_axis(axis, "index_select")?;
        let out = embedding::index_select(self.tensor(), axis, indices)?;
        Ok(Var::from_op(out, Op::IndexSelect { x: self.clone(), axis: a, indices: indices.clone() }))
    }

    /// An embedding lookup: the rows `ids` (any shape, i64 or u32) of the table `self` [num, dim],
    /// shaped `[ids.., dim]`. With `padding_idx`, that row is looked up like any other but gets no
    /// gradient (PyTorch's `padding_idx`).
    pub fn embedding(&self, ids: &Tensor, padding_idx: Option<usize>) -> Result<Var> {
        let flat = ids.flatten_all()?;
        let rows = embedding::index_select(self.tensor(), 0, &flat)?;
        let out = Var::from_op(rows, Op::Embedding { weight: self.clone(), ids: flat, padding_idx });
        let mut shape = ids.dims().to_vec();
        shape.extend_from_slice(&self.dims()[1..]);
        out.reshape(shape)
    }

    /// `out[i][j] = self[index[i][j]][j]` for axis 0 (and likewise for other axes), as torch.gather.
    pub fn gather(&self, axis: isize, index: &Tensor) -> Result<Var> {
        let a = self.shape().resolve_axis(axis, "gather")?;
        let out = embedding::gather(self.tensor(), axis, index)?;
        Ok(Var::from_op(out, Op::Gather { x: self.clone(), axis: a, index: index.clone() }))
    }
}
