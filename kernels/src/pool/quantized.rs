//! 2-D max pooling of u8 activations (int8 inference): values only, no argmax (nothing flows
//! back through an int8 network). A max commutes with a monotone quantization grid, so pooling the
//! u8 codes equals quantizing the pooled f32 values: int8 networks pool without leaving u8. Must
//! not: dequantize, or track indices.

use kiln_tensor::{Error, Result};

/// The `[N, C, OH, OW]` maxima of every `kernel x kernel` window at `stride` of a contiguous u8
/// input `x [N, C, H, W]`, with `OH = (H - kernel) / stride + 1` (as [`super::max_pool2d`]).
pub fn max_pool2d_u8(x: &[u8], dims: [usize; 4], kernel: usize, stride: usize) -> Result<(Vec<u8>, [usize; 4])> {
    const OP: &str = "quantized max_pool2d";
    let [n, c, h, w] = dims;
    for (name, v) in [("kernel", kernel), ("stride", stride)] {
        if v == 0 {
            return Err(Error::hyper(OP, name, 0.0, "at least 1"));
        }
    }
    if kernel > h || kernel > w {
        return Err(Error::kernel_does_not_fit(OP, format!("kernel {kernel}x{kernel} is larger than input {dims:?}")));
    }
    let planes = n.checked_mul(c).filter(|p| p.checked_mul(h * w) == Some(x.len()));
    let Some(planes) = planes else {
        return Err(Error::invalid(OP, format!("{} values given for an input {dims:?}", x.len())));
    };
    let (oh, ow) = ((h - kernel) / stride + 1, (w - kernel) / stride + 1);
    let mut out = vec![0u8; planes * oh * ow];
    if out.is_empty() {
        return Ok((out, [n, c, oh, ow]));
    }
    for (plane, dst) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)) {
        if (kernel, stride) == (2, 2) {
            pool_2x2(plane, w, dst, ow);
            continue;
        }
        for (oy, dst) in dst.chunks_exact_mut(ow).enumerate() {
            let rows = &plane[oy * stride * w..][..(kernel - 1) * w + w];
            for (ox, d) in dst.iter_mut().enumerate() {
                let x0 = ox * stride;
                *d = (0..kernel)
                    .map(|i| rows[i * w + x0..][..kernel].iter().copied().max().unwrap_or(0))
                    .max()
                    .unwrap_or(0);
            }
        }
    }
    Ok((out, [n, c, oh, ow]))
}

/// The common 2x2 window at stride 2 of one plane (`w` wide) into `dst` (`ow` wide). Each pair of
/// a row is read as one little-endian u16, so the loop is straight-line byte maxima the compiler
/// vectorizes whole; W2's rows are only 28 and 10 wide, where the former two-pass version (row
/// maxima into a buffer, then pairs) paid its per-row setup twice.
fn pool_2x2(plane: &[u8], w: usize, dst: &mut [u8], ow: usize) {
    for (oy, dst) in dst.chunks_exact_mut(ow).enumerate() {
        let (r0, r1) = (&plane[2 * oy * w..][..2 * ow], &plane[(2 * oy + 1) * w..][..2 * ow]);
        for ((d, a), b) in dst.iter_mut().zip(r0.chunks_exact(2)).zip(r1.chunks_exact(2)) {
            let (a, b) = (u16::from_le_bytes([a[0], a[1]]), u16::from_le_bytes([b[0], b[1]]));
            let column_max = |v: u16| (v as u8).max((v >> 8) as u8);
            *d = column_max(a).max(column_max(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_tensor::{Rng, Tensor};

    #[test]
    fn pooling_codes_equals_pooling_values() {
        let mut rng = Rng::new(3);
        for &(dims, k, s) in &[
            ([2, 3, 7, 6], 2, 2),
            ([1, 2, 9, 9], 3, 2),
            ([1, 1, 5, 4], 2, 1),
            ([1, 1, 3, 3], 3, 3),
            ([1, 2, 9, 600], 2, 2),
            ([3, 2, 5, 7], 2, 2),
        ] {
            let len: usize = dims.iter().product();
            let x: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            let (got, out_dims) = max_pool2d_u8(&x, dims, k, s).unwrap();
            let xf = Tensor::from_vec(x.iter().map(|&v| v as f32).collect::<Vec<_>>(), dims.to_vec()).unwrap();
            let (want, _) = super::super::max_pool2d(&xf, k, s).unwrap();
            assert_eq!(want.dims(), out_dims);
            let want: Vec<u8> = want.to_vec::<f32>().unwrap().iter().map(|&v| v as u8).collect();
            assert_eq!(got, want, "{dims:?} k {k} s {s}");
        }
    }

    #[test]
    fn bad_pools_are_clear_errors() {
        assert!(max_pool2d_u8(&[0; 16], [1, 1, 4, 4], 5, 1).unwrap_err().to_string().contains("larger"));
        assert!(max_pool2d_u8(&[0; 15], [1, 1, 4, 4], 2, 2).unwrap_err().to_string().contains("15 values"));
        assert!(max_pool2d_u8(&[0; 16], [1, 1, 4, 4], 2, 0).is_err());
    }
}
