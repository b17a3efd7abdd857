//! Tests of the fast max pooling (`cpu.rs`) against the reference, called directly: odd plane sizes
//! (1, 7, 33), kernel / stride combinations with overlapping and ragged windows, contiguous,
//! permuted, narrowed and batch-broadcast inputs, ties and NaNs (identical values and indices), the
//! backward scatter (identical sums, overlapping windows included), its fallback for a strided
//! gradient, and sizes above the parallel threshold.

use super::{cpu, reference};
use crate::cpu_common::PAR_MIN_CHEAP;
use crate::elementwise::cpu_tests::assert_same;
use kiln_tensor::{DType, Layout, Rng, Tensor};

/// Input variants of logical shape `[n, c, h, w]`: the convolution tests' (contiguous, NHWC,
/// narrowed, broadcast), a transposed plane, and few distinct values so windows have ties.
fn inputs(n: usize, c: usize, h: usize, w: usize, rng: &mut Rng) -> Vec<(&'static str, Tensor)> {
    let mut all = crate::conv::tests::inputs(n, c, h, w, DType::F32, rng);
    let ties = Tensor::from_vec((0..n * c * h * w).map(|i| ((i * 7) % 5) as f32).collect::<Vec<_>>(), [n, c, h, w]);
    all.push(("ties", ties.unwrap()));
    let plane_t = Tensor::randn([n, c, w, h], 0.0, 1.0, DType::F32, rng).permute(&[0, 1, 3, 2]).unwrap();
    all.push(("transposed plane", plane_t));
    all
}

/// Forward and backward of one input, fast against reference, both exact.
fn check(x: &Tensor, k: usize, s: usize, what: &str) {
    let d = x.dims().to_vec();
    let (oh, ow) = ((d[2] - k) / s + 1, (d[3] - k) / s + 1);
    let (vals, idx) = x
        .with_slice(|v: &[f32], l| {
            let (fv, fi) = cpu::max_pool2d(v, l, k, s, oh, ow);
            let (rv, ri) = reference::max_pool2d(v, l, k, s, oh, ow);
            assert_same(&fv, &rv, &format!("values {what}"));
            assert_eq!(fi, ri, "indices {what}");
            (rv, ri)
        })
        .unwrap();
    let idx: Vec<usize> = idx.iter().map(|&i| i as usize).collect();
    let (planes, plane) = (d[0] * d[1], d[2] * d[3]);
    let grad = Tensor::from_vec(vals.iter().map(|v| v * 0.5 - 0.25).collect::<Vec<_>>(), [d[0], d[1], oh, ow]).unwrap();
    grad.with_slice(|g: &[f32], gl| {
        let fast = cpu::max_pool2d_backward(g, gl, &idx, planes, plane).expect("contiguous gradient");
        assert_same(&fast, &reference::max_pool2d_backward(g, gl, &idx, planes, plane), &format!("backward {what}"));
    })
    .unwrap();
    // A transposed gradient is not covered.
    if oh > 1 && ow > 1 {
        let gt = grad.transpose(2, 3).unwrap().contiguous().unwrap().transpose(2, 3).unwrap();
        gt.with_slice(|g: &[f32], gl: &Layout| assert!(cpu::max_pool2d_backward(g, gl, &idx, planes, plane).is_none()))
            .unwrap();
    }
}

#[test]
fn pooling_matches_reference_exactly() {
    let mut rng = Rng::new(41);
    for [n, c, h, w] in [[1, 1, 1, 1], [2, 3, 7, 7], [1, 2, 33, 7], [3, 1, 7, 33], [2, 5, 33, 33], [7, 2, 8, 6]] {
        for (k, s) in [(1, 1), (2, 2), (2, 1), (3, 2), (3, 3), (2, 3)] {
            if k > h || k > w {
                continue;
            }
            for (name, x) in inputs(n, c, h, w, &mut rng) {
                check(&x, k, s, &format!("{name} [{n}, {c}, {h}, {w}] k{k} s{s}"));
            }
        }
    }
}

#[test]
fn nans_win_and_the_first_nan_stays() {
    let nan = f32::NAN;
    let x = Tensor::from_vec(vec![1., nan, 3., nan, 5., 2., 7., 1., nan], [1, 1, 3, 3]).unwrap();
    for (k, s) in [(2, 1), (3, 1), (2, 2)] {
        check(&x, k, s, &format!("nan k{k} s{s}"));
    }
}

#[test]
fn large_inputs_split_over_threads() {
    let mut rng = Rng::new(42);
    let c = PAR_MIN_CHEAP / (64 * 30 * 30) + 1;
    let x = Tensor::randn(vec![64, c, 30, 30], 0.0, 1.0, DType::F32, &mut rng);
    let pool = crate::denormals::pool_builder(2).build().unwrap();
    pool.install(|| check(&x, 2, 2, "large"));
}

/// Timing of W2's first pooling (the largest), reference against fast, forward and backward.
/// Release only: `cargo test -p kiln-kernels --release --lib pool_timings -- --ignored --nocapture`.
#[test]
#[ignore]
fn pool_timings() {
    use crate::elementwise::cpu_tests::time;
    let x = Tensor::randn(vec![64, 32, 30, 30], 0.0, 1.0, DType::F32, &mut Rng::new(1));
    x.with_slice(|v: &[f32], l| {
        let r = time(|| drop(reference::max_pool2d(v, l, 2, 2, 15, 15)));
        let f = time(|| drop(cpu::max_pool2d(v, l, 2, 2, 15, 15)));
        println!("max_pool2d [64, 32, 30, 30] k2 s2: reference {:.0} µs, fast {:.0} µs", r * 1e6, f * 1e6);
        let (vals, idx) = cpu::max_pool2d(v, l, 2, 2, 15, 15);
        let idx: Vec<usize> = idx.iter().map(|&i| i as usize).collect();
        let gl = Layout::contiguous([64, 32, 15, 15]);
        let r = time(|| drop(reference::max_pool2d_backward(&vals, &gl, &idx, 64 * 32, 900)));
        let f = time(|| drop(cpu::max_pool2d_backward(&vals, &gl, &idx, 64 * 32, 900)));
        println!("max_pool2d backward: reference {:.0} µs, fast {:.0} µs", r * 1e6, f * 1e6);
    })
    .unwrap();
}

/// The 2x2 / stride-2 rows on every usable back end give the scalar row's values and indices
/// exactly: widths across the 16-window step (1 to 40, odd input widths too), ties, NaNs (first
/// wins, nothing replaces it), infinities and signed zeros.
#[test]
fn pool_rows_2x2_match_the_scalar_row_on_every_isa() {
    use crate::simd::Isa;
    let mut rng = Rng::new(43);
    let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 1.0];
    for w in (2..=81).step_by(3) {
        let (h, ow) = (6, w / 2);
        let x: Vec<f32> = (0..h * w)
            .map(|_| match rng.next_f64() {
                p if p < 0.1 => specials[(rng.next_f64() * 6.0) as usize % 6],
                p if p < 0.4 => (rng.next_f64() * 3.0).floor() as f32,
                _ => rng.uniform(-2.0, 2.0) as f32,
            })
            .collect();
        let g = cpu::Window { k: 2, s: 2, w, oh: h / 2, ow };
        let run = |isa: Isa| {
            let n = g.oh * ow;
            let (mut v, mut i) = (vec![std::mem::MaybeUninit::new(0f32); n], vec![std::mem::MaybeUninit::new(0i64); n]);
            cpu::plane_2x2(isa, &x, 0, w, g, &mut v, &mut i);
            // SAFETY: every element was initialised above.
            let v: Vec<u32> = v.iter().map(|e| unsafe { e.assume_init() }.to_bits()).collect();
            (v, i.iter().map(|e| unsafe { e.assume_init() }).collect::<Vec<i64>>())
        };
        let want = run(Isa::Scalar);
        for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
            assert_eq!(run(isa), want, "{isa:?} w {w}");
        }
    }
}
