//! The Rust side of the host shim: calls a shim-compiled kernel by name through the table
//! build.rs generates from every `KILN_EXPORT` line.

use super::launch::Launch;
use kiln_tensor::{Error, Result};

/// Whether this build contains the shim-compiled kernels.
pub const AVAILABLE: bool = cfg!(kiln_host_shim);

#[cfg(kiln_host_shim)]
mod ffi {
    use std::ffi::{c_char, c_int, c_ulong, c_void};

    #[repr(C)]
    pub struct LaunchCfg {
        pub grid: [u32; 3],
        pub block: [u32; 3],
        pub shared_bytes: u32,
    }

    pub type HostLauncher = unsafe extern "C" fn(*const LaunchCfg, *const c_void, c_ulong) -> c_int;

    extern "C" {
        pub fn kiln_host_find(name: *const c_char) -> Option<HostLauncher>;
        pub fn kiln_host_kernel_name(i: c_ulong) -> *const c_char;
        pub fn kiln_host_last_error() -> *const c_char;
    }
}

/// Every kernel the shim build exported, in source order.
pub fn kernel_names() -> Vec<String> {
    #[cfg(kiln_host_shim)]
    {
        let mut names = Vec::new();
        loop {
            // SAFETY: the table is static and null-terminated; each name is a static C string.
            let p = unsafe { ffi::kiln_host_kernel_name(names.len() as _) };
            if p.is_null() {
                break;
            }
            names.push(unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned());
        }
        names
    }
    #[cfg(not(kiln_host_shim))]
    Vec::new()
}

/// # Safety
/// As [`super::Runner::launch`]: `params` addresses live host buffers the kernel may use.
#[allow(unused_variables)]
pub(crate) unsafe fn launch<P>(kernel: &'static str, cfg: Launch, params: &P) -> Result<()> {
    #[cfg(kiln_host_shim)]
    {
        let name = std::ffi::CString::new(kernel).expect("kernel names have no NUL");
        // SAFETY: looks up a static table.
        let Some(f) = (unsafe { ffi::kiln_host_find(name.as_ptr()) }) else {
            return Err(Error::invalid(kernel, "no such kernel in the host shim build (missing KILN_EXPORT?)"));
        };
        let c = ffi::LaunchCfg {
            grid: [cfg.grid.0, cfg.grid.1, cfg.grid.2],
            block: [cfg.block.0, cfg.block.1, cfg.block.2],
            shared_bytes: cfg.shared_bytes,
        };
        let size = std::mem::size_of::<P>() as std::ffi::c_ulong;
        // SAFETY: the launcher copies `size` bytes of params (checked against the C struct) and runs
        // the kernel over buffers the caller guarantees.
        let status = unsafe { f(&c, params as *const P as *const std::ffi::c_void, size) };
        if status != 0 {
            // SAFETY: a thread-local C string the shim keeps until the next failed launch.
            let msg = unsafe { std::ffi::CStr::from_ptr(ffi::kiln_host_last_error()) };
            return Err(Error::invalid(kernel, format!("host shim: {}", msg.to_string_lossy())));
        }
        Ok(())
    }
    #[cfg(not(kiln_host_shim))]
    Err(Error::Unsupported { op: kernel, what: "the CUDA host shim off Linux".into() })
}
