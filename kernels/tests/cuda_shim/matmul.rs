//! matmul.cu: both GEMM versions against a naive f64 triple loop, for every transpose combination
//! (stride swaps), odd sizes that leave partial tiles, batches, an offset, alpha and beta.

use crate::common::*;
use kiln_kernels::cuda::matmul::{gemm, GemmDims, Mat, Version};
use kiln_tensor::Rng;

fn at(v: &[f32], m: Mat, b: usize, i: usize, j: usize) -> f64 {
    v[m.offset + b * m.bs + i * m.rs + j * m.cs] as f64
}

#[test]
fn gemm_naive_and_tiled_match_triple_loop_for_all_transposes() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(30);
    let sizes = [(1, 1, 1, 1), (1, 7, 33, 1), (33, 1, 7, 2), (7, 33, 1, 1), (65, 70, 37, 1), (17, 9, 130, 3)];
    for &(m, n, k, batch) in &sizes {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            // A stored as [batch, m, k] or [batch, k, m] (then read transposed), same for B; A has an offset.
            let a_mat = if ta { Mat::row_major(k, m).t() } else { Mat::row_major(m, k) };
            let a_mat = Mat { offset: 3, ..a_mat };
            let b_mat = if tb { Mat::row_major(n, k).t() } else { Mat::row_major(k, n) };
            let ad = rand_vec(&mut rng, 3 + batch * m * k, -1.0, 1.0);
            let bd = rand_vec(&mut rng, batch * k * n, -1.0, 1.0);
            let cd = rand_vec(&mut rng, batch * m * n, -1.0, 1.0);
            let c_mat = Mat::row_major(m, n);
            let (alpha, beta) = (1.5f32, if batch == 2 { 0.0 } else { -0.5 });
            let mut want = vec![0f32; batch * m * n];
            for b in 0..batch {
                for i in 0..m {
                    for j in 0..n {
                        let dot: f64 = (0..k).map(|q| at(&ad, a_mat, b, i, q) * at(&bd, b_mat, b, q, j)).sum();
                        let prev = if beta == 0.0 { 0.0 } else { beta as f64 * at(&cd, c_mat, b, i, j) };
                        want[(b * m + i) * n + j] = (alpha as f64 * dot + prev) as f32;
                    }
                }
            }
            let (a, b) = (upload(&r, &ad), upload(&r, &bd));
            for v in [Version::Naive, Version::Tiled] {
                let mut c = if beta == 0.0 { upload(&r, &vec![f32::NAN; cd.len()]) } else { upload(&r, &cd) };
                let d = GemmDims { batch, m, n, k };
                gemm(&r, v, d, (&a, a_mat), (&b, b_mat), (&mut c, c_mat), alpha, beta).unwrap();
                let what = format!("gemm {v:?} m{m} n{n} k{k} batch{batch} ta={ta} tb={tb}");
                assert_close(&what, &r.download(&c).unwrap(), &want, 1e-5);
            }
        }
    }
}
