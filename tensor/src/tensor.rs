//! Tensor = shared storage + layout + dtype + device: construction, views (layout changes only),
//! `contiguous()` (copies only when needed), host reads and dtype conversion. Arithmetic lives in
//! kiln-kernels; this file must not grow kernels.

use crate::copy::{gather, gather_convert};
use crate::{with_cpu_storage, CpuStorage, DType, Device, Element, Error, Layout, Result, Rng, Shape, Storage};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

#[derive(Clone)]
pub struct Tensor {
    storage: Arc<RwLock<Storage>>,
    layout: Layout,
    dtype: DType,
}

impl Tensor {
    /// Wraps host storage with a contiguous layout of `shape`; the element count must match.
    pub fn from_cpu_storage(storage: CpuStorage, shape: impl Into<Shape>) -> Result<Tensor> {
        Self::from_storage(Storage::Cpu(storage), shape)
    }

    /// Wraps host or device storage with a contiguous layout of `shape`.
    pub fn from_storage(storage: Storage, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        shape.elem_count_checked("from_storage")?;
        if storage.len() != shape.elem_count() {
            return Err(Error::ElementCount {
                op: "from_storage",
                expected: shape.elem_count(),
                got: storage.len(),
                shape,
            });
        }
        let dtype = storage.dtype();
        Ok(Tensor { storage: Arc::new(RwLock::new(storage)), layout: Layout::contiguous(shape), dtype })
    }

    /// A new tensor viewing the same storage through another layout. The layout must stay inside
    /// the storage; this is checked so that no later kernel can read out of bounds.
    pub fn with_layout(&self, layout: Layout) -> Result<Tensor> {
        let len = self.storage().len();
        if layout.storage_span() > len {
            return Err(Error::invalid(
                "with_layout",
                format!("layout {layout:?} reaches past the storage of {len} elements"),
            ));
        }
        Ok(Tensor { storage: self.storage.clone(), layout, dtype: self.dtype })
    }

    pub fn from_vec<T: Element>(data: Vec<T>, shape: impl Into<Shape>) -> Result<Tensor> {
        Self::from_cpu_storage(T::into_storage(data), shape)
    }

    pub fn from_slice<T: Element>(data: &[T], shape: impl Into<Shape>) -> Result<Tensor> {
        Self::from_vec(data.to_vec(), shape)
    }

    pub fn scalar<T: Element>(value: T) -> Tensor {
        Self::from_vec(vec![value], ()).expect("one element for a scalar")
    }

    /// Zeros of `shape`. Panics (like `vec!`) when the shape's element count overflows or cannot
    /// be allocated; shapes that come from input go through [`Tensor::try_zeros`].
    pub fn zeros(shape: impl Into<Shape>, dtype: DType) -> Tensor {
        Self::try_zeros(shape, dtype).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `value` everywhere in `shape`; panics as [`Tensor::zeros`] does.
    pub fn full(value: f64, shape: impl Into<Shape>, dtype: DType) -> Tensor {
        Self::try_full(value, shape, dtype).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn ones(shape: impl Into<Shape>, dtype: DType) -> Tensor {
        Self::full(1.0, shape, dtype)
    }

    /// Zeros of `shape`, or a typed error when its element count overflows or the memory cannot
    /// be had.
    pub fn try_zeros(shape: impl Into<Shape>, dtype: DType) -> Result<Tensor> {
        Self::try_full(0.0, shape, dtype)
    }

    /// `value` everywhere in `shape`, or a typed error as for [`Tensor::try_zeros`].
    pub fn try_full(value: f64, shape: impl Into<Shape>, dtype: DType) -> Result<Tensor> {
        let shape = shape.into();
        let n = shape.elem_count_checked("full")?;
        Self::from_cpu_storage(CpuStorage::try_full(value, dtype, n, "full")?, shape)
    }

    /// Zeros of this tensor's shape and dtype, on its device.
    pub fn zeros_like(&self) -> Result<Tensor> {
        Self::zeros(self.shape(), self.dtype).to_device(self.device())
    }

    /// Ones of this tensor's shape and dtype, on its device.
    pub fn ones_like(&self) -> Result<Tensor> {
        Self::ones(self.shape(), self.dtype).to_device(self.device())
    }

    /// A 0-d tensor holding `value` in this tensor's dtype, on its device: the constant operand of
    /// a broadcast op (`x * 2`, `max(x, -100)`), wherever `x` lives.
    pub fn scalar_like(&self, value: f64) -> Result<Tensor> {
        Self::full(value, (), self.dtype).to_device(self.device())
    }

    /// `start, start + step, ...` below `end` (above it for a negative step).
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(Error::invalid(
                "arange",
                format!("start {start}, end {end}, step {step} do not describe a range"),
            ));
        }
        let count = ((end - start) / step).ceil().max(0.0);
        // `as usize` would saturate a huge count (1e300 steps) into an allocation that aborts.
        // (Never NaN: the inputs are finite, so the count is finite or an infinity.)
        if count >= isize::MAX as f64 {
            return Err(Error::SizeOverflow { op: "arange", what: format!("{count} steps from {start} to {end}") });
        }
        let n = count as usize;
        let mut values = Vec::new();
        values.try_reserve_exact(n).map_err(|_| Error::OutOfMemory { op: "arange", elements: n, elem_bytes: 8 })?;
        values.extend((0..n).map(|i| start + i as f64 * step));
        Ok(Self::from_f64_values(values.into_iter(), [n], dtype))
    }

    /// Uniform in `[lo, hi)` from the seeded generator.
    pub fn rand_uniform(shape: impl Into<Shape>, lo: f64, hi: f64, dtype: DType, rng: &mut Rng) -> Tensor {
        let shape = shape.into();
        let n = shape.elem_count();
        Self::from_f64_values((0..n).map(|_| rng.uniform(lo, hi)), shape, dtype)
    }

    /// Normal with the given mean and standard deviation from the seeded generator.
    pub fn randn(shape: impl Into<Shape>, mean: f64, std: f64, dtype: DType, rng: &mut Rng) -> Tensor {
        let shape = shape.into();
        let n = shape.elem_count();
        Self::from_f64_values((0..n).map(|_| mean + std * rng.normal()), shape, dtype)
    }

    fn from_f64_values(values: impl Iterator<Item = f64>, shape: impl Into<Shape>, dtype: DType) -> Tensor {
        fn collect<T: Element>(values: impl Iterator<Item = f64>) -> CpuStorage {
            T::into_storage(values.map(T::from_f64).collect())
        }
        let storage = match dtype {
            DType::F32 => collect::<f32>(values),
            DType::F64 => collect::<f64>(values),
            DType::F16 => collect::<half::f16>(values),
            DType::BF16 => collect::<half::bf16>(values),
            DType::I64 => collect::<i64>(values),
            DType::U32 => collect::<u32>(values),
        };
        let shape = shape.into();
        Self::from_cpu_storage(storage, shape).expect("values counted from shape")
    }

    // ---- accessors -------------------------------------------------------------------------

    pub fn shape(&self) -> &Shape {
        self.layout.shape()
    }

    pub fn dims(&self) -> &[usize] {
        self.layout.dims()
    }

    pub fn rank(&self) -> usize {
        self.layout.rank()
    }

    pub fn elem_count(&self) -> usize {
        self.layout.elem_count()
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Where the storage lives. Read from the storage itself (a cheap uncontended read lock), so
    /// that [`Tensor::relocate`] moves every tensor sharing it at once.
    pub fn device(&self) -> Device {
        self.storage().device()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn strides(&self) -> &[usize] {
        self.layout.strides()
    }

    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    /// Size of dimension `axis` (negative counts from the end).
    pub fn dim(&self, axis: isize) -> Result<usize> {
        Ok(self.dims()[self.shape().resolve_axis(axis, "dim")?])
    }

    /// True when both tensors view the same storage (a view never copies).
    pub fn same_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    pub fn storage(&self) -> RwLockReadGuard<'_, Storage> {
        self.storage.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn storage_mut(&self) -> RwLockWriteGuard<'_, Storage> {
        self.storage.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Calls `f` with the typed host slice and this tensor's layout.
    pub fn with_slice<T: Element, R>(&self, f: impl FnOnce(&[T], &Layout) -> R) -> Result<R> {
        let guard = self.storage();
        let slice = guard.cpu()?.as_slice::<T>()?;
        Ok(f(slice, &self.layout))
    }

    /// Calls `f` with the typed host slices of several tensors (all of dtype `T`) and their layouts.
    /// A storage shared by several of them is locked once, so `x * x` cannot self-deadlock.
    pub fn with_slices<T: Element, R>(tensors: &[&Tensor], f: impl FnOnce(&[(&[T], &Layout)]) -> R) -> Result<R> {
        let mut guards: Vec<(*const RwLock<Storage>, RwLockReadGuard<'_, Storage>)> = Vec::new();
        for t in tensors {
            let ptr = Arc::as_ptr(&t.storage);
            if !guards.iter().any(|(p, _)| *p == ptr) {
                guards.push((ptr, t.storage()));
            }
        }
        let mut views = Vec::with_capacity(tensors.len());
        for t in tensors {
            let ptr = Arc::as_ptr(&t.storage);
            let guard = &guards.iter().find(|(p, _)| *p == ptr).expect("guard taken above").1;
            views.push((guard.cpu()?.as_slice::<T>()?, &t.layout));
        }
        Ok(f(&views))
    }

    /// Checks the dtype before a typed access, naming the op.
    pub fn expect_dtype(&self, dtype: DType, op: &'static str) -> Result<()> {
        if self.dtype != dtype {
            return Err(Error::DTypeMismatch { op, lhs: self.dtype, rhs: dtype });
        }
        Ok(())
    }

    // ---- views -----------------------------------------------------------------------------

    fn view(&self, layout: Layout) -> Tensor {
        Tensor { storage: self.storage.clone(), layout, dtype: self.dtype }
    }

    pub fn transpose(&self, d0: isize, d1: isize) -> Result<Tensor> {
        Ok(self.view(self.layout.transpose(d0, d1)?))
    }

    /// Transpose of the last two dims.
    pub fn t(&self) -> Result<Tensor> {
        self.transpose(-2, -1)
    }

    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        Ok(self.view(self.layout.permute(perm)?))
    }

    /// Dim `axis` moved to position `to` (a view; see [`Layout::move_axis`]).
    pub fn move_axis(&self, axis: usize, to: usize) -> Result<Tensor> {
        Ok(self.view(self.layout.move_axis(axis, to)?))
    }

    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Result<Tensor> {
        Ok(self.view(self.layout.narrow(dim, start, len)?))
    }

    pub fn broadcast_to(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        Ok(self.view(self.layout.broadcast_as(&shape.into())?))
    }

    /// Same as [`Tensor::broadcast_to`] (PyTorch's name).
    pub fn expand(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        self.broadcast_to(shape)
    }

    pub fn squeeze(&self, dim: isize) -> Result<Tensor> {
        Ok(self.view(self.layout.squeeze(dim)?))
    }

    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        Ok(self.view(self.layout.unsqueeze(dim)?))
    }

    /// A view when the layout is contiguous, a copy otherwise.
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        match self.layout.reshape(&shape)? {
            Some(layout) => Ok(self.view(layout)),
            None => self.contiguous()?.reshape(shape),
        }
    }

    pub fn flatten_all(&self) -> Result<Tensor> {
        self.reshape([self.elem_count()])
    }

    /// This tensor if already contiguous (no copy), else a dense row-major copy on its device.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        self.deep_copy()
    }

    /// A dense copy on the same device that never shares storage with `self`.
    pub fn deep_copy(&self) -> Result<Tensor> {
        let guard = self.storage();
        let storage = match &*guard {
            Storage::Cpu(s) => Storage::Cpu(with_cpu_storage!(s, v => v.gather_storage(&self.layout))),
            Storage::Device(d) => Storage::Device(d.gather(&self.layout)?),
        };
        Tensor::from_storage(storage, self.shape())
    }

    /// True when this tensor covers its whole storage in row-major order (no view of a larger one).
    pub fn owns_whole_storage(&self) -> bool {
        self.covers(self.storage().len())
    }

    /// Whether this tensor's layout covers a storage of `len` elements exactly, in row-major order.
    fn covers(&self, len: usize) -> bool {
        self.is_contiguous() && self.layout.offset() == 0 && len == self.elem_count()
    }

    /// Replaces the values of this tensor, which must cover its whole storage (a parameter, an
    /// optimizer buffer), by `src`'s, moved to this tensor's device. Every view of the storage
    /// sees the new values; nothing is written element by element through a lock.
    pub fn assign(&self, src: &Tensor) -> Result<()> {
        if src.shape() != self.shape() {
            return Err(Error::ShapeMismatch { op: "assign", lhs: self.shape().clone(), rhs: src.shape().clone() });
        }
        self.expect_dtype(src.dtype, "assign")?;
        if !self.owns_whole_storage() {
            return Err(Error::invalid(
                "assign",
                format!("the target {:?} is a view, not a whole storage", self.layout),
            ));
        }
        let moved = src.to_device(self.device())?;
        let fresh = if moved.device().is_cpu() {
            Storage::Cpu(moved.exact_host_storage()?)
        } else {
            Storage::Device(moved.storage().on_device()?.gather(&moved.layout)?)
        };
        *self.storage_mut() = fresh;
        Ok(())
    }

    // ---- host reads and conversion ---------------------------------------------------------

    /// This tensor when it is in host memory, else a dense host copy of it.
    fn on_host(&self) -> Result<Tensor> {
        if self.device().is_cpu() {
            return Ok(self.clone());
        }
        Tensor::from_cpu_storage(self.exact_host_storage()?, self.shape())
    }

    /// Exactly this tensor's elements, row-major, in host storage (one download for device data).
    fn exact_host_storage(&self) -> Result<CpuStorage> {
        let dense = self.contiguous()?;
        let guard = dense.storage();
        // A contiguous view may still start at an offset or stop short of its storage's end.
        let whole = dense.covers(guard.len());
        let downloaded;
        let host = match &*guard {
            Storage::Cpu(s) => s,
            Storage::Device(d) => {
                downloaded = d.to_host()?;
                &downloaded
            }
        };
        Ok(if whole { host.clone() } else { with_cpu_storage!(host, v => v.gather_storage(&dense.layout)) })
    }

    /// The elements in logical row-major order; the dtype must be `T`'s. Device data is copied
    /// to the host first.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        self.expect_dtype(T::DTYPE, "to_vec")?;
        self.on_host()?.with_slice(|s: &[T], l| gather(s, l))
    }

    /// The elements converted to f64, whatever the dtype (for tests and printing).
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        let host = self.on_host()?;
        let guard = host.storage();
        Ok(with_cpu_storage!(guard.cpu()?, v => gather_convert::<_, f64>(v, &host.layout)))
    }

    /// The value of a one-element tensor.
    pub fn to_scalar<T: Element>(&self) -> Result<T> {
        if self.elem_count() != 1 {
            return Err(Error::invalid(
                "to_scalar",
                format!("tensor of shape {} has {} elements, not 1", self.shape(), self.elem_count()),
            ));
        }
        Ok(self.to_vec::<T>()?[0])
    }

    /// A copy in another dtype (a contiguous clone of `self` when the dtype is the same), on the
    /// same device. Trade-off: device tensors convert through the host (conversions are rare and
    /// small in kiln's models: index and label tensors), which keeps every device kernel f32.
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype {
            return self.contiguous();
        }
        if !self.device().is_cpu() {
            return self.on_host()?.to_dtype(dtype)?.to_device(self.device());
        }
        fn convert<D: Element>(s: &CpuStorage, l: &Layout) -> CpuStorage {
            D::into_storage(with_cpu_storage!(s, v => gather_convert::<_, D>(v, l)))
        }
        let guard = self.storage();
        let s = guard.cpu()?;
        let storage = match dtype {
            DType::F32 => convert::<f32>(s, &self.layout),
            DType::F64 => convert::<f64>(s, &self.layout),
            DType::F16 => convert::<half::f16>(s, &self.layout),
            DType::BF16 => convert::<half::bf16>(s, &self.layout),
            DType::I64 => convert::<i64>(s, &self.layout),
            DType::U32 => convert::<u32>(s, &self.layout),
        };
        Tensor::from_cpu_storage(storage, self.shape())
    }

    /// This tensor on `device`: itself when already there, else a dense copy. Moving to a GPU
    /// needs the device backend (registered by `kiln_kernels::cuda::resolve_device`); without it
    /// this is a `DeviceUnavailable` error.
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        if device == self.device() {
            return Ok(self.clone());
        }
        if device.is_cpu() {
            return self.on_host();
        }
        let backend = crate::device_backend(device)?;
        // A dense host tensor (a batch) uploads straight from its storage, without a host copy.
        let direct = match &*self.storage() {
            Storage::Cpu(s) if self.covers(s.len()) => Some(backend.upload(device, s)?),
            _ => None,
        };
        let storage = match direct {
            Some(uploaded) => uploaded,
            None => backend.upload(device, &self.exact_host_storage()?)?,
        };
        Tensor::from_storage(Storage::Device(storage), self.shape())
    }

    /// Moves this tensor's whole storage to `device` in place: every tensor sharing the storage
    /// (the parameter inside a `Var`, its views) lives on `device` afterwards, with unchanged
    /// layouts. This is how a model built on the host moves to a GPU (PyTorch's `module.to`).
    pub fn relocate(&self, device: Device) -> Result<()> {
        if device == self.device() {
            return Ok(());
        }
        let moved = match &*self.storage() {
            Storage::Device(d) if device.is_cpu() => Storage::Cpu(d.to_host()?),
            Storage::Device(d) => Storage::Device(crate::device_backend(device)?.upload(device, &d.to_host()?)?),
            Storage::Cpu(s) => Storage::Device(crate::device_backend(device)?.upload(device, s)?),
        };
        *self.storage_mut() = moved;
        Ok(())
    }
}

trait GatherStorage {
    fn gather_storage(&self, layout: &Layout) -> CpuStorage;
}

impl<T: Element> GatherStorage for Vec<T> {
    fn gather_storage(&self, layout: &Layout) -> CpuStorage {
        T::into_storage(gather(self, layout))
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor[{}, {:?}, {}]", self.shape(), self.dtype, self.device())?;
        if self.elem_count() <= 16 {
            if let Ok(v) = self.to_vec_f64() {
                write!(f, " {v:?}")?;
            }
        }
        Ok(())
    }
}
