// softmax.cu: softmax / log-softmax along the last axis of a [rows, n] buffer with contiguous rows
// (row stride `ld`), and the backward maps from the saved output. One block per row (grid-stride
// over rows), block-wide reductions by warp shuffles (full mask) + one partial per warp
// (kiln_block_reduce in kiln_cuda.h). Max-subtracted, so large logits are safe.
//   softmax_rows_f32            y = exp(x - max) / sum      (log: x - max - ln sum)
//   softmax_backward_rows_f32   softmax: dx = y * (g - sum(g*y)); log: dx = g - exp(y) * sum(g)
// Outputs are contiguous [rows, n]. Launch code: softmax/cuda.rs.

struct SoftmaxParams {
    const float* x;
    float* y;
    u32 rows;
    u32 n;
    u32 ld;
    u32 log;
};

struct SoftmaxBackwardParams {
    const float* y;
    const float* g;
    float* dx;
    u32 rows;
    u32 n;
    u32 ld_y;
    u32 ld_g;
    u32 log;
    u32 pad;
};

extern "C" __global__ void softmax_rows_f32(const SoftmaxParams p) {
    __shared__ float scratch[32];
    for (u32 row = blockIdx.x; row < p.rows; row += gridDim.x) {
        const float* x = p.x + (u64)row * p.ld;
        float* y = p.y + (u64)row * p.n;
        float m = -kiln_inf();
        for (u32 c = threadIdx.x; c < p.n; c += blockDim.x) m = kiln_max_nan(m, x[c]);
        m = kiln_block_reduce(m, 1, scratch);
        float s = 0.0f;
        for (u32 c = threadIdx.x; c < p.n; c += blockDim.x) s += expf(x[c] - m);
        s = kiln_block_reduce(s, 0, scratch);
        const float log_s = logf(s), inv_s = 1.0f / s;
        for (u32 c = threadIdx.x; c < p.n; c += blockDim.x)
            y[c] = p.log ? x[c] - m - log_s : expf(x[c] - m) * inv_s;
    }
}
KILN_EXPORT(softmax_rows_f32, SoftmaxParams)

extern "C" __global__ void softmax_backward_rows_f32(const SoftmaxBackwardParams p) {
    __shared__ float scratch[32];
    for (u32 row = blockIdx.x; row < p.rows; row += gridDim.x) {
        const float* y = p.y + (u64)row * p.ld_y;
        const float* g = p.g + (u64)row * p.ld_g;
        float* dx = p.dx + (u64)row * p.n;
        float acc = 0.0f;
        for (u32 c = threadIdx.x; c < p.n; c += blockDim.x) acc += p.log ? g[c] : g[c] * y[c];
        acc = kiln_block_reduce(acc, 0, scratch);
        for (u32 c = threadIdx.x; c < p.n; c += blockDim.x)
            dx[c] = p.log ? g[c] - expf(y[c]) * acc : y[c] * (g[c] - acc);
    }
}
KILN_EXPORT(softmax_backward_rows_f32, SoftmaxBackwardParams)
