//! Tests of the blocked f32 conv2d (`cpu.rs`) against the direct loops, called directly with every
//! SIMD back end and on one- and two-thread pools (serial and parallel block paths): odd batch sizes
//! that leave a short last block, W2's geometries, strides, paddings and strided / permuted /
//! broadcast inputs and gradients. Also the f64 fallback and an ignored timing of the thresholds.

use super::tests::{conv_tol, inputs, randn, GEOMS};
use super::{cpu, reference, ConvGeom};
use crate::simd::Isa;
use kiln_tensor::testing::assert_close;
use kiln_tensor::{DType, Layout, Rng, Tensor};

/// (n, c, h, w, o, kh, kw, stride, padding): the shared geometries plus batches of 7 and 33 and
/// W2's three convs on a smaller batch.
fn geoms() -> Vec<[usize; 9]> {
    let mut all = GEOMS.to_vec();
    all.extend([
        [7, 3, 9, 11, 5, 3, 3, 1, 1],
        [33, 2, 7, 7, 3, 3, 3, 2, 0],
        [33, 1, 1, 1, 7, 1, 1, 1, 0],
        [3, 3, 32, 32, 32, 3, 3, 1, 0],
        [5, 32, 15, 15, 64, 3, 3, 1, 0],
        [17, 64, 6, 6, 128, 3, 3, 1, 0],
    ]);
    all
}

fn pool(threads: usize) -> rayon::ThreadPool {
    crate::denormals::pool_builder(threads).build().unwrap()
}

/// The three maps through `cpu.rs` on every back end and pool against the reference (computed once),
/// for one geometry and input.
fn check(g: &ConvGeom, x: &Tensor, w: &Tensor, bias: &Tensor, grad: &Tensor, pools: &[rayon::ThreadPool], what: &str) {
    let out = |v: Vec<f32>, shape| Tensor::from_vec(v, shape).unwrap();
    Tensor::with_slices(&[x, w, bias, grad], |v: &[(&[f32], &Layout)]| {
        let b = Some(&v[2].0[..g.o]);
        let slow = [
            out(reference::conv2d(g, v[0], v[1], b), g.out_shape()),
            out(reference::conv2d_backward_input(g, v[3], v[1]), g.in_shape()),
            out(reference::conv2d_backward_weight(g, v[0], v[3]), g.weight_shape()),
            out(reference::conv2d(g, v[0], v[1], None), g.out_shape()),
        ];
        let acc = [g.c * g.kh * g.kw, g.o * g.kh * g.kw, g.n * g.oh * g.ow, g.c * g.kh * g.kw];
        for (t, pool) in pools.iter().enumerate() {
            for isa in Isa::ALL {
                let fast = pool.install(|| {
                    [
                        out(cpu::conv2d(isa, g, v[0], v[1], b).expect("f32 is covered"), g.out_shape()),
                        out(cpu::conv2d_backward_input(isa, g, v[3], v[1]).expect("f32"), g.in_shape()),
                        out(cpu::conv2d_backward_weight(isa, g, v[0], v[3]).expect("f32"), g.weight_shape()),
                        out(cpu::conv2d(isa, g, v[0], v[1], None).expect("f32"), g.out_shape()),
                    ]
                });
                for (k, map) in
                    ["forward", "backward input", "backward weight", "forward without bias"].iter().enumerate()
                {
                    assert_close(
                        &format!("{map} {what} {isa:?} {} threads", t + 1),
                        &fast[k],
                        &slow[k],
                        conv_tol(fast[k].dtype(), acc[k]),
                    );
                }
            }
        }
    })
    .unwrap();
}

#[test]
fn blocked_conv_matches_reference_on_every_isa_and_thread_count() {
    let mut rng = Rng::new(31);
    let pools = [pool(1), pool(2)];
    for [n, c, h, w, o, kh, kw, s, p] in geoms() {
        let g = ConvGeom::new("test", &[n, c, h, w].into(), &[o, c, kh, kw].into(), s, p).unwrap();
        let wt = randn(&[o, c, kh, kw], DType::F32, &mut rng);
        let bias = randn(&[o], DType::F32, &mut rng);
        // Output gradients: contiguous, permuted (NHWC-stored) and narrowed (contiguous rows only).
        let grads = [
            randn(&[n, o, g.oh, g.ow], DType::F32, &mut rng),
            randn(&[n, g.oh, g.ow, o], DType::F32, &mut rng).permute(&[0, 3, 1, 2]).unwrap(),
            randn(&[n, o, g.oh, g.ow + 2], DType::F32, &mut rng).narrow(3, 1, g.ow).unwrap(),
        ];
        for (name, x) in inputs(n, c, h, w, DType::F32, &mut rng) {
            for (gi, grad) in grads.iter().enumerate() {
                check(&g, &x, &wt, &bias, grad, &pools, &format!("{name} x, grad {gi}, {g:?}"));
            }
        }
    }
}

#[test]
fn f64_and_empty_problems_fall_back() {
    let g = ConvGeom::new("test", &[2, 3, 5, 5].into(), &[4, 3, 3, 3].into(), 1, 1).unwrap();
    let (x, w) = (Tensor::zeros([2, 3, 5, 5], DType::F64), Tensor::zeros([4, 3, 3, 3], DType::F64));
    Tensor::with_slices(&[&x, &w], |v: &[(&[f64], &Layout)]| {
        assert!(cpu::conv2d(Isa::Scalar, &g, v[0], v[1], None).is_none());
    })
    .unwrap();
    let g0 = ConvGeom::new("test", &[0, 3, 5, 5].into(), &[4, 3, 3, 3].into(), 1, 1).unwrap();
    let (x0, w) = (Tensor::zeros([0, 3, 5, 5], DType::F32), Tensor::zeros([4, 3, 3, 3], DType::F32));
    Tensor::with_slices(&[&x0, &w], |v: &[(&[f32], &Layout)]| {
        assert!(cpu::conv2d(Isa::Scalar, &g0, v[0], v[1], None).is_none());
    })
    .unwrap();
}

/// Timings of the blocked conv against `im2col.rs`' per-sample path, and 1 vs 2 threads (the
/// parallel threshold). Release only: `cargo test -p kiln-kernels --release --lib conv_timings --
/// --ignored --nocapture`.
#[test]
#[ignore]
fn conv_timings() {
    use crate::elementwise::cpu_tests::time;
    let mut rng = Rng::new(7);
    let geoms = [
        [2, 8, 9, 9, 8, 3, 3, 1, 0],
        [8, 16, 12, 12, 16, 3, 3, 1, 0],
        [64, 3, 32, 32, 32, 3, 3, 1, 0],
        [64, 32, 15, 15, 64, 3, 3, 1, 0],
        [64, 64, 6, 6, 128, 3, 3, 1, 0],
    ];
    let isa = crate::simd::isa();
    for [n, c, h, w, o, kh, kw, s, p] in geoms {
        let g = ConvGeom::new("t", &[n, c, h, w].into(), &[o, c, kh, kw].into(), s, p).unwrap();
        let x = randn(&[n, c, h, w], DType::F32, &mut rng);
        let wt = randn(&[o, c, kh, kw], DType::F32, &mut rng);
        let grad = randn(&[n, o, g.oh, g.ow], DType::F32, &mut rng);
        let mflop = 2.0 * (n * o * c * kh * kw * g.oh * g.ow) as f64 / 1e6;
        Tensor::with_slices(&[&x, &wt, &grad], |v: &[(&[f32], &Layout)]| {
            let us = |f: &dyn Fn()| time(f) * 1e6;
            // On a one-thread pool: with two, each per-sample GEMM is split over threads by itself.
            let per_sample = pool(1).install(|| us(&|| drop(super::im2col::conv2d(&g, v[0], v[1], None))));
            let t1 = pool(1).install(|| {
                [
                    us(&|| drop(cpu::conv2d(isa, &g, v[0], v[1], None))),
                    us(&|| drop(cpu::conv2d_backward_input(isa, &g, v[2], v[1]))),
                    us(&|| drop(cpu::conv2d_backward_weight(isa, &g, v[0], v[2]))),
                ]
            });
            let t2 = pool(2).install(|| {
                [
                    us(&|| drop(cpu::conv2d(isa, &g, v[0], v[1], None))),
                    us(&|| drop(cpu::conv2d_backward_input(isa, &g, v[2], v[1]))),
                    us(&|| drop(cpu::conv2d_backward_weight(isa, &g, v[0], v[2]))),
                ]
            });
            let [f1, i1, w1] = t1;
            let [f2, i2, w2] = t2;
            println!("{:?} {mflop:.1} MFLOP: per-sample (im2col.rs) fwd 1T {per_sample:.0} µs", [n, c, h, w, o]);
            println!("  blocked fwd/dx/dw 1T {f1:.0}/{i1:.0}/{w1:.0} µs, 2T {f2:.0}/{i2:.0}/{w2:.0} µs");
        })
        .unwrap();
    }
}
