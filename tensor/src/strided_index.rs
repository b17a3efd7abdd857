//! Walking a layout in row-major logical order: [`StridedIndex`] yields one storage offset per
//! element; [`StridedBlocks`] yields the start of each run of contiguous elements (the inner dims
//! that are laid out densely are merged into one block), which is what copy loops want.

use crate::Layout;

/// Storage offsets of every element of a layout, in logical row-major order.
pub struct StridedIndex {
    dims: Vec<usize>,
    strides: Vec<usize>,
    index: Vec<usize>,
    next: Option<usize>,
    remaining: usize,
}

impl StridedIndex {
    pub fn new(layout: &Layout) -> Self {
        let count = layout.elem_count();
        StridedIndex {
            dims: layout.dims().to_vec(),
            strides: layout.strides().to_vec(),
            index: vec![0; layout.rank()],
            next: (count > 0).then_some(layout.offset()),
            remaining: count,
        }
    }
}

impl Iterator for StridedIndex {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        let current = self.next?;
        self.remaining -= 1;
        let mut offset = current;
        let mut advanced = false;
        for d in (0..self.dims.len()).rev() {
            if self.index[d] + 1 < self.dims[d] {
                self.index[d] += 1;
                offset += self.strides[d];
                advanced = true;
                break;
            }
            offset -= self.index[d] * self.strides[d];
            self.index[d] = 0;
        }
        self.next = advanced.then_some(offset);
        Some(current)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for StridedIndex {}

/// Runs of `block_len` consecutive storage elements; iterating yields each run's start offset.
pub struct StridedBlocks {
    pub block_len: usize,
    outer: StridedIndex,
}

impl StridedBlocks {
    pub fn new(layout: &Layout) -> Self {
        let dims = layout.dims();
        let strides = layout.strides();
        let mut block_len = 1;
        let mut inner = dims.len();
        while inner > 0 && (dims[inner - 1] == 1 || strides[inner - 1] == block_len) {
            block_len *= dims[inner - 1];
            inner -= 1;
        }
        let outer_layout = layout.leading_dims(inner);
        let outer = StridedIndex::new(&outer_layout);
        // An empty tensor has no blocks even when its outer part has elements.
        let outer = if layout.elem_count() == 0 { StridedIndex::new(&Layout::contiguous([0])) } else { outer };
        StridedBlocks { block_len, outer }
    }

    pub fn block_count(&self) -> usize {
        self.outer.remaining
    }
}

impl Iterator for StridedBlocks {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        self.outer.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_merge_dense_inner_dims() {
        let l = Layout::contiguous([4, 6]).narrow(0, 1, 2).unwrap();
        let b = l.strided_blocks();
        assert_eq!(b.block_len, 12);
        assert_eq!(b.collect::<Vec<_>>(), vec![6]);
        let n = Layout::contiguous([4, 6]).narrow(1, 1, 3).unwrap();
        let b = n.strided_blocks();
        assert_eq!(b.block_len, 3);
        assert_eq!(b.collect::<Vec<_>>(), vec![1, 7, 13, 19]);
        let t = Layout::contiguous([2, 3]).transpose(0, 1).unwrap();
        assert_eq!(t.strided_blocks().block_len, 1);
    }

    #[test]
    fn empty_and_scalar_layouts() {
        assert_eq!(Layout::contiguous([2, 0, 3]).strided_index().count(), 0);
        assert_eq!(Layout::contiguous([2, 0, 3]).strided_blocks().count(), 0);
        assert_eq!(Layout::contiguous(()).strided_index().collect::<Vec<_>>(), vec![0]);
    }
}
