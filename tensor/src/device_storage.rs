//! Memory on an accelerator as the tensor crate sees it: the [`DeviceStorage`] trait a backend's
//! buffers implement, and the [`DeviceBackend`] that creates them from host data.
//!
//! kiln-tensor knows no CUDA. The CUDA backend (kiln-kernels `cuda::storage`) implements both and
//! registers itself when a CUDA device is resolved; this file only defines the contract and holds
//! the registration. It must not launch kernels or name a driver API.
//!
//! Trade-off: a trait object rather than a `cudarc` buffer inside `Storage` (what DESIGN.md first
//! drew) keeps this crate free of the driver bindings and lets the same storage hold either a GPU
//! buffer or host-shim memory, so every device code path runs in `cargo test` without a GPU.

use crate::{CpuStorage, DType, Device, Error, Layout, Result};
use std::any::Any;
use std::fmt;
use std::sync::OnceLock;

/// One flat, typed buffer on a device.
pub trait DeviceStorage: Send + Sync + fmt::Debug {
    fn device(&self) -> Device;
    fn dtype(&self) -> DType;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A dense row-major copy, on the same device, of the elements `layout` selects.
    fn gather(&self, layout: &Layout) -> Result<Box<dyn DeviceStorage>>;
    /// Copies the whole buffer to the host (waiting for the work that writes it).
    fn to_host(&self) -> Result<CpuStorage>;
    /// For the backend to reach its concrete buffer type.
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Creates device storage. One backend serves every non-CPU device.
pub trait DeviceBackend: Send + Sync {
    fn upload(&self, device: Device, data: &CpuStorage) -> Result<Box<dyn DeviceStorage>>;
}

static BACKEND: OnceLock<Box<dyn DeviceBackend>> = OnceLock::new();

/// Registers the device backend for the process. The first registration wins; later calls are
/// ignored and return false.
pub fn register_device_backend(backend: Box<dyn DeviceBackend>) -> bool {
    BACKEND.set(backend).is_ok()
}

/// The registered backend, or a `DeviceUnavailable` error for `device` saying how to get one.
pub fn device_backend(device: Device) -> Result<&'static dyn DeviceBackend> {
    BACKEND.get().map(|b| b.as_ref()).ok_or_else(|| Error::DeviceUnavailable {
        device,
        reason: "no device backend is registered (kiln_kernels::cuda::resolve_device registers the CUDA one)".into(),
    })
}
