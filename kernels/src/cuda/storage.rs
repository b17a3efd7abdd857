//! Tensor storage on a CUDA device: a typed kernel buffer plus the [`Runner`] that owns it, the
//! `kiln_tensor::DeviceStorage` implementation, and the backend that uploads host data.
//!
//! Which runner serves `cuda:N` is decided here, once per process: a GPU through cudarc, or, when
//! emulation is switched on ([`emulate_on_host_shim`] or `KILN_CUDA_HOST_SHIM=1`), the host shim,
//! which runs the very same `.cu` kernels on the CPU. Emulation is how `cargo test` exercises the
//! whole device path (tensors, autograd, models) without a GPU; it is slow and says so.
//! This file moves bytes and picks runners; it must not hold kernel logic.

use super::{Buf, DevElem, Runner};
use kiln_tensor::{CpuStorage, DType, Device, DeviceBackend, DeviceStorage, Error, Layout, Result, Storage, Tensor};
use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};

/// The typed buffer of a device tensor. Kernels compute in f32; indices are i64 (ids, targets,
/// pooling argmax) or u32 (masks).
#[derive(Debug)]
pub enum CudaData {
    F32(Buf<f32>),
    I64(Buf<i64>),
    U32(Buf<u32>),
}

#[derive(Debug)]
pub struct CudaStorage {
    pub runner: Runner,
    pub device: Device,
    pub data: CudaData,
}

static EMULATED: AtomicBool = AtomicBool::new(false);

/// Makes `cuda:0` the host shim for the rest of the process (tests, and users studying the device
/// path on a machine without a GPU) and registers the backend.
pub fn emulate_on_host_shim() -> Result<()> {
    Runner::host()?;
    EMULATED.store(true, Ordering::Relaxed);
    install();
    Ok(())
}

/// True when `cuda:0` is the host shim: switched on by [`emulate_on_host_shim`] or
/// `KILN_CUDA_HOST_SHIM=1`.
pub fn emulated() -> bool {
    EMULATED.load(Ordering::Relaxed) || std::env::var("KILN_CUDA_HOST_SHIM").is_ok_and(|v| v == "1")
}

/// Registers this backend with kiln-tensor (idempotent).
pub fn install() {
    kiln_tensor::register_device_backend(Box::new(CudaBackend));
}

/// The runner that serves `device`.
pub fn runner_for(device: Device) -> Result<Runner> {
    match device {
        Device::Cpu => Err(Error::invalid("cuda", "the cpu has no CUDA runner")),
        Device::Cuda(0) if emulated() => Runner::host(),
        Device::Cuda(n) if emulated() => Err(Error::DeviceUnavailable {
            device,
            reason: format!("the host shim emulates cuda:0 only, not cuda:{n}"),
        }),
        Device::Cuda(n) => Runner::gpu(n),
    }
}

impl CudaStorage {
    pub fn dtype(&self) -> DType {
        match self.data {
            CudaData::F32(_) => DType::F32,
            CudaData::I64(_) => DType::I64,
            CudaData::U32(_) => DType::U32,
        }
    }

    pub fn f32(&self, op: &'static str) -> Result<&Buf<f32>> {
        match &self.data {
            CudaData::F32(b) => Ok(b),
            _ => Err(Error::DTypeMismatch { op, lhs: self.dtype(), rhs: DType::F32 }),
        }
    }

    pub fn f32_mut(&mut self, op: &'static str) -> Result<&mut Buf<f32>> {
        let dtype = self.dtype();
        match &mut self.data {
            CudaData::F32(b) => Ok(b),
            _ => Err(Error::DTypeMismatch { op, lhs: dtype, rhs: DType::F32 }),
        }
    }

    pub fn i64(&self, op: &'static str) -> Result<&Buf<i64>> {
        match &self.data {
            CudaData::I64(b) => Ok(b),
            _ => Err(Error::DTypeMismatch { op, lhs: self.dtype(), rhs: DType::I64 }),
        }
    }

    pub fn u32(&self, op: &'static str) -> Result<&Buf<u32>> {
        match &self.data {
            CudaData::U32(b) => Ok(b),
            _ => Err(Error::DTypeMismatch { op, lhs: self.dtype(), rhs: DType::U32 }),
        }
    }

    fn upload(runner: Runner, device: Device, data: &CpuStorage) -> Result<CudaStorage> {
        let data = match data {
            CpuStorage::F32(v) => CudaData::F32(runner.upload(v)?),
            CpuStorage::I64(v) => CudaData::I64(runner.upload(v)?),
            CpuStorage::U32(v) => CudaData::U32(runner.upload(v)?),
            other => {
                return Err(Error::UnsupportedDType {
                    op: "to_device",
                    dtype: other.dtype(),
                    expected: "f32, i64 or u32 on a CUDA device",
                })
            }
        };
        Ok(CudaStorage { runner, device, data })
    }

    /// A new contiguous tensor on the runner's device from a freshly written buffer.
    pub fn tensor(runner: &Runner, data: CudaData, shape: impl Into<kiln_tensor::Shape>) -> Result<Tensor> {
        let storage = CudaStorage { runner: runner.clone(), device: runner.device(), data };
        Tensor::from_storage(Storage::Device(Box::new(storage)), shape)
    }
}

fn download<T: DevElem + kiln_tensor::Element>(r: &Runner, b: &Buf<T>) -> Result<CpuStorage> {
    Ok(T::into_storage(r.download(b)?))
}

impl DeviceStorage for CudaStorage {
    fn device(&self) -> Device {
        self.device
    }

    fn dtype(&self) -> DType {
        CudaStorage::dtype(self)
    }

    fn len(&self) -> usize {
        match &self.data {
            CudaData::F32(b) => b.len(),
            CudaData::I64(b) => b.len(),
            CudaData::U32(b) => b.len(),
        }
    }

    fn gather(&self, layout: &Layout) -> Result<Box<dyn DeviceStorage>> {
        let data = match &self.data {
            CudaData::F32(b) => {
                let mut out = self.runner.output(layout.shape().elem_count())?;
                super::elementwise::unary(&self.runner, None, (b, layout), &mut out, super::elementwise::Path::Auto)?;
                CudaData::F32(out)
            }
            // Trade-off: index tensors are small and rarely strided; they go through the host.
            _ => {
                let host = self.to_host()?;
                let dense = Tensor::from_cpu_storage(host, [self.len()])?.with_layout(layout.clone())?.deep_copy()?;
                let dense = dense.storage();
                return Ok(Box::new(CudaStorage::upload(self.runner.clone(), self.device, dense.cpu()?)?));
            }
        };
        Ok(Box::new(CudaStorage { runner: self.runner.clone(), device: self.device, data }))
    }

    fn to_host(&self) -> Result<CpuStorage> {
        match &self.data {
            CudaData::F32(b) => download(&self.runner, b),
            CudaData::I64(b) => download(&self.runner, b),
            CudaData::U32(b) => download(&self.runner, b),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

struct CudaBackend;

impl DeviceBackend for CudaBackend {
    fn upload(&self, device: Device, data: &CpuStorage) -> Result<Box<dyn DeviceStorage>> {
        Ok(Box::new(CudaStorage::upload(runner_for(device)?, device, data)?))
    }
}
