//! How tensor-level device ops reach their buffers: lock each tensor's storage once, check it is
//! CUDA storage on one device, and hand the launch code typed buffers with their layouts. The
//! families' `cuda.rs` files build their tensor functions on this; it must not launch kernels.

use super::storage::{CudaData, CudaStorage};
use super::{Buf, Runner};
use kiln_tensor::{Device, Error, Layout, Result, Shape, Storage, Tensor};
use std::sync::RwLockReadGuard;

/// Checks every tensor is on the same device as the first and returns that device.
pub fn same_device(op: &'static str, tensors: &[&Tensor]) -> Result<Device> {
    let device = tensors[0].device();
    for t in &tensors[1..] {
        if t.device() != device {
            return Err(Error::DeviceMismatch { op, lhs: device, rhs: t.device() });
        }
    }
    Ok(device)
}

fn cuda_of<'g>(op: &'static str, g: &'g Storage) -> Result<&'g CudaStorage> {
    let d = g.on_device()?;
    d.as_any()
        .downcast_ref::<CudaStorage>()
        .ok_or_else(|| Error::invalid(op, format!("device storage on {} is not CUDA storage", d.device())))
}

/// Calls `f` with the runner of the tensors' device and each tensor's CUDA storage, in order. A
/// storage shared by several tensors (`x * x`) is locked once.
pub fn read<R>(
    op: &'static str,
    tensors: &[&Tensor],
    f: impl FnOnce(&Runner, &[&CudaStorage]) -> Result<R>,
) -> Result<R> {
    let device = same_device(op, tensors)?;
    let mut guards: Vec<(usize, RwLockReadGuard<'_, Storage>)> = Vec::new();
    let mut slot = Vec::with_capacity(tensors.len());
    for (i, t) in tensors.iter().enumerate() {
        match guards.iter().position(|(j, _)| tensors[*j].same_storage(t)) {
            Some(k) => slot.push(k),
            None => {
                slot.push(guards.len());
                guards.push((i, t.storage()));
            }
        }
    }
    let storages: Vec<&CudaStorage> = slot.iter().map(|&k| cuda_of(op, &guards[k].1)).collect::<Result<_>>()?;
    let runner = storages[0].runner.clone();
    debug_assert_eq!(storages[0].device, device);
    f(&runner, &storages)
}

/// Calls `f` with the f32 buffers and layouts of `tensors` (all on one device).
pub fn read_f32<R>(
    op: &'static str,
    tensors: &[&Tensor],
    f: impl FnOnce(&Runner, &[(&Buf<f32>, &Layout)]) -> Result<R>,
) -> Result<R> {
    read(op, tensors, |r, s| {
        let bufs: Vec<(&Buf<f32>, &Layout)> =
            s.iter().zip(tensors).map(|(s, t)| Ok((s.f32(op)?, t.layout()))).collect::<Result<_>>()?;
        f(r, &bufs)
    })
}

/// Wraps a freshly written f32 buffer as a contiguous tensor of `shape` on the runner's device.
pub fn f32_tensor(r: &Runner, buf: Buf<f32>, shape: impl Into<Shape>) -> Result<Tensor> {
    CudaStorage::tensor(r, CudaData::F32(buf), shape)
}

/// Wraps a freshly written u32 buffer (a mask) as a contiguous tensor of `shape` on the runner's device.
pub fn u32_tensor(r: &Runner, buf: Buf<u32>, shape: impl Into<Shape>) -> Result<Tensor> {
    CudaStorage::tensor(r, CudaData::U32(buf), shape)
}

/// Wraps a freshly written i64 buffer as a contiguous tensor of `shape` on the runner's device.
pub fn i64_tensor(r: &Runner, buf: Buf<i64>, shape: impl Into<Shape>) -> Result<Tensor> {
    CudaStorage::tensor(r, CudaData::I64(buf), shape)
}

/// Calls `f` with mutable access to the f32 buffer of `t`, which must cover its whole storage
/// (in-place updates: optimizer steps).
pub fn write_f32<R>(op: &'static str, t: &Tensor, f: impl FnOnce(&mut Buf<f32>) -> Result<R>) -> Result<R> {
    if !t.owns_whole_storage() {
        return Err(Error::invalid(op, format!("in-place target {:?} is a view, not a whole storage", t.layout())));
    }
    let mut guard = t.storage_mut();
    let d = guard.on_device_mut()?;
    let device = d.device();
    let s = d
        .as_any_mut()
        .downcast_mut::<CudaStorage>()
        .ok_or_else(|| Error::invalid(op, format!("device storage on {device} is not CUDA storage")))?;
    f(s.f32_mut(op)?)
}

/// `t` itself when it is contiguous from element 0 of its storage (what kernels that take a bare
/// buffer address read), else a dense copy on its device.
pub fn from_start(t: &Tensor) -> Result<Tensor> {
    if t.is_contiguous() && t.layout().offset() == 0 {
        Ok(t.clone())
    } else {
        t.deep_copy()
    }
}
