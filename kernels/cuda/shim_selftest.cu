// shim_selftest.cu: kernels that check the host shim itself (host build only; never shipped to
// NVRTC): warp-shuffle semantics lane by lane, the NaN poisoning of dynamic shared memory, and the
// errors the shim must report instead of hanging (divergent __syncthreads, partial-warp shuffles).
// Driven by kernels/tests/cuda_shim/shim.rs.

struct ShimTestParams {
    int* out;
    u32 mode;
    u32 pad;
};

// out[5 * tid + k]: shfl_down(1), shfl_up(3), shfl_xor(5), shfl(src 7), shfl_xor width 8, for value tid.
extern "C" __global__ void shim_test_shuffles(const ShimTestParams p) {
    const int v = (int)(threadIdx.x + 1000 * blockIdx.x);
    int* o = p.out + 5 * (threadIdx.x + blockDim.x * blockIdx.x);
    o[0] = __shfl_down_sync(KILN_FULL_MASK, v, 1);
    o[1] = __shfl_up_sync(KILN_FULL_MASK, v, 3);
    o[2] = __shfl_xor_sync(KILN_FULL_MASK, v, 5);
    o[3] = __shfl_sync(KILN_FULL_MASK, v, 7);
    o[4] = __shfl_xor_sync(KILN_FULL_MASK, v, 8, 8);
}
KILN_EXPORT(shim_test_shuffles, ShimTestParams)

// Reports whether the first dynamic shared float of each block reads as NaN before any write,
// then checks a shared-memory exchange between threads across a barrier.
extern "C" __global__ void shim_test_smem(const ShimTestParams p) {
    KILN_DYNAMIC_SMEM(float, buf);
    if (threadIdx.x == 0) p.out[2 * blockIdx.x] = kiln_isnan(buf[0]) ? 1 : 0;
    __syncthreads();
    buf[threadIdx.x] = (float)threadIdx.x;
    __syncthreads();
    if (threadIdx.x == 0) {
        int ok = 1;
        for (u32 i = 0; i < blockDim.x; ++i) ok &= buf[blockDim.x - 1 - i] == (float)(blockDim.x - 1 - i);
        p.out[2 * blockIdx.x + 1] = ok;
    }
}
KILN_EXPORT(shim_test_smem, ShimTestParams)

// mode 0: __syncthreads reached by only half the block (a deadlock on a GPU);
// mode 1: a full-mask shuffle in a block of 48 threads (partial second warp);
// mode 2: an early return before a barrier.
extern "C" __global__ void shim_test_errors(const ShimTestParams p) {
    if (p.mode == 0) {
        if (threadIdx.x < blockDim.x / 2) __syncthreads();
        p.out[threadIdx.x] = 1;
    } else if (p.mode == 1) {
        p.out[threadIdx.x] = __shfl_down_sync(KILN_FULL_MASK, (int)threadIdx.x, 1);
    } else {
        if (threadIdx.x == 3) return;
        __syncthreads();
        p.out[threadIdx.x] = 2;
    }
}
KILN_EXPORT(shim_test_errors, ShimTestParams)
