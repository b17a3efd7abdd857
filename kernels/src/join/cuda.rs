//! `cat` for tensors on a CUDA device: every part is read through its strides by the strided copy
//! kernel of elementwise.cu and written at its offset into one buffer (the concatenation axis
//! moved first makes each part's slot contiguous). No kernel of its own, no host round trip.

use crate::cuda::access;
use crate::cuda::elementwise::{unary_at, Path};
use kiln_tensor::{DType, Result, Tensor};

/// Concatenates f32 device tensors along `axis` into a tensor of `out_dims` (checked by the caller).
pub fn cat_tensor(tensors: &[&Tensor], axis: usize, out_dims: &[usize]) -> Result<Tensor> {
    const OP: &str = "cat";
    tensors[0].expect_dtype(DType::F32, OP)?;
    let moved = tensors.iter().map(|t| t.move_axis(axis, 0)).collect::<Result<Vec<_>>>()?;
    let moved_refs: Vec<&Tensor> = moved.iter().collect();
    let mut front_dims = out_dims.to_vec();
    front_dims.remove(axis);
    front_dims.insert(0, out_dims[axis]);
    let out = access::read_f32(OP, &moved_refs, |r, parts| {
        let mut out = r.output(front_dims.iter().product())?;
        let mut at = 0;
        for &(buf, layout) in parts {
            unary_at(r, None, (buf, layout), &mut out, at, Path::Auto)?;
            at += layout.shape().elem_count();
        }
        access::f32_tensor(r, out, front_dims.clone())
    })?;
    out.move_axis(0, axis)?.contiguous()
}
