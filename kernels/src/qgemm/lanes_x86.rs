//! The x86 kernels of the swapped (conv) order, `lanes.rs`: 16 output positions in the lanes (one
//! zmm, or two ymm), one broadcast weight word per channel and group:
//! - [`Avx512Lanes`]: `CH` zmm accumulators (16, or 8 / 6 for layers with few channels), one
//!   `vpdpbusd` per channel and group, the weight word an embedded broadcast;
//! - [`AvxVnniLanes`] / [`Avx2Lanes`]: 6 channels x 2 ymm = 12 accumulators, the VEX `vpdpbusd`, or
//!   `vpmaddwd` + `vpaddd` on i16 pairs (exact, as in `x86.rs`);
//! - [`Avx2U7Lanes`]: the same tile on bytes, `vpmaddubsw` + `vpmaddwd` by ones + `vpaddd` for
//!   7-bit activations, and its split-byte tile for panels holding larger bytes (as in `x86.rs`).
//!
//! Must not: be called on a CPU without the instructions (`lanes::run` only dispatches to a
//! version the weights were packed for, and packing only picks usable versions).

use super::lanes::{LaneKernel, LANES};
use super::pack::Layout;
use super::x86::{madd_bytes, madd_split_bytes, store_ymm_tile};
use std::arch::x86_64::*;

pub(crate) struct Avx512Lanes<const CH: usize>;

impl<const CH: usize> LaneKernel for Avx512Lanes<CH> {
    const CH: usize = CH;
    const LAYOUT: Layout = Layout::Quad;

    #[inline(always)]
    unsafe fn tile(groups: usize, (a, stride): (*const u32, usize), b: *const u32, acc: *mut i32) {
        let mut c = [_mm512_setzero_si512(); CH];
        for g in 0..groups {
            let av = _mm512_loadu_si512(a.add(g * stride) as *const __m512i);
            let bp = b.add(g * CH);
            for (ch, cv) in c.iter_mut().enumerate() {
                *cv = _mm512_dpbusd_epi32(*cv, av, _mm512_set1_epi32(*bp.add(ch) as i32));
            }
        }
        for (ch, cv) in c.iter().enumerate() {
            _mm512_storeu_si512(acc.add(ch * LANES) as *mut __m512i, *cv);
        }
    }
}

pub(crate) struct AvxVnniLanes;

impl LaneKernel for AvxVnniLanes {
    const CH: usize = 6;
    const LAYOUT: Layout = Layout::Quad;

    #[inline(always)]
    unsafe fn tile(groups: usize, a: (*const u32, usize), b: *const u32, acc: *mut i32) {
        ymm_lane_tile(groups, a, b, acc, |c, av, bv| _mm256_dpbusd_avx_epi32(c, av, bv))
    }
}

pub(crate) struct Avx2Lanes;

impl LaneKernel for Avx2Lanes {
    const CH: usize = 6;
    const LAYOUT: Layout = Layout::Pair;

    #[inline(always)]
    unsafe fn tile(groups: usize, a: (*const u32, usize), b: *const u32, acc: *mut i32) {
        ymm_lane_tile(groups, a, b, acc, |c, av, bv| _mm256_add_epi32(c, _mm256_madd_epi16(av, bv)))
    }
}

pub(crate) struct Avx2U7Lanes;

impl LaneKernel for Avx2U7Lanes {
    const CH: usize = 6;
    const LAYOUT: Layout = Layout::Quad;
    const SEVEN_BIT: bool = true;

    #[inline(always)]
    unsafe fn tile(groups: usize, a: (*const u32, usize), b: *const u32, acc: *mut i32) {
        ymm_lane_tile(groups, a, b, acc, |c, av, bv| madd_bytes(c, av, bv))
    }

    #[inline(always)]
    unsafe fn tile_wide(groups: usize, a: (*const u32, usize), b: *const u32, acc: *mut i32) {
        ymm_lane_tile(groups, a, b, acc, |c, av, bv| madd_split_bytes(c, av, bv))
    }
}

/// The 6-channel x 16-position ymm loop the 256-bit kernels share; `madd(acc, a, b)` multiplies
/// an A vector (u8 or zero-extended pairs) by a broadcast weight word lane-wise and adds.
#[inline(always)]
unsafe fn ymm_lane_tile(
    groups: usize,
    (a, stride): (*const u32, usize),
    b: *const u32,
    acc: *mut i32,
    madd: impl Fn(__m256i, __m256i, __m256i) -> __m256i,
) {
    let mut c = [[_mm256_setzero_si256(); 2]; 6];
    for g in 0..groups {
        let ap = a.add(g * stride) as *const __m256i;
        let (a0, a1) = (_mm256_loadu_si256(ap), _mm256_loadu_si256(ap.add(1)));
        let bp = b.add(g * 6);
        for (ch, row) in c.iter_mut().enumerate() {
            let bv = _mm256_set1_epi32(*bp.add(ch) as i32);
            row[0] = madd(row[0], a0, bv);
            row[1] = madd(row[1], a1, bv);
        }
    }
    store_ymm_tile(&c, acc);
}
