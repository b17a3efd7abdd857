//! Making GPU failures say what failed: the kernel last launched on a device's stream (named in
//! any later error, since a fault surfaces at the next copy or sync), the checked mode
//! `KILN_CUDA_SYNC=1` (synchronise after every launch, so a fault names its own kernel), and the
//! driver's JIT log plus the PTX ISA / target and driver versions when a module is refused.
//! Also the memory-pool setting that keeps freed device memory for reuse.
//!
//! This file reads driver state for messages; it must not launch kernels or hold buffers.

use cudarc::driver::sys;
use std::ffi::c_void;
use std::sync::OnceLock;

/// Whether `KILN_CUDA_SYNC=1` asks for a synchronise after every launch (read once).
pub fn sync_after_launch() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("KILN_CUDA_SYNC").is_ok_and(|v| v == "1"))
}

/// The sentence appended to a device error: which kernel ran last, and how to pin a fault on one.
pub fn last_kernel_note(last: Option<&str>) -> String {
    match last {
        Some(k) if sync_after_launch() => format!(" (after kernel {k}, checked with KILN_CUDA_SYNC=1)"),
        Some(k) => format!(
            " (the last kernel launched on this stream was {k}; an earlier one may have faulted: rerun with \
             KILN_CUDA_SYNC=1 to check after every launch)"
        ),
        None => String::new(),
    }
}

/// The CUDA version the driver supports, as `13.0`, when it can be read.
pub fn driver_version() -> Option<String> {
    let (status, v) = std::panic::catch_unwind(|| {
        let mut v = 0;
        // SAFETY: only writes the int; the driver library is loaded by the caller's context.
        (unsafe { sys::cuDriverGetVersion(&mut v) }, v)
    })
    .ok()?;
    (status == sys::cudaError_enum::CUDA_SUCCESS).then(|| format!("{}.{}", v / 1000, (v % 1000) / 10))
}

/// `.version` and `.target` of a PTX text, e.g. `PTX ISA 9.0, target sm_90`.
pub fn ptx_header(ptx: &str) -> String {
    let find = |key: &str| {
        ptx.lines().find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_string())).unwrap_or_else(|| "?".into())
    };
    format!("PTX ISA {}, target {}", find(".version"), find(".target"))
}

/// Loads `ptx` again with the driver's JIT error and info logs switched on (after a plain load
/// failed) and returns what the driver said. The module, if it loads this time, is unloaded.
pub fn jit_log(ptx: &str) -> String {
    const LOG: usize = 16 * 1024;
    let Ok(text) = std::ffi::CString::new(ptx) else { return "the PTX holds a NUL byte".into() };
    let mut error_log = vec![0u8; LOG];
    let mut info_log = vec![0u8; LOG];
    let mut options = [
        sys::CUjit_option::CU_JIT_ERROR_LOG_BUFFER,
        sys::CUjit_option::CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
        sys::CUjit_option::CU_JIT_INFO_LOG_BUFFER,
        sys::CUjit_option::CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
    ];
    // The size options are passed by value, cast to pointers (the driver's convention).
    let mut values: [*mut c_void; 4] =
        [error_log.as_mut_ptr().cast(), LOG as *mut c_void, info_log.as_mut_ptr().cast(), LOG as *mut c_void];
    let mut module: sys::CUmodule = std::ptr::null_mut();
    let status = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the buffers outlive the call and their sizes are passed with them; the current
        // context is the device's (the failed load just bound it).
        unsafe {
            sys::cuModuleLoadDataEx(
                &mut module,
                text.as_ptr().cast(),
                options.len() as u32,
                options.as_mut_ptr(),
                values.as_mut_ptr(),
            )
        }
    }));
    if !module.is_null() {
        // SAFETY: unloads the module loaded just above, once.
        unsafe { sys::cuModuleUnload(module) };
    }
    let text_of =
        |b: &[u8]| String::from_utf8_lossy(&b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]).trim().to_string();
    let (error, info) = (text_of(&error_log), text_of(&info_log));
    let mut out = match status {
        Ok(s) => format!("JIT retry: {s:?}"),
        Err(_) => "JIT retry could not be made".into(),
    };
    for (what, log) in [("error log", error), ("info log", info)] {
        if !log.is_empty() {
            out.push_str(&format!("; JIT {what}: {log}"));
        }
    }
    out
}

/// Makes the device's default memory pool keep freed memory (release threshold `u64::MAX`): by
/// default it returns memory to the driver at every synchronisation, and every training step
/// would pay for fresh allocations. Best effort: a driver without pools keeps its behaviour.
pub fn keep_pool_memory(device: sys::CUdevice) -> Result<(), String> {
    let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
    let mut threshold: u64 = u64::MAX;
    let status = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: writes the pool handle; then sets one u64 attribute on it.
        unsafe {
            let s = sys::cuDeviceGetDefaultMemPool(&mut pool, device);
            if s != sys::cudaError_enum::CUDA_SUCCESS {
                return s;
            }
            sys::cuMemPoolSetAttribute(
                pool,
                sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                (&mut threshold as *mut u64).cast(),
            )
        }
    }))
    .map_err(|_| "the driver has no memory-pool calls".to_string())?;
    match status {
        sys::cudaError_enum::CUDA_SUCCESS => Ok(()),
        s => Err(format!("{s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptx_headers_and_last_kernel_notes_read_well() {
        let ptx = "//\n.version 9.0\n.target sm_90\n.address_size 64\n.visible .entry k()\n";
        assert_eq!(ptx_header(ptx), "PTX ISA 9.0, target sm_90");
        assert_eq!(ptx_header("garbage"), "PTX ISA ?, target ?");
        assert!(last_kernel_note(Some("gemm_tiled_f32")).contains("gemm_tiled_f32"));
        assert_eq!(last_kernel_note(None), "");
    }
}
