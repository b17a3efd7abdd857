//! The integer GEMM with its operands' roles swapped, for convolution: the activations' rows
//! (output positions) run along the vector lanes and the weights' columns (output channels) are
//! broadcast, `C[i, j] = Σ_k At[k, i] B[k, j]` with `At` the u8 im2col matrix `[K][M]` (row k =
//! one kernel tap over every output position) and `B` the s8 weights. Against the linear layers'
//! order (activation rows broadcast, weight columns in the lanes) this wastes no lanes when a
//! layer has few output channels (LeNet's first conv has 6), needs no transposed copy of the
//! im2col matrix, and each accumulator holds consecutive positions of one channel, so the tile is
//! stored straight into NCHW rows.
//!
//! Layouts (words as in `pack.rs`): the weights are packed once into panels of `CH` columns,
//! `[panel][group][CH]` ([`ConvWeights`]); A is written per call as `[group][position]` words
//! straight from the conv's input runs ([`Source`]: a 4-row byte interleave, or 2 rows widened to
//! i16 for AVX2; `avx2-u7` takes the bytes), and a panel of `LANES` positions is read in place.
//! Tiles: AVX-512 VNNI 16 lanes x 16 channels (x 8 or x 6 for layers with at most 8 or 6: LeNet's
//! first conv has 6), the 256-bit versions 16 x 6, scalar 16 x 4; kernels in `lanes_x86.rs`. Single-threaded: the conv
//! runs samples in parallel. Must not: choose scales, or call the linear order's driver.

use super::epilogue::{store_tile, Epilogue, RawOutput, TileOrder};
use super::microkernel::MAX_TILE;
use super::pack::Layout;
use super::{PackedWeights, QIsa};
use crate::gemm::MatRef;
use kiln_tensor::Result;

/// Output positions per A panel (one zmm of 32-bit lanes; two ymm).
pub(crate) const LANES: usize = 16;

/// One register tile of the swapped order: `acc[c][l] = Σ_g dot(a[g][l], b[g][c])`.
pub(crate) trait LaneKernel {
    const CH: usize;
    const LAYOUT: Layout;

    /// Fills `acc` (`CH x LANES`, row-major: channel by channel) from an A panel (`a.0`, group g's
    /// LANES words at `a.0 + g * a.1`) and a B panel.
    ///
    /// # Safety
    /// Every group's LANES words of `a` must be readable, `b` must hold `groups * CH` words, `acc`
    /// `CH * LANES`; the CPU must support the kernel's instructions.
    unsafe fn tile(groups: usize, a: (*const u32, usize), b: *const u32, acc: *mut i32);

    /// Whether `tile` is exact only for A bytes below 128 (`Avx2U7Lanes`): a panel holding a byte
    /// >= 128 then runs [`LaneKernel::tile_wide`].
    const SEVEN_BIT: bool = false;

    /// [`LaneKernel::tile`] for any A bytes (the same contract); only `SEVEN_BIT` kernels differ.
    ///
    /// # Safety
    /// As for `tile`.
    #[inline(always)]
    unsafe fn tile_wide(groups: usize, a: (*const u32, usize), b: *const u32, acc: *mut i32) {
        Self::tile(groups, a, b, acc)
    }
}

/// The portable kernel (the fallback, and what the others are tested against besides the oracle).
pub(crate) struct ScalarLanes;

impl LaneKernel for ScalarLanes {
    const CH: usize = 4;
    const LAYOUT: Layout = Layout::Quad;

    #[inline(always)]
    unsafe fn tile(groups: usize, (a, stride): (*const u32, usize), b: *const u32, acc: *mut i32) {
        let mut sums = [[0i32; LANES]; Self::CH];
        for g in 0..groups {
            let arow = std::slice::from_raw_parts(a.add(g * stride), LANES);
            for (c, row) in sums.iter_mut().enumerate() {
                let bw = (*b.add(g * Self::CH + c)).to_le_bytes();
                for (s, aw) in row.iter_mut().zip(arow) {
                    let aw = aw.to_le_bytes();
                    *s += (0..4).map(|q| aw[q] as i32 * bw[q] as i8 as i32).sum::<i32>();
                }
            }
        }
        std::ptr::copy_nonoverlapping(sums.as_ptr() as *const i32, acc, Self::CH * LANES);
    }
}

/// Weights `B: k x n` (s8) packed for the swapped order on one [`QIsa`], with their column sums:
/// the linear order's panel layout ([`PackedWeights`]), with panels as wide as the tile's
/// broadcast channel count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvWeights {
    packed: PackedWeights,
    /// Columns per panel: the tile's channel count.
    ch: usize,
}

impl ConvWeights {
    /// Packs `b` (`k x n`, any strides; for a conv `k = C*KH*KW`, `n = O`) for `isa` (an
    /// unsupported one falls back, [`QIsa::usable`]).
    pub fn pack(isa: QIsa, k: usize, n: usize, b: MatRef<i8>) -> Result<ConvWeights> {
        let isa = isa.usable();
        let (ch, layout) = tile_for(isa, n);
        Ok(ConvWeights { packed: PackedWeights::pack_panels(isa, (k, n, b), ch, layout)?, ch })
    }

    /// The version these weights were packed for.
    pub fn isa(&self) -> QIsa {
        self.packed.isa()
    }
    pub fn k(&self) -> usize {
        self.packed.k()
    }
    pub fn n(&self) -> usize {
        self.packed.n()
    }
    /// `Σ_k B[k, j]` per column.
    pub fn column_sums(&self) -> &[i32] {
        self.packed.column_sums()
    }
}

/// The tile's channel count and word layout for `isa` (usable) and a layer of `n` columns.
fn tile_for(isa: QIsa, n: usize) -> (usize, Layout) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        QIsa::Avx512Vnni if n <= 6 => (6, Layout::Quad),
        #[cfg(target_arch = "x86_64")]
        QIsa::Avx512Vnni if n <= 8 => (8, Layout::Quad),
        #[cfg(target_arch = "x86_64")]
        QIsa::Avx512Vnni => (16, Layout::Quad),
        #[cfg(target_arch = "x86_64")]
        QIsa::AvxVnni => (6, Layout::Quad),
        #[cfg(target_arch = "x86_64")]
        QIsa::Avx2U7 => (6, Layout::Quad),
        #[cfg(target_arch = "x86_64")]
        QIsa::Avx2 => (6, Layout::Pair),
        _ => (ScalarLanes::CH, ScalarLanes::LAYOUT),
    }
}

/// Where A comes from: `At[k, i]` (tap k at output position i) is `bytes[taps[k] + r * pitch +
/// c]` for position `i = r * row_len + c` (`r < rows`, `c < row_len`). A stride-1 conv reads its
/// zero-point-bordered input this way directly (taps are plane offsets, rows are output rows, the
/// pitch the bordered width); other convs pass a plain im2col matrix (`rows = 1`, taps `k * m`).
/// `bytes` must hold 15 bytes past every run it describes (whole 16-byte loads).
pub(crate) struct Source<'a> {
    pub bytes: &'a [u8],
    pub taps: &'a [usize],
    pub rows: usize,
    pub row_len: usize,
    pub pitch: usize,
}

/// One call: `out = epilogue(Atᵀ · B)` for `At` (`k x m`, from `source`, `m = rows * row_len`),
/// the packed weights, and a validated output.
pub(crate) struct LaneCall<'a> {
    pub source: Source<'a>,
    pub weights: &'a ConvWeights,
    pub epilogue: &'a Epilogue<'a>,
    pub out: RawOutput,
}

/// Runs `call` on the version its weights were packed for, on this thread; `words` is scratch for
/// A in the kernel's word layout, kept by the caller between calls.
///
/// # Safety
/// The output view must hold every `(i, j)`, `i < m`, `j < n`, and the epilogue `n` values (what
/// `conv.rs` checks); `source` must describe `k` taps.
pub(crate) unsafe fn run(call: &LaneCall, words: &mut Vec<u32>) {
    #[cfg(target_arch = "x86_64")]
    {
        use super::lanes_x86::{Avx2Lanes, Avx2U7Lanes, Avx512Lanes, AvxVnniLanes};
        #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
        unsafe fn avx512_16(call: &LaneCall, words: &mut Vec<u32>) {
            run_panels::<Avx512Lanes<16>>(call, words)
        }
        #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
        unsafe fn avx512_8(call: &LaneCall, words: &mut Vec<u32>) {
            run_panels::<Avx512Lanes<8>>(call, words)
        }
        #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
        unsafe fn avx512_6(call: &LaneCall, words: &mut Vec<u32>) {
            run_panels::<Avx512Lanes<6>>(call, words)
        }
        #[target_feature(enable = "avx2,avxvnni")]
        unsafe fn avx_vnni(call: &LaneCall, words: &mut Vec<u32>) {
            run_panels::<AvxVnniLanes>(call, words)
        }
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(call: &LaneCall, words: &mut Vec<u32>) {
            run_panels::<Avx2Lanes>(call, words)
        }
        #[target_feature(enable = "avx2")]
        unsafe fn avx2_u7(call: &LaneCall, words: &mut Vec<u32>) {
            run_panels::<Avx2U7Lanes>(call, words)
        }
        match (call.weights.isa(), call.weights.ch) {
            (QIsa::Avx512Vnni, 16) => return avx512_16(call, words),
            (QIsa::Avx512Vnni, 8) => return avx512_8(call, words),
            (QIsa::Avx512Vnni, _) => return avx512_6(call, words),
            (QIsa::AvxVnni, _) => return avx_vnni(call, words),
            (QIsa::Avx2, _) => return avx2(call, words),
            (QIsa::Avx2U7, _) => return avx2_u7(call, words),
            (QIsa::Scalar, _) => {}
        }
    }
    run_panels::<ScalarLanes>(call, words)
}

/// A in the kernel's word layout, then for each panel of `LANES` positions one tile and its store
/// per weight panel. Group g's words for positions `i..i + LANES` are `words[g * m + i..]`, so a
/// panel is read in place (`m` words between groups); LANES words of slack follow the last group.
#[inline(always)]
unsafe fn run_panels<K: LaneKernel>(call: &LaneCall, words: &mut Vec<u32>) {
    let w = call.weights;
    let src = &call.source;
    let (m, n) = (src.rows * src.row_len, w.n());
    let groups = w.k().div_ceil(K::LAYOUT.per_word());
    to_words(K::LAYOUT, src, groups, words);
    let mut acc = [0i32; MAX_TILE];
    for i0 in (0..m).step_by(LANES) {
        let rows = LANES.min(m - i0);
        // (Lanes past m hold other groups' words: at worst they send a panel to the slower exact
        // tile.)
        let wide = K::SEVEN_BIT
            && (0..groups).any(|g| words[g * m + i0..][..LANES].iter().fold(0, |any, &w| any | w) & 0x8080_8080 != 0);
        for j0 in (0..n).step_by(K::CH) {
            // (K = 0 leaves the panels empty: the tile is then all zeros, the outputs the bias.)
            let bpanel = &w.packed.words()[j0 * groups..(j0 + K::CH) * groups];
            if wide {
                K::tile_wide(groups, (words[i0..].as_ptr(), m), bpanel.as_ptr(), acc.as_mut_ptr());
            } else {
                K::tile(groups, (words[i0..].as_ptr(), m), bpanel.as_ptr(), acc.as_mut_ptr());
            }
            let cols = K::CH.min(n - j0);
            let order = (TileOrder::RowsAreJ, LANES);
            store_tile(call.epilogue, &w.column_sums()[j0..], &acc, order, (i0, j0), (rows, cols), call.out);
        }
    }
}

/// A's words, `words[g * m + i]` = the taps of group g at position i, built 16 positions at a time
/// from whole 16-byte loads of each tap's run (a 4-row byte interleave, or 2 rows widened to i16
/// pairs). The last store of a run spills past its end into positions written later (groups and
/// rows go in increasing order) or into the slack. Taps past K are 0.
#[inline(always)]
fn to_words(layout: Layout, src: &Source, groups: usize, words: &mut Vec<u32>) {
    let per = layout.per_word();
    let m = src.rows * src.row_len;
    words.resize(groups * m + LANES, 0);
    let load = |tap: usize, at: usize| -> [u8; LANES] {
        let mut v = [0u8; LANES];
        if let Some(&t) = src.taps.get(tap) {
            v.copy_from_slice(&src.bytes[t + at..t + at + LANES]);
        }
        v
    };
    for g in 0..groups {
        for r in 0..src.rows {
            for c in (0..src.row_len).step_by(LANES) {
                let (at, to) = (r * src.pitch + c, g * m + r * src.row_len + c);
                let out = &mut words[to..to + LANES];
                match layout {
                    Layout::Quad => {
                        let rows =
                            [load(per * g, at), load(per * g + 1, at), load(per * g + 2, at), load(per * g + 3, at)];
                        for (l, w) in out.iter_mut().enumerate() {
                            *w = u32::from_le_bytes([rows[0][l], rows[1][l], rows[2][l], rows[3][l]]);
                        }
                    }
                    Layout::Pair => {
                        let rows = [load(per * g, at), load(per * g + 1, at)];
                        for (l, w) in out.iter_mut().enumerate() {
                            *w = rows[0][l] as u32 | (rows[1][l] as u32) << 16;
                        }
                    }
                }
            }
        }
    }
}
