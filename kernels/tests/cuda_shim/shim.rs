//! The host shim itself (kernels/cuda/shim_selftest.cu): warp-shuffle semantics, NaN-poisoned
//! dynamic shared memory, and the errors it must report instead of hanging or guessing.

use crate::common::*;
use kiln_kernels::cuda::source::KernelSource;
use kiln_kernels::cuda::{Launch, Runner};
use kiln_kernels::kernel_params;

kernel_params! {
    pub struct ShimTestParams { pub out: u64, pub mode: u32, pub pad: u32 }
}

/// Never compiled by NVRTC: only names the module for the launch API (the host runner ignores it).
static SELFTEST: KernelSource = KernelSource { name: "shim_selftest", path: "cuda/shim_selftest.cu", code: "" };

fn run(r: &Runner, kernel: &'static str, launch: Launch, len: usize, mode: u32) -> Result<Vec<i32>, String> {
    let mut out = r.zeros::<i32>(len).unwrap();
    let p = ShimTestParams { out: out.addr_mut(0).unwrap(), mode, pad: 0 };
    // SAFETY: every kernel above writes at most `len` ints for these launches.
    unsafe { r.launch(&SELFTEST, kernel, launch, &p) }.map_err(|e| e.to_string())?;
    Ok(r.download(&out).unwrap())
}

#[test]
fn shuffles_follow_cuda_semantics_lane_by_lane() {
    let Some(r) = host() else { return };
    let launch = Launch { grid: (2, 1, 1), block: (64, 1, 1), shared_bytes: 0, grid_stride: false };
    let got = run(&r, "shim_test_shuffles", launch, 5 * 128, 0).unwrap();
    for block in 0..2 {
        for t in 0..64usize {
            let lane = t % 32;
            let v = |l: usize| (t - lane + l + 1000 * block) as i32;
            let o = &got[5 * (64 * block + t)..][..5];
            assert_eq!(o[0], if lane + 1 < 32 { v(lane + 1) } else { v(lane) }, "down t{t}");
            assert_eq!(o[1], if lane >= 3 { v(lane - 3) } else { v(lane) }, "up t{t}");
            assert_eq!(o[2], v(lane ^ 5), "xor t{t}");
            assert_eq!(o[3], v(7), "idx t{t}");
            // xor 8 with width 8 leaves the lane's segment: an earlier segment may be read, a
            // later one returns the lane's own value (CUDA programming guide, __shfl_xor_sync).
            let src = lane ^ 8;
            assert_eq!(o[4], if src < lane { v(src) } else { v(lane) }, "xor width 8 t{t}");
        }
    }
}

#[test]
fn dynamic_shared_memory_starts_as_nan_and_is_shared_across_a_barrier() {
    let Some(r) = host() else { return };
    let launch = Launch { grid: (3, 1, 1), block: (96, 1, 1), shared_bytes: 96 * 4, grid_stride: false };
    assert_eq!(run(&r, "shim_test_smem", launch, 6, 0).unwrap(), vec![1; 6]);
}

#[test]
fn barrier_deadlock_partial_warps_and_bad_launches_are_errors() {
    let Some(r) = host() else { return };
    let block = |n| Launch { grid: (1, 1, 1), block: (n, 1, 1), shared_bytes: 0, grid_stride: false };
    let e = run(&r, "shim_test_errors", block(64), 64, 0).unwrap_err();
    assert!(e.contains("deadlock"), "{e}");
    let e = run(&r, "shim_test_errors", block(48), 64, 1).unwrap_err();
    assert!(e.contains("partial warp"), "{e}");
    let e = run(&r, "shim_test_errors", block(64), 64, 2).unwrap_err();
    assert!(e.contains("deadlock"), "{e}");
    assert!(run(&r, "shim_test_errors", block(2048), 64, 0).unwrap_err().contains("1..1024"));
    assert!(run(&r, "no_such_kernel", block(32), 1, 0).unwrap_err().contains("no such kernel"));
    // The kernel still works after failures on the same thread (no state leaks between launches).
    let got = run(
        &r,
        "shim_test_smem",
        Launch { grid: (1, 1, 1), block: (32, 1, 1), shared_bytes: 128, grid_stride: false },
        2,
        0,
    );
    assert_eq!(got.unwrap(), vec![1, 1]);
}

#[test]
fn a_stale_parameter_mirror_is_caught_at_launch() {
    let Some(r) = host() else { return };
    let mut out = r.zeros::<i32>(1).unwrap();
    let short = out.addr_mut(0).unwrap(); // a u64 alone: 8 bytes where the C struct has 16
                                          // SAFETY: the size check rejects the launch before the kernel runs.
    let e = unsafe { r.launch(&SELFTEST, "shim_test_smem", Launch::linear(1, 32), &short) }.unwrap_err();
    assert!(e.to_string().contains("#[repr(C)] mirror"), "{e}");
}
