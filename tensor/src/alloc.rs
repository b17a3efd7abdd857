//! Keeping freed tensor memory for reuse. A training step allocates and frees the same large
//! buffers every time (activations, gradients: megabytes each). glibc's malloc serves blocks above
//! its mmap threshold with fresh `mmap`s and returns freed heap tops to the kernel, so every step
//! pays a page fault and a page clear per 4 KiB touched — measured 27% of a W3 step
//! (`perf record`, `kiln bench step sentiment --threads 1`).
//!
//! Trade-off: rather than a caching allocator of our own (every kernel allocates its output as a
//! plain `Vec`, and routing them all through a pool would touch every kernel), this asks glibc to
//! keep freed memory: blocks up to 32 MiB (glibc's maximum threshold) come from the heap, and the
//! heap is only trimmed past 1 GiB free. Peak resident memory is what the step needs anyway; it is
//! simply not handed back between steps. Must not: change what any computation returns.

/// Tunes the process's allocator as described above; a no-op off glibc. Call once at start-up
/// (the `kiln` binary does). Returns whether the settings were applied.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only adjusts malloc's tunables; it is safe to call at any time.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1 && libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
