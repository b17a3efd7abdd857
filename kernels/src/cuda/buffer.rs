//! Kernel buffers: device memory on a GPU, or 256-byte-aligned host memory for the host shim (the
//! alignment cuMemAlloc gives, so the float4 paths are taken the same way on both).

use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut, DeviceRepr, ValidAsZeroBits};
use kiln_tensor::{Error, Result};
use std::alloc::Layout as AllocLayout;

/// Element types kernels read and write.
pub trait DevElem: DeviceRepr + ValidAsZeroBits + Copy + Default + Send + Sync + 'static {}
impl DevElem for f32 {}
impl DevElem for f64 {}
impl DevElem for i64 {}
impl DevElem for u32 {}
impl DevElem for i32 {}
impl DevElem for u8 {}

const HOST_ALIGN: usize = 256;

/// Zero-initialised, 256-byte-aligned host memory holding `len` values of `T`.
pub struct HostMem<T: DevElem> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: HostMem owns its allocation exclusively, like a Vec<T>.
unsafe impl<T: DevElem> Send for HostMem<T> {}
unsafe impl<T: DevElem> Sync for HostMem<T> {}

impl<T: DevElem> HostMem<T> {
    fn layout(len: usize) -> AllocLayout {
        let bytes = (len * std::mem::size_of::<T>()).max(1);
        AllocLayout::from_size_align(bytes, HOST_ALIGN).expect("a valid host buffer layout")
    }

    pub fn zeros(len: usize) -> Self {
        // SAFETY: the layout has a non-zero size; all-zero bits are valid for T (ValidAsZeroBits).
        let ptr = unsafe { std::alloc::alloc_zeroed(Self::layout(len)) } as *mut T;
        if ptr.is_null() {
            std::alloc::handle_alloc_error(Self::layout(len));
        }
        HostMem { ptr, len }
    }

    /// Memory filled with 0xFF bytes (NaN for floats, all ones for integers): what the host shim
    /// gives a kernel output, so an element a kernel forgets to write cannot pass as a zero.
    pub fn poisoned(len: usize) -> Self {
        let m = Self::zeros(len);
        // SAFETY: the allocation holds len * size_of::<T>() bytes; every bit pattern is a valid
        // value of the plain-data element types (f32, f64, i64, u32, i32, u8).
        unsafe { std::ptr::write_bytes(m.ptr as *mut u8, 0xFF, len * std::mem::size_of::<T>()) };
        m
    }

    pub fn from_slice(data: &[T]) -> Self {
        let mut m = Self::zeros(data.len());
        m.as_mut_slice().copy_from_slice(data);
        m
    }

    pub fn as_slice(&self) -> &[T] {
        // SAFETY: ptr holds len initialised values for as long as self lives.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as above, and &mut self is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl<T: DevElem> Drop for HostMem<T> {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeros` with this very layout.
        unsafe { std::alloc::dealloc(self.ptr as *mut u8, Self::layout(self.len)) }
    }
}

/// A kernel operand: memory on a GPU, or host memory the shim-compiled kernels run on.
pub enum Buf<T: DevElem> {
    Host(HostMem<T>),
    Cuda(CudaSlice<T>),
}

impl<T: DevElem> std::fmt::Debug for Buf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Buf::Host(m) => write!(f, "Buf::Host[{}]", m.len),
            Buf::Cuda(s) => write!(f, "Buf::Cuda[{}]", s.len()),
        }
    }
}

fn out_of_range(offset: usize, len: usize) -> Error {
    Error::invalid("cuda buffer", format!("offset {offset} is past the end of a buffer of {len} elements"))
}

impl<T: DevElem> Buf<T> {
    pub fn len(&self) -> usize {
        match self {
            Buf::Host(m) => m.len,
            Buf::Cuda(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The address of element `offset`, for a kernel that only reads it.
    pub fn addr(&self, offset: usize) -> Result<u64> {
        if offset > self.len() {
            return Err(out_of_range(offset, self.len()));
        }
        let base = match self {
            Buf::Host(m) => m.ptr as u64,
            Buf::Cuda(s) => {
                // No guard to keep: event tracking is off (see device.rs), the stream orders uses.
                let (p, _sync) = s.device_ptr(s.stream());
                p
            }
        };
        Ok(base + (offset * std::mem::size_of::<T>()) as u64)
    }

    /// The address of element `offset`, for a kernel that writes it.
    pub fn addr_mut(&mut self, offset: usize) -> Result<u64> {
        if offset > self.len() {
            return Err(out_of_range(offset, self.len()));
        }
        let base = match self {
            Buf::Host(m) => m.ptr as u64,
            Buf::Cuda(s) => {
                let stream = s.stream().clone();
                let (p, _sync) = s.device_ptr_mut(&stream);
                p
            }
        };
        Ok(base + (offset * std::mem::size_of::<T>()) as u64)
    }

    pub fn is_host(&self) -> bool {
        matches!(self, Buf::Host(_))
    }
}
