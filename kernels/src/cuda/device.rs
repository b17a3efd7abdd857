//! Device discovery and the per-device state: context, the one stream kiln launches on, and the
//! lazily filled module cache (one module per kernel family, compiled at first use).
//!
//! Discovery never panics: cudarc's dynamic loader panics when `libcuda.so` is missing, so its
//! presence is checked first and every driver call is made behind `catch_unwind` as well.

use super::compile::{arch_for, ptx_for};
use super::source::KernelSource;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream, DriverError};
use cudarc::nvrtc::Ptx;
use kiln_tensor::{Device, Error, Result};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

pub(crate) fn unavailable(ordinal: usize, reason: impl Into<String>) -> Error {
    Error::DeviceUnavailable { device: Device::Cuda(ordinal), reason: reason.into() }
}

pub(crate) fn driver_error(ordinal: usize, what: &str, e: DriverError) -> Error {
    unavailable(ordinal, format!("{what}: CUDA driver error {e:?}"))
}

/// Runs a driver call, turning a panic inside cudarc (missing symbol in an old driver) into an error.
fn guarded<T>(ordinal: usize, what: &str, f: impl FnOnce() -> std::result::Result<T, DriverError>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(driver_error(ordinal, what, e)),
        Err(_) => Err(unavailable(ordinal, format!("{what}: the CUDA driver library could not be used"))),
    }
}

/// Whether the CUDA driver library can be loaded at all.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen libcuda by its candidate names.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// The number of CUDA devices, or `DeviceUnavailable` saying why there are none (no driver
/// library, no device, driver error). Never panics.
pub fn cuda_available() -> Result<usize> {
    if !driver_present() {
        return Err(unavailable(0, "no CUDA driver: libcuda.so could not be loaded (no NVIDIA driver installed)"));
    }
    let n = guarded(0, "counting devices", CudaContext::device_count)?;
    if n <= 0 {
        return Err(unavailable(0, "the CUDA driver reports no device"));
    }
    Ok(n as usize)
}

/// A device chosen from a user's `--device` string, with a sentence saying what was chosen and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedDevice {
    pub device: Device,
    pub note: String,
}

/// Parses `cpu`, `cuda`, `cuda:N` or `auto`. `cuda*` is an error (`DeviceUnavailable`) when that
/// device does not exist; `auto` is CUDA device 0 when one exists, else the CPU, and says which.
/// With host-shim emulation on (`KILN_CUDA_HOST_SHIM=1`), `cuda:0` is the shim. Resolving a CUDA
/// device registers the CUDA storage backend, so `Tensor::to_device` works from then on.
pub fn resolve_device(spec: &str) -> Result<ResolvedDevice> {
    let spec = spec.trim().to_ascii_lowercase();
    let resolved = resolve_spec(&spec)?;
    if !resolved.device.is_cpu() {
        super::storage::install();
    }
    Ok(resolved)
}

fn resolve_spec(spec: &str) -> Result<ResolvedDevice> {
    let emulated = |n: usize| -> Result<ResolvedDevice> {
        super::storage::runner_for(Device::Cuda(n))?;
        Ok(ResolvedDevice {
            device: Device::Cuda(n),
            note: format!(
                "cuda:{n} is emulated by the host shim (KILN_CUDA_HOST_SHIM=1): the CUDA kernels run on the CPU, slowly"
            ),
        })
    };
    let cuda = |n: usize| -> Result<ResolvedDevice> {
        if super::storage::emulated() {
            return emulated(n);
        }
        let count = cuda_available().map_err(|e| match e {
            Error::DeviceUnavailable { reason, .. } => unavailable(n, reason),
            other => other,
        })?;
        if n >= count {
            return Err(unavailable(n, format!("only {count} CUDA device(s) found")));
        }
        Ok(ResolvedDevice { device: Device::Cuda(n), note: format!("using cuda:{n} as asked") })
    };
    match spec {
        "cpu" => Ok(ResolvedDevice { device: Device::Cpu, note: "using the cpu as asked".into() }),
        "cuda" | "gpu" => cuda(0),
        "auto" if super::storage::emulated() => emulated(0),
        "auto" => match cuda_available() {
            Ok(n) => {
                Ok(ResolvedDevice { device: Device::Cuda(0), note: format!("auto: {n} CUDA device(s), using cuda:0") })
            }
            Err(e) => Ok(ResolvedDevice { device: Device::Cpu, note: format!("auto: using the cpu ({e})") }),
        },
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => cuda(n),
            _ => Err(Error::invalid("device", format!("unknown device {spec:?} (expected cpu, cuda, cuda:N or auto)"))),
        },
    }
}

/// One opened GPU: its context, the stream every kiln launch goes to, and its modules.
pub struct CudaDevice {
    ordinal: usize,
    name: String,
    capability: (i32, i32),
    arch: &'static str,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<(&'static str, &'static str), CudaFunction>>,
    /// The kernel last launched on `stream`, named by every later error (a fault surfaces at the
    /// next copy or sync, not at its launch).
    last_kernel: Mutex<Option<&'static str>>,
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaDevice(cuda:{} {} sm_{}{})", self.ordinal, self.name, self.capability.0, self.capability.1)
    }
}

impl CudaDevice {
    /// Device `ordinal`, opened once per process and shared.
    pub fn get(ordinal: usize) -> Result<Arc<CudaDevice>> {
        static OPEN: OnceLock<Mutex<HashMap<usize, Arc<CudaDevice>>>> = OnceLock::new();
        let mut open = OPEN.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = open.get(&ordinal) {
            return Ok(d.clone());
        }
        let count = cuda_available()?;
        if ordinal >= count {
            return Err(unavailable(ordinal, format!("only {count} CUDA device(s) found")));
        }
        let ctx = guarded(ordinal, "creating a context", || CudaContext::new(ordinal))?;
        // Trade-off: one stream per device and no per-buffer event tracking (as candle does).
        // Launches, copies and frees are ordered by the stream, so kernels may take raw pointers
        // inside their #[repr(C)] parameter structs without cudarc recording events for them.
        // SAFETY: kiln uses only this device's default stream, so there is no cross-stream use.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.default_stream();
        let capability = guarded(ordinal, "reading the compute capability", || ctx.compute_capability())?;
        let name = guarded(ordinal, "reading the device name", || ctx.name())?;
        // Best effort: a driver without memory pools keeps allocating as before.
        let _ = super::diagnose::keep_pool_memory(ctx.cu_device());
        let dev = Arc::new(CudaDevice {
            ordinal,
            name,
            capability,
            arch: arch_for(capability.0, capability.1),
            ctx,
            stream,
            modules: Mutex::default(),
            functions: Mutex::default(),
            last_kernel: Mutex::default(),
        });
        open.insert(ordinal, dev.clone());
        Ok(dev)
    }

    pub fn ordinal(&self) -> usize {
        self.ordinal
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn compute_capability(&self) -> (i32, i32) {
        self.capability
    }

    /// The NVRTC target this device's modules are compiled for, e.g. `compute_86`.
    pub fn arch(&self) -> &'static str {
        self.arch
    }

    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// A run-time failure on this device, naming the kernel last launched on its stream.
    pub(crate) fn error(&self, what: &str, e: DriverError) -> Error {
        let last = *self.last_kernel.lock().unwrap_or_else(|e| e.into_inner());
        Error::DeviceFault {
            device: Device::Cuda(self.ordinal),
            reason: format!("{what}: CUDA driver error {e:?}{}", super::diagnose::last_kernel_note(last)),
        }
    }

    /// Records `kernel` as launched; with `KILN_CUDA_SYNC=1` also waits for it, so a fault is
    /// reported as this kernel's.
    pub(crate) fn launched(&self, kernel: &'static str) -> Result<()> {
        *self.last_kernel.lock().unwrap_or_else(|e| e.into_inner()) = Some(kernel);
        if super::diagnose::sync_after_launch() {
            self.synchronize()?;
        }
        Ok(())
    }

    /// The module of `src`, compiled (or read from the caches) and loaded at first use.
    pub fn module(&self, src: &'static KernelSource) -> Result<Arc<CudaModule>> {
        let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = modules.get(src.name) {
            return Ok(m.clone());
        }
        let ptx = ptx_for(src, self.arch)?;
        let module = match catch_unwind(AssertUnwindSafe(|| self.ctx.load_module(Ptx::from_src(ptx.ptx.to_string())))) {
            Ok(Ok(m)) => m,
            failed => {
                let why = match failed {
                    Ok(Err(e)) => format!("{e:?}"),
                    _ => "the CUDA driver library could not be used".into(),
                };
                let nvrtc =
                    super::compile::nvrtc_version().map_or("no NVRTC".into(), |(a, b)| format!("NVRTC {a}.{b}"));
                return Err(Error::DeviceFault {
                    device: Device::Cuda(self.ordinal),
                    reason: format!(
                        "the driver refused module {} ({}, compiled by {nvrtc} for {}, {}; driver supports CUDA \
                         {}): {why}; {}",
                        src.name,
                        super::diagnose::ptx_header(&ptx.ptx),
                        self.arch,
                        ptx.origin,
                        super::diagnose::driver_version().unwrap_or_else(|| "?".into()),
                        super::diagnose::jit_log(&ptx.ptx)
                    ),
                });
            }
        };
        modules.insert(src.name, module.clone());
        Ok(module)
    }

    /// Kernel `kernel` of `src`.
    pub fn function(&self, src: &'static KernelSource, kernel: &'static str) -> Result<CudaFunction> {
        if let Some(f) = self.functions.lock().unwrap_or_else(|e| e.into_inner()).get(&(src.name, kernel)) {
            return Ok(f.clone());
        }
        let module = self.module(src)?;
        let f = guarded(self.ordinal, &format!("loading kernel {kernel}"), || module.load_function(kernel))?;
        self.functions.lock().unwrap_or_else(|e| e.into_inner()).insert((src.name, kernel), f.clone());
        Ok(f)
    }

    /// Waits for everything queued on this device's stream.
    pub fn synchronize(&self) -> Result<()> {
        self.stream.synchronize().map_err(|e| self.error("synchronize", e))
    }
}
