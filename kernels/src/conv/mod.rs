//! 2-D convolution (NCHW, zero padding, square stride) and its two backward maps. Checks, the
//! geometry and dispatch live here; `reference.rs` holds the direct nested loops (the oracle),
//! `im2col.rs` the generic im2col/col2im + GEMM path and `cpu.rs` the blocked, threaded f32 one
//! (`Backend::Cpu` tries `cpu.rs` first, then `im2col.rs`). No autograd here; the rule that calls
//! the backward maps lives in kiln-autograd.

pub mod cpu;
#[cfg(test)]
mod cpu_tests;
pub mod cuda;
pub(crate) mod im2col;
pub mod reference;

use crate::{check, float_dispatch, simd, Backend};
use kiln_tensor::{Error, Layout, Result, Shape, Tensor};

/// Every size a conv2d needs, resolved and checked once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub oh: usize,
    pub ow: usize,
    pub stride: usize,
    pub padding: usize,
}

impl ConvGeom {
    /// Checks an input shape `[N, C, H, W]` against a weight shape `[O, C, KH, KW]`.
    pub fn new(op: &'static str, x: &Shape, w: &Shape, stride: usize, padding: usize) -> Result<ConvGeom> {
        if x.rank() != 4 || w.rank() != 4 {
            return Err(Error::invalid(
                op,
                format!("expected input [N, C, H, W] and weight [O, C, KH, KW], got {x} and {w}"),
            ));
        }
        let (xd, wd) = (x.dims(), w.dims());
        if xd[1] != wd[1] {
            return Err(Error::ShapeMismatch { op, lhs: x.clone(), rhs: w.clone() });
        }
        if stride == 0 {
            return Err(Error::hyper(op, "stride", 0.0, "at least 1"));
        }
        // Checked: a padding near 2^63 must be an error, not a wrapped size.
        let padded = |size: usize| padding.checked_mul(2).and_then(|p| p.checked_add(size));
        let (Some(ph), Some(pw)) = (padded(xd[2]), padded(xd[3])) else {
            return Err(Error::SizeOverflow { op, what: format!("input {x} padded by {padding}") });
        };
        if wd[2] == 0 || wd[3] == 0 || wd[2] > ph || wd[3] > pw {
            return Err(Error::kernel_does_not_fit(
                op,
                format!("kernel of weight {w} does not fit input {x} padded by {padding} ({ph} x {pw})"),
            ));
        }
        let (oh, ow) = ((ph - wd[2]) / stride + 1, (pw - wd[3]) / stride + 1);
        // The output and the im2col matrix ([C*KH*KW, OH*OW] per image) are sized from these.
        Shape::from([xd[0], wd[0], oh, ow]).elem_count_checked(op)?;
        Shape::from([xd[1], wd[2], wd[3], oh, ow]).elem_count_checked(op)?;
        Ok(ConvGeom { n: xd[0], c: xd[1], h: xd[2], w: xd[3], o: wd[0], kh: wd[2], kw: wd[3], oh, ow, stride, padding })
    }

    pub fn out_shape(&self) -> Shape {
        [self.n, self.o, self.oh, self.ow].into()
    }

    pub fn in_shape(&self) -> Shape {
        [self.n, self.c, self.h, self.w].into()
    }

    pub fn weight_shape(&self) -> Shape {
        [self.o, self.c, self.kh, self.kw].into()
    }

    /// Elements of the column buffer of every sample: `n * (c*kh*kw) * (oh*ow)`.
    pub fn cols_len(&self) -> usize {
        self.n * self.c * self.kh * self.kw * self.oh * self.ow
    }

    /// Input row `ih` or column `iw` read by output position `out` and kernel tap `k`, or `None`
    /// when it falls in the zero padding. `size` is H or W.
    #[inline]
    pub fn input_pos(&self, out: usize, k: usize, size: usize) -> Option<usize> {
        (out * self.stride + k).checked_sub(self.padding).filter(|&i| i < size)
    }
}

/// Storage index of element (a, b, c, d) of a rank-4 layout.
#[inline]
pub(crate) fn at4(l: &Layout, a: usize, b: usize, c: usize, d: usize) -> usize {
    let s = l.strides();
    l.offset() + a * s[0] + b * s[1] + c * s[2] + d * s[3]
}

fn check_grad_out(op: &'static str, g: &ConvGeom, grad_out: &Tensor) -> Result<()> {
    if grad_out.shape() != &g.out_shape() {
        return Err(Error::ShapeMismatch { op, lhs: g.out_shape(), rhs: grad_out.shape().clone() });
    }
    Ok(())
}

/// `x [N, C, H, W]` convolved with `w [O, C, KH, KW]` (+ `bias [O]`) -> `[N, O, OH, OW]` with
/// `OH = (H + 2 padding - KH) / stride + 1`.
pub fn conv2d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, stride: usize, padding: usize) -> Result<Tensor> {
    const OP: &str = "conv2d";
    check::float_pair(OP, x, w)?;
    let g = ConvGeom::new(OP, x.shape(), w.shape(), stride, padding)?;
    if let Some(b) = bias {
        check::float_pair(OP, w, b)?;
        if b.dims() != [g.o] {
            return Err(Error::ShapeMismatch { op: OP, lhs: w.shape().clone(), rhs: b.shape().clone() });
        }
    }
    if !x.device().is_cpu() {
        return crate::cuda::conv::conv2d_tensor(&g, x, w, bias);
    }
    // Trade-off: the GEMM wants the weight as an [O, C*KH*KW] matrix, which a strided weight view
    // cannot always express; weights are small, so a non-contiguous one is copied once.
    let w = w.contiguous()?;
    float_dispatch!(x.dtype(), OP, T => {
        let bias: Option<Vec<T>> = bias.map(|b| b.to_vec::<T>()).transpose()?;
        let bias = bias.as_deref();
        let out = run_versions(
            [x, &w],
            || Ok([x.clone(), w.clone()]),
            |v: &[(&[T], &Layout)]| cpu::conv2d(simd::isa(), &g, v[0], v[1], bias),
            |v| im2col::conv2d(&g, v[0], v[1], bias),
            |v| reference::conv2d(&g, v[0], v[1], bias),
        )?;
        Tensor::from_vec(out, g.out_shape())
    })
}

/// Runs a conv map in the version the backend selects. With `Backend::Cpu`, `cpu.rs` first, on
/// the operands as they are (it reads strided views); where it has no path (f64, empty shapes),
/// the generic `im2col.rs` on `dense()`, the operands as the GEMM wants them (contiguous). With
/// `Backend::Reference`, the oracle on `dense()`.
fn run_versions<T: kiln_tensor::Element>(
    operands: [&Tensor; 2],
    dense: impl FnOnce() -> Result<[Tensor; 2]>,
    fast: impl FnOnce(&[(&[T], &Layout)]) -> Option<Vec<T>>,
    generic: impl FnOnce(&[(&[T], &Layout)]) -> Result<Vec<T>>,
    oracle: impl FnOnce(&[(&[T], &Layout)]) -> Vec<T>,
) -> Result<Vec<T>> {
    let backend = crate::backend();
    if backend == Backend::Cpu {
        if let Some(out) = Tensor::with_slices(&operands, fast)? {
            return Ok(out);
        }
    }
    let [a, b] = dense()?;
    Tensor::with_slices(&[&a, &b], |v: &[(&[T], &Layout)]| match backend {
        Backend::Cpu => generic(v),
        Backend::Reference => Ok(oracle(v)),
    })?
}

/// Gradient w.r.t. the input of `conv2d`, of shape `input_shape`.
pub fn conv2d_backward_input(
    grad_out: &Tensor,
    w: &Tensor,
    input_shape: &Shape,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    const OP: &str = "conv2d_backward_input";
    check::float_pair(OP, grad_out, w)?;
    let g = ConvGeom::new(OP, input_shape, w.shape(), stride, padding)?;
    check_grad_out(OP, &g, grad_out)?;
    if !w.device().is_cpu() {
        return crate::cuda::conv::conv2d_backward_input_tensor(&g, grad_out, w);
    }
    // Same trade-off as the forward: the GEMM reads both as plain matrices (no copy when contiguous).
    // `cpu.rs` reads the gradient through its strides, so it is copied only for the other paths.
    let w = w.contiguous()?;
    float_dispatch!(w.dtype(), OP, T => {
        let out = run_versions(
            [grad_out, &w],
            || Ok([grad_out.contiguous()?, w.clone()]),
            |v: &[(&[T], &Layout)]| cpu::conv2d_backward_input(simd::isa(), &g, v[0], v[1]),
            |v| im2col::conv2d_backward_input(&g, v[0], v[1]),
            |v| reference::conv2d_backward_input(&g, v[0], v[1]),
        )?;
        Tensor::from_vec(out, g.in_shape())
    })
}

/// Gradient w.r.t. the weight of `conv2d`, of shape `weight_shape`.
pub fn conv2d_backward_weight(
    x: &Tensor,
    grad_out: &Tensor,
    weight_shape: &Shape,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    const OP: &str = "conv2d_backward_weight";
    check::float_pair(OP, x, grad_out)?;
    let g = ConvGeom::new(OP, x.shape(), weight_shape, stride, padding)?;
    check_grad_out(OP, &g, grad_out)?;
    if !x.device().is_cpu() {
        return crate::cuda::conv::conv2d_backward_weight_tensor(&g, x, grad_out);
    }
    float_dispatch!(x.dtype(), OP, T => {
        let out = run_versions(
            [x, grad_out],
            || Ok([x.clone(), grad_out.contiguous()?]),
            |v: &[(&[T], &Layout)]| cpu::conv2d_backward_weight(simd::isa(), &g, v[0], v[1]),
            |v| im2col::conv2d_backward_weight(&g, v[0], v[1]),
            |v| reference::conv2d_backward_weight(&g, v[0], v[1]),
        )?;
        Tensor::from_vec(out, g.weight_shape())
    })
}

#[cfg(test)]
pub(crate) mod tests;
