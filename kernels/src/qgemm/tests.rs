//! The integer GEMM against its reference: every version bit-exact (integer sums, one epilogue) on
//! random shapes and values, saturation edges (255 x -128 everywhere), K not a multiple of the word
//! size, odd M and N, strided and transposed activations, strided outputs, u8 requantization, and
//! bad calls as clear errors.

use super::*;
use kiln_tensor::Rng;

fn random_u8(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| (rng.next_u64() & 0xff) as u8).collect()
}

fn random_i8(rng: &mut Rng, n: usize) -> Vec<i8> {
    (0..n).map(|_| (rng.next_u64() & 0xff) as u8 as i8).collect()
}

/// Runs `isa` and the reference on the same operands with an f32 epilogue; they must be equal bit
/// for bit.
#[allow(clippy::too_many_arguments)]
fn check_f32(isa: QIsa, m: usize, k: usize, n: usize, a: MatRef<u8>, b: MatRef<i8>, epi: &Epilogue, threads: usize) {
    let packed = PackedWeights::pack(isa, k, n, b).unwrap();
    let mut got = vec![f32::NAN; m * n];
    qgemm_with(threads, a, m, &packed, epi, Output::F32(MatMut::row_major(&mut got, n))).unwrap();
    let mut want = vec![f32::NAN; m * n];
    reference::qgemm(m, k, n, a, b, epi, Output::F32(MatMut::row_major(&mut want, n))).unwrap();
    for (e, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{isa} {m}x{k}x{n} threads {threads}: element {e}: {g} vs {w}");
    }
}

fn scales(rng: &mut Rng, n: usize) -> (Vec<f32>, Vec<f32>) {
    let scale = (0..n).map(|_| 1e-4 * (0.5 + rng.next_f32())).collect();
    let bias = (0..n).map(|_| rng.next_f32() - 0.5).collect();
    (scale, bias)
}

#[test]
fn every_version_matches_the_reference_on_random_shapes() {
    let mut rng = Rng::new(7);
    let shapes = [(1, 1, 1), (3, 5, 7), (8, 4, 32), (9, 13, 33), (17, 63, 31), (64, 100, 50), (70, 257, 65), (5, 1, 3)];
    for isa in QIsa::ALL {
        for &(m, k, n) in &shapes {
            let a = random_u8(&mut rng, m * k);
            let b = random_i8(&mut rng, k * n);
            let (scale, bias) = scales(&mut rng, n);
            for (zp, relu) in [(0u8, false), (128, true), (255, false)] {
                let epi = Epilogue { a_zero_point: zp, scale: &scale, bias: Some(&bias), relu };
                check_f32(isa, m, k, n, MatRef::row_major(&a, k), MatRef::row_major(&b, n), &epi, 1);
            }
        }
    }
}

#[test]
fn seven_bit_activations_and_mixed_panels_match_the_reference() {
    // `avx2-u7` runs its byte kernel on micro-panels whose bytes are all below 128 and splits the
    // others: 7-bit rows everywhere, then one byte >= 128 planted in a few rows so that some of a
    // block's micro-panels take each path; 127 x -128 is the largest pair the fast path sums.
    let mut rng = Rng::new(11);
    for &(m, k, n) in &[(1, 1, 1), (7, 9, 17), (25, 130, 33), (64, 257, 48)] {
        let mut a: Vec<u8> = random_u8(&mut rng, m * k).into_iter().map(|v| v & 0x7f).collect();
        let b = random_i8(&mut rng, k * n);
        let (scale, bias) = scales(&mut rng, n);
        let epi = Epilogue { a_zero_point: 64, scale: &scale, bias: Some(&bias), relu: false };
        for isa in QIsa::ALL {
            check_f32(isa, m, k, n, MatRef::row_major(&a, k), MatRef::row_major(&b, n), &epi, 1);
        }
        for row in (0..m).step_by(13) {
            a[row * k + (row * 7) % k] = 128 + (row % 128) as u8;
        }
        for isa in QIsa::ALL {
            check_f32(isa, m, k, n, MatRef::row_major(&a, k), MatRef::row_major(&b, n), &epi, 2);
        }
    }
    let (m, k, n) = (13, 1027, 19);
    let (a, b) = (vec![127u8; m * k], vec![-128i8; k * n]);
    let scale = vec![1.0f32; n];
    let epi = Epilogue { a_zero_point: 0, scale: &scale, bias: None, relu: false };
    check_f32(QIsa::Avx2U7, m, k, n, MatRef::row_major(&a, k), MatRef::row_major(&b, n), &epi, 1);
}

#[test]
fn accumulators_are_exact_at_the_saturation_edge() {
    // 255 x -128 everywhere: vpmaddubsw would saturate its 16-bit pair sums here; every version
    // must give k x -32640 exactly. K = 4099 is not a multiple of 4 (nor of 2 past the last pair).
    let (m, k, n) = (13, 4099, 37);
    let a = vec![255u8; m * k];
    let b = vec![-128i8; k * n];
    let scale = vec![1.0f32; n];
    let epi = Epilogue { a_zero_point: 0, scale: &scale, bias: None, relu: false };
    for isa in QIsa::ALL {
        let packed = PackedWeights::pack(isa, k, n, MatRef::row_major(&b, n)).unwrap();
        let mut got = vec![0f32; m * n];
        qgemm_with(2, MatRef::row_major(&a, k), m, &packed, &epi, Output::F32(MatMut::row_major(&mut got, n))).unwrap();
        let want = (k as i64 * 255 * -128) as f32;
        assert!(got.iter().all(|&v| v == want), "{isa}: {} vs {want}", got[0]);
    }
    let acc = accumulate_reference(m, k, n, MatRef::row_major(&a, k), MatRef::row_major(&b, n)).unwrap();
    assert!(acc.iter().all(|&v| v == k as i32 * 255 * -128));
}

#[test]
fn the_largest_k_does_not_overflow() {
    let (m, k, n) = (2, MAX_K, 3);
    let a = vec![255u8; m * k];
    let b = vec![-128i8; k * n];
    let scale = vec![1.0f32; n];
    let epi = Epilogue { a_zero_point: 0, scale: &scale, bias: None, relu: false };
    for isa in [QIsa::Avx512Vnni, QIsa::Avx2] {
        check_f32(isa, m, k, n, MatRef::row_major(&a, k), MatRef::row_major(&b, n), &epi, 1);
    }
    let too_big = PackedWeights::pack(QIsa::Scalar, MAX_K + 1, 1, MatRef::row_major(&vec![0i8; MAX_K + 1], 1));
    assert!(too_big.unwrap_err().to_string().contains("exceeds 65536"));
}

#[test]
fn zero_point_folding_equals_subtracting_it_first() {
    // Σ (a - z) b computed directly in i64 against the folded epilogue (scale 1, no bias).
    let mut rng = Rng::new(11);
    let (m, k, n, z) = (7, 45, 19, 131u8);
    let a = random_u8(&mut rng, m * k);
    let b = random_i8(&mut rng, k * n);
    let scale = vec![1.0f32; n];
    let epi = Epilogue { a_zero_point: z, scale: &scale, bias: None, relu: false };
    let packed = PackedWeights::pack(qisa(), k, n, MatRef::row_major(&b, n)).unwrap();
    let mut got = vec![0f32; m * n];
    qgemm(MatRef::row_major(&a, k), m, &packed, &epi, Output::F32(MatMut::row_major(&mut got, n))).unwrap();
    for i in 0..m {
        for j in 0..n {
            let want: i64 = (0..k).map(|p| (a[i * k + p] as i64 - z as i64) * b[p * n + j] as i64).sum();
            assert_eq!(got[i * n + j], want as f32, "({i}, {j})");
        }
    }
}

#[test]
fn the_epilogue_is_the_formula_on_wide_rows_and_strided_outputs() {
    // Rows wider than the epilogue's 32-value chunks, bias and ReLU, a column-major output with
    // padding: every version and the reference against the formula written out here in i64/f32.
    let mut rng = Rng::new(17);
    let (m, k, n, z) = (9, 37, 75, 57u8);
    let a = random_u8(&mut rng, m * k);
    let b = random_i8(&mut rng, k * n);
    let (scale, bias) = scales(&mut rng, n);
    let epi = Epilogue { a_zero_point: z, scale: &scale, bias: Some(&bias), relu: true };
    let ld = m + 3;
    let want: Vec<f32> = (0..m * n)
        .map(|e| {
            let (i, j) = (e / n, e % n);
            let dot: i64 = (0..k).map(|p| a[i * k + p] as i64 * b[p * n + j] as i64).sum();
            let colsum: i64 = (0..k).map(|p| b[p * n + j] as i64).sum();
            (((dot - z as i64 * colsum) as i32 as f32) * scale[j] + bias[j]).max(0.0)
        })
        .collect();
    assert!(want.contains(&0.0) && want.iter().any(|&y| y > 0.0));
    let mut reference_out = vec![f32::NAN; ld * n];
    let out = Output::F32(MatMut { data: &mut reference_out, rs: 1, cs: ld });
    reference::qgemm(m, k, n, MatRef::row_major(&a, k), MatRef::row_major(&b, n), &epi, out).unwrap();
    for isa in QIsa::ALL {
        let packed = PackedWeights::pack(isa, k, n, MatRef::row_major(&b, n)).unwrap();
        let mut got = vec![f32::NAN; ld * n];
        let out = Output::F32(MatMut { data: &mut got, rs: 1, cs: ld });
        qgemm_with(1, MatRef::row_major(&a, k), m, &packed, &epi, out).unwrap();
        for (name, got) in [("reference", &reference_out), (isa.name(), &got)] {
            for (e, &w) in want.iter().enumerate() {
                let (i, j) = (e / n, e % n);
                assert_eq!(got[j * ld + i].to_bits(), w.to_bits(), "{name} ({i}, {j})");
            }
            // The padding rows are not written.
            assert!((0..n).all(|j| (m..ld).all(|i| got[j * ld + i].is_nan())), "{name}");
        }
    }
}

#[test]
fn strided_and_transposed_operands_and_outputs() {
    let mut rng = Rng::new(3);
    let (m, k, n) = (23, 29, 41);
    // A stored transposed (column-major) with padding; B column-major; C column-major, padded.
    let a_store = random_u8(&mut rng, k * (m + 3));
    let a = MatRef::new(&a_store, 1, m + 3);
    let b_store = random_i8(&mut rng, n * (k + 2));
    let b = MatRef::new(&b_store, 1, k + 2);
    let (scale, bias) = scales(&mut rng, n);
    let epi = Epilogue { a_zero_point: 77, scale: &scale, bias: Some(&bias), relu: true };
    for isa in QIsa::ALL {
        let packed = PackedWeights::pack(isa, k, n, b).unwrap();
        let mut got = vec![f32::NAN; n * (m + 5)];
        qgemm_with(2, a, m, &packed, &epi, Output::F32(MatMut::new(&mut got, 1, m + 5))).unwrap();
        let mut want = vec![f32::NAN; n * (m + 5)];
        reference::qgemm(m, k, n, a, b, &epi, Output::F32(MatMut::new(&mut want, 1, m + 5))).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.to_bits(), w.to_bits(), "{isa}");
        }
        // The padding between columns was never written.
        assert!(got[m..m + 5].iter().all(|v| v.is_nan()), "{isa}");
    }
}

#[test]
fn threads_split_rows_and_columns_without_changing_a_bit() {
    let mut rng = Rng::new(5);
    for &(m, k, n) in &[(300, 200, 90), (16, 512, 700), (1, 1024, 1000)] {
        let a = random_u8(&mut rng, m * k);
        let b = random_i8(&mut rng, k * n);
        let (scale, bias) = scales(&mut rng, n);
        let epi = Epilogue { a_zero_point: 9, scale: &scale, bias: Some(&bias), relu: false };
        for threads in [1, 2, 3] {
            check_f32(qisa(), m, k, n, MatRef::row_major(&a, k), MatRef::row_major(&b, n), &epi, threads);
        }
    }
}

#[test]
fn requantized_outputs_match_the_reference() {
    let mut rng = Rng::new(13);
    let (m, k, n) = (19, 70, 35);
    let a = random_u8(&mut rng, m * k);
    let b = random_i8(&mut rng, k * n);
    let (scale, bias) = scales(&mut rng, n);
    let epi = Epilogue { a_zero_point: 100, scale: &scale, bias: Some(&bias), relu: true };
    let (oscale, ozp) = (0.01f32, 3u8);
    let mut want = vec![0u8; m * n];
    reference::qgemm(
        m,
        k,
        n,
        MatRef::row_major(&a, k),
        MatRef::row_major(&b, n),
        &epi,
        Output::U8 { out: MatMut::row_major(&mut want, n), scale: oscale, zero_point: ozp },
    )
    .unwrap();
    // With ReLU, nothing is below the zero point; something saturates at 255 or lies between.
    assert!(want.iter().all(|&q| q >= ozp));
    assert!(want.iter().any(|&q| q > ozp && q < 255));
    for isa in QIsa::ALL {
        let packed = PackedWeights::pack(isa, k, n, MatRef::row_major(&b, n)).unwrap();
        let mut got = vec![0u8; m * n];
        let out = Output::U8 { out: MatMut::row_major(&mut got, n), scale: oscale, zero_point: ozp };
        qgemm_with(1, MatRef::row_major(&a, k), m, &packed, &epi, out).unwrap();
        assert_eq!(got, want, "{isa}");
    }
}

#[test]
fn empty_k_gives_the_bias() {
    let bias = [0.5f32, -1.0, 2.0];
    let scale = [1.0f32; 3];
    let epi = Epilogue { a_zero_point: 3, scale: &scale, bias: Some(&bias), relu: true };
    let packed = PackedWeights::pack(QIsa::Scalar, 0, 3, MatRef::row_major(&[], 3)).unwrap();
    let mut got = vec![f32::NAN; 6];
    qgemm(MatRef::row_major(&[], 0), 2, &packed, &epi, Output::F32(MatMut::row_major(&mut got, 3))).unwrap();
    assert_eq!(got, [0.5, 0.0, 2.0, 0.5, 0.0, 2.0]);
}

#[test]
fn bad_calls_are_clear_errors() {
    let b = vec![1i8; 4 * 3];
    let packed = PackedWeights::pack(qisa(), 4, 3, MatRef::row_major(&b, 3)).unwrap();
    let scale = [1.0f32; 3];
    let epi = Epilogue { a_zero_point: 0, scale: &scale, bias: None, relu: false };
    let a = vec![1u8; 2 * 4];
    let mut c = vec![0f32; 6];
    // A too short for 3 rows.
    let e = qgemm(MatRef::row_major(&a, 4), 3, &packed, &epi, Output::F32(MatMut::row_major(&mut c, 3))).unwrap_err();
    assert!(e.to_string().contains("does not fit"), "{e}");
    // Two scales for three columns.
    let short = Epilogue { scale: &scale[..2], ..epi };
    let e = qgemm(MatRef::row_major(&a, 4), 2, &packed, &short, Output::F32(MatMut::row_major(&mut c, 3))).unwrap_err();
    assert!(e.to_string().contains("2 scales given for 3"), "{e}");
    // An output whose rows overlap.
    let e = qgemm(MatRef::row_major(&a, 4), 2, &packed, &epi, Output::F32(MatMut::new(&mut c, 1, 1))).unwrap_err();
    assert!(e.to_string().contains("overlaps itself"), "{e}");
    // A non-positive requantization scale.
    let mut q = vec![0u8; 6];
    let out = Output::U8 { out: MatMut::row_major(&mut q, 3), scale: 0.0, zero_point: 0 };
    let e = qgemm(MatRef::row_major(&a, 4), 2, &packed, &epi, out).unwrap_err();
    assert!(e.to_string().contains("output scale"), "{e}");
}

#[test]
fn versions_fall_back_and_parse() {
    for isa in QIsa::ALL {
        assert!(isa.usable().is_supported());
        assert_eq!(QIsa::parse(isa.name()), Some(isa));
    }
    assert_eq!(QIsa::parse("AVX512-VNNI"), Some(QIsa::Avx512Vnni));
    assert!(qisa().is_supported());
    println!("qgemm runs {} here", qisa());
}

/// The direct integer convolution of `x` (u8, zero point `zp`) with `wt` (`[O, C*K*K]`), then the
/// epilogue's formula: the oracle of `conv2d`.
fn direct_conv(g: &crate::conv::ConvGeom, x: &[u8], zp: u8, wt: &[i8], epi: &Epilogue) -> Vec<f32> {
    let (kk, k) = (g.kh, g.c * g.kh * g.kw);
    let mut want = vec![0f32; g.n * g.o * g.oh * g.ow];
    for s in 0..g.n {
        for oc in 0..g.o {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut acc = 0i32;
                    for ci in 0..g.c {
                        for i in 0..kk {
                            for j in 0..kk {
                                let (Some(iy), Some(ix)) = (g.input_pos(oy, i, g.h), g.input_pos(ox, j, g.w)) else {
                                    continue;
                                };
                                let xv = x[((s * g.c + ci) * g.h + iy) * g.w + ix] as i32 - zp as i32;
                                acc += xv * wt[oc * k + (ci * kk + i) * kk + j] as i32;
                            }
                        }
                    }
                    let y = acc as f32 * epi.scale[oc] + epi.bias.map_or(0.0, |b| b[oc]);
                    want[((s * g.o + oc) * g.oh + oy) * g.ow + ox] = if epi.relu { y.max(0.0) } else { y };
                }
            }
        }
    }
    want
}

#[test]
fn conv2d_equals_the_direct_integer_convolution() {
    use crate::conv::ConvGeom;
    use kiln_tensor::Shape;
    let mut rng = Rng::new(17);
    // Channel counts around every tile width (4, 6, 8, 16), positions not a multiple of 16, K not a
    // multiple of 4, stride 2, padding wider than the kernel's reach.
    for &(n, c, h, w, o, kk, stride, pad) in &[
        (2, 3, 7, 6, 5, 3, 1, 1),
        (3, 2, 9, 9, 4, 5, 2, 2),
        (1, 1, 4, 4, 3, 4, 1, 0),
        (2, 1, 12, 12, 6, 5, 1, 2),
        (1, 3, 10, 11, 17, 3, 1, 0),
        (2, 5, 6, 6, 33, 3, 1, 1),
        (1, 4, 5, 5, 9, 1, 1, 0),
    ] {
        let g = ConvGeom::new("test", &Shape::from([n, c, h, w]), &Shape::from([o, c, kk, kk]), stride, pad).unwrap();
        let zp = 37u8;
        let x = random_u8(&mut rng, n * c * h * w);
        let k = c * kk * kk;
        let wt = random_i8(&mut rng, o * k);
        let (scale, bias) = scales(&mut rng, o);
        // 7-bit inputs too: `avx2-u7`'s byte tile (full-range ones take its split tile).
        let x7: Vec<u8> = x.iter().map(|v| v & 0x7f).collect();
        for (x, relu) in [(&x7, false), (&x, false), (&x, true)] {
            let epi = Epilogue { a_zero_point: zp, scale: &scale, bias: Some(&bias), relu };
            let want = direct_conv(&g, x, zp, &wt, &epi);
            let (out_scale, out_zp) = (0.05f32, 11u8);
            let want_u8: Vec<u8> = want.iter().map(|&y| requantize(y, 1.0 / out_scale, out_zp as f32)).collect();
            for isa in QIsa::ALL {
                let packed = ConvWeights::pack(isa, k, o, MatRef::row_major(&wt, k).t()).unwrap();
                let mut got = vec![f32::NAN; want.len()];
                conv2d(&g, x, zp, &packed, &epi, ConvOutput::F32(&mut got)).unwrap();
                for (e, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(a.to_bits(), b.to_bits(), "{isa} {:?}: element {e}: {a} vs {b}", (n, c, h, w, o, kk));
                }
                let mut got = vec![0u8; want.len()];
                let out = ConvOutput::U8 { out: &mut got, scale: out_scale, zero_point: out_zp };
                conv2d(&g, x, zp, &packed, &epi, out).unwrap();
                assert_eq!(got, want_u8, "{isa} {:?} u8 output", (n, c, h, w, o, kk));
            }
        }
        let epi = Epilogue { a_zero_point: zp + 1, scale: &scale, bias: Some(&bias), relu: false };
        let packed = ConvWeights::pack(QIsa::Scalar, k, o, MatRef::row_major(&wt, k).t()).unwrap();
        let mut out = vec![0f32; n * o * g.oh * g.ow];
        let e = conv2d(&g, &x, zp, &packed, &epi, ConvOutput::F32(&mut out)).unwrap_err();
        assert!(e.to_string().contains("zero point"), "{e}");
        let e = conv2d(&g, &x, zp, &packed, &epi, ConvOutput::F32(&mut out[1..])).unwrap_err();
        assert!(e.to_string().contains("output values"), "{e}");
    }
}

#[test]
fn conv2d_at_the_saturation_edge_is_exact() {
    use crate::conv::ConvGeom;
    use kiln_tensor::Shape;
    // 255 x -128 in every product, zero point 0: the largest sums the 32-bit lanes see here.
    let g = ConvGeom::new("test", &Shape::from([1, 7, 9, 9]), &Shape::from([18, 7, 3, 3]), 1, 0).unwrap();
    let k = 7 * 9;
    let x = vec![255u8; 7 * 81];
    let wt = vec![-128i8; 18 * k];
    let scale = vec![1.0f32; 18];
    let epi = Epilogue { a_zero_point: 0, scale: &scale, bias: None, relu: false };
    for isa in QIsa::ALL {
        let packed = ConvWeights::pack(isa, k, 18, MatRef::row_major(&wt, k).t()).unwrap();
        let mut got = vec![0f32; 18 * 49];
        conv2d(&g, &x, 0, &packed, &epi, ConvOutput::F32(&mut got)).unwrap();
        assert!(got.iter().all(|&v| v == (k as i32 * 255 * -128) as f32), "{isa}");
    }
}

#[test]
fn requantize_rounds_half_to_even_and_saturates() {
    for (y, want) in [
        (0.5f32, 0u8),
        (1.5, 2),
        (2.5, 2),
        (-0.5, 0),
        (254.5, 254),
        (255.5, 255),
        (1e30, 255),
        (-1e30, 0),
        (f32::NAN, 0),
    ] {
        assert_eq!(requantize(y, 1.0, 0.0), want, "{y}");
    }
    // Against the library rounding on a sweep of values and zero points.
    for i in -3000..3000 {
        let y = i as f32 * 0.173;
        for zp in [0.0f32, 3.0, 128.0] {
            let want = ((y * 0.5).round_ties_even() + zp).clamp(0.0, 255.0) as u8;
            assert_eq!(requantize(y, 0.5, zp), want, "{y} zp {zp}");
        }
    }
}
