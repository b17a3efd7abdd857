// dropout.cu: inverted dropout with a counter-based RNG, so the mask is a pure function of
// (seed, element index): no RNG state on the device, any launch shape gives the same mask, and the
// backward recomputes the mask instead of storing it.
//   u(seed, i) = top 24 bits of splitmix64(seed + (i + 1) * 0x9E3779B97F4A7C15) / 2^24   in [0, 1)
//   keep(i) = u >= p;   y = keep ? x * 1/(1-p) : 0        (p == 1: all zero)
// splitmix64 (Steele, Lea, Flood 2014) is the finaliser of Java's SplittableRandom; Rust twin:
// `keep_mask` in dropout/cuda.rs. Not the CPU path's stream (kiln's Rng draws sequentially).
//   dropout_forward_f32   y = x * mask, and the mask itself (0 or 1/(1-p)) when `mask` is non-null
//   dropout_backward_f32  dx = g * mask, the mask recomputed from the seed
// Launch code: dropout/cuda.rs.

struct DropoutParams {
    const float* x;  // forward: x; backward: the upstream gradient
    float* y;        // forward: y; backward: dx
    float* mask;     // forward only, may be null
    u64 seed;
    u32 n;
    float p;
};

__device__ __forceinline__ u64 kiln_splitmix64(u64 z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

__device__ __forceinline__ float dropout_scale(u64 seed, u32 i, float p) {
    const u64 h = kiln_splitmix64(seed + ((u64)i + 1ull) * 0x9E3779B97F4A7C15ull);
    const float u = (float)(u32)(h >> 40) * (1.0f / 16777216.0f);
    return (p < 1.0f && u >= p) ? 1.0f / (1.0f - p) : 0.0f;
}

extern "C" __global__ void dropout_forward_f32(const DropoutParams p) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x) {
        const float m = dropout_scale(p.seed, i, p.p);
        p.y[i] = p.x[i] * m;
        if (p.mask) p.mask[i] = m;
    }
}
KILN_EXPORT(dropout_forward_f32, DropoutParams)

extern "C" __global__ void dropout_backward_f32(const DropoutParams p) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x)
        p.y[i] = p.x[i] * dropout_scale(p.seed, i, p.p);
}
KILN_EXPORT(dropout_backward_f32, DropoutParams)
