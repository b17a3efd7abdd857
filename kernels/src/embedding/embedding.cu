// embedding.cu: row gather and its adjoint, the scatter-add.
//   embedding_gather_f32       out[i, :] = table[idx[i], :] for a [V, D] table with row stride ld;
//                              grid-stride over count*D, consecutive threads on consecutive columns
//                              (coalesced). An index outside 0..V gives a NaN row, never a wild read.
//   embedding_scatter_add_f32  dtable[idx[i], :] += dout[i, :] with atomicAdd (repeated indices
//                              accumulate; on a GPU the float summation order varies), dtable
//                              contiguous [V, D]; out-of-range indices are skipped, and so is
//                              row `skip` (PyTorch's padding_idx; -1: none).
//   gather_axis_f32            torch.gather: out[i] = x[i's coordinates, with coordinate `axis` =
//                              idx[i]], i over the index's shape (out contiguous); any strides.
//                              An index outside 0..bound gives NaN.
//   scatter_add_axis_f32       its adjoint: out[i's coordinates, coordinate `axis` = idx[i]] +=
//                              src[i] with atomicAdd, out contiguous; out-of-range indices skipped.
// Launch code: embedding/cuda.rs.

struct EmbeddingParams {
    const float* table;  // gather: table;  scatter: dout [count, D] contiguous
    const i64* idx;
    float* out;  // gather: [count, D];   scatter: dtable [V, D]
    u32 count, dim, vocab, ld;
    i64 skip;  // scatter only: an index whose rows get no gradient, or -1
};

extern "C" __global__ void embedding_gather_f32(const EmbeddingParams p) {
    const u64 total = (u64)p.count * p.dim;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        const u64 row = i / p.dim, col = i % p.dim;
        const i64 t = p.idx[row];
        p.out[i] = (t >= 0 && t < (i64)p.vocab) ? p.table[(u64)t * p.ld + col] : __int_as_float(0x7fc00000);
    }
}
KILN_EXPORT(embedding_gather_f32, EmbeddingParams)

extern "C" __global__ void embedding_scatter_add_f32(const EmbeddingParams p) {
    const u64 total = (u64)p.count * p.dim;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        const u64 row = i / p.dim, col = i % p.dim;
        const i64 t = p.idx[row];
        if (t >= 0 && t < (i64)p.vocab && t != p.skip) atomicAdd(p.out + (u64)t * p.dim + col, p.table[i]);
    }
}
KILN_EXPORT(embedding_scatter_add_f32, EmbeddingParams)

// The axis kernels walk the index's shape. Operand 0 is the index; operand 1 is x (gather) or src
// (scatter); operand 2 is out (scatter). The indexed operand (x for gather, out for scatter) has
// stride 0 along the axis in `s`, and its real stride there is `axis_stride`: its element is at
// kiln_offset(...) + idx * axis_stride.
struct AxisIndexParams {
    const float* src;
    const i64* idx;
    float* out;
    u32 n;            // elements of the index
    u32 bound;        // extent of the indexed operand along the axis
    u32 axis_stride;  // its stride along the axis, in elements
    KilnStrided s;
};

extern "C" __global__ void gather_axis_f32(const AxisIndexParams p) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x) {
        const i64 t = p.idx[kiln_offset(p.s, 0, i)];
        p.out[i] = (t >= 0 && t < (i64)p.bound)
            ? p.src[(u64)kiln_offset(p.s, 1, i) + (u64)t * p.axis_stride]
            : __int_as_float(0x7fc00000);
    }
}
KILN_EXPORT(gather_axis_f32, AxisIndexParams)

extern "C" __global__ void scatter_add_axis_f32(const AxisIndexParams p) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x) {
        const i64 t = p.idx[kiln_offset(p.s, 0, i)];
        if (t >= 0 && t < (i64)p.bound)
            atomicAdd(p.out + (u64)kiln_offset(p.s, 2, i) + (u64)t * p.axis_stride, p.src[kiln_offset(p.s, 1, i)]);
    }
}
KILN_EXPORT(scatter_add_axis_f32, AxisIndexParams)
