//! Tests of the fast norm kernels (`cpu.rs`) against the scalar reference, called directly: odd
//! shapes (blocks shorter and longer than the 16 partial sums, one channel, one sample, a
//! large offset that would cancel a naive variance), f32 and f64, train and eval backward, and the
//! input checks of `mod.rs` (rank, channel count, parameter shapes, dtypes).

use super::{cpu, reference};
use crate::elementwise::cpu_tests::assert_within;
use kiln_tensor::{DType, Float, Rng, Tensor};

const BATCH_DIMS: [(usize, usize, usize); 6] = [(1, 1, 1), (2, 3, 5), (4, 2, 17), (3, 5, 33), (1, 4, 100), (7, 1, 9)];
const LAYER_DIMS: [(usize, usize); 5] = [(1, 1), (3, 7), (5, 16), (2, 33), (4, 130)];

fn values<T: Float>(n: usize, offset: f64, rng: &mut Rng) -> Vec<T> {
    (0..n).map(|_| T::from_f64(offset + rng.uniform(-2.0, 2.0))).collect()
}

fn tol<T: Float>() -> f64 {
    if std::mem::size_of::<T>() == 4 {
        2e-5
    } else {
        1e-12
    }
}

fn check_batch<T: Float>(dims: (usize, usize, usize), offset: f64, rng: &mut Rng) {
    let (n, c, s) = dims;
    let what = format!("batch norm {dims:?} offset {offset} {}", std::mem::size_of::<T>());
    let x = values::<T>(n * c * s, offset, rng);
    let (w, b, dy) = (values::<T>(c, 1.0, rng), values::<T>(c, 0.0, rng), values::<T>(n * c * s, 0.0, rng));
    let (fast, want) = (cpu::batch_stats(&x, dims, 1e-5), reference::batch_stats(&x, dims, 1e-5));
    // The statistics: the variance relative to its own size (an offset of 100 must not cancel it).
    assert_within(&fast.mean, &want.mean, tol::<T>(), tol::<T>() * (1.0 + offset.abs()), &format!("{what} mean"));
    assert_within(&fast.var, &want.var, tol::<T>() * 10.0, 0.0, &format!("{what} var"));
    assert_within(&fast.invstd, &want.invstd, tol::<T>() * 10.0, 0.0, &format!("{what} invstd"));
    let (m, is) = (&want.mean, &want.invstd);
    let abs = tol::<T>() * (1.0 + offset.abs());
    for relu in [false, true] {
        let what = format!("{what} relu {relu}");
        let y = cpu::batch_apply(&x, dims, (m, is), (&w, &b), relu);
        let want_y = reference::batch_apply(&x, dims, (m, is), (&w, &b), relu);
        assert_within(&y, &want_y, tol::<T>(), abs, &format!("{what} apply"));
        for batch in [true, false] {
            let (dx, dw, db) = cpu::batch_backward(&x, dims, (m, is), (&w, &b), &dy, (batch, relu));
            let (wx, ww, wb) = reference::batch_backward(&x, dims, (m, is), (&w, &b), &dy, (batch, relu));
            let scale = (n * s) as f64;
            assert_within(&dx, &wx, tol::<T>() * 10.0, abs * 10.0, &format!("{what} dx {batch}"));
            assert_within(&dw, &ww, tol::<T>() * 10.0, abs * scale, &format!("{what} dw {batch}"));
            assert_within(&db, &wb, tol::<T>(), tol::<T>() * scale, &format!("{what} db {batch}"));
        }
    }
}

/// The fused BatchNorm + ReLU is the plain kernels followed by ReLU bit for bit: the output is
/// `relu` of the plain output, and the backward of the fused op is the plain backward of `dy`
/// zeroed where the plain output is not positive (what `relu_backward` then `batch_backward`
/// give), so fusing in `Sequential` changes no trained number. Shapes past the SIMD width and
/// the rayon threshold too.
fn check_fused_relu<T: Float>(dims: (usize, usize, usize), rng: &mut Rng) {
    let (n, c, s) = dims;
    let what = format!("batch norm relu {dims:?} {}", std::mem::size_of::<T>());
    let x = values::<T>(n * c * s, 0.5, rng);
    let (w, b, dy) = (values::<T>(c, 1.0, rng), values::<T>(c, 0.0, rng), values::<T>(n * c * s, 0.0, rng));
    let st = cpu::batch_stats(&x, dims, 1e-5);
    let (stats, affine) = ((&st.mean[..], &st.invstd[..]), (&w[..], &b[..]));
    let plain = cpu::batch_apply(&x, dims, stats, affine, false);
    let relu: Vec<T> = plain.iter().map(|&v| crate::elementwise::UnaryOp::Relu.apply(v)).collect();
    let bits = |v: &[T]| v.iter().map(|t| t.to_f64().to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&cpu::batch_apply(&x, dims, stats, affine, true)), bits(&relu), "{what} apply");
    let gated: Vec<T> = dy.iter().zip(&plain).map(|(&g, &y)| if y > T::ZERO { g } else { T::ZERO }).collect();
    for batch in [true, false] {
        let fused = cpu::batch_backward(&x, dims, stats, affine, &dy, (batch, true));
        let want = cpu::batch_backward(&x, dims, stats, affine, &gated, (batch, false));
        for (got, want, part) in [(&fused.0, &want.0, "dx"), (&fused.1, &want.1, "dw"), (&fused.2, &want.2, "db")] {
            assert_eq!(bits(got), bits(want), "{what} {part} batch {batch}");
        }
    }
}

#[test]
fn fused_relu_is_the_plain_kernels_then_relu_bit_for_bit() {
    let mut rng = Rng::new(12);
    for dims in BATCH_DIMS.into_iter().chain([(64, 3, 900), (8, 16, 16)]) {
        check_fused_relu::<f32>(dims, &mut rng);
        check_fused_relu::<f64>(dims, &mut rng);
    }
}

fn check_layer<T: Float>((rows, d): (usize, usize), offset: f64, rng: &mut Rng) {
    let what = format!("layer norm {rows}x{d} offset {offset} {}", std::mem::size_of::<T>());
    let x = values::<T>(rows * d, offset, rng);
    let (w, b, dy) = (values::<T>(d, 1.0, rng), values::<T>(d, 0.0, rng), values::<T>(rows * d, 0.0, rng));
    let (fast, want) = (cpu::layer_stats(&x, d, 1e-5), reference::layer_stats(&x, d, 1e-5));
    assert_within(&fast.mean, &want.mean, tol::<T>(), tol::<T>() * (1.0 + offset.abs()), &format!("{what} mean"));
    assert_within(&fast.var, &want.var, tol::<T>() * 10.0, 0.0, &format!("{what} var"));
    let (m, is) = (&want.mean, &want.invstd);
    let abs = tol::<T>() * (1.0 + offset.abs());
    let y = cpu::layer_apply(&x, d, m, is, &w, &b);
    assert_within(&y, &reference::layer_apply(&x, d, m, is, &w, &b), tol::<T>(), abs, &format!("{what} apply"));
    let (dx, dw, db) = cpu::layer_backward(&x, d, m, is, &w, &dy);
    let (wx, ww, wb) = reference::layer_backward(&x, d, m, is, &w, &dy);
    assert_within(&dx, &wx, tol::<T>() * 10.0, abs * 10.0, &format!("{what} dx"));
    assert_within(&dw, &ww, tol::<T>() * 10.0, abs * rows as f64, &format!("{what} dw"));
    assert_within(&db, &wb, tol::<T>(), tol::<T>() * rows as f64, &format!("{what} db"));
}

#[test]
fn fast_norms_match_reference() {
    let mut rng = Rng::new(5);
    for offset in [0.0, 100.0] {
        for dims in BATCH_DIMS {
            check_batch::<f32>(dims, offset, &mut rng);
            check_batch::<f64>(dims, offset, &mut rng);
        }
        for dims in LAYER_DIMS {
            check_layer::<f32>(dims, offset, &mut rng);
            check_layer::<f64>(dims, offset, &mut rng);
        }
    }
}

#[test]
fn mismatched_inputs_are_typed_errors() {
    let mut rng = Rng::new(6);
    let x = Tensor::rand_uniform([2, 3, 4, 4], -1.0, 1.0, DType::F32, &mut rng);
    let p3 = Tensor::ones([3], DType::F32);
    assert!(super::batch_norm_stats(&x, 3, 1e-5).is_ok());
    let msg = super::batch_norm_stats(&x, 4, 1e-5).err().unwrap().to_string();
    assert!(msg.contains("3 channels") && msg.contains('4'), "{msg}");
    let x3 = Tensor::rand_uniform([2, 3, 4], -1.0, 1.0, DType::F32, &mut rng);
    assert!(super::batch_norm_stats(&x3, 3, 1e-5).err().unwrap().to_string().contains("expected 4D input"));
    let p4 = Tensor::ones([4], DType::F32);
    assert!(super::batch_norm_apply(&x, (&p3, &p3), (&p4, &p3), false).is_err());
    let p64 = Tensor::ones([3], DType::F64);
    assert!(super::batch_norm_apply(&x, (&p3, &p3), (&p64, &p3), true).is_err());
    // The backward checks the bias too (the fused ReLU's gate reads it).
    let err = super::batch_norm_backward(&x, (&p3, &p3), (&p3, &p4), &x, (true, true)).err().unwrap().to_string();
    assert!(err.contains("[4]") && err.contains("[3]"), "{err}");
    let i = Tensor::from_vec(vec![1i64; 96], [2, 3, 4, 4]).unwrap();
    assert!(super::batch_norm_stats(&i, 3, 1e-5).is_err());
    // LayerNorm: the parameters must match the last dim; a scalar has none.
    assert!(super::layer_norm_stats(&x3, 1e-5).is_ok());
    let s = super::layer_norm_stats(&x3, 1e-5).unwrap();
    let p = Tensor::ones([4], DType::F32);
    assert!(super::layer_norm_apply(&x3, &s.mean, &s.invstd, &p, &p).is_ok());
    assert!(super::layer_norm_apply(&x3, &s.mean, &s.invstd, &p3, &p3).is_err());
    assert!(super::layer_norm_stats(&Tensor::ones([], DType::F32), 1e-5).is_err());
}

#[test]
fn middle_axis_layer_norm_matches_reference_rows() {
    let mut rng = Rng::new(31);
    for (outer, d, inner) in [(1, 1, 2), (2, 7, 3), (3, 33, 17), (1, 130, 40), (2, 200, 5)] {
        for offset in [0.0, 100.0] {
            crate::float_dispatch!(if offset == 0.0 { DType::F32 } else { DType::F64 }, "test", T => {
                let what = format!("layer norm middle [{outer}, {d}, {inner}] offset {offset} {}", std::mem::size_of::<T>());
                let x = values::<T>(outer * d * inner, offset, &mut rng);
                // The reference's rows: column c of block a.
                let rows: Vec<T> = (0..outer * inner).flat_map(|g| (0..d).map(move |j| (g / inner, j, g % inner))).map(|(a, j, c)| x[(a * d + j) * inner + c]).collect();
                let (fast, want) = (super::middle::layer_stats_middle(&x, (outer, d, inner), 1e-5), reference::layer_stats(&rows, d, 1e-5));
                assert_within(&fast.mean, &want.mean, tol::<T>(), tol::<T>() * (1.0 + offset), &format!("{what} mean"));
                assert_within(&fast.var, &want.var, tol::<T>() * 10.0, 0.0, &format!("{what} var"));
                assert_within(&fast.invstd, &want.invstd, tol::<T>() * 10.0, 0.0, &format!("{what} invstd"));
                let (w, b) = (values::<T>(d, 1.0, &mut rng), values::<T>(d, 0.0, &mut rng));
                let y = super::middle::layer_apply_middle(&x, (outer, d, inner), &want.mean, &want.invstd, &w, &b);
                let want_rows = reference::layer_apply(&rows, d, &want.mean, &want.invstd, &w, &b);
                let want_y: Vec<T> = (0..x.len()).map(|k| (k / (d * inner), k / inner % d, k % inner)).map(|(a, j, c)| want_rows[(a * inner + c) * d + j]).collect();
                assert_within(&y, &want_y, tol::<T>(), tol::<T>() * (1.0 + offset), &format!("{what} apply"));
                Ok::<(), kiln_tensor::Error>(())
            })
            .unwrap();
        }
    }
}

#[test]
fn layer_norm_of_a_transposed_view_reads_it_in_place_and_keeps_its_layout() {
    let mut rng = Rng::new(32);
    for dtype in [DType::F32, DType::F64] {
        // Stored [a, d, b] and [d, a, b]: the normalised (last) dim is a middle / the first one in storage.
        let views = [
            Tensor::rand_uniform(vec![3, 40, 9], -2.0, 2.0, dtype, &mut rng).transpose(1, 2).unwrap(),
            Tensor::rand_uniform(vec![40, 3, 9], -2.0, 2.0, dtype, &mut rng).permute(&[1, 2, 0]).unwrap(),
            // Stored [b, d, a]: the kept dims are reversed in storage.
            Tensor::rand_uniform(vec![9, 40, 3], -2.0, 2.0, dtype, &mut rng).permute(&[2, 0, 1]).unwrap(),
            // Logical [2, 3, 4, 40] stored [3, 4, 40, 2]: the kept dims a 3-cycle in storage.
            Tensor::rand_uniform(vec![3, 4, 40, 2], -2.0, 2.0, dtype, &mut rng).permute(&[3, 0, 1, 2]).unwrap(),
        ];
        for x in &views {
            let [mean, var, invstd, out] = through_and_dense(x, &mut rng);
            assert_eq!(out.0.strides(), x.strides(), "{:?}: the output keeps the layout", x.layout());
            let tol = if dtype == DType::F32 { 2e-5 } else { 1e-12 };
            for (got, want, what) in [mean, var, invstd, out] {
                let what = format!("{:?} {what}", x.layout());
                assert_within(&got.to_vec_f64().unwrap(), &want.to_vec_f64().unwrap(), tol * 10.0, tol, &what);
            }
        }
    }
}

/// LayerNorm (statistics, then apply with random affine parameters of 40) of `x` itself and of
/// its dense copy: `(of x, of the copy, what)` for the mean, variance, inverse std and output.
fn through_and_dense(x: &Tensor, rng: &mut Rng) -> [(Tensor, Tensor, &'static str); 4] {
    let dtype = x.dtype();
    let (w, b) =
        (Tensor::rand_uniform(vec![40], 0.5, 1.5, dtype, rng), Tensor::rand_uniform(vec![40], -1.0, 1.0, dtype, rng));
    let dense = crate::elementwise::dense(x).unwrap();
    let (s, want) = (super::layer_norm_stats(x, 1e-5).unwrap(), super::layer_norm_stats(&dense, 1e-5).unwrap());
    let y = super::layer_norm_apply(x, &s.mean, &s.invstd, &w, &b).unwrap();
    let want_y = super::layer_norm_apply(&dense, &want.mean, &want.invstd, &w, &b).unwrap();
    [(s.mean, want.mean, "mean"), (s.var, want.var, "var"), (s.invstd, want.invstd, "invstd"), (y, want_y, "output")]
}

#[test]
fn layer_norm_of_a_narrowed_view_reads_its_rows_in_place() {
    let mut rng = Rng::new(33);
    for dtype in [DType::F32, DType::F64] {
        let wide = Tensor::rand_uniform(vec![5, 6, 50], -2.0, 2.0, dtype, &mut rng);
        let views = [
            wide.narrow(0, 1, 3).unwrap().narrow(1, 2, 3).unwrap().narrow(2, 3, 40).unwrap(),
            wide.narrow(2, 0, 40).unwrap(),
            Tensor::rand_uniform(vec![4, 45], -2.0, 2.0, dtype, &mut rng).narrow(1, 5, 40).unwrap(),
        ];
        for x in &views {
            assert!(super::row_starts(x).is_some(), "{:?}: rows in place", x.layout());
            // Same kernels on the same rows: equal, not merely close.
            for (got, want, what) in through_and_dense(x, &mut rng) {
                let what = format!("{:?} {what}", x.layout());
                assert_within(&got.to_vec_f64().unwrap(), &want.to_vec_f64().unwrap(), 0.0, 0.0, &what);
            }
        }
    }
}

/// The f32 lane sums on explicit vectors equal the generic per-lane loop bit for bit on every
/// back end (lengths shorter than, equal to and past the 16 lanes, both shift modes, with and
/// without the ReLU gate).
#[test]
fn f32_lane_sums_match_the_generic_loop_bit_for_bit_on_every_isa() {
    let mut rng = Rng::new(11);
    for len in [0, 5, 16, 17, 48, 900, 1001] {
        let a: Vec<f32> = values(len, 3.0, &mut rng);
        let b: Vec<f32> = values(len, -1.0, &mut rng);
        for ((s, sa), gate) in [((0.75f32, 0.75f32), None), ((0.25, 0.0), None), ((0.25, 0.0), Some((1.5f32, 0.3f32)))]
        {
            let (mut w1, mut w2) = ([0f32; 16], [0f32; 16]);
            for (ca, cb) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
                for l in 0..16 {
                    let v = cb[l] - s;
                    let u = if gate.is_none_or(|(k, beta)| v * k + beta > 0.0) { ca[l] - sa } else { 0.0 };
                    w1[l] += u;
                    w2[l] += u * v;
                }
            }
            for isa in crate::simd::Isa::ALL {
                let (g1, g2, done) = cpu::block_sums_f32(isa, &a, &b, (s, sa), gate);
                assert_eq!(done, len / 16 * 16, "{isa:?} len {len}");
                let bits = |v: &[f32; 16]| v.map(f32::to_bits);
                assert_eq!((bits(&g1), bits(&g2)), (bits(&w1), bits(&w2)), "{isa:?} len {len} shift {sa} {gate:?}");
            }
        }
    }
}
