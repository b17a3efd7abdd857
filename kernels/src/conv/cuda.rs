//! Launch code for conv.cu: im2col (input through any strides) and the gather-form col2im, with the
//! column layout of conv/im2col.rs, batched over samples.

use crate::cuda::params::to_u32;
use crate::cuda::source::CONV;
use crate::cuda::{need, Buf, Launch, Runner};
use crate::kernel_params;
use kiln_tensor::{Error, Layout, Result};

/// The sizes of an NCHW convolution with a `kh x kw` kernel, square stride and zero padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvDims {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvDims {
    pub fn out_hw(&self) -> (usize, usize) {
        ((self.h + 2 * self.pad - self.kh) / self.stride + 1, (self.w + 2 * self.pad - self.kw) / self.stride + 1)
    }

    /// Elements of the column buffer: `n * (c*kh*kw) * (oh*ow)`.
    pub fn cols_len(&self) -> usize {
        let (oh, ow) = self.out_hw();
        self.n * self.c * self.kh * self.kw * oh * ow
    }

    fn check(&self, op: &'static str) -> Result<()> {
        if self.stride == 0
            || self.kh == 0
            || self.kw == 0
            || self.kh > self.h + 2 * self.pad
            || self.kw > self.w + 2 * self.pad
        {
            return Err(Error::invalid(op, format!("kernel/stride do not fit the input: {self:?}")));
        }
        Ok(())
    }
}

kernel_params! {
    pub struct ConvColsParams {
        pub x: u64, pub out: u64,
        pub n: u32, pub c: u32, pub h: u32, pub w: u32,
        pub kh: u32, pub kw: u32, pub oh: u32, pub ow: u32,
        pub stride: u32, pub pad: u32,
        pub sn: u32, pub sc: u32, pub sh: u32, pub sw: u32,
    }
}

fn params(op: &'static str, d: &ConvDims, x: u64, out: u64, strides: [usize; 4]) -> Result<ConvColsParams> {
    let (oh, ow) = d.out_hw();
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
        pad: u(d.pad)?,
        sn: u(strides[0])?,
        sc: u(strides[1])?,
        sh: u(strides[2])?,
        sw: u(strides[3])?,
    })
}

/// `cols[b][(c*kh + i)*kw + j][oh*OW + ow]` for every sample; `x` is `[n, c, h, w]` (any strides).
pub fn im2col(r: &Runner, d: ConvDims, x: (&Buf<f32>, &Layout), cols: &mut Buf<f32>) -> Result<()> {
    const OP: &str = "im2col";
    r.check(&[x.0, cols])?;
    d.check(OP)?;
    if x.1.dims() != [d.n, d.c, d.h, d.w] {
        return Err(Error::invalid(
            OP,
            format!("input layout {:?} is not [{}, {}, {}, {}]", x.1.dims(), d.n, d.c, d.h, d.w),
        ));
    }
    need(OP, "input", x.0, x.1.storage_span())?;
    need(OP, "cols", cols, d.cols_len())?;
    let s = x.1.strides();
    let p = params(OP, &d, x.0.addr(x.1.offset())?, cols.addr_mut(0)?, [s[0], s[1], s[2], s[3]])?;
    // SAFETY: the input span and the column buffer size were checked.
    unsafe { r.launch(&CONV, "im2col_f32", Launch::linear(d.cols_len(), 256), &p) }
}

/// The adjoint of [`im2col`]: `dx` (contiguous `[n, c, h, w]`) is overwritten with the sum of every
/// column entry read from each pixel.
pub fn col2im(r: &Runner, d: ConvDims, cols: &Buf<f32>, dx: &mut Buf<f32>) -> Result<()> {
    const OP: &str = "col2im";
    r.check(&[cols, dx])?;
    d.check(OP)?;
    let len = d.n * d.c * d.h * d.w;
    need(OP, "cols", cols, d.cols_len())?;
    need(OP, "input gradient", dx, len)?;
    let p = params(OP, &d, cols.addr(0)?, dx.addr_mut(0)?, [0; 4])?;
    // SAFETY: as above.
    unsafe { r.launch(&CONV, "col2im_f32", Launch::linear(len, 256), &p) }
}
