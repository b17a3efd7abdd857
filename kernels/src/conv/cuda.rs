//! Launch code for conv.cu: im2col (input through any strides) and the gather-form col2im, with the
//! column layout of conv/im2col.rs, batched over samples. Sizes are the family's `ConvGeom`.

use crate::conv::ConvGeom;
use crate::cuda::access::{self, from_start};
use crate::cuda::params::to_u32;
use crate::cuda::source::CONV;
use crate::cuda::{need, Buf, Launch, Runner};
use crate::elementwise::{binary, BinaryOp};
use crate::kernel_params;
use crate::matmul::matmul;
use crate::reduce::sum;
use kiln_tensor::{DType, Error, Layout, Result, Tensor};

kernel_params! {
    pub struct ConvColsParams {
        pub x: u64, pub out: u64,
        pub n: u32, pub c: u32, pub h: u32, pub w: u32,
        pub kh: u32, pub kw: u32, pub oh: u32, pub ow: u32,
        pub stride: u32, pub pad: u32,
        pub sn: u32, pub sc: u32, pub sh: u32, pub sw: u32,
    }
}

fn params(op: &'static str, d: &ConvGeom, x: u64, out: u64, strides: [usize; 4]) -> Result<ConvColsParams> {
    let (oh, ow) = (d.oh, d.ow);
    let u = |v| to_u32(op, "size", v);
    Ok(ConvColsParams {
        x,
        out,
        n: u(d.n)?,
        c: u(d.c)?,
        h: u(d.h)?,
        w: u(d.w)?,
        kh: u(d.kh)?,
        kw: u(d.kw)?,
        oh: u(oh)?,
        ow: u(ow)?,
        stride: u(d.stride)?,
        pad: u(d.padding)?,
        sn: u(strides[0])?,
        sc: u(strides[1])?,
        sh: u(strides[2])?,
        sw: u(strides[3])?,
    })
}

/// `cols[b][(c*kh + i)*kw + j][oh*OW + ow]` for every sample; `x` is `[n, c, h, w]` (any strides).
pub fn im2col(r: &Runner, d: &ConvGeom, x: (&Buf<f32>, &Layout), cols: &mut Buf<f32>) -> Result<()> {
    const OP: &str = "im2col";
    r.check(&[x.0, cols])?;
    if x.1.dims() != [d.n, d.c, d.h, d.w] {
        return Err(Error::invalid(
            OP,
            format!("input layout {:?} is not [{}, {}, {}, {}]", x.1.dims(), d.n, d.c, d.h, d.w),
        ));
    }
    need(OP, "input", x.0, x.1.storage_span())?;
    need(OP, "cols", cols, d.cols_len())?;
    let s = x.1.strides();
    let p = params(OP, d, x.0.addr(x.1.offset())?, cols.addr_mut(0)?, [s[0], s[1], s[2], s[3]])?;
    // SAFETY: the input span and the column buffer size were checked.
    unsafe { r.launch(&CONV, "im2col_f32", Launch::linear(d.cols_len(), 256), &p) }
}

/// The adjoint of [`im2col`]: `dx` (contiguous `[n, c, h, w]`) is overwritten with the sum of every
/// column entry read from each pixel.
pub fn col2im(r: &Runner, d: &ConvGeom, cols: &Buf<f32>, dx: &mut Buf<f32>) -> Result<()> {
    const OP: &str = "col2im";
    r.check(&[cols, dx])?;
    let len = d.n * d.c * d.h * d.w;
    need(OP, "cols", cols, d.cols_len())?;
    need(OP, "input gradient", dx, len)?;
    let p = params(OP, d, cols.addr(0)?, dx.addr_mut(0)?, [0; 4])?;
    // SAFETY: as above.
    unsafe { r.launch(&CONV, "col2im_f32", Launch::linear(len, 256), &p) }
}

// ---- tensors on a CUDA device ----------------------------------------------------------------
// conv2d as im2col + batched GEMM (the matmul family's device path), its backward as GEMMs plus
// col2im: the textbook lowering, three kernels deep, with the column buffer `[N, C*KH*KW, OH*OW]`.

/// The column tensor `[N, C*KH*KW, OH*OW]` of `x` on its device.
fn columns(g: &ConvGeom, x: &Tensor) -> Result<Tensor> {
    access::read_f32("im2col", &[x], |r, v| {
        let mut cols = r.output(g.cols_len())?;
        im2col(r, g, v[0], &mut cols)?;
        access::f32_tensor(r, cols, [g.n, g.c * g.kh * g.kw, g.oh * g.ow])
    })
}

/// The weight as the `[O, C*KH*KW]` matrix the GEMMs read.
fn weight_matrix(g: &ConvGeom, w: &Tensor) -> Result<Tensor> {
    w.contiguous()?.reshape([g.o, g.c * g.kh * g.kw])
}

/// `conv2d(x, w) + bias` for f32 tensors on a CUDA device (shapes checked by the caller).
pub fn conv2d_tensor(g: &ConvGeom, x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    x.expect_dtype(DType::F32, "conv2d")?;
    let y = matmul(&weight_matrix(g, w)?, &columns(g, x)?)?.reshape(g.out_shape())?;
    match bias {
        Some(b) => binary(BinaryOp::Add, &y, &b.reshape([1, g.o, 1, 1])?),
        None => Ok(y),
    }
}

/// Gradient w.r.t. the input: `col2im(Wᵀ @ grad)`.
pub fn conv2d_backward_input_tensor(g: &ConvGeom, grad_out: &Tensor, w: &Tensor) -> Result<Tensor> {
    let grad = grad_out.reshape([g.n, g.o, g.oh * g.ow])?;
    let dcols = from_start(&matmul(&weight_matrix(g, w)?.t()?, &grad)?)?;
    access::read_f32("col2im", &[&dcols], |r, v| {
        let mut dx = r.output(g.n * g.c * g.h * g.w)?;
        col2im(r, g, v[0].0, &mut dx)?;
        access::f32_tensor(r, dx, g.in_shape())
    })
}

/// Gradient w.r.t. the weight: `sum_n grad[n] @ cols[n]ᵀ`.
pub fn conv2d_backward_weight_tensor(g: &ConvGeom, x: &Tensor, grad_out: &Tensor) -> Result<Tensor> {
    let grad = grad_out.reshape([g.n, g.o, g.oh * g.ow])?;
    let per_sample = matmul(&grad, &columns(g, x)?.transpose(1, 2)?)?;
    sum(&per_sample, &[0], false)?.reshape(g.weight_shape())
}
