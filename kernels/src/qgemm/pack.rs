//! The packed layouts of the integer GEMM. Both operands are packed into 32-bit words, each word the
//! few K-consecutive values one multiply-add instruction consumes per lane:
//! - [`Layout::Quad`] (VNNI and scalar): 4 bytes, `k = 4g .. 4g + 3` (u8 for A, s8 for B);
//! - [`Layout::Pair`] (AVX2): 2 x i16, `k = 2g, 2g + 1`, widened when packed so `vpmaddwd` cannot
//!   saturate.
//!
//! B (the weights) is packed once into panels of `NR` columns: panel `p` is `[group][NR]` words, K
//! zero-padded to whole groups and N to whole panels, so the micro-kernel reads one vector row per
//! group with no edge cases. A block of A is packed per call into micro-panels of `MR` rows,
//! `[group][MR]` words: each word is broadcast to all lanes. Padding is 0, which adds nothing.
//! Must not: compute anything but layout (column sums excepted, which need the unpacked values).

use super::{check_k, check_view, microkernel, QIsa, OP};
use crate::gemm::MatRef;
use kiln_tensor::{Error, Result};

/// How K-consecutive values share a 32-bit word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    Quad,
    Pair,
}

impl Layout {
    /// Values of K per word.
    pub(crate) fn per_word(self) -> usize {
        match self {
            Layout::Quad => 4,
            Layout::Pair => 2,
        }
    }

    /// The word holding `values` (fewer than a whole group at K's end; the rest are 0).
    #[inline(always)]
    fn word(self, values: impl Iterator<Item = u8>, signed: bool) -> u32 {
        let mut w = 0u32;
        for (slot, v) in values.enumerate() {
            w |= match self {
                Layout::Quad => (v as u32) << (8 * slot),
                // Sign-extend s8 (weights) or zero-extend u8 (activations) to 16 bits.
                Layout::Pair if signed => ((v as i8 as i16 as u16) as u32) << (16 * slot),
                Layout::Pair => (v as u32) << (16 * slot),
            };
        }
        w
    }
}

/// Weights `B: k x n` (s8) packed for one [`QIsa`], with their column sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedWeights {
    isa: QIsa,
    k: usize,
    n: usize,
    words: Vec<u32>,
    colsum: Vec<i32>,
}

impl PackedWeights {
    /// Packs `b` (`k x n`, any strides) for `isa` (an unsupported one falls back, [`QIsa::usable`]).
    pub fn pack(isa: QIsa, k: usize, n: usize, b: MatRef<i8>) -> Result<PackedWeights> {
        let isa = isa.usable();
        let shape = microkernel::shape(isa);
        PackedWeights::pack_panels(isa, (k, n, b), shape.nr, shape.layout)
    }

    /// `b` in panels of `width` columns, `[panel][group][width]` words in `layout`, K zero-padded to
    /// whole groups and N to whole panels: the layout of both operand orders' weights (the linear
    /// order's panels are its vector width, the swapped order's its broadcast channel count).
    pub(crate) fn pack_panels(
        isa: QIsa,
        (k, n, b): (usize, usize, MatRef<i8>),
        width: usize,
        layout: Layout,
    ) -> Result<PackedWeights> {
        check_k(k)?;
        check_view("b (weights)", k, n, b.rs, b.cs, b.data.len())?;
        let per = layout.per_word();
        let groups = k.div_ceil(per);
        let panels = n.div_ceil(width);
        let len = panels
            .checked_mul(groups)
            .and_then(|x| x.checked_mul(width))
            .ok_or_else(|| Error::SizeOverflow { op: OP, what: format!("packed weights of {k}x{n}") })?;
        let mut words = vec![0u32; len];
        for (p, panel) in words.chunks_mut((groups * width).max(1)).enumerate().take(panels) {
            for g in 0..groups {
                let ks = g * per..((g + 1) * per).min(k);
                for c in 0..width.min(n - p * width) {
                    let j = p * width + c;
                    panel[g * width + c] = layout.word(ks.clone().map(|q| b.data[q * b.rs + j * b.cs] as u8), true);
                }
            }
        }
        let colsum = super::reference::column_sums(k, n, b);
        Ok(PackedWeights { isa, k, n, words, colsum })
    }

    /// Every panel's words, in order.
    pub(crate) fn words(&self) -> &[u32] {
        &self.words
    }

    /// The version these weights were packed for (the one `qgemm` runs on them).
    pub fn isa(&self) -> QIsa {
        self.isa
    }
    pub fn k(&self) -> usize {
        self.k
    }
    pub fn n(&self) -> usize {
        self.n
    }
    /// `Σ_k B[k, j]` per column.
    pub fn column_sums(&self) -> &[i32] {
        &self.colsum
    }
    /// Bytes held (packed words plus column sums).
    pub fn bytes(&self) -> usize {
        4 * (self.words.len() + self.colsum.len())
    }

    /// Panel `p`'s words.
    pub(crate) fn panel(&self, p: usize, groups: usize, nr: usize) -> &[u32] {
        &self.words[p * groups * nr..(p + 1) * groups * nr]
    }
}

/// Packs rows `rows` of A (`a`, strides `(rs, cs)`, K columns) into `MR`-row micro-panels of `out`,
/// `[panel][group][MR]`; rows past the block's end are 0.
///
/// # Safety
/// `a + i*rs + p*cs` must be readable for every `i` in `rows` and `p < k`; `out` must hold
/// `rows.len().div_ceil(mr) * groups * mr` words.
#[inline(always)]
pub(crate) unsafe fn pack_a(
    layout: Layout,
    mr: usize,
    (a, rs, cs): (*const u8, usize, usize),
    rows: std::ops::Range<usize>,
    k: usize,
    out: &mut [u32],
) {
    let per = layout.per_word();
    let groups = k.div_ceil(per);
    let whole = k / per;
    let height = rows.len();
    for (mp, panel) in out.chunks_mut(groups * mr).take(height.div_ceil(mr)).enumerate() {
        for r in 0..mr {
            let local = mp * mr + r;
            if local >= height {
                for g in 0..groups {
                    panel[g * mr + r] = 0;
                }
                continue;
            }
            let row = a.add((rows.start + local) * rs);
            // Whole groups: with contiguous rows (cs == 1) one unaligned load per word.
            for g in 0..whole {
                panel[g * mr + r] = match (layout, cs) {
                    (Layout::Quad, 1) => u32::from_le_bytes(std::ptr::read_unaligned(row.add(4 * g) as *const [u8; 4])),
                    // The pair widened with two byte loads: the generic iterator path made packing
                    // a fifth of a 512^3 AVX2 call.
                    (Layout::Pair, 1) => *row.add(2 * g) as u32 | (*row.add(2 * g + 1) as u32) << 16,
                    _ => layout.word((0..per).map(|s| *row.add((g * per + s) * cs)), false),
                };
            }
            if whole < groups {
                panel[whole * mr + r] = layout.word((whole * per..k).map(|p| *row.add(p * cs)), false);
            }
        }
    }
}
