//! The CUDA backend: hand-written kernels as `.cu` files beside each family's Rust code (forward
//! and backward together), compiled at first use by NVRTC for the GPU's compute capability,
//! cached per device and module (and on disk), loaded and launched through cudarc.
//!
//! - [`cuda_available`] / [`resolve_device`]: discovery that never panics.
//! - [`nvrtc`] / [`nvrtc_find`]: NVRTC 12 or 13 found and loaded by full path; [`compile`]: NVRTC
//!   with memory + disk caches; [`source`]: the registry of every source.
//! - [`Runner`]: launches on a GPU, or on the host shim (the same `.cu` compiled for the CPU by
//!   build.rs against kernels/cuda/kiln_shim.h), which is how `cargo test` runs every kernel here.
//! - [`params`]: the one-`#[repr(C)]`-struct-per-kernel convention, mirrored in the `.cu` files;
//!   [`shared_defs`]: the op codes and limits both sides use, generated into the C the kernels see.
//! - [`storage`]: tensors' CUDA storage (the `kiln_tensor::DeviceStorage` implementation), the
//!   backend `Tensor::to_device` uploads through, and host-shim emulation of `cuda:0`;
//!   [`access`]: how each family's tensor-level device functions reach their buffers.
//!
//! Each family's launch code lives in `<family>/cuda.rs`, declared by the family's own `mod.rs`
//! and re-exported below. See docs/CUDA.md for the kernel list and how each was checked.

pub mod access;
mod buffer;
pub mod compile;
mod device;
pub mod diagnose;
pub mod host;
mod launch;
pub mod nvrtc;
pub mod nvrtc_find;
pub mod params;
pub mod shared_defs;
pub mod source;
pub mod storage;
pub mod testing;

pub use buffer::{Buf, DevElem, HostMem};
pub use device::{cuda_available, driver_present, resolve_device, CudaDevice, ResolvedDevice};
pub use launch::{Launch, Runner, HOST_GRID_STRIDE_BLOCKS, MAX_GRID_STRIDE_BLOCKS};

// Each family's launch code is its own `<family>/cuda.rs`, declared by the family's `mod.rs`;
// re-exported here so `crate::cuda::<family>` names every family's device side in one place.
pub use crate::{
    conv::cuda as conv, dropout::cuda as dropout, elementwise::cuda as elementwise, embedding::cuda as embedding,
    join::cuda as join, loss::cuda as loss, lstm::cuda as lstm, matmul::cuda as matmul, norm::cuda as norm,
    optim::cuda as optim, pool::cuda as pool, reduce::cuda as reduce, softmax::cuda as softmax,
};

use kiln_tensor::{Error, Layout, Result};

/// A `[rows, n]` matrix with contiguous rows `ld` elements apart, starting at `offset`: what the
/// row kernels (reduce, softmax, losses, embedding tables) read. Narrowed column views qualify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rows {
    pub offset: usize,
    pub rows: usize,
    pub n: usize,
    pub ld: usize,
}

impl Rows {
    pub fn contiguous(rows: usize, n: usize) -> Rows {
        Rows { offset: 0, rows, n, ld: n }
    }

    /// A rank-2 layout with unit column stride (or rank 1: one row).
    pub fn from_layout(op: &'static str, l: &Layout) -> Result<Rows> {
        match (l.dims(), l.strides()) {
            ([n], [s]) if *s == 1 || *n <= 1 => Ok(Rows { offset: l.offset(), rows: 1, n: *n, ld: *n }),
            ([rows, n], [rs, cs]) if (*cs == 1 || *n <= 1) && (*rs >= *n || *rows <= 1) => {
                Ok(Rows { offset: l.offset(), rows: *rows, n: *n, ld: if *rows <= 1 { *n } else { *rs } })
            }
            _ => Err(Error::NotContiguous {
                op,
                what: "each row of [rows, n] (the CUDA row kernels)",
                layout: format!("{l:?}"),
            }),
        }
    }

    /// One past the last element touched.
    pub fn span(&self) -> usize {
        if self.rows == 0 || self.n == 0 {
            0
        } else {
            self.offset + (self.rows - 1) * self.ld + self.n
        }
    }

    /// Checks the matrix fits `buf` and its sizes fit the kernels' 32-bit parameters.
    pub(crate) fn check<T: DevElem>(&self, op: &'static str, buf: &Buf<T>) -> Result<()> {
        need(op, "input", buf, self.span())?;
        for (what, v) in [("rows", self.rows), ("row length", self.n), ("row stride", self.ld)] {
            params::to_u32(op, what, v)?;
        }
        Ok(())
    }
}

/// Checks that `buf` holds at least `need` elements (what a launch is about to touch).
pub(crate) fn need<T: DevElem>(op: &'static str, what: &str, buf: &Buf<T>, need: usize) -> Result<()> {
    if buf.len() < need {
        return Err(kiln_tensor::Error::invalid(
            op,
            format!("{what} buffer holds {} elements, the launch needs {need}", buf.len()),
        ));
    }
    Ok(())
}
