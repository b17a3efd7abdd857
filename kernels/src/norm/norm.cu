// norm.cu: BatchNorm2d over x [outer, C, inner] ([N, C, H*W]: statistics per channel) and LayerNorm
// over x [rows, d] (statistics per row), fused: statistics in one kernel (a block per group,
// two-pass mean then centred sum of squares, block reductions by kiln_block_reduce), normalise +
// affine in one elementwise kernel, backward in two (a reduction, then the elementwise dx).
// Inputs are contiguous from element 0; outputs contiguous. f32, accumulating in f32 per thread.
//   batch_norm_stats_f32          mean, biased var, invstd = 1/sqrt(var + eps) per channel
//   batch_norm_apply_f32          y = (x - mean[c]) * invstd[c] * w[c] + b[c], then max(y, 0)
//                                 with `relu` (BatchNorm2d + ReLU fused)
//   batch_norm_backward_reduce_f32  db[c] = sum g, dw[c] = sum g * xhat
//   batch_norm_backward_dx_f32    dx = w invstd (g - db/m - xhat dw/m) (batch statistics), or
//                                 w invstd g (running statistics: `batch` = 0); with `relu` g is
//                                 first gated by the recomputed pre-ReLU output (bn_affine)
//   layer_norm_stats_f32          mean, var, invstd per row
//   layer_norm_apply_f32          y = (x - mean[r]) * invstd[r] * w[j] + b[j]
//   layer_norm_backward_dx_f32    dx = invstd (gw - mean(gw) - xhat mean(gw xhat)), gw = g w[j]
//   layer_norm_backward_params_f32  dw[j] = sum_r g xhat, db[j] = sum_r g (a thread per column)
// The oracle is norm/reference.rs; launch code: norm/cuda.rs.

struct NormStatsParams {
    const float* x;
    float* mean;
    float* var;
    float* invstd;
    u32 outer;  // LayerNorm: rows
    u32 c;      // LayerNorm: 1
    u32 inner;  // LayerNorm: d
    float eps;
};

struct NormApplyParams {
    const float* x;
    const float* mean;
    const float* invstd;
    const float* w;
    const float* b;
    float* y;
    u32 n;
    u32 c;      // LayerNorm: d
    u32 inner;  // LayerNorm: 0 (statistics per row of c, affine per column)
    u32 relu;   // BatchNorm: 1 when a ReLU follows in the same op
};

struct NormBackwardParams {
    const float* x;
    const float* g;
    const float* mean;
    const float* invstd;
    const float* w;
    const float* b;  // BatchNorm with relu: the bias, for the gate
    float* dw;
    float* db;
    float* dx;
    u32 outer;  // LayerNorm: rows
    u32 c;      // LayerNorm: d
    u32 inner;  // LayerNorm: unused
    u32 batch;  // BatchNorm: 1 when the statistics were the batch's own
    u32 relu;   // BatchNorm: 1 when a ReLU followed in the same op
    u32 pad;
};

// Element k of group `grp` in x [outer, c, inner] seen as groups of outer * inner elements.
__device__ __forceinline__ u64 norm_channel_index(u64 k, u32 grp, u32 c, u32 inner) {
    const u64 o = k / inner, i = k % inner;
    return (o * c + grp) * inner + i;
}

// Mean, biased variance and invstd of the m values `at(k)` of one group, block-wide: the mean
// first, then the centred sum of squares (two passes, as the reference), written by thread 0.
template <typename At>
__device__ inline void norm_group_stats(const At& at, u64 m, const NormStatsParams& p, u32 group, float* scratch) {
    const float inv_m = m ? 1.0f / (float)m : 0.0f;
    float s = 0.0f;
    for (u64 k = threadIdx.x; k < m; k += blockDim.x) s += at(k);
    const float mu = kiln_block_reduce(s, 0, scratch) * inv_m;
    float q = 0.0f;
    for (u64 k = threadIdx.x; k < m; k += blockDim.x) {
        const float d = at(k) - mu;
        q += d * d;
    }
    const float var = kiln_block_reduce(q, 0, scratch) * inv_m;
    if (threadIdx.x == 0) {
        p.mean[group] = mu;
        p.var[group] = var;
        p.invstd[group] = 1.0f / sqrtf(var + p.eps);
    }
}

extern "C" __global__ void batch_norm_stats_f32(const NormStatsParams p) {
    __shared__ float scratch[32];
    const u64 m = (u64)p.outer * p.inner;
    for (u32 ch = blockIdx.x; ch < p.c; ch += gridDim.x) {
        const auto at = [&](u64 k) { return p.x[norm_channel_index(k, ch, p.c, p.inner)]; };
        norm_group_stats(at, m, p, ch, scratch);
    }
}
KILN_EXPORT(batch_norm_stats_f32, NormStatsParams)

// BatchNorm's output before its ReLU, written with explicit roundings (one fmaf) so the forward
// kernel and the backward gate compute the same value whatever the compiler contracts elsewhere.
__device__ __forceinline__ float bn_affine(float x, float mean, float invstd, float w, float b) {
    return fmaf(x - mean, invstd * w, b);
}

extern "C" __global__ void batch_norm_apply_f32(const NormApplyParams p) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x) {
        const u32 ch = (i / p.inner) % p.c;
        const float y = bn_affine(p.x[i], p.mean[ch], p.invstd[ch], p.w[ch], p.b[ch]);
        // ReLU as UnaryOp::Relu: a NaN stays NaN.
        p.y[i] = p.relu && !(y > 0.0f) && y == y ? 0.0f : y;
    }
}
KILN_EXPORT(batch_norm_apply_f32, NormApplyParams)

// The upstream gradient at element `at` of channel `ch`, through the fused ReLU when there was one
// (zero where the recomputed pre-ReLU output is not positive, as UnaryOp::Relu's derivative).
__device__ __forceinline__ float bn_gate(const NormBackwardParams& p, u64 at, u32 ch) {
    const float g = p.g[at];
    if (!p.relu) return g;
    return bn_affine(p.x[at], p.mean[ch], p.invstd[ch], p.w[ch], p.b[ch]) > 0.0f ? g : 0.0f;
}

extern "C" __global__ void batch_norm_backward_reduce_f32(const NormBackwardParams p) {
    __shared__ float scratch[32];
    const u64 m = (u64)p.outer * p.inner;
    for (u32 ch = blockIdx.x; ch < p.c; ch += gridDim.x) {
        const float mu = p.mean[ch], is = p.invstd[ch];
        float sg = 0.0f, sgx = 0.0f;
        for (u64 k = threadIdx.x; k < m; k += blockDim.x) {
            const u64 at = norm_channel_index(k, ch, p.c, p.inner);
            const float g = bn_gate(p, at, ch);
            sg += g;
            sgx += g * (p.x[at] - mu) * is;
        }
        sg = kiln_block_reduce(sg, 0, scratch);
        sgx = kiln_block_reduce(sgx, 0, scratch);
        if (threadIdx.x == 0) {
            p.db[ch] = sg;
            p.dw[ch] = sgx;
        }
    }
}
KILN_EXPORT(batch_norm_backward_reduce_f32, NormBackwardParams)

extern "C" __global__ void batch_norm_backward_dx_f32(const NormBackwardParams p) {
    const u64 total = (u64)p.outer * p.c * p.inner;
    const u64 m = (u64)p.outer * p.inner;
    const float inv_m = m ? 1.0f / (float)m : 0.0f;
    for (u64 i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        const u32 ch = (u32)((i / p.inner) % p.c);
        const float scale = p.w[ch] * p.invstd[ch];
        float d = bn_gate(p, i, ch);
        if (p.batch) {
            const float xhat = (p.x[i] - p.mean[ch]) * p.invstd[ch];
            d = d - p.db[ch] * inv_m - xhat * p.dw[ch] * inv_m;
        }
        p.dx[i] = scale * d;
    }
}
KILN_EXPORT(batch_norm_backward_dx_f32, NormBackwardParams)

extern "C" __global__ void layer_norm_stats_f32(const NormStatsParams p) {
    __shared__ float scratch[32];
    for (u32 r = blockIdx.x; r < p.outer; r += gridDim.x) {
        const float* x = p.x + (u64)r * p.inner;
        const auto at = [&](u64 k) { return x[k]; };
        norm_group_stats(at, p.inner, p, r, scratch);
    }
}
KILN_EXPORT(layer_norm_stats_f32, NormStatsParams)

extern "C" __global__ void layer_norm_apply_f32(const NormApplyParams p) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x) {
        const u32 r = i / p.c, j = i % p.c;
        p.y[i] = (p.x[i] - p.mean[r]) * p.invstd[r] * p.w[j] + p.b[j];
    }
}
KILN_EXPORT(layer_norm_apply_f32, NormApplyParams)

extern "C" __global__ void layer_norm_backward_dx_f32(const NormBackwardParams p) {
    __shared__ float scratch[32];
    const u32 d = p.c;
    const float inv_d = d ? 1.0f / (float)d : 0.0f;
    for (u32 r = blockIdx.x; r < p.outer; r += gridDim.x) {
        const float* x = p.x + (u64)r * d;
        const float* g = p.g + (u64)r * d;
        float* dx = p.dx + (u64)r * d;
        const float mu = p.mean[r], is = p.invstd[r];
        float sg = 0.0f, sgx = 0.0f;
        for (u32 j = threadIdx.x; j < d; j += blockDim.x) {
            const float gw = g[j] * p.w[j];
            sg += gw;
            sgx += gw * (x[j] - mu) * is;
        }
        const float g_mean = kiln_block_reduce(sg, 0, scratch) * inv_d;
        const float gx_mean = kiln_block_reduce(sgx, 0, scratch) * inv_d;
        for (u32 j = threadIdx.x; j < d; j += blockDim.x)
            dx[j] = is * (g[j] * p.w[j] - g_mean - (x[j] - mu) * is * gx_mean);
    }
}
KILN_EXPORT(layer_norm_backward_dx_f32, NormBackwardParams)

extern "C" __global__ void layer_norm_backward_params_f32(const NormBackwardParams p) {
    const u32 d = p.c;
    for (u32 j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += gridDim.x * blockDim.x) {
        float sg = 0.0f, sgx = 0.0f;
        for (u32 r = 0; r < p.outer; ++r) {
            const u64 at = (u64)r * d + j;
            sg += p.g[at];
            sgx += p.g[at] * (p.x[at] - p.mean[r]) * p.invstd[r];
        }
        p.db[j] = sg;
        p.dw[j] = sgx;
    }
}
KILN_EXPORT(layer_norm_backward_params_f32, NormBackwardParams)
