//! The register-blocked micro-kernel and the macro-kernel that sweeps it over one packed block.
//!
//! The micro-kernel computes an `MR x NR` tile of C, `NR = NV` vectors wide, as `KC` rank-1 updates:
//! at step `p` it loads the NR values of B's row `p` (`NV` vector loads) and, for each of the MR rows,
//! broadcasts `A[r, p]` and does `NV` FMAs into that row's accumulators. The whole tile lives in
//! registers; C is touched once per KC pass. Vectors run along N, the contiguous direction of a
//! row-major C, so a full tile is stored with plain vector stores (the driver transposes a problem
//! whose C is column-major so this holds).
//!
//! Tile shapes per back end (accumulators + B vectors + 1 broadcast must fit the register file, and
//! `MR x NV` independent FMA chains must cover FMA latency x throughput = 4 x 2 on Zen 4):
//! - AVX-512 (32 zmm): 12 x 32 (24 accumulators) for tall problems, 8 x 32 (16) when 12 would pad
//!   many rows (m = 64: 8 tiles of 8 exactly instead of 6 of 12 with 8 rows wasted), 4 x 32 for m <= 4.
//! - AVX2 (16 ymm): 6 x 16 (12 accumulators, the classic Haswell shape), 4 x 16 for m <= 4.
//! - Scalar: 4 x 4 (the compiler may vectorise it with the target's baseline SIMD).
//!
//! One generic body serves every back end ([`macro_kernel`]); each (back end, MR) pair is one
//! `#[target_feature]` instantiation in [`select`]'s table.

use crate::simd::{Isa, Simd};

/// One packed block for the macro-kernel: `mc x nc` of C += (packed A, `mc x kc`) (B, `kc x nc`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block {
    pub mc: usize,
    pub nc: usize,
    pub kc: usize,
    /// Packed A: ceil(mc / MR) panels, each `kc` groups of MR values.
    pub a: *const f32,
    /// B: NR-wide panel `j` starts at `b + j * b_ps`; its consecutive k rows are `b_rs` apart
    /// (`b_rs = NR` for packed B, B's row stride when read in place).
    pub b: *const f32,
    pub b_rs: usize,
    pub b_ps: usize,
    pub alpha: f32,
    /// Applied to C on this pass (`beta` on the first KC pass, 1 after); 0 means C is not read.
    pub beta: f32,
    pub c: *mut f32,
    pub c_rs: usize,
    pub c_cs: usize,
}

/// A micro-kernel shape and the macro-kernel instantiated for it.
#[derive(Clone, Copy)]
pub(crate) struct Kernel {
    pub mr: usize,
    pub nr: usize,
    pub run: unsafe fn(&Block),
    pub isa: Isa,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {}x{}", self.isa, self.mr, self.nr)
    }
}

/// Largest tile any kernel uses, for the edge-tile scratch buffer.
const MAX_TILE: usize = 16 * 64;

#[repr(C, align(64))]
struct Tile([f32; MAX_TILE]);

/// `C[MR x NV*LANES] = alpha * A_panel B_panel + beta * C` (C not read when `beta == 0`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn micro_kernel<S: Simd, const MR: usize, const NV: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    b_rs: usize,
    c: *mut f32,
    c_rs: usize,
    alpha: f32,
    beta: f32,
) {
    // C's rows are far apart (a row stride of kilobytes), so its tile is a burst of cache misses at
    // the end; asking for it now hides them behind the k loop (2048^2: 90 -> 101 GFLOP/s).
    for r in 0..MR {
        for v in 0..NV {
            S::prefetch(c.add(r * c_rs + v * S::LANES));
        }
    }
    let mut acc = [[S::zero(); NV]; MR];
    let (mut a, mut b) = (a, b);
    for _ in 0..kc {
        let bv: [S::V; NV] = std::array::from_fn(|v| S::loadu(b.add(v * S::LANES)));
        for (r, row) in acc.iter_mut().enumerate() {
            let ar = S::splat(*a.add(r));
            for v in 0..NV {
                row[v] = S::fma(ar, bv[v], row[v]);
            }
        }
        a = a.add(MR);
        b = b.add(b_rs);
    }
    let al = S::splat(alpha);
    if beta == 0.0 {
        for (r, row) in acc.iter().enumerate() {
            for (v, x) in row.iter().enumerate() {
                S::storeu(c.add(r * c_rs + v * S::LANES), S::mul(al, *x));
            }
        }
    } else {
        let be = S::splat(beta);
        for (r, row) in acc.iter().enumerate() {
            for (v, x) in row.iter().enumerate() {
                let p = c.add(r * c_rs + v * S::LANES);
                S::storeu(p, S::fma(al, *x, S::mul(be, S::loadu(p))));
            }
        }
    }
}

/// Sweeps the micro-kernel over a block: each MR-row panel of A (held in L1) meets every NR-wide
/// panel of B in turn. Full tiles with unit column stride go straight to C; edge tiles and general C
/// strides go through a scratch tile and are merged element by element.
#[inline(always)]
unsafe fn macro_kernel<S: Simd, const MR: usize, const NV: usize>(blk: &Block) {
    let nr = NV * S::LANES;
    // Scratch for edge tiles: written by the micro-kernel before it is read, so left uninitialised.
    let mut tile = std::mem::MaybeUninit::<Tile>::uninit();
    let t = tile.as_mut_ptr() as *mut f32;
    for ir in (0..blk.mc).step_by(MR) {
        let mr_eff = MR.min(blk.mc - ir);
        let a = blk.a.add(ir * blk.kc);
        for (q, jr) in (0..blk.nc).step_by(nr).enumerate() {
            let nr_eff = nr.min(blk.nc - jr);
            let b = blk.b.add(q * blk.b_ps);
            let c = blk.c.add(ir * blk.c_rs + jr * blk.c_cs);
            if mr_eff == MR && nr_eff == nr && blk.c_cs == 1 {
                micro_kernel::<S, MR, NV>(blk.kc, a, b, blk.b_rs, c, blk.c_rs, blk.alpha, blk.beta);
            } else {
                if nr_eff <= S::LANES {
                    // A sliver of at most one vector (n = 100 leaves 4 columns): one vector per row
                    // instead of NV, so the padding costs at most one vector's worth of FMAs.
                    micro_kernel::<S, MR, 1>(blk.kc, a, b, blk.b_rs, t, nr, blk.alpha, 0.0);
                } else {
                    micro_kernel::<S, MR, NV>(blk.kc, a, b, blk.b_rs, t, nr, blk.alpha, 0.0);
                }
                for i in 0..mr_eff {
                    for j in 0..nr_eff {
                        let out = c.add(i * blk.c_rs + j * blk.c_cs);
                        let v = *t.add(i * nr + j);
                        *out = if blk.beta == 0.0 { v } else { v + blk.beta * *out };
                    }
                }
            }
        }
    }
}

macro_rules! instantiate {
    ($name:ident, $feature:literal, $S:ty, $mr:literal, $nv:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name(blk: &Block) {
            macro_kernel::<$S, $mr, $nv>(blk)
        }
    };
}

instantiate!(avx512_12x32, "avx512f", crate::simd::Avx512, 12, 2);
instantiate!(avx512_8x32, "avx512f", crate::simd::Avx512, 8, 2);
instantiate!(avx512_4x32, "avx512f", crate::simd::Avx512, 4, 2);
instantiate!(avx2_6x16, "avx2,fma", crate::simd::Avx2Fma, 6, 2);
instantiate!(avx2_4x16, "avx2,fma", crate::simd::Avx2Fma, 4, 2);

unsafe fn scalar_4x4(blk: &Block) {
    macro_kernel::<crate::simd::Scalar, 4, 4>(blk)
}

/// Relative extra cost per row of each step down from the tallest tile (measured: 8 x 32 runs a few
/// percent below 12 x 32 on large problems).
const SHORT_TILE_COST: f64 = 0.04;

/// The kernels available on `isa` (falling back as [`Isa::usable`] does), tallest first.
pub(crate) fn kernels(isa: Isa) -> &'static [Kernel] {
    #[cfg(target_arch = "x86_64")]
    {
        const AVX512: [Kernel; 3] = [
            Kernel { mr: 12, nr: 32, run: avx512_12x32, isa: Isa::Avx512 },
            Kernel { mr: 8, nr: 32, run: avx512_8x32, isa: Isa::Avx512 },
            Kernel { mr: 4, nr: 32, run: avx512_4x32, isa: Isa::Avx512 },
        ];
        const AVX2: [Kernel; 2] = [
            Kernel { mr: 6, nr: 16, run: avx2_6x16, isa: Isa::Avx2Fma },
            Kernel { mr: 4, nr: 16, run: avx2_4x16, isa: Isa::Avx2Fma },
        ];
        match isa.usable() {
            Isa::Avx512 => return &AVX512,
            Isa::Avx2Fma => return &AVX2,
            Isa::Scalar => {}
        }
    }
    const SCALAR: [Kernel; 1] = [Kernel { mr: 4, nr: 4, run: scalar_4x4, isa: Isa::Scalar }];
    &SCALAR
}

/// The kernel for an `m`-row problem on `isa`: the one with the least padded work, counting a shorter
/// tile as `SHORT_TILE_COST` more expensive per row (it loads more per FMA and stores C more often).
/// So m = 64 runs 8-row tiles (no padding) while m = 2048 runs 12-row ones (4 padded rows).
pub(crate) fn select(isa: Isa, m: usize) -> Kernel {
    let tallest = kernels(isa)[0].mr;
    let cost = |k: &Kernel| {
        let shorter = tallest.div_ceil(k.mr) - 1; // 0 for the tallest kernel, 1 for 8 vs 12, ...
        (m.div_ceil(k.mr) * k.mr) as f64 * (1.0 + SHORT_TILE_COST * shorter as f64)
    };
    *kernels(isa).iter().min_by(|x, y| cost(x).total_cmp(&cost(y))).expect("every back end has a kernel")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_avoids_padding() {
        if Isa::Avx512.is_supported() {
            assert_eq!(select(Isa::Avx512, 64).mr, 8);
            assert_eq!(select(Isa::Avx512, 2048).mr, 12);
            assert_eq!(select(Isa::Avx512, 784).mr, 12);
            assert_eq!(select(Isa::Avx512, 36).mr, 12);
            assert_eq!(select(Isa::Avx512, 3).mr, 4);
        }
        assert_eq!(select(Isa::Scalar, 7).mr, 4);
        for isa in Isa::ALL {
            for k in kernels(isa) {
                assert!(k.mr * k.nr <= MAX_TILE && k.isa.is_supported());
            }
        }
    }
}
