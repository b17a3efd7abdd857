//! Storage: the flat buffer behind one or more tensors. CPU storage is a typed `Vec`; device
//! storage is a backend's buffer behind the `DeviceStorage` trait. Views share one storage through
//! `Arc<RwLock<_>>` (the lock lets optimizers update parameters in place); nothing here knows about
//! shapes or strides.

use crate::{DType, Device, DeviceStorage, Element, Error, Result};
use half::{bf16, f16};

#[derive(Debug, Clone, PartialEq)]
pub enum CpuStorage {
    F32(Vec<f32>),
    F64(Vec<f64>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    I64(Vec<i64>),
    U32(Vec<u32>),
}

/// Applies `$body` with `$v` bound to the typed vector inside a `CpuStorage`, whatever its dtype.
#[macro_export]
macro_rules! with_cpu_storage {
    ($storage:expr, $v:ident => $body:expr) => {
        match $storage {
            $crate::CpuStorage::F32($v) => $body,
            $crate::CpuStorage::F64($v) => $body,
            $crate::CpuStorage::F16($v) => $body,
            $crate::CpuStorage::BF16($v) => $body,
            $crate::CpuStorage::I64($v) => $body,
            $crate::CpuStorage::U32($v) => $body,
        }
    };
}

impl CpuStorage {
    pub fn dtype(&self) -> DType {
        match self {
            CpuStorage::F32(_) => DType::F32,
            CpuStorage::F64(_) => DType::F64,
            CpuStorage::F16(_) => DType::F16,
            CpuStorage::BF16(_) => DType::BF16,
            CpuStorage::I64(_) => DType::I64,
            CpuStorage::U32(_) => DType::U32,
        }
    }

    pub fn len(&self) -> usize {
        with_cpu_storage!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `len` zeros. Panics (like `vec!`) when the memory cannot be had; sizes that come from
    /// input go through [`CpuStorage::try_full`].
    pub fn zeros(dtype: DType, len: usize) -> Self {
        Self::try_full(0.0, dtype, len, "zeros").unwrap_or_else(|e| panic!("{e}"))
    }

    /// `len` copies of `value` in `dtype`, or a typed error when the allocator refuses (a size
    /// from input must never abort the process).
    pub fn try_full(value: f64, dtype: DType, len: usize, op: &'static str) -> Result<Self> {
        fn filled<T: Clone>(value: T, len: usize, op: &'static str) -> Result<Vec<T>> {
            // Trade-off: a probe reservation, released at once, then `vec!`, which takes zeros
            // from `calloc` (untouched pages stay lazy) as before; the probe's cost is one
            // malloc/free pair without touching the memory.
            Vec::<T>::new().try_reserve_exact(len).map_err(|_| Error::OutOfMemory {
                op,
                elements: len,
                elem_bytes: std::mem::size_of::<T>(),
            })?;
            Ok(vec![value; len])
        }
        Ok(match dtype {
            DType::F32 => CpuStorage::F32(filled(value as f32, len, op)?),
            DType::F64 => CpuStorage::F64(filled(value, len, op)?),
            DType::F16 => CpuStorage::F16(filled(f16::from_f64(value), len, op)?),
            DType::BF16 => CpuStorage::BF16(filled(bf16::from_f64(value), len, op)?),
            DType::I64 => CpuStorage::I64(filled(value as i64, len, op)?),
            DType::U32 => CpuStorage::U32(filled(value as u32, len, op)?),
        })
    }

    /// The typed slice, or a dtype error naming what was asked for and what is stored.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        T::slice(self).ok_or(Error::DTypeMismatch { op: "storage access", lhs: self.dtype(), rhs: T::DTYPE })
    }

    pub fn as_mut_slice<T: Element>(&mut self) -> Result<&mut [T]> {
        let dtype = self.dtype();
        T::slice_mut(self).ok_or(Error::DTypeMismatch { op: "storage access", lhs: dtype, rhs: T::DTYPE })
    }

    /// The raw little-endian bytes (for checkpoints and hashing).
    pub fn as_bytes(&self) -> &[u8] {
        with_cpu_storage!(self, v => bytemuck::cast_slice(v))
    }
}

/// The buffer behind a tensor: host memory, or memory on a device through its backend.
#[derive(Debug)]
pub enum Storage {
    Cpu(CpuStorage),
    Device(Box<dyn DeviceStorage>),
}

impl Storage {
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
            Storage::Device(d) => d.device(),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Storage::Cpu(s) => s.dtype(),
            Storage::Device(d) => d.dtype(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Storage::Cpu(s) => s.len(),
            Storage::Device(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The host storage, or an error naming the device the data lives on.
    pub fn cpu(&self) -> Result<&CpuStorage> {
        match self {
            Storage::Cpu(s) => Ok(s),
            Storage::Device(d) => Err(on_device(d.device())),
        }
    }

    pub fn cpu_mut(&mut self) -> Result<&mut CpuStorage> {
        match self {
            Storage::Cpu(s) => Ok(s),
            Storage::Device(d) => Err(on_device(d.device())),
        }
    }

    /// The device storage, or an error saying the data is on the host.
    pub fn on_device(&self) -> Result<&dyn DeviceStorage> {
        match self {
            Storage::Device(d) => Ok(d.as_ref()),
            Storage::Cpu(_) => Err(Error::invalid("device storage access", "the data is in host memory")),
        }
    }

    pub fn on_device_mut(&mut self) -> Result<&mut dyn DeviceStorage> {
        match self {
            Storage::Device(d) => Ok(d.as_mut()),
            Storage::Cpu(_) => Err(Error::invalid("device storage access", "the data is in host memory")),
        }
    }
}

fn on_device(device: Device) -> Error {
    // lhs: where the data is; rhs: where this access needs it.
    Error::DeviceMismatch {
        op: "host access (move the tensor with to_device(Device::Cpu) first)",
        lhs: device,
        rhs: Device::Cpu,
    }
}
