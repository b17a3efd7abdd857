//! Fast CPU 2-D max pooling: the forward (values + argmax) plane by plane with the input read
//! through its strides, and the backward scatter-add from a contiguous gradient, both inside
//! `vectorized` and split over planes with rayon above the cheap-op threshold. Same window order,
//! tie rule (first wins) and NaN rule (first NaN wins) as the reference, so results are identical.
//! Must not: change which element a window picks.

use crate::cpu_common::{assume_init, build, build2, PAR_MIN_CHEAP};
use crate::simd::vectorized;
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
struct Window {
    k: usize,
    s: usize,
    w: usize,
    oh: usize,
    ow: usize,
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
        return plane_2x2(x, base, sh, g, vals, idx);
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

/// [`plane`] for 2x2 windows at stride 2 over contiguous rows (W2's pooling): the two input rows
/// as slices and the four candidates unrolled, so the loop has no bounds checks and no inner loops.
#[inline(always)]
fn plane_2x2<T: Float>(
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
        let (w, cells) = (g.w as i64, r0.chunks_exact(2).zip(r1.chunks_exact(2)));
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
