//! Subnormal floats flushed to zero in every thread that runs kiln's CPU kernels, by default.
//!
//! Why: on Intel CPUs every FMA with a subnormal operand or result takes a microcode assist (~100x
//! slower), and backpropagation through W3's 256 LSTM steps drives gradients into that range (W3
//! measured 519-533 ms/step on an Intel Xeon with subnormals kept, 91.5 ms flushed). TensorFlow
//! flushes by default; PyTorch leaves it to `torch.set_flush_denormal(True)`. kiln flushes by
//! default and keeps an opt-out for people who study subnormal arithmetic: `KILN_DENORMALS=keep`
//! (read once), or [`set_mode`] at run time.
//!
//! How: x86-64 sets MXCSR's FTZ (results) and DAZ (inputs) bits, aarch64 FPCR.FZ, once per thread.
//! Threads get it three ways: (1) [`ensure_current_thread`] runs at every kernel dispatch (from
//! [`crate::backend`]), a thread-local check that costs a load and a compare after the first call;
//! when it changes a thread inside (or about to use) a rayon pool it also broadcasts the mode to
//! every thread of that pool; (2) pools kiln builds use [`pool_builder`], whose start handler sets
//! the mode before a worker runs anything; (3) threads spawned later (matrixmultiply's thread-tree
//! workers among them) inherit the control register of the thread that creates them on Linux, and
//! that thread has been through (1).
//!
//! This file must not decide anything about kernels; it only owns the floating-point control bits.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

/// What happens to subnormal (denormal) f32/f64 values in kiln's CPU kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Subnormal inputs read as zero and subnormal results become zero (the default).
    Flush,
    /// IEEE gradual underflow, as the hardware does by default.
    Keep,
}

const UNSET: u8 = 0;
static MODE: AtomicU8 = AtomicU8::new(UNSET);
/// Raised on every [`set_mode`], so threads that applied an older mode apply again.
static GENERATION: AtomicU32 = AtomicU32::new(1);

thread_local! {
    /// The generation this thread last applied (0: never).
    static APPLIED: Cell<u32> = const { Cell::new(0) };
}

fn encode(m: Mode) -> u8 {
    match m {
        Mode::Flush => 1,
        Mode::Keep => 2,
    }
}

/// The process-wide mode: set by [`set_mode`], else read once from `KILN_DENORMALS`
/// (`keep` or `flush`, default `flush`).
pub fn mode() -> Mode {
    match MODE.load(Ordering::Relaxed) {
        1 => Mode::Flush,
        2 => Mode::Keep,
        _ => {
            let chosen = mode_from_env(std::env::var("KILN_DENORMALS").ok().as_deref());
            MODE.store(encode(chosen), Ordering::Relaxed);
            chosen
        }
    }
}

/// `KILN_DENORMALS`'s value as a mode; anything but `keep` flushes (the safe, fast choice).
pub fn mode_from_env(value: Option<&str>) -> Mode {
    match value.map(str::trim) {
        Some(v) if v.eq_ignore_ascii_case("keep") => Mode::Keep,
        _ => Mode::Flush,
    }
}

/// Sets the mode for the whole process. The calling thread and the threads of the rayon pool it is
/// in (or the global pool) change at once; every other thread at its next kernel dispatch.
pub fn set_mode(m: Mode) {
    MODE.store(encode(m), Ordering::Relaxed);
    GENERATION.fetch_add(1, Ordering::Relaxed);
    ensure_current_thread();
}

/// Applies the current mode to this thread if it has not applied it yet; the first time, also to
/// every thread of the rayon pool this thread runs in or hands work to (the global pool from
/// outside any pool). Cheap after the first call: one thread-local load and one atomic load.
#[inline]
pub fn ensure_current_thread() {
    let generation = GENERATION.load(Ordering::Relaxed);
    if APPLIED.with(Cell::get) != generation {
        apply_everywhere(generation);
    }
}

#[cold]
fn apply_everywhere(generation: u32) {
    apply_to_current_thread(generation);
    // `broadcast` runs the closure once on every thread of the current pool (the global one when
    // called from outside a pool) and waits for them; a worker that already applied this
    // generation returns at once. Inside a pool the caller takes part in its own broadcast.
    rayon::broadcast(|_| apply_to_current_thread(generation));
}

fn apply_to_current_thread(generation: u32) {
    if APPLIED.with(Cell::get) == generation {
        return;
    }
    set_thread_flush(mode() == Mode::Flush);
    APPLIED.with(|a| a.set(generation));
}

/// A rayon pool builder whose workers apply the mode before they run anything. Every pool kiln
/// builds (the CLI's global pool, the kernel lab's, the tests') starts from this.
pub fn pool_builder(threads: usize) -> rayon::ThreadPoolBuilder {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(|_| apply_to_current_thread(GENERATION.load(Ordering::Relaxed)))
}

/// Whether this thread currently flushes subnormals (reads the control register itself).
pub fn thread_flushes() -> bool {
    control::flushes()
}

/// Sets or clears flush-to-zero (and denormals-are-zero where the CPU has it) on this thread only.
/// Prefer [`set_mode`]; this is for tests and for threads kiln does not know about.
pub fn set_thread_flush(on: bool) {
    control::set_flush(on)
}

#[cfg(target_arch = "x86_64")]
mod control {
    use std::arch::asm;

    /// MXCSR bit 15: results that would be subnormal are written as zero.
    const FTZ: u32 = 1 << 15;
    /// MXCSR bit 6: subnormal inputs are read as zero.
    const DAZ: u32 = 1 << 6;

    fn read() -> u32 {
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr stores the 32-bit MXCSR to the given address; SSE is baseline on x86-64.
        unsafe { asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags)) };
        csr
    }

    fn write(csr: u32) {
        // SAFETY: ldmxcsr loads MXCSR from memory; only the FTZ/DAZ bits are changed by callers,
        // and both are defined on every x86-64 CPU (DAZ since the Pentium 4's SSE2).
        unsafe { asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags, readonly)) };
    }

    pub(super) fn flushes() -> bool {
        read() & (FTZ | DAZ) == FTZ | DAZ
    }

    pub(super) fn set_flush(on: bool) {
        let csr = read();
        write(if on { csr | FTZ | DAZ } else { csr & !(FTZ | DAZ) });
    }
}

#[cfg(target_arch = "aarch64")]
mod control {
    use std::arch::asm;

    /// FPCR bit 24 (FZ): subnormal inputs and results are flushed to zero.
    const FZ: u64 = 1 << 24;

    fn read() -> u64 {
        let fpcr: u64;
        // SAFETY: reading FPCR has no side effects and is allowed at EL0.
        unsafe { asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags)) };
        fpcr
    }

    pub(super) fn flushes() -> bool {
        read() & FZ != 0
    }

    pub(super) fn set_flush(on: bool) {
        let fpcr = read();
        let new = if on { fpcr | FZ } else { fpcr & !FZ };
        // SAFETY: writing FPCR's FZ bit is allowed at EL0 and only changes float semantics.
        unsafe { asm!("msr fpcr, {}", in(reg) new, options(nomem, nostack, preserves_flags)) };
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod control {
    // No control register we know how to set: subnormals are kept, and `flushes` says so.
    pub(super) fn flushes() -> bool {
        false
    }
    pub(super) fn set_flush(_on: bool) {}
}
