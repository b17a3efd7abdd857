//! conv.cu (im2col, col2im) and pool.cu (max_pool2d with indices, backward) against scalar loops,
//! with strided (channels-last storage) inputs, padding, stride 2 and odd sizes.

use crate::common::*;
use kiln_kernels::conv::ConvGeom;
use kiln_kernels::cuda::conv::{col2im, im2col};
use kiln_kernels::cuda::pool::{max_pool2d, max_pool2d_backward, out_hw};
use kiln_kernels::pool::reference as pool_ref;
use kiln_tensor::{Layout, Rng};

/// `[n, c, h, w]` contiguous, and the same logical tensor stored channels-last (NHWC) then permuted.
fn nchw_layouts(n: usize, c: usize, h: usize, w: usize) -> Vec<(&'static str, Layout)> {
    let nhwc = Layout::contiguous(vec![n, h, w, c]).permute(&[0, 3, 1, 2]).unwrap();
    vec![("nchw", Layout::contiguous(vec![n, c, h, w])), ("nhwc-permuted", nhwc)]
}

/// The geometry of an `[n, c, h, w]` input under a one-filter `kh x kw` kernel.
#[allow(clippy::too_many_arguments)]
fn geom(n: usize, c: usize, h: usize, w: usize, kh: usize, kw: usize, stride: usize, pad: usize) -> ConvGeom {
    ConvGeom::new("test", &[n, c, h, w].into(), &[1, c, kh, kw].into(), stride, pad).unwrap()
}

#[test]
fn im2col_and_col2im_match_scalar_loops() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(40);
    let cases = [
        geom(1, 1, 1, 1, 1, 1, 1, 0),
        geom(2, 3, 7, 5, 3, 3, 1, 1),
        geom(1, 2, 9, 8, 3, 2, 2, 0),
        geom(3, 1, 6, 7, 5, 5, 2, 2),
    ];
    for d in cases {
        let (oh, ow) = (d.oh, d.ow);
        for (name, l) in nchw_layouts(d.n, d.c, d.h, d.w) {
            let xd = rand_vec(&mut rng, d.n * d.c * d.h * d.w, -1.0, 1.0);
            let xat = |b: usize, c: usize, y: usize, x: usize| {
                let s = l.strides();
                xd[b * s[0] + c * s[1] + y * s[2] + x * s[3]]
            };
            let pix = |o: usize, k: usize, size: usize| {
                let p = (o * d.stride + k) as isize - d.padding as isize;
                (p >= 0 && (p as usize) < size).then_some(p as usize)
            };
            let mut want = Vec::new();
            for b in 0..d.n {
                for c in 0..d.c {
                    for i in 0..d.kh {
                        for j in 0..d.kw {
                            for y in 0..oh {
                                for x in 0..ow {
                                    want.push(match (pix(y, i, d.h), pix(x, j, d.w)) {
                                        (Some(iy), Some(ix)) => xat(b, c, iy, ix),
                                        _ => 0.0,
                                    });
                                }
                            }
                        }
                    }
                }
            }
            let x = upload(&r, &xd);
            let mut cols = r.zeros::<f32>(d.cols_len()).unwrap();
            im2col(&r, &d, (&x, &l), &mut cols).unwrap();
            assert_eq!(r.download(&cols).unwrap(), want, "im2col {d:?} {name}");

            // col2im is im2col's adjoint: <im2col(x), g> == <x, col2im(g)> with x contiguous.
            let gd = rand_vec(&mut rng, d.cols_len(), -1.0, 1.0);
            let mut gx = vec![0f64; d.n * d.c * d.h * d.w];
            let mut k = 0;
            for b in 0..d.n {
                for c in 0..d.c {
                    for i in 0..d.kh {
                        for j in 0..d.kw {
                            for y in 0..oh {
                                for x in 0..ow {
                                    if let (Some(iy), Some(ix)) = (pix(y, i, d.h), pix(x, j, d.w)) {
                                        gx[((b * d.c + c) * d.h + iy) * d.w + ix] += gd[k] as f64;
                                    }
                                    k += 1;
                                }
                            }
                        }
                    }
                }
            }
            let want_gx: Vec<f32> = gx.iter().map(|&v| v as f32).collect();
            let g = upload(&r, &gd);
            let mut dx = upload(&r, &vec![f32::NAN; want_gx.len()]); // overwritten, not accumulated
            col2im(&r, &d, &g, &mut dx).unwrap();
            assert_close(&format!("col2im {d:?}"), &r.download(&dx).unwrap(), &want_gx, 1e-5);
        }
    }
}

#[test]
fn max_pool2d_and_backward_match_reference() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(41);
    for &(n, c, h, w, k, s) in &[(1, 1, 1, 1, 1, 1), (2, 3, 7, 5, 2, 2), (1, 2, 9, 9, 3, 2), (1, 1, 6, 7, 3, 1)] {
        let (oh, ow) = out_hw(h, w, k, s);
        for (name, l) in nchw_layouts(n, c, h, w) {
            let mut xd = rand_vec(&mut rng, n * c * h * w, -1.0, 1.0);
            if h * w > 4 {
                xd[3] = xd[2]; // a tie somewhere
                xd[h * w - 1] = f32::NAN;
            }
            let (want_y, want_idx) = pool_ref::max_pool2d(&xd, &l, k, s, oh, ow);
            let x = upload(&r, &xd);
            let total = n * c * oh * ow;
            let mut y = r.zeros::<f32>(total).unwrap();
            let mut idx = r.zeros::<i64>(total).unwrap();
            max_pool2d(&r, (&x, &l), k, s, &mut y, &mut idx).unwrap();
            let what = format!("max_pool2d {n}x{c}x{h}x{w} k{k} s{s} {name}");
            assert_close(&what, &r.download(&y).unwrap(), &want_y, 0.0);
            assert_eq!(r.download(&idx).unwrap(), want_idx, "{what} indices");

            let gd = rand_vec(&mut rng, total, -1.0, 1.0);
            let idx_us: Vec<usize> = want_idx.iter().map(|&i| i as usize).collect();
            let gl = Layout::contiguous(vec![n, c, oh, ow]);
            let want_dx = pool_ref::max_pool2d_backward(&gd, &gl, &idx_us, n * c, h * w);
            let g = upload(&r, &gd);
            let mut dx = upload(&r, &vec![f32::NAN; n * c * h * w]);
            max_pool2d_backward(&r, &g, &idx, n * c, oh * ow, h * w, &mut dx).unwrap();
            assert_close(&format!("{what} backward"), &r.download(&dx).unwrap(), &want_dx, 1e-6);
        }
    }
}
