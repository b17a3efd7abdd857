//! Launch code for pool.cu: 2-D max pooling (no padding) with argmax indices, and its backward.

use crate::cuda::params::to_u32;
use crate::cuda::source::POOL;
use crate::cuda::{access, need, Buf, Launch, Runner};
use crate::kernel_params;
use kiln_tensor::{DType, Error, Layout, Result, Shape, Tensor};

kernel_params! {
    pub struct MaxPoolParams {
        pub x: u64, pub y: u64, pub idx: u64,
        pub n: u32, pub c: u32, pub h: u32, pub w: u32, pub oh: u32, pub ow: u32,
        pub k: u32, pub s: u32,
        pub sn: u32, pub sc: u32, pub sh: u32, pub sw: u32,
    }
}
kernel_params! {
    pub struct MaxPoolBackwardParams {
        pub g: u64, pub idx: u64, pub dx: u64, pub planes: u32, pub out_plane: u32, pub in_plane: u32, pub pad: u32,
    }
}

/// Output height and width of a `k x k`, stride-`s` pooling of `h x w`.
pub fn out_hw(h: usize, w: usize, k: usize, s: usize) -> (usize, usize) {
    ((h - k) / s + 1, (w - k) / s + 1)
}

/// Values `y` and argmax `idx` (flat `ih*W + iw` per plane), both contiguous `[n, c, oh, ow]`.
pub fn max_pool2d(
    r: &Runner,
    x: (&Buf<f32>, &Layout),
    k: usize,
    s: usize,
    y: &mut Buf<f32>,
    idx: &mut Buf<i64>,
) -> Result<()> {
    const OP: &str = "max_pool2d";
    r.check(&[x.0, y])?;
    r.check(&[&*idx])?;
    let [n, c, h, w] = *x.1.dims() else {
        return Err(Error::invalid(OP, format!("expected [N, C, H, W], got {:?}", x.1.dims())));
    };
    if k == 0 || s == 0 || k > h || k > w {
        return Err(Error::invalid(OP, format!("window {k} / stride {s} do not fit {h} x {w}")));
    }
    let (oh, ow) = out_hw(h, w, k, s);
    let total = n * c * oh * ow;
    need(OP, "input", x.0, x.1.storage_span())?;
    need(OP, "output", y, total)?;
    need(OP, "indices", idx, total)?;
    let st = x.1.strides();
    let u = |v| to_u32(OP, "size", v);
    let p = MaxPoolParams {
        x: x.0.addr(x.1.offset())?,
        y: y.addr_mut(0)?,
        idx: idx.addr_mut(0)?,
        n: u(n)?,
        c: u(c)?,
        h: u(h)?,
        w: u(w)?,
        oh: u(oh)?,
        ow: u(ow)?,
        k: u(k)?,
        s: u(s)?,
        sn: u(st[0])?,
        sc: u(st[1])?,
        sh: u(st[2])?,
        sw: u(st[3])?,
    };
    // SAFETY: the input span and both outputs were checked.
    unsafe { r.launch(&POOL, "max_pool2d_f32", Launch::linear(total, 256), &p) }
}

/// `dx` (contiguous `[planes, in_plane]`) = zero, then each gradient element added at its argmax.
/// `g` and `idx` are contiguous `[planes, out_plane]`.
pub fn max_pool2d_backward(
    r: &Runner,
    g: &Buf<f32>,
    idx: &Buf<i64>,
    planes: usize,
    out_plane: usize,
    in_plane: usize,
    dx: &mut Buf<f32>,
) -> Result<()> {
    const OP: &str = "max_pool2d_backward";
    r.check(&[g, dx])?;
    r.check(&[idx])?;
    need(OP, "gradient", g, planes * out_plane)?;
    need(OP, "indices", idx, planes * out_plane)?;
    need(OP, "input gradient", dx, planes * in_plane)?;
    r.fill_zero(dx)?;
    let p = MaxPoolBackwardParams {
        g: g.addr(0)?,
        idx: idx.addr(0)?,
        dx: dx.addr_mut(0)?,
        planes: to_u32(OP, "planes", planes)?,
        out_plane: to_u32(OP, "plane", out_plane)?,
        in_plane: to_u32(OP, "plane", in_plane)?,
        pad: 0,
    };
    // SAFETY: as above; indices outside the plane are skipped by the kernel.
    unsafe { r.launch(&POOL, "max_pool2d_backward_f32", Launch::linear(planes * out_plane, 256), &p) }
}

// ---- tensors on a CUDA device ----------------------------------------------------------------

/// Max pooling of an f32 `[N, C, H, W]` tensor on a CUDA device: values and i64 argmax indices.
pub fn max_pool2d_tensor(x: &Tensor, k: usize, s: usize) -> Result<(Tensor, Tensor)> {
    const OP: &str = "max_pool2d";
    x.expect_dtype(DType::F32, OP)?;
    let d = x.dims();
    let (oh, ow) = out_hw(d[2], d[3], k, s);
    let shape = [d[0], d[1], oh, ow];
    access::read_f32(OP, &[x], |r, v| {
        let total = shape.iter().product();
        let (mut y, mut idx) = (r.output(total)?, r.output(total)?);
        max_pool2d(r, v[0], k, s, &mut y, &mut idx)?;
        Ok((access::f32_tensor(r, y, shape)?, access::i64_tensor(r, idx, shape)?))
    })
}

/// The gradient of [`max_pool2d_tensor`]: each output gradient added at its argmax.
pub fn max_pool2d_backward_tensor(grad_out: &Tensor, indices: &Tensor, input_shape: &Shape) -> Result<Tensor> {
    const OP: &str = "max_pool2d_backward";
    indices.expect_dtype(DType::I64, OP)?;
    let (g, idx) = (access::from_start(grad_out)?, access::from_start(indices)?);
    let id = input_shape.dims();
    let (planes, in_plane) = (id[0] * id[1], id[2] * id[3]);
    let out_plane = grad_out.dims()[2] * grad_out.dims()[3];
    access::read(OP, &[&g, &idx], |r, s| {
        let mut dx = r.zeros(planes * in_plane)?;
        max_pool2d_backward(r, s[0].f32(OP)?, s[1].i64(OP)?, planes, out_plane, in_plane, &mut dx)?;
        access::f32_tensor(r, dx, input_shape.clone())
    })
}
