// kiln_cuda.h: the prelude every kiln .cu file is compiled with, by NVRTC (prepended to the source
// text by kernels/src/cuda/source.rs) and by the host compiler (force-included after kiln_shim.h).
// It holds what both worlds share: fixed-width names, the strided-index parameter struct, the
// dynamic shared-memory macro, the host-export macro and the warp/block reduction helpers.
// Keep it plain CUDA C++17: no CUDA headers exist under NVRTC without extra include paths.
#ifndef KILN_CUDA_H
#define KILN_CUDA_H

typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

// KILN_MAX_DIMS and the op-code enums come from kernels/src/cuda/shared_defs.rs, generated
// in front of this header (source.rs for NVRTC, build.rs for the host shim).
#define KILN_FULL_MASK 0xffffffffu

#ifdef KILN_HOST
// Host shim: dynamic shared memory is a per-block buffer the launcher fills with 0xFF (NaN) bytes.
#define KILN_DYNAMIC_SMEM(T, name) T* name = reinterpret_cast<T*>(::kiln::dynamic_smem())
#else
// One raw declaration shared by every kernel of a file, so all declarations agree in type.
extern __shared__ __align__(16) unsigned char kiln_smem_raw[];
#define KILN_DYNAMIC_SMEM(T, name) T* name = reinterpret_cast<T*>(kiln_smem_raw)
// Kernels are exported for the host shim by name; on the GPU the name is the PTX entry itself.
#define KILN_EXPORT(name, Params)
#endif

__device__ __forceinline__ float kiln_inf() { return __int_as_float(0x7f800000); }
__device__ __forceinline__ bool kiln_isnan(float x) { return x != x; }
// max that propagates NaN (fmaxf drops it), matching the reference reductions.
__device__ __forceinline__ float kiln_max_nan(float a, float b) { return (b > a || kiln_isnan(b)) ? b : a; }
__device__ __forceinline__ float kiln_min_nan(float a, float b) { return (b < a || kiln_isnan(b)) ? b : a; }

// Stable logistic: exp is only taken of a non-positive number.
__device__ __forceinline__ float kiln_sigmoid(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

// Shape + up to three operands' strides (in elements; 0 for broadcast dims). Offsets are folded
// into the pointers by the launcher. Mirrored by `crate::cuda::params::Strided` (#[repr(C)]).
struct KilnStrided {
    u32 rank;
    u32 dims[KILN_MAX_DIMS];
    u32 strides[3][KILN_MAX_DIMS];
};

// Storage offset of logical (row-major) element `i` for operand `op`.
__device__ __forceinline__ u32 kiln_offset(const KilnStrided& s, int op, u32 i) {
    u32 off = 0;
    for (int d = (int)s.rank - 1; d >= 0; --d) {
        u32 q = i / s.dims[d];
        off += (i - q * s.dims[d]) * s.strides[op][d];
        i = q;
    }
    return off;
}

// Full-warp butterfly reductions: every lane ends with the result. Need all 32 lanes active.
__device__ __forceinline__ float kiln_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(KILN_FULL_MASK, v, o);
    return v;
}
__device__ __forceinline__ float kiln_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = kiln_max_nan(v, __shfl_xor_sync(KILN_FULL_MASK, v, o));
    return v;
}
__device__ __forceinline__ float kiln_warp_min(float v) {
    for (int o = 16; o > 0; o >>= 1) v = kiln_min_nan(v, __shfl_xor_sync(KILN_FULL_MASK, v, o));
    return v;
}

// Block-wide reductions for a 1-D block whose size is a multiple of 32 (<= 1024): warp shuffles,
// then one partial per warp through `scratch` (>= 32 floats of shared memory), then warp 0.
// Every thread gets the result. `op`: 0 sum, 1 max, 2 min.
__device__ __forceinline__ float kiln_warp_reduce(float v, int op) {
    return op == 0 ? kiln_warp_sum(v) : (op == 1 ? kiln_warp_max(v) : kiln_warp_min(v));
}
__device__ inline float kiln_block_reduce(float v, int op, float* scratch) {
    const u32 lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = kiln_warp_reduce(v, op);
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float identity = op == 0 ? 0.0f : (op == 1 ? -kiln_inf() : kiln_inf());
        float w = lane < warps ? scratch[lane] : identity;
        w = kiln_warp_reduce(w, op);
        if (lane == 0) scratch[0] = w;
    }
    __syncthreads();
    return scratch[0];
}

#endif  // KILN_CUDA_H
