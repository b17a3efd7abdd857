//! Where CUDA kernels run and how they are launched: [`Runner::Gpu`] through cudarc, or
//! [`Runner::Host`], the same CUDA C compiled for the CPU against kernels/cuda/kiln_shim.h (for
//! tests and the kernel lab; slow, one OS thread, fibers for CUDA threads). Family launch code
//! is written once against `Runner` and so is exercised by `cargo test` on machines with no GPU.

use super::buffer::{Buf, DevElem, HostMem};
use super::device::CudaDevice;
use super::source::KernelSource;
use cudarc::driver::{DeviceRepr, LaunchConfig, PushKernelArg};
use kiln_tensor::{Device, Error, Result};
use std::sync::Arc;

/// Grid and block sizes and dynamic shared memory of one launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Launch {
    pub grid: (u32, u32, u32),
    pub block: (u32, u32, u32),
    pub shared_bytes: u32,
    /// The kernel loops over its work with a grid stride (or over rows beyond its grid), so any
    /// grid size is correct. The host shim runs such grids with at most
    /// [`HOST_GRID_STRIDE_BLOCKS`] blocks: every shim thread costs a few context switches, and
    /// thousands of blocks would make tests crawl without exercising anything more.
    pub grid_stride: bool,
}

/// Blocks the host shim runs of a grid-stride launch: still more than one, so the stride loop
/// itself is exercised.
pub const HOST_GRID_STRIDE_BLOCKS: u32 = 3;

/// Blocks of a grid-stride 1-D launch are capped here: enough to fill any current GPU
/// (132 SMs x 16 resident blocks of 256 threads is ~2 100) without launching more than needed.
pub const MAX_GRID_STRIDE_BLOCKS: u32 = 4096;

impl Launch {
    /// A 1-D grid-stride launch over `n` items with `block` threads per block.
    pub fn linear(n: usize, block: u32) -> Launch {
        let blocks = n.div_ceil(block as usize).clamp(1, MAX_GRID_STRIDE_BLOCKS as usize) as u32;
        Launch { grid: (blocks, 1, 1), block: (block, 1, 1), shared_bytes: 0, grid_stride: true }
    }

    pub fn with_shared(mut self, bytes: u32) -> Launch {
        self.shared_bytes = bytes;
        self
    }

    pub fn threads_per_block(&self) -> u32 {
        self.block.0 * self.block.1 * self.block.2
    }
}

impl From<Launch> for LaunchConfig {
    fn from(l: Launch) -> LaunchConfig {
        LaunchConfig { grid_dim: l.grid, block_dim: l.block, shared_mem_bytes: l.shared_bytes }
    }
}

/// Where kernels run.
#[derive(Debug, Clone)]
pub enum Runner {
    /// The host shim: the `.cu` sources compiled for the CPU by build.rs.
    Host,
    /// A GPU through cudarc.
    Gpu(Arc<CudaDevice>),
}

impl Runner {
    /// The host shim, when this build has it (Linux).
    pub fn host() -> Result<Runner> {
        if super::host::AVAILABLE {
            Ok(Runner::Host)
        } else {
            Err(Error::DeviceUnavailable {
                device: Device::Cpu,
                reason: "the CUDA host shim is built on Linux only".into(),
            })
        }
    }

    /// GPU `ordinal`, or `DeviceUnavailable` saying why not.
    pub fn gpu(ordinal: usize) -> Result<Runner> {
        Ok(Runner::Gpu(CudaDevice::get(ordinal)?))
    }

    /// Whether this is the host shim (kernels run on the CPU; nothing about a GPU's speed).
    pub fn is_host(&self) -> bool {
        matches!(self, Runner::Host)
    }

    /// The device tensors on this runner report: the host shim emulates `cuda:0`.
    pub fn device(&self) -> Device {
        match self {
            Runner::Host => Device::Cuda(0),
            Runner::Gpu(d) => Device::Cuda(d.ordinal()),
        }
    }

    pub fn name(&self) -> String {
        match self {
            Runner::Host => "host shim".into(),
            Runner::Gpu(d) => format!("cuda:{} ({})", d.ordinal(), d.name()),
        }
    }

    fn check_buf<T: DevElem>(&self, b: &Buf<T>) -> Result<()> {
        match (self, b) {
            (Runner::Host, Buf::Host(_)) | (Runner::Gpu(_), Buf::Cuda(_)) => Ok(()),
            // An empty buffer is never read or written (see `zeros`), wherever it lives.
            _ if b.is_empty() => Ok(()),
            _ => Err(Error::invalid("cuda", format!("a {b:?} buffer was given to the {} runner", self.name()))),
        }
    }

    /// `len` zeros. An empty buffer is empty host memory on every runner: the driver refuses
    /// zero-byte allocations, and no launch touches an empty buffer.
    pub fn zeros<T: DevElem>(&self, len: usize) -> Result<Buf<T>> {
        if len == 0 {
            return Ok(Buf::Host(HostMem::zeros(0)));
        }
        match self {
            Runner::Host => Ok(Buf::Host(HostMem::zeros(len))),
            Runner::Gpu(d) => d.stream().alloc_zeros(len).map(Buf::Cuda).map_err(|e| d.error("alloc", e)),
        }
    }

    /// `len` elements that the next kernel overwrites entirely (never for kernels that accumulate
    /// or write only part: those take [`Runner::zeros`]). On a GPU: uninitialised memory, no memset.
    /// On the host shim: 0xFF bytes (NaN), so a kernel that leaves an element unwritten fails the
    /// CPU comparisons in the tests instead of passing on zeros.
    pub fn output<T: DevElem>(&self, len: usize) -> Result<Buf<T>> {
        if len == 0 {
            return Ok(Buf::Host(HostMem::zeros(0)));
        }
        match self {
            Runner::Host => Ok(Buf::Host(HostMem::poisoned(len))),
            // SAFETY: the caller's kernel writes every element before anything reads it.
            Runner::Gpu(d) => unsafe { d.stream().alloc(len) }.map(Buf::Cuda).map_err(|e| d.error("alloc", e)),
        }
    }

    pub fn upload<T: DevElem>(&self, data: &[T]) -> Result<Buf<T>> {
        if data.is_empty() {
            return self.zeros(0);
        }
        match self {
            Runner::Host => Ok(Buf::Host(HostMem::from_slice(data))),
            Runner::Gpu(d) => d.stream().clone_htod(data).map(Buf::Cuda).map_err(|e| d.error("copy to device", e)),
        }
    }

    /// Copies a buffer back to the host (waiting for the kernels that write it).
    pub fn download<T: DevElem>(&self, b: &Buf<T>) -> Result<Vec<T>> {
        self.check_buf(b)?;
        match (self, b) {
            (Runner::Gpu(d), Buf::Cuda(s)) => {
                let v = d.stream().clone_dtoh(s).map_err(|e| d.error("copy to host", e))?;
                d.synchronize()?;
                Ok(v)
            }
            (_, Buf::Host(m)) => Ok(m.as_slice().to_vec()),
            _ => unreachable!("checked above"),
        }
    }

    /// Sets every element to zero (for kernels that accumulate: scatter-adds, pooling backward).
    pub fn fill_zero<T: DevElem>(&self, b: &mut Buf<T>) -> Result<()> {
        self.check_buf(b)?;
        match (self, b) {
            (Runner::Gpu(d), Buf::Cuda(s)) => d.stream().memset_zeros(s).map_err(|e| d.error("memset", e)),
            (_, Buf::Host(m)) => {
                m.as_mut_slice().fill(T::default());
                Ok(())
            }
            _ => unreachable!("checked above"),
        }
    }

    /// Checks `bufs` all live where this runner runs (a cheap guard every family launch calls).
    pub fn check<T: DevElem>(&self, bufs: &[&Buf<T>]) -> Result<()> {
        bufs.iter().try_for_each(|b| self.check_buf(b))
    }

    /// Launches `kernel` of `src` with its parameter struct. An empty grid is a no-op.
    ///
    /// # Safety
    /// Every address inside `params` must point into a live buffer of this runner, large enough
    /// for everything the kernel reads and writes with these sizes; `P` must be the `#[repr(C)]`
    /// mirror of the kernel's parameter struct. Family launch functions check this and are safe.
    pub unsafe fn launch<P: DeviceRepr>(
        &self,
        src: &'static KernelSource,
        kernel: &'static str,
        cfg: Launch,
        params: &P,
    ) -> Result<()> {
        if cfg.grid.0 == 0 || cfg.grid.1 == 0 || cfg.grid.2 == 0 {
            return Ok(());
        }
        match self {
            Runner::Host => {
                let mut cfg = cfg;
                if cfg.grid_stride {
                    cfg.grid.0 = cfg.grid.0.min(HOST_GRID_STRIDE_BLOCKS);
                }
                // SAFETY: forwarded from the caller; fewer blocks of a grid-stride kernel touch
                // exactly the same elements.
                unsafe { super::host::launch(kernel, cfg, params) }
            }
            Runner::Gpu(d) => {
                let f = d.function(src, kernel)?;
                let mut builder = d.stream().launch_builder(&f);
                builder.arg(params);
                // SAFETY: the caller guarantees the parameter struct matches the kernel.
                unsafe { builder.launch(cfg.into()) }.map_err(|e| d.error(&format!("launching {kernel}"), e))?;
                d.launched(kernel)
            }
        }
    }
}
