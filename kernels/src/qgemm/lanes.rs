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
//! `[panel][group][CH]` ([`ConvWeights`]); A is packed per call, one panel of `LANES` positions at
//! a time, `[group][LANES]`, from the im2col rows (a 4-row byte interleave; 2 rows widened to i16
//! for AVX2). Tiles: AVX-512 VNNI 16 lanes x 16 channels (x 8 when a layer has at most 8), the
//! 256-bit versions 16 x 6, scalar 16 x 4; kernels in `lanes_x86.rs`. Single-threaded: the conv
//! runs samples in parallel. Must not: choose scales, or call the linear order's driver.

use super::epilogue::{store_tile, Epilogue, RawOutput, TileOrder};
use super::microkernel::MAX_TILE;
use super::pack::Layout;
use super::{check_k, check_view, QIsa, OP};
use crate::gemm::MatRef;
use kiln_tensor::{Error, Result};

/// Output positions per A panel (one zmm of 32-bit lanes; two ymm).
pub(crate) const LANES: usize = 16;

/// One register tile of the swapped order: `acc[c][l] = Σ_g dot(a[g][l], b[g][c])`.
pub(crate) trait LaneKernel {
    const CH: usize;
    const LAYOUT: Layout;

    /// Fills `acc` (`CH x LANES`, row-major: channel by channel) from an A panel and a B panel.
    ///
    /// # Safety
    /// `a` must hold `groups * LANES` words, `b` `groups * CH`, `acc` `CH * LANES`; the CPU must
    /// support the kernel's instructions.
    unsafe fn tile(groups: usize, a: *const u32, b: *const u32, acc: *mut i32);
}

/// The portable kernel (the fallback, and what the others are tested against besides the oracle).
pub(crate) struct ScalarLanes;

impl LaneKernel for ScalarLanes {
    const CH: usize = 4;
    const LAYOUT: Layout = Layout::Quad;

    #[inline(always)]
    unsafe fn tile(groups: usize, a: *const u32, b: *const u32, acc: *mut i32) {
        let mut sums = [[0i32; LANES]; Self::CH];
        for g in 0..groups {
            let arow = std::slice::from_raw_parts(a.add(g * LANES), LANES);
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

/// Weights `B: k x n` (s8) packed for the swapped order on one [`QIsa`], with their column sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvWeights {
    isa: QIsa,
    k: usize,
    n: usize,
    /// Columns per panel: the tile's channel count.
    ch: usize,
    words: Vec<u32>,
    colsum: Vec<i32>,
}

impl ConvWeights {
    /// Packs `b` (`k x n`, any strides; for a conv `k = C*KH*KW`, `n = O`) for `isa` (an
    /// unsupported one falls back, [`QIsa::usable`]).
    pub fn pack(isa: QIsa, k: usize, n: usize, b: MatRef<i8>) -> Result<ConvWeights> {
        check_k(k)?;
        check_view("b (weights)", k, n, b.rs, b.cs, b.data.len())?;
        let isa = isa.usable();
        let (ch, layout) = tile_for(isa, n);
        let per = layout.per_word();
        let groups = k.div_ceil(per);
        let panels = n.div_ceil(ch);
        let len = panels
            .checked_mul(groups)
            .and_then(|x| x.checked_mul(ch))
            .ok_or_else(|| Error::SizeOverflow { op: OP, what: format!("packed conv weights of {k}x{n}") })?;
        let mut words = vec![0u32; len];
        for (p, panel) in words.chunks_mut((groups * ch).max(1)).enumerate().take(panels) {
            for g in 0..groups {
                let ks = g * per..((g + 1) * per).min(k);
                for c in 0..ch.min(n - p * ch) {
                    let j = p * ch + c;
                    panel[g * ch + c] = layout.word(ks.clone().map(|q| b.data[q * b.rs + j * b.cs] as u8), true);
                }
            }
        }
        let colsum = super::reference::column_sums(k, n, b);
        Ok(ConvWeights { isa, k, n, ch, words, colsum })
    }

    /// The version these weights were packed for.
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
}

/// The tile's channel count and word layout for `isa` (usable) and a layer of `n` columns.
fn tile_for(isa: QIsa, n: usize) -> (usize, Layout) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        QIsa::Avx512Vnni if n <= 8 => (8, Layout::Quad),
        #[cfg(target_arch = "x86_64")]
        QIsa::Avx512Vnni => (16, Layout::Quad),
        #[cfg(target_arch = "x86_64")]
        QIsa::AvxVnni => (6, Layout::Quad),
        #[cfg(target_arch = "x86_64")]
        QIsa::Avx2 => (6, Layout::Pair),
        _ => (ScalarLanes::CH, ScalarLanes::LAYOUT),
    }
}

/// One call: `out = epilogue(Atᵀ · B)` for `At` (`k x m` u8, row stride `m`), the packed weights,
/// and a validated output; `scratch` holds one packed A panel between calls.
pub(crate) struct LaneCall<'a> {
    pub m: usize,
    pub at: &'a [u8],
    pub weights: &'a ConvWeights,
    pub epilogue: &'a Epilogue<'a>,
    pub out: RawOutput,
}

/// Runs `call` on the version its weights were packed for, on this thread.
///
/// # Safety
/// `call.at` must hold `k * m` values; the output view must hold every `(i, j)`, `i < m`, `j < n`,
/// and the epilogue `n` values (what `conv.rs` checks).
pub(crate) unsafe fn run(call: &LaneCall, scratch: &mut Vec<u32>) {
    #[cfg(target_arch = "x86_64")]
    {
        use super::lanes_x86::{Avx2Lanes, Avx512Lanes, AvxVnniLanes};
        #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
        unsafe fn avx512_16(call: &LaneCall, scratch: &mut Vec<u32>) {
            run_panels::<Avx512Lanes<16>>(call, scratch)
        }
        #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
        unsafe fn avx512_8(call: &LaneCall, scratch: &mut Vec<u32>) {
            run_panels::<Avx512Lanes<8>>(call, scratch)
        }
        #[target_feature(enable = "avx2,avxvnni")]
        unsafe fn avx_vnni(call: &LaneCall, scratch: &mut Vec<u32>) {
            run_panels::<AvxVnniLanes>(call, scratch)
        }
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(call: &LaneCall, scratch: &mut Vec<u32>) {
            run_panels::<Avx2Lanes>(call, scratch)
        }
        match (call.weights.isa, call.weights.ch) {
            (QIsa::Avx512Vnni, 16) => return avx512_16(call, scratch),
            (QIsa::Avx512Vnni, _) => return avx512_8(call, scratch),
            (QIsa::AvxVnni, _) => return avx_vnni(call, scratch),
            (QIsa::Avx2, _) => return avx2(call, scratch),
            (QIsa::Scalar, _) => {}
        }
    }
    run_panels::<ScalarLanes>(call, scratch)
}

/// For each A panel of `LANES` positions: pack it, then one tile and its store per weight panel.
/// The A panel (`groups x 64` bytes) stays in L1 while the weights stream from L2.
#[inline(always)]
unsafe fn run_panels<K: LaneKernel>(call: &LaneCall, scratch: &mut Vec<u32>) {
    let w = call.weights;
    let (m, k, n) = (call.m, w.k, w.n);
    let groups = k.div_ceil(K::LAYOUT.per_word());
    scratch.resize(groups * LANES, 0);
    let mut acc = [0i32; MAX_TILE];
    for i0 in (0..m).step_by(LANES) {
        let rows = LANES.min(m - i0);
        pack_panel(K::LAYOUT, call.at, (m, k), i0, scratch);
        for j0 in (0..n).step_by(K::CH) {
            // (K = 0 leaves the panels empty: the tile is then all zeros, the outputs the bias.)
            let bpanel = &w.words[j0 * groups..(j0 + K::CH) * groups];
            K::tile(groups, scratch.as_ptr(), bpanel.as_ptr(), acc.as_mut_ptr());
            let cols = K::CH.min(n - j0);
            let order = (TileOrder::RowsAreJ, LANES);
            store_tile(call.epilogue, &w.colsum[j0..], &acc, order, (i0, j0), (rows, cols), call.out);
        }
    }
}

/// Packs positions `i0..i0 + LANES` of `at` (`k` rows of `m` bytes) as `[group][LANES]` words;
/// positions past `m` and taps past `k` are 0.
#[inline(always)]
fn pack_panel(layout: Layout, at: &[u8], (m, k): (usize, usize), i0: usize, out: &mut [u32]) {
    let width = LANES.min(m - i0);
    let zeros = [0u8; LANES];
    // Row `r` of the panel, zero-padded to LANES positions (a copy only at the last panel).
    let row = |r: usize, buf: &mut [u8; LANES]| -> [u8; LANES] {
        if r >= k {
            return zeros;
        }
        let src = &at[r * m + i0..r * m + i0 + width];
        buf[..width].copy_from_slice(src);
        buf[width..].fill(0);
        *buf
    };
    let mut buf = [0u8; LANES];
    for (g, words) in out.chunks_exact_mut(LANES).enumerate() {
        match layout {
            Layout::Quad => {
                let rows = [
                    row(4 * g, &mut buf),
                    row(4 * g + 1, &mut buf),
                    row(4 * g + 2, &mut buf),
                    row(4 * g + 3, &mut buf),
                ];
                for (l, w) in words.iter_mut().enumerate() {
                    *w = u32::from_le_bytes([rows[0][l], rows[1][l], rows[2][l], rows[3][l]]);
                }
            }
            Layout::Pair => {
                let rows = [row(2 * g, &mut buf), row(2 * g + 1, &mut buf)];
                for (l, w) in words.iter_mut().enumerate() {
                    *w = rows[0][l] as u32 | (rows[1][l] as u32) << 16;
                }
            }
        }
    }
}
