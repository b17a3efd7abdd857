//! Layout: shape + strides (in elements; 0 for a broadcast dim) + start offset into the storage.
//! Every view is a pure function from one Layout to another; nothing here touches data.

use crate::{Error, Result, Shape, StridedBlocks, StridedIndex};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Layout {
    shape: Shape,
    strides: Vec<usize>,
    offset: usize,
}

impl Layout {
    /// A layout from its parts: one stride per dim, and an element count and storage span that
    /// fit in `usize` (so that every index computed from it is exact), else a typed error.
    pub fn new(shape: Shape, strides: Vec<usize>, offset: usize) -> Result<Self> {
        if shape.rank() != strides.len() {
            return Err(Error::invalid(
                "layout",
                format!("{} strides {strides:?} given for the {} dims of {shape}", strides.len(), shape.rank()),
            ));
        }
        shape.elem_count_checked("layout")?;
        let layout = Layout { shape, strides, offset };
        layout
            .checked_storage_span()
            .ok_or_else(|| Error::SizeOverflow { op: "layout", what: format!("the storage span of {layout:?}") })?;
        Ok(layout)
    }

    /// The layout of the first `n` dims only (same strides and offset): the walk over the outer
    /// part of a layout whose inner dims a kernel handles itself. Cannot fail: it touches a subset
    /// of what `self` touches.
    pub fn leading_dims(&self, n: usize) -> Layout {
        let n = n.min(self.rank());
        Layout { shape: self.dims()[..n].to_vec().into(), strides: self.strides[..n].to_vec(), offset: self.offset }
    }

    /// The row-major layout of a fresh tensor.
    pub fn contiguous(shape: impl Into<Shape>) -> Self {
        let shape = shape.into();
        let strides = shape.contiguous_strides();
        Layout { shape, strides, offset: 0 }
    }

    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn rank(&self) -> usize {
        self.shape.rank()
    }

    pub fn elem_count(&self) -> usize {
        self.shape.elem_count()
    }

    /// Row-major contiguous, i.e. elements are `offset..offset + elem_count` in order.
    /// Dims of size 1 may have any stride.
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for (&d, &s) in self.dims().iter().zip(&self.strides).rev() {
            if d != 1 && s != expected {
                return false;
            }
            expected *= d;
        }
        true
    }

    /// The storage range of a contiguous layout.
    pub fn contiguous_range(&self) -> Option<std::ops::Range<usize>> {
        self.is_contiguous().then(|| self.offset..self.offset + self.elem_count())
    }

    /// One past the largest storage index this layout can touch (0 for an empty tensor), saturated
    /// at `usize::MAX` when that does not fit (no storage is that long, so a bounds check fails).
    pub fn storage_span(&self) -> usize {
        self.checked_storage_span().unwrap_or(usize::MAX)
    }

    /// [`Layout::storage_span`], or `None` when it overflows `usize`.
    pub fn checked_storage_span(&self) -> Option<usize> {
        if self.elem_count() == 0 {
            return Some(0);
        }
        self.dims()
            .iter()
            .zip(&self.strides)
            .try_fold(self.offset.checked_add(1)?, |acc, (&d, &s)| acc.checked_add((d - 1).checked_mul(s)?))
    }

    pub fn strided_index(&self) -> StridedIndex {
        StridedIndex::new(self)
    }

    pub fn strided_blocks(&self) -> StridedBlocks {
        StridedBlocks::new(self)
    }

    pub fn transpose(&self, d0: isize, d1: isize) -> Result<Layout> {
        let a = self.shape.resolve_axis(d0, "transpose")?;
        let b = self.shape.resolve_axis(d1, "transpose")?;
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// `perm[i]` is the source dim that becomes dim `i`.
    pub fn permute(&self, perm: &[usize]) -> Result<Layout> {
        let mut seen = vec![false; self.rank()];
        if perm.len() != self.rank() || perm.iter().any(|&p| p >= self.rank() || std::mem::replace(&mut seen[p], true))
        {
            return Err(Error::invalid(
                "permute",
                format!("{perm:?} is not a permutation of the {} dims of {}", self.rank(), self.shape),
            ));
        }
        let dims = perm.iter().map(|&p| self.dims()[p]).collect::<Vec<_>>();
        let strides = perm.iter().map(|&p| self.strides[p]).collect();
        Ok(Layout { shape: dims.into(), strides, offset: self.offset })
    }

    /// The axis order in which this layout, a permuted view of a contiguous block (a transpose), is
    /// contiguous: dims by decreasing stride, size-1 dims (whose strides mean nothing) first, so
    /// `self.permute(&order)` walks memory in order. `None` for layouts that are no such
    /// permutation (narrowed, broadcast, overlapping). The identity order for a contiguous layout.
    pub fn storage_order(&self) -> Option<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.rank()).collect();
        order.sort_by_key(|&d| (self.dims()[d] != 1, std::cmp::Reverse(self.strides[d])));
        self.permute(&order).ok()?.is_contiguous().then_some(order)
    }

    /// Dim `axis` moved to position `to`, the others keeping their order (NumPy's `moveaxis`):
    /// how kernels that work along one axis bring it last (or first) and back.
    pub fn move_axis(&self, axis: usize, to: usize) -> Result<Layout> {
        for a in [axis, to] {
            if a >= self.rank() {
                let shape = self.shape.clone();
                return Err(Error::AxisOutOfRange { op: "move_axis", axis: a as isize, rank: self.rank(), shape });
            }
        }
        let mut perm: Vec<usize> = (0..self.rank()).filter(|&d| d != axis).collect();
        perm.insert(to, axis);
        self.permute(&perm)
    }

    /// Elements `start..start + len` along `dim`.
    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Result<Layout> {
        let d = self.shape.resolve_axis(dim, "narrow")?;
        let size = self.dims()[d];
        if start.checked_add(len).is_none_or(|end| end > size) {
            return Err(Error::invalid(
                "narrow",
                format!(
                    "{len} elements from {start} are out of bounds for dim {d} of size {size} (shape {})",
                    self.shape
                ),
            ));
        }
        let mut dims = self.dims().to_vec();
        dims[d] = len;
        let offset = if len == 0 { self.offset } else { self.offset + start * self.strides[d] };
        Ok(Layout { shape: dims.into(), strides: self.strides.clone(), offset })
    }

    /// A view with `shape` where dims of size 1 (or missing on the left) are repeated with stride 0.
    pub fn broadcast_as(&self, shape: &Shape) -> Result<Layout> {
        let err = || Error::BroadcastIncompatible { op: "broadcast_to", lhs: self.shape.clone(), rhs: shape.clone() };
        if shape.rank() < self.rank() {
            return Err(err());
        }
        // A broadcast reads little storage but its element count must still fit: every kernel
        // sizes its output and its loops from it.
        shape.elem_count_checked("broadcast_to")?;
        let lead = shape.rank() - self.rank();
        let mut strides = vec![0; shape.rank()];
        for (i, &target) in shape.dims().iter().enumerate() {
            if i < lead {
                continue;
            }
            let (src_dim, src_stride) = (self.dims()[i - lead], self.strides[i - lead]);
            strides[i] = if src_dim == target {
                src_stride
            } else if src_dim == 1 {
                0
            } else {
                return Err(err());
            };
        }
        Ok(Layout { shape: shape.clone(), strides, offset: self.offset })
    }

    pub fn squeeze(&self, dim: isize) -> Result<Layout> {
        let d = self.shape.resolve_axis(dim, "squeeze")?;
        if self.dims()[d] != 1 {
            return Err(Error::invalid(
                "squeeze",
                format!("dim {d} of {} has size {}, not 1", self.shape, self.dims()[d]),
            ));
        }
        let mut dims = self.dims().to_vec();
        let mut strides = self.strides.clone();
        dims.remove(d);
        strides.remove(d);
        Ok(Layout { shape: dims.into(), strides, offset: self.offset })
    }

    /// Inserts a dim of size 1 at `dim` (which may equal the rank: append).
    pub fn unsqueeze(&self, dim: isize) -> Result<Layout> {
        let rank = self.rank() as isize;
        let d = if dim < 0 { dim + rank + 1 } else { dim };
        if d < 0 || d > rank {
            return Err(Error::AxisOutOfRange {
                op: "unsqueeze",
                axis: dim,
                rank: self.rank(),
                shape: self.shape.clone(),
            });
        }
        let d = d as usize;
        let mut dims = self.dims().to_vec();
        let mut strides = self.strides.clone();
        let stride = if d < self.rank() { self.strides[d] * self.dims()[d] } else { 1 };
        dims.insert(d, 1);
        strides.insert(d, stride);
        Ok(Layout { shape: dims.into(), strides, offset: self.offset })
    }

    /// A reshaped view when the layout is contiguous, `None` when the caller must copy first.
    /// Trade-off: PyTorch also finds views for some strided layouts; kiln keeps the one rule
    /// that is easy to check and copies otherwise.
    pub fn reshape(&self, shape: &Shape) -> Result<Option<Layout>> {
        if shape.elem_count() != self.elem_count() {
            return Err(Error::ReshapeIncompatible {
                from: self.shape.clone(),
                to: shape.clone(),
                from_count: self.elem_count(),
                to_count: shape.elem_count(),
            });
        }
        Ok(self.is_contiguous().then(|| Layout {
            shape: shape.clone(),
            strides: shape.contiguous_strides(),
            offset: self.offset,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_swaps_strides_and_breaks_contiguity() {
        let l = Layout::contiguous([2, 3]);
        let t = l.transpose(0, 1).unwrap();
        assert_eq!(t.dims(), &[3, 2]);
        assert_eq!(t.strides(), &[1, 3]);
        assert!(!t.is_contiguous());
        assert_eq!(t.strided_index().collect::<Vec<_>>(), vec![0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn storage_order_finds_the_permutation_of_a_transposed_block_only() {
        let l = Layout::contiguous([2, 3, 4]).permute(&[2, 0, 1]).unwrap();
        let order = l.storage_order().unwrap();
        assert_eq!(order, vec![1, 2, 0]);
        assert!(l.permute(&order).unwrap().is_contiguous());
        assert_eq!(Layout::contiguous([2, 3]).storage_order(), Some(vec![0, 1]));
        // A size-1 dim goes first whatever its stride; narrowed and broadcast views have no order.
        let one = Layout::new([3, 1, 2].into(), vec![1, 99, 3], 0).unwrap();
        assert_eq!(one.storage_order(), Some(vec![1, 2, 0]));
        assert_eq!(Layout::contiguous([4, 5]).narrow(1, 1, 3).unwrap().storage_order(), None);
        assert_eq!(Layout::contiguous([1, 5]).broadcast_as(&[4, 5].into()).unwrap().storage_order(), None);
    }

    #[test]
    fn narrow_moves_the_offset() {
        let l = Layout::contiguous([4, 5]).narrow(1, 2, 2).unwrap();
        assert_eq!(l.offset(), 2);
        assert_eq!(l.strided_index().collect::<Vec<_>>(), vec![2, 3, 7, 8, 12, 13, 17, 18]);
        assert!(Layout::contiguous([4, 5]).narrow(1, 4, 2).is_err());
    }

    #[test]
    fn broadcast_uses_zero_strides() {
        let l = Layout::contiguous([3, 1]).broadcast_as(&[2, 3, 4].into()).unwrap();
        assert_eq!(l.strides(), &[0, 1, 0]);
        assert!(Layout::contiguous([3, 2]).broadcast_as(&[3, 4].into()).is_err());
    }

    #[test]
    fn squeeze_unsqueeze_round_trip() {
        let l = Layout::contiguous([2, 3]);
        let u = l.unsqueeze(1).unwrap();
        assert_eq!(u.dims(), &[2, 1, 3]);
        assert!(u.is_contiguous());
        assert_eq!(u.squeeze(1).unwrap(), l);
        assert_eq!(l.unsqueeze(-1).unwrap().dims(), &[2, 3, 1]);
        assert!(l.squeeze(0).is_err());
    }

    #[test]
    fn reshape_is_a_view_only_when_contiguous() {
        let l = Layout::contiguous([2, 6]);
        assert!(l.reshape(&[3, 4].into()).unwrap().is_some());
        assert!(l.transpose(0, 1).unwrap().reshape(&[3, 4].into()).unwrap().is_none());
        assert!(l.reshape(&[5].into()).is_err());
    }
}
