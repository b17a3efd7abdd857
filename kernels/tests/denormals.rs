//! Subnormals are flushed by default in every thread that runs kernels, and kept with the opt-out.
//!
//! One process of its own (an integration test binary) because the mode is process-wide: the
//! checks run in one test function, in order, so no other test sees the opt-out.

use kiln_kernels::denormals::{self, Mode};
use kiln_kernels::elementwise::{binary, BinaryOp};
use kiln_kernels::gemm::{gemm, set_gemm_impl, GemmImpl, MatMut, MatRef};
use kiln_tensor::Tensor;

/// 1e-40 is subnormal in f32 (the smallest normal is ~1.18e-38).
const TINY: f32 = 1e-40;

/// `TINY * 1e30` through the elementwise kernel: 1e-10 when subnormals are kept, 0 when the
/// input reads as zero.
fn scaled_tiny() -> f32 {
    let a = Tensor::from_vec(vec![TINY; 33], [33]).unwrap();
    let b = Tensor::from_vec(vec![1e30f32], [1]).unwrap();
    let y = binary(BinaryOp::Mul, &a, &b).unwrap();
    y.to_vec::<f32>().unwrap()[32]
}

/// The sum of a row of `k` subnormals times ones, scaled by 1e30 afterwards (in f64, outside the
/// kernel), for a GEMM big enough to run on several threads.
fn gemm_of_tiny(imp: GemmImpl) -> Vec<f64> {
    set_gemm_impl(imp);
    let (m, k, n) = (256, 256, 256);
    let a = vec![TINY; m * k];
    let b = vec![1.0f32; k * n];
    let mut c = vec![0.0f32; m * n];
    gemm(m, k, n, 1.0, MatRef::row_major(&a, k), MatRef::row_major(&b, n), 0.0, MatMut::row_major(&mut c, n)).unwrap();
    set_gemm_impl(GemmImpl::Kiln);
    // One element per row block, so every thread's part is looked at.
    (0..m).step_by(8).map(|i| c[i * n + (i * 7) % n] as f64 * 1e30).collect()
}

fn every_worker_flushes(pool: &rayon::ThreadPool) -> Vec<bool> {
    pool.broadcast(|_| denormals::thread_flushes())
}

#[test]
fn subnormals_flush_by_default_in_every_thread_and_the_opt_out_keeps_them() {
    assert_eq!(denormals::mode(), Mode::Flush, "default mode (is KILN_DENORMALS set?)");

    // The calling thread, at its first kernel dispatch, and the kernel's result.
    assert_eq!(scaled_tiny(), 0.0, "a subnormal input must read as zero by default");
    assert!(denormals::thread_flushes(), "the calling thread flushes after a dispatch");

    // The global pool's workers (the fast kernels' rayon threads): set by the broadcast.
    let global: Vec<bool> = rayon::broadcast(|_| denormals::thread_flushes());
    assert!(global.iter().all(|&f| f), "global pool workers: {global:?}");

    // A pool built the kiln way: its start handler sets the mode before any work.
    let pool = denormals::pool_builder(3).build().unwrap();
    assert!(every_worker_flushes(&pool).iter().all(|&f| f));

    // A thread spawned after the caller applied the mode inherits it (matrixmultiply's threads are
    // spawned this way).
    let inherited = std::thread::spawn(denormals::thread_flushes).join().unwrap();
    if cfg!(target_os = "linux") {
        assert!(inherited, "a new thread inherits the control register on Linux");
    }

    // GEMMs: kiln's (two rayon threads at this size) and matrixmultiply's (its own threads).
    for imp in [GemmImpl::Kiln, GemmImpl::MatrixMultiply] {
        let sums = gemm_of_tiny(imp);
        assert!(sums.iter().all(|&s| s == 0.0), "{imp:?} summed subnormals with the flush on: {sums:?}");
    }

    // Opt out: the caller, the global pool and kiln's pool all keep subnormals again.
    denormals::set_mode(Mode::Keep);
    assert!(!denormals::thread_flushes());
    let kept = scaled_tiny();
    assert!((kept - 1e-10).abs() < 1e-13, "opt-out: {kept}");
    let global: Vec<bool> = rayon::broadcast(|_| denormals::thread_flushes());
    assert!(global.iter().all(|&f| !f), "global pool after the opt-out: {global:?}");
    // kiln's GEMM on the global pool: 256 subnormals of 1e-40 sum to 2.56e-38 (still subnormal,
    // exact in gradual underflow up to rounding), so the scaled sum is ~2.56e-8.
    let sums = gemm_of_tiny(GemmImpl::Kiln);
    assert!(sums.iter().all(|&s| (s - 2.56e-8).abs() < 1e-10), "kept: {sums:?}");
    // A pool's workers pick the new mode up at their next dispatch (here: a broadcast dispatch).
    let after: Vec<f32> = pool.broadcast(|_| scaled_tiny());
    assert!(after.iter().all(|&v| v != 0.0), "{after:?}");

    // And back.
    denormals::set_mode(Mode::Flush);
    assert_eq!(scaled_tiny(), 0.0);
    assert!(denormals::thread_flushes());
}

#[test]
fn the_environment_spelling() {
    assert_eq!(denormals::mode_from_env(None), Mode::Flush);
    assert_eq!(denormals::mode_from_env(Some("keep")), Mode::Keep);
    assert_eq!(denormals::mode_from_env(Some(" KEEP ")), Mode::Keep);
    assert_eq!(denormals::mode_from_env(Some("flush")), Mode::Flush);
    assert_eq!(denormals::mode_from_env(Some("")), Mode::Flush);
}
