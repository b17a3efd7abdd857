//! kiln-tensor: the strided tensor every other kiln crate builds on.
//!
//! A [`Tensor`] is shared storage plus a [`Layout`] (shape, strides in elements, offset), a [`DType`]
//! and a [`Device`]. Views (transpose, permute, narrow, broadcast, squeeze/unsqueeze, reshape of a
//! contiguous tensor) only change the layout and share the storage. This crate does no arithmetic:
//! every computation lives in `kiln-kernels`; here is only what a layout needs (strided copies,
//! dtype conversion) and construction (including the seeded [`Rng`]). Storage is host memory or a
//! device buffer behind the [`DeviceStorage`] trait, which a backend (kiln-kernels' CUDA one)
//! implements and registers.

pub mod alloc;
mod copy;
mod device;
mod device_storage;
mod dtype;
mod error;
mod layout;
mod rng;
mod shape;
mod storage;
mod strided_index;
mod tensor;
pub mod testing;

pub use device::Device;
pub use device_storage::{device_backend, register_device_backend, DeviceBackend, DeviceStorage};
pub use dtype::{DType, Element, Float};
pub use error::{Error, Result};
pub use layout::Layout;
pub use rng::Rng;
pub use shape::{broadcast_shapes, Shape};
pub use storage::{CpuStorage, Storage};
pub use strided_index::{StridedBlocks, StridedIndex};
pub use tensor::Tensor;

pub use half::{bf16, f16};
