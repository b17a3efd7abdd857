//! Scalar reference conv2d: the direct nested loops over (n, o, oh, ow, c, kh, kw), forward and
//! both backward maps, reading every operand through its strides. The backward loops are the
//! forward loop with the multiply-add turned around (the adjoint), which is what makes them
//! obviously correct. The oracle for `im2col.rs`; keep it plain.

use super::{at4, ConvGeom};
use kiln_tensor::{Float, Layout};

/// Calls `f(n, o, oh, ow, c, i, j, ih, iw)` for every output position and every kernel tap
/// `(c, i, j)` that lands inside the (unpadded) input at `(ih, iw)`.
fn for_each_tap(g: &ConvGeom, mut f: impl FnMut([usize; 9])) {
    for n in 0..g.n {
        for o in 0..g.o {
            for oh in 0..g.oh {
                for ow in 0..g.ow {
                    for c in 0..g.c {
                        for i in 0..g.kh {
                            let Some(ih) = g.input_pos(oh, i, g.h) else { continue };
                            for j in 0..g.kw {
                                let Some(iw) = g.input_pos(ow, j, g.w) else { continue };
                                f([n, o, oh, ow, c, i, j, ih, iw]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Row-major index into a contiguous `[d0, d1, d2, d3]` buffer.
fn idx4(dims: [usize; 4], a: usize, b: usize, c: usize, d: usize) -> usize {
    ((a * dims[1] + b) * dims[2] + c) * dims[3] + d
}

/// `out[n, o, oh, ow] = bias[o] + sum x[n, c, ih, iw] * w[o, c, i, j]`.
pub fn conv2d<T: Float>(g: &ConvGeom, x: (&[T], &Layout), w: (&[T], &Layout), bias: Option<&[T]>) -> Vec<T> {
    let od = [g.n, g.o, g.oh, g.ow];
    let mut out = vec![T::ZERO; g.n * g.o * g.oh * g.ow];
    for_each_tap(g, |[n, o, oh, ow, c, i, j, ih, iw]| {
        out[idx4(od, n, o, oh, ow)] += x.0[at4(x.1, n, c, ih, iw)] * w.0[at4(w.1, o, c, i, j)];
    });
    if let Some(b) = bias {
        for (k, v) in out.iter_mut().enumerate() {
            *v += b[(k / (g.oh * g.ow)) % g.o];
        }
    }
    out
}

/// `gx[n, c, ih, iw] += grad[n, o, oh, ow] * w[o, c, i, j]` over every tap.
pub fn conv2d_backward_input<T: Float>(g: &ConvGeom, grad: (&[T], &Layout), w: (&[T], &Layout)) -> Vec<T> {
    let xd = [g.n, g.c, g.h, g.w];
    let mut gx = vec![T::ZERO; g.n * g.c * g.h * g.w];
    for_each_tap(g, |[n, o, oh, ow, c, i, j, ih, iw]| {
        gx[idx4(xd, n, c, ih, iw)] += grad.0[at4(grad.1, n, o, oh, ow)] * w.0[at4(w.1, o, c, i, j)];
    });
    gx
}

/// `gw[o, c, i, j] += grad[n, o, oh, ow] * x[n, c, ih, iw]` over every tap.
pub fn conv2d_backward_weight<T: Float>(g: &ConvGeom, x: (&[T], &Layout), grad: (&[T], &Layout)) -> Vec<T> {
    let wd = [g.o, g.c, g.kh, g.kw];
    let mut gw = vec![T::ZERO; g.o * g.c * g.kh * g.kw];
    for_each_tap(g, |[n, o, oh, ow, c, i, j, ih, iw]| {
        gw[idx4(wd, o, c, i, j)] += grad.0[at4(grad.1, n, o, oh, ow)] * x.0[at4(x.1, n, c, ih, iw)];
    });
    gw
}
