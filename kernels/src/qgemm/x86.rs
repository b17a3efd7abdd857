//! The integer GEMM's x86 micro-kernels. Each keeps an `MR x NR` tile of 32-bit sums in registers;
//! per packed group it loads one B row (`NR` words, 1 or 2 vectors), broadcasts each of the `MR`
//! A words to all lanes and multiply-adds:
//! - [`Avx512Vnni`]: 8 x 32 tile, 16 zmm accumulators, `vpdpbusd` (4 u8 x s8 products per lane);
//! - [`AvxVnni`]: 6 x 16 tile, 12 ymm accumulators, the VEX `vpdpbusd`;
//! - [`Avx2`]: 6 x 16 tile on i16 pairs, `vpmaddwd` then `vpaddd` (exact: a pair sum is at most
//!   2 x 255 x 128, far inside 32 bits);
//! - [`Avx2U7`]: 6 x 16 tile on bytes, `vpmaddubsw` (two u8 x s8 products per 16-bit lane, which
//!   cannot saturate for A below 128), `vpmaddwd` by ones, `vpaddd`; its `tile_wide` splits each A
//!   byte into its low 7 bits and its top bit for panels holding larger bytes ([`madd_bytes`] and
//!   [`madd_split_bytes`], shared with the conv order's `Avx2U7Lanes`).
//!
//! The accumulator counts cover the dot product's latency (5 cycles on Ice Lake / Sapphire Rapids,
//! one or two issued per cycle) with independent chains. Must not: be called on a CPU without the
//! instructions (`microkernel::task_fn` only hands them out for a usable [`super::QIsa`]).

use super::microkernel::MicroKernel;
use super::pack::Layout;
use std::arch::x86_64::*;

pub(crate) struct Avx512Vnni;

impl MicroKernel for Avx512Vnni {
    const MR: usize = 8;
    const NR: usize = 32;
    const LAYOUT: Layout = Layout::Quad;

    #[inline(always)]
    unsafe fn tile(groups: usize, a: *const u32, b: *const u32, acc: *mut i32) {
        let mut c = [[_mm512_setzero_si512(); 2]; 8];
        for g in 0..groups {
            let bp = b.add(g * 32) as *const __m512i;
            let (b0, b1) = (_mm512_loadu_si512(bp), _mm512_loadu_si512(bp.add(1)));
            let ap = a.add(g * 8);
            for (r, row) in c.iter_mut().enumerate() {
                let av = _mm512_set1_epi32(*ap.add(r) as i32);
                row[0] = _mm512_dpbusd_epi32(row[0], av, b0);
                row[1] = _mm512_dpbusd_epi32(row[1], av, b1);
            }
        }
        for (r, row) in c.iter().enumerate() {
            let out = acc.add(r * 32) as *mut __m512i;
            _mm512_storeu_si512(out, row[0]);
            _mm512_storeu_si512(out.add(1), row[1]);
        }
    }
}

pub(crate) struct AvxVnni;

impl MicroKernel for AvxVnni {
    const MR: usize = 6;
    const NR: usize = 16;
    const LAYOUT: Layout = Layout::Quad;

    #[inline(always)]
    unsafe fn tile(groups: usize, a: *const u32, b: *const u32, acc: *mut i32) {
        ymm_tile(groups, a, b, acc, |c, av, bv| _mm256_dpbusd_avx_epi32(c, av, bv))
    }
}

pub(crate) struct Avx2;

impl MicroKernel for Avx2 {
    const MR: usize = 6;
    const NR: usize = 16;
    const LAYOUT: Layout = Layout::Pair;

    #[inline(always)]
    unsafe fn tile(groups: usize, a: *const u32, b: *const u32, acc: *mut i32) {
        ymm_tile(groups, a, b, acc, |c, av, bv| _mm256_add_epi32(c, _mm256_madd_epi16(av, bv)))
    }
}

pub(crate) struct Avx2U7;

impl MicroKernel for Avx2U7 {
    const MR: usize = 6;
    const NR: usize = 16;
    const LAYOUT: Layout = Layout::Quad;
    const SEVEN_BIT: bool = true;

    #[inline(always)]
    unsafe fn tile(groups: usize, a: *const u32, b: *const u32, acc: *mut i32) {
        ymm_tile(groups, a, b, acc, |c, av, bv| madd_bytes(c, av, bv))
    }

    #[inline(always)]
    unsafe fn tile_wide(groups: usize, a: *const u32, b: *const u32, acc: *mut i32) {
        ymm_tile(groups, a, b, acc, |c, av, bv| madd_split_bytes(c, av, bv))
    }
}

/// `c + Σ` of each lane's four u8 x s8 products (`a` unsigned, `b` signed) by `vpmaddubsw` +
/// `vpmaddwd` by ones: exact when every byte of `a` is below 128 (a pair is then at most
/// 2 x 127 x 128 = 32,512, inside `vpmaddubsw`'s saturating 16 bits).
#[inline(always)]
pub(crate) unsafe fn madd_bytes(c: __m256i, a: __m256i, b: __m256i) -> __m256i {
    _mm256_add_epi32(c, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1)))
}

/// [`madd_bytes`] exact for any `a`: each byte split as `(a & 0x7f) + 128 (a >> 7)`, two byte
/// products that cannot saturate (a pair of the second is at most 2 x 1 x 128), the second
/// scaled by 128 while `vpmaddwd` widens it.
#[inline(always)]
pub(crate) unsafe fn madd_split_bytes(c: __m256i, a: __m256i, b: __m256i) -> __m256i {
    let low = _mm256_and_si256(a, _mm256_set1_epi8(0x7f));
    let high = _mm256_and_si256(_mm256_srli_epi16::<7>(a), _mm256_set1_epi8(1));
    let sum_low = _mm256_madd_epi16(_mm256_maddubs_epi16(low, b), _mm256_set1_epi16(1));
    let sum_high = _mm256_madd_epi16(_mm256_maddubs_epi16(high, b), _mm256_set1_epi16(128));
    _mm256_add_epi32(c, _mm256_add_epi32(sum_low, sum_high))
}

/// The 6 x 16 ymm loop both 256-bit kernels share; `madd(acc, a, b)` is one lane-wise multiply-add
/// of a broadcast A word and a B vector (inlined into each kernel's target-feature context).
#[inline(always)]
unsafe fn ymm_tile(
    groups: usize,
    a: *const u32,
    b: *const u32,
    acc: *mut i32,
    madd: impl Fn(__m256i, __m256i, __m256i) -> __m256i,
) {
    let mut c = [[_mm256_setzero_si256(); 2]; 6];
    for g in 0..groups {
        let bp = b.add(g * 16) as *const __m256i;
        let (b0, b1) = (_mm256_loadu_si256(bp), _mm256_loadu_si256(bp.add(1)));
        let ap = a.add(g * 6);
        for (r, row) in c.iter_mut().enumerate() {
            let av = _mm256_set1_epi32(*ap.add(r) as i32);
            row[0] = madd(row[0], av, b0);
            row[1] = madd(row[1], av, b1);
        }
    }
    store_ymm_tile(&c, acc);
}

/// Stores a 6 x 16 tile of ymm accumulators row-major.
#[inline(always)]
pub(crate) unsafe fn store_ymm_tile(c: &[[__m256i; 2]; 6], acc: *mut i32) {
    for (r, row) in c.iter().enumerate() {
        let out = acc.add(r * 16) as *mut __m256i;
        _mm256_storeu_si256(out, row[0]);
        _mm256_storeu_si256(out.add(1), row[1]);
    }
}
