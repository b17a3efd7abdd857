//! Shared helpers: the runner under test (the host shim, or the GPU with `KILN_TEST_GPU=1`), the
//! host shim itself for the shim's own tests, random data and tolerance checks.

use kiln_kernels::cuda::{Buf, Runner};
use kiln_tensor::{Layout, Rng};

/// The host-shim runner, for the tests of the shim itself; None (with a notice) on platforms
/// where build.rs did not build the shim.
pub fn host() -> Option<Runner> {
    match Runner::host() {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("NOTICE: CUDA host-shim test skipped: {e}");
            None
        }
    }
}

/// The runner the kernel tests launch on: the real cuda:0 with `KILN_TEST_GPU=1` (the test fails
/// when it is not usable), else the host shim (see `kiln_kernels::cuda::testing`).
pub fn runner() -> Option<Runner> {
    kiln_kernels::cuda::testing::kernel_runner().unwrap_or_else(|e| panic!("{e}"))
}

pub fn rand_vec(rng: &mut Rng, n: usize, lo: f64, hi: f64) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(lo, hi) as f32).collect()
}

pub fn upload(r: &Runner, v: &[f32]) -> Buf<f32> {
    r.upload(v).expect("upload")
}

pub use kiln_tensor::testing::assert_close;

/// Layouts of `shape` worth testing a kernel on: contiguous, transposed (last two dims swapped in
/// storage), and narrowed out of a larger buffer (an offset and a row stride that skips elements).
/// Returns (name, storage length, layout).
pub fn layouts(shape: &[usize]) -> Vec<(&'static str, usize, Layout)> {
    let n: usize = shape.iter().product();
    let mut out = vec![("contiguous", n, Layout::contiguous(shape.to_vec()))];
    if shape.len() >= 2 {
        let r = shape.len();
        let mut swapped = shape.to_vec();
        swapped.swap(r - 2, r - 1);
        let t = Layout::contiguous(swapped).transpose(-2, -1).expect("transpose");
        out.push(("transposed", n, t));
    }
    // Narrow the last dim of a buffer 3 wider, starting at 2: offset 2, rows strided.
    let mut wide = shape.to_vec();
    let last = wide.len() - 1;
    wide[last] += 3;
    let l = Layout::contiguous(wide.clone()).narrow(-1, 2, shape[last]).expect("narrow");
    out.push(("narrowed", wide.iter().product(), l));
    out
}
