// reduce.cu: sum / mean / max / min along the last axis of a [rows, n] buffer whose rows are
// contiguous (row stride `ld` >= n, so narrowed column views work). One block per row (grid-stride
// over rows); each thread folds a strided slice of the row, then the block combines.
//
// Versions:
//   v1 reduce_rows_smem_f32  shared-memory tree only (blockDim.x floats of dynamic smem; a power
//                            of two): no warp intrinsics at all
//   v2 reduce_rows_f32       warp shuffles (__shfl_xor_sync, full mask) + one partial per warp
// and, for the other orientation (many short columns: bias gradients, batch statistics),
//   reduce_cols_f32          one thread per column walking down the rows: coalesced reads across
//                            a warp, no shared memory, no barriers
// and argmax / argmin along rows, for scoring predictions ([batch, classes], few classes):
//   arg_reduce_rows_f32      one thread per row scanning it in order: the reference's rules exactly
//                            (ties go to the first; the first NaN wins), i64 indices
// Max/min propagate NaN as the reference does; an empty row gives 0 (sum), NaN (mean), -inf/inf.
// Launch code: reduce/cuda.rs. Op codes mirrored by `ReduceOp` -> `op_code` there.

// ReduceCode is generated from kernels/src/cuda/shared_defs.rs.

struct ReduceRowsParams {
    const float* x;
    float* out;
    u32 rows;
    u32 n;
    u32 ld;
    u32 op;
};

__device__ __forceinline__ float reduce_identity(u32 op) {
    return op == R_MAX ? -kiln_inf() : (op == R_MIN ? kiln_inf() : 0.0f);
}

__device__ __forceinline__ float reduce_combine(u32 op, float a, float b) {
    return op == R_MAX ? kiln_max_nan(a, b) : (op == R_MIN ? kiln_min_nan(a, b) : a + b);
}

__device__ __forceinline__ float reduce_thread(const ReduceRowsParams& p, u32 row) {
    const float* x = p.x + (u64)row * p.ld;
    float acc = reduce_identity(p.op);
    for (u32 c = threadIdx.x; c < p.n; c += blockDim.x) acc = reduce_combine(p.op, acc, x[c]);
    return acc;
}

__device__ __forceinline__ float reduce_finish(u32 op, float v, u32 n) {
    return op == R_MEAN ? v / (float)n : v;
}

extern "C" __global__ void reduce_rows_smem_f32(const ReduceRowsParams p) {
    KILN_DYNAMIC_SMEM(float, buf);
    for (u32 row = blockIdx.x; row < p.rows; row += gridDim.x) {
        buf[threadIdx.x] = reduce_thread(p, row);
        __syncthreads();
        for (u32 s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) buf[threadIdx.x] = reduce_combine(p.op, buf[threadIdx.x], buf[threadIdx.x + s]);
            __syncthreads();
        }
        if (threadIdx.x == 0) p.out[row] = reduce_finish(p.op, buf[0], p.n);
        __syncthreads();  // buf[0] is read before the next row overwrites it
    }
}
KILN_EXPORT(reduce_rows_smem_f32, ReduceRowsParams)

extern "C" __global__ void reduce_rows_f32(const ReduceRowsParams p) {
    __shared__ float scratch[32];
    const int kind = p.op == R_MAX ? 1 : (p.op == R_MIN ? 2 : 0);
    for (u32 row = blockIdx.x; row < p.rows; row += gridDim.x) {
        float v = kiln_block_reduce(reduce_thread(p, row), kind, scratch);
        if (threadIdx.x == 0) p.out[row] = reduce_finish(p.op, v, p.n);
    }
}
KILN_EXPORT(reduce_rows_f32, ReduceRowsParams)

// out[j] = op over r of x[r * ld + j], for the n columns of a [rows, n] buffer.
extern "C" __global__ void reduce_cols_f32(const ReduceRowsParams p) {
    for (u32 j = blockIdx.x * blockDim.x + threadIdx.x; j < p.n; j += gridDim.x * blockDim.x) {
        float acc = reduce_identity(p.op);
        for (u32 r = 0; r < p.rows; ++r) acc = reduce_combine(p.op, acc, p.x[(u64)r * p.ld + j]);
        p.out[j] = reduce_finish(p.op, acc, p.rows);
    }
}
KILN_EXPORT(reduce_cols_f32, ReduceRowsParams)

struct ArgReduceRowsParams {
    const float* x;
    i64* out;
    u32 rows;
    u32 n;
    u32 ld;
    u32 max;  // 1: argmax, 0: argmin
};

extern "C" __global__ void arg_reduce_rows_f32(const ArgReduceRowsParams p) {
    for (u32 r = blockIdx.x * blockDim.x + threadIdx.x; r < p.rows; r += gridDim.x * blockDim.x) {
        const float* x = p.x + (u64)r * p.ld;
        u32 best = 0;
        float best_v = x[0];
        for (u32 k = 1; k < p.n; ++k) {
            const float v = x[k];
            const bool better = p.max ? v > best_v : v < best_v;
            if (best_v == best_v && (v != v || better)) {
                best = k;
                best_v = v;
            }
        }
        p.out[r] = (i64)best;
    }
}
KILN_EXPORT(arg_reduce_rows_f32, ArgReduceRowsParams)
