// loss.cu: fused, numerically stable losses (PyTorch's formulas; see loss/reference.rs).
//   ce_forward_f32    one block per row of logits [rows, classes] (row stride ld): log-sum-exp by
//                     warp-shuffle block reductions, loss_row = lse - x[target]; saves lse for the
//                     backward. A target outside 0..classes gives a NaN loss for that row.
//   ce_backward_f32   grid-stride over rows*classes: dx = (exp(x - lse) - onehot) * scale
//                     (scale = upstream grad / rows for the mean).
//   bce_logits_forward_f32   per element: max(x, 0) - x*y + log1p(exp(-|x|))
//   bce_logits_backward_f32  per element: (sigmoid(x) - y) * scale
// The mean over rows / elements is the reduce kernel's job (loss/cuda.rs composes them).

struct CrossEntropyParams {
    const float* logits;
    const i64* targets;
    float* loss;  // [rows]
    float* lse;   // [rows], saved for the backward
    u32 rows;
    u32 classes;
    u32 ld;
    u32 pad;
};

struct CrossEntropyBackwardParams {
    const float* logits;
    const i64* targets;
    const float* lse;
    float* dx;  // [rows, classes] contiguous
    u32 rows;
    u32 classes;
    u32 ld;
    float scale;
};

struct BceLogitsParams {
    const float* x;
    const float* y;
    float* out;
    u32 n;
    float scale;  // backward only
};

extern "C" __global__ void ce_forward_f32(const CrossEntropyParams p) {
    __shared__ float scratch[32];
    for (u32 row = blockIdx.x; row < p.rows; row += gridDim.x) {
        const float* x = p.logits + (u64)row * p.ld;
        float m = -kiln_inf();
        for (u32 c = threadIdx.x; c < p.classes; c += blockDim.x) m = kiln_max_nan(m, x[c]);
        m = kiln_block_reduce(m, 1, scratch);
        float s = 0.0f;
        for (u32 c = threadIdx.x; c < p.classes; c += blockDim.x) s += expf(x[c] - m);
        s = kiln_block_reduce(s, 0, scratch);
        if (threadIdx.x == 0) {
            const float lse = m + logf(s);
            const i64 t = p.targets[row];
            p.lse[row] = lse;
            p.loss[row] = (t >= 0 && t < (i64)p.classes) ? lse - x[t] : __int_as_float(0x7fc00000);
        }
    }
}
KILN_EXPORT(ce_forward_f32, CrossEntropyParams)

extern "C" __global__ void ce_backward_f32(const CrossEntropyBackwardParams p) {
    const u64 total = (u64)p.rows * p.classes;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        const u32 row = (u32)(i / p.classes), c = (u32)(i % p.classes);
        const float x = p.logits[(u64)row * p.ld + c];
        const float onehot = p.targets[row] == (i64)c ? 1.0f : 0.0f;
        p.dx[i] = (expf(x - p.lse[row]) - onehot) * p.scale;
    }
}
KILN_EXPORT(ce_backward_f32, CrossEntropyBackwardParams)

extern "C" __global__ void bce_logits_forward_f32(const BceLogitsParams p) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x) {
        const float x = p.x[i], y = p.y[i];
        p.out[i] = fmaxf(x, 0.0f) - x * y + log1pf(expf(-fabsf(x)));
    }
}
KILN_EXPORT(bce_logits_forward_f32, BceLogitsParams)

extern "C" __global__ void bce_logits_backward_f32(const BceLogitsParams p) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x)
        p.out[i] = (kiln_sigmoid(p.x[i]) - p.y[i]) * p.scale;
}
KILN_EXPORT(bce_logits_backward_f32, BceLogitsParams)
