//! Fast CPU 2-D max pooling: the forward (values + argmax) plane by plane with the input read
//! through its strides (2x2 / stride-2 windows on f32 with AVX-512 16 at a time), and the backward
//! scatter-add from a contiguous gradient, both inside `vectorized` and split over planes with
//! rayon above the cheap-op threshold. Same window order,
//! tie rule (first wins) and NaN rule (first NaN wins) as the reference, so results are identical.
//! Must not: change which element a window picks.

use crate::cpu_common::{as_f32, as_f32_out, assume_init, build, build2, PAR_MIN_CHEAP};
use crate::simd::{self, vectorized, Isa};
use kiln_tensor::{Float, Layout};
use std::mem::MaybeUninit;

/// Whether `v` replaces the running maximum `best` (window order): larger, or a NaN while `best` is
/// not NaN; nothing replaces a NaN. Branch-free form of the reference's rule.
#[inline(always)]
#[allow(clippy::neg_cmp_op_on_partial_ord, clippy::eq_op)]
fn replaces<T: Float>(v: T, best: T) -> bool {
    // `!(v <= best)` holds when v > best or either is NaN; `best == best` excludes a NaN best.
    !(v <= best) && best == best
}

/// Pooling geometry: `k x k` windows at stride `s` over `[H, W]` planes, `OH x OW` outputs each.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub k: usize,
    pub s: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
}

/// One plane (starting at storage index `base`, row / column strides `sh`, `sw`) pooled into
/// `vals` / `idx` (`OH * OW` each, row-major), writing every element.
#[inline(always)]
fn plane<T: Float>(
    x: &[T],
    base: usize,
    (sh, sw): (usize, usize),
    g: Window,
    vals: &mut [MaybeUninit<T>],
    idx: &mut [MaybeUninit<i64>],
) {
    if g.k == 2 && g.s == 2 && sw == 1 {
        return plane_2x2(simd::isa(), x, base, sh, g, vals, idx);
    }
    for oy in 0..g.oh {
        let (vrow, irow) = (&mut vals[oy * g.ow..][..g.ow], &mut idx[oy * g.ow..][..g.ow]);
        for (ox, (v, i)) in vrow.iter_mut().zip(irow.iter_mut()).enumerate() {
            let (y0, x0) = (oy * g.s, ox * g.s);
            let (mut best, mut at) = (x[base + y0 * sh + x0 * sw], y0 * g.w + x0);
            for ky in 0..g.k {
                let row = base + (y0 + ky) * sh;
                for kx in 0..g.k {
                    let cand = x[row + (x0 + kx) * sw];
                    if replaces(cand, best) {
                        best = cand;
                        at = (y0 + ky) * g.w + x0 + kx;
                    }
                }
            }
            v.write(best);
            i.write(at as i64);
        }
    }
}

/// [`plane`] for 2x2 windows at stride 2 over contiguous rows (W2's pooling), row by row with
/// [`row_2x2`], or on f32 with `isa` AVX-512 [`row_2x2_avx512`], 16 windows per step (`plane`
/// passes the process's ISA; the tests call every usable one).
#[inline(always)]
pub(super) fn plane_2x2<T: Float>(
    isa: Isa,
    x: &[T],
    base: usize,
    sh: usize,
    g: Window,
    vals: &mut [MaybeUninit<T>],
    idx: &mut [MaybeUninit<i64>],
) {
    for (oy, (vrow, irow)) in vals.chunks_exact_mut(g.ow).zip(idx.chunks_exact_mut(g.ow)).enumerate() {
        let (r0, r1) = (&x[base + 2 * oy * sh..][..2 * g.ow], &x[base + (2 * oy + 1) * sh..][..2 * g.ow]);
        let top = (2 * oy * g.w) as i64;
        #[cfg(target_arch = "x86_64")]
        if isa == Isa::Avx512 && g.w < (1 << 28) {
            if let (Some(r0), Some(r1), Some(vrow)) = (as_f32(r0), as_f32(r1), as_f32_out(vrow)) {
                // SAFETY: AVX-512F is usable (`isa`); the rows hold 2 * ow values each.
                unsafe { row_2x2_avx512(r0, r1, (top, g.w as i64), vrow, irow) };
                continue;
            }
        }
        let _ = isa;
        row_2x2(r0, r1, (top, g.w as i64), vrow, irow);
    }
}

/// One output row of 2x2 / stride-2 windows over input rows `r0`, `r1` (`2 * ow` values each):
/// the four candidates in window order, `replaces` deciding; indices `top + 2 ox + {0, 1, w, w+1}`.
#[inline(always)]
fn row_2x2<T: Float>(
    r0: &[T],
    r1: &[T],
    (top, w): (i64, i64),
    vrow: &mut [MaybeUninit<T>],
    irow: &mut [MaybeUninit<i64>],
) {
    let cells = r0.chunks_exact(2).zip(r1.chunks_exact(2));
    for (ox, ((v, i), (a, b))) in vrow.iter_mut().zip(irow.iter_mut()).zip(cells).enumerate() {
        let (mut best, mut at) = (a[0], 0);
        for (cand, off) in [(a[1], 1), (b[0], w), (b[1], w + 1)] {
            if replaces(cand, best) {
                best = cand;
                at = off;
            }
        }
        v.write(best);
        i.write(top + 2 * ox as i64 + at);
    }
}

/// [`row_2x2`] for f32, 16 windows per step: the two rows' even and odd columns split apart with
/// `vpermt2ps`, then the same three `replaces` steps as masks (`!(v <= best)` unordered, and
/// `best` ordered), values and offsets blended by them; indices widened to i64. Identical values
/// and indices to the scalar row (a test on every ISA). Session 15: the scalar row was 8.7% of a
/// one-thread W2 step.
///
/// # Safety
/// The CPU must support AVX-512F; `r0` and `r1` hold `2 * vrow.len()` values, `irow` as many as
/// `vrow`; `w < 2^28` (offsets in i32).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn row_2x2_avx512(
    r0: &[f32],
    r1: &[f32],
    (top, w): (i64, i64),
    vrow: &mut [MaybeUninit<f32>],
    irow: &mut [MaybeUninit<i64>],
) {
    use std::arch::x86_64::*;
    let ow = vrow.len();
    debug_assert!(r0.len() >= 2 * ow && r1.len() >= 2 * ow && irow.len() >= ow);
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let w = w as i32;
    let offsets = [_mm512_set1_epi32(1), _mm512_set1_epi32(w), _mm512_set1_epi32(w + 1)];
    let top = _mm512_set1_epi64(top);
    let bits = |n: usize| if n >= 16 { u16::MAX } else { ((1u32 << n) - 1) as u16 };
    for c0 in (0..ow).step_by(16) {
        let n = (ow - c0).min(16);
        let (m_lo, m_hi) = (bits(2 * n), bits((2 * n).saturating_sub(16)));
        // Columns 2 c0 .. 2 (c0 + n) of a row, split into even and odd (masked loads do not fault).
        let split = |row: &[f32]| {
            let p = row.as_ptr().add(2 * c0);
            let lo = _mm512_maskz_loadu_ps(m_lo, p);
            let hi = if m_hi == 0 { _mm512_setzero_ps() } else { _mm512_maskz_loadu_ps(m_hi, p.add(16)) };
            (_mm512_permutex2var_ps(lo, even, hi), _mm512_permutex2var_ps(lo, odd, hi))
        };
        let ((a0, a1), (b0, b1)) = (split(r0), split(r1));
        let (mut best, mut at) = (a0, _mm512_setzero_si512());
        for (cand, off) in [a1, b0, b1].into_iter().zip(offsets) {
            let m = _mm512_cmp_ps_mask::<_CMP_NLE_UQ>(cand, best) & _mm512_cmp_ps_mask::<_CMP_ORD_Q>(best, best);
            best = _mm512_mask_blend_ps(m, best, cand);
            at = _mm512_mask_blend_epi32(m, at, off);
        }
        let m_out = bits(n);
        _mm512_mask_storeu_ps(vrow.as_mut_ptr().add(c0) as *mut f32, m_out, best);
        // 2 (c0 + lane) + at, then + top in i64.
        let rel = _mm512_add_epi32(_mm512_slli_epi32::<1>(_mm512_add_epi32(lane, _mm512_set1_epi32(c0 as i32))), at);
        let out = irow.as_mut_ptr().add(c0) as *mut i64;
        let lo = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(rel)), top);
        _mm512_mask_storeu_epi64(out, m_out as u8, lo);
        if n > 8 {
            let hi = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64::<1>(rel)), top);
            _mm512_mask_storeu_epi64(out.add(8), (m_out >> 8) as u8, hi);
        }
    }
}

/// Values and argmax (flat `h*W + w` in the plane) of every `k x k` window at stride `s` of an
/// `[N, C, H, W]` input in any layout, as `reference::max_pool2d` returns them.
pub fn max_pool2d<T: Float>(x: &[T], xl: &Layout, k: usize, s: usize, oh: usize, ow: usize) -> (Vec<T>, Vec<i64>) {
    let (d, st) = (xl.dims(), xl.strides());
    let g = Window { k, s, w: d[3], oh, ow };
    let (planes, per) = (d[0] * d[1], oh * ow);
    if per == 0 {
        return (Vec::new(), Vec::new());
    }
    let base = |p: usize| xl.offset() + (p / d[1]) * st[0] + (p % d[1]) * st[1];
    // Written straight into uninitialised outputs: the pooled values are a quarter of the input for
    // 2x2 windows, and the i64 indices twice that, so zero-filling them first would cost a third of
    // the memory traffic.
    let parallel = xl.elem_count() >= PAR_MIN_CHEAP;
    build2(planes * per, per, parallel, |start, vals: &mut [MaybeUninit<T>], idx: &mut [MaybeUninit<i64>]| {
        vectorized(
            #[inline(always)]
            || {
                for (k, (v, i)) in vals.chunks_mut(per).zip(idx.chunks_mut(per)).enumerate() {
                    plane(x, base(start / per + k), (st[2], st[3]), g, v, i);
                }
            },
        )
    })
}

/// Scatter-add of a contiguous output gradient onto `planes` zeroed planes of `plane` elements at
/// the positions `idx` (one per gradient element, flat within its plane); `None` for other layouts.
pub fn max_pool2d_backward<T: Float>(
    g: &[T],
    gl: &Layout,
    idx: &[usize],
    planes: usize,
    plane: usize,
) -> Option<Vec<T>> {
    let g = &g[gl.contiguous_range()?];
    let per = g.len().checked_div(planes).unwrap_or(0);
    let parallel = planes * plane >= PAR_MIN_CHEAP;
    Some(build(planes * plane, plane, parallel, |start, out: &mut [MaybeUninit<T>]| {
        out.fill(MaybeUninit::new(T::ZERO));
        // SAFETY: every element was just written.
        let out = unsafe { assume_init(out) };
        let p0 = start / plane.max(1);
        vectorized(
            #[inline(always)]
            || {
                for (p, dst) in out.chunks_mut(plane.max(1)).enumerate() {
                    let at = (p0 + p) * per;
                    for (&gv, &i) in g[at..at + per].iter().zip(&idx[at..at + per]) {
                        dst[i] += gv;
                    }
                }
            },
        )
    }))
}
