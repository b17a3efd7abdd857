// optim.cu: the fused Adam / AdamW update, in place, one pass over (param, grad, m, v) for any
// number of elements: PyTorch's formula (see optim/reference.rs)
//   Adam:  g += wd * p             AdamW: p -= lr * wd * p
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= step_size * m / (sqrt(v) / bc2_sqrt + eps)
// with step_size = lr / (1 - b1^t) and bc2_sqrt = sqrt(1 - b2^t) computed on the host in f64.
// float4 when the four buffers are 16-byte aligned (the launcher checks), with a scalar tail.
// Launch code: optim/cuda.rs.

struct AdamParams {
    float* p;
    const float* g;
    float* m;
    float* v;
    u32 n;
    u32 decoupled;  // 1: AdamW
    float step_size, bc2_sqrt, beta1, beta2, eps, lr_wd, wd;
    u32 pad;
};

__device__ __forceinline__ void adam_one(const AdamParams& a, float& p, float g, float& m, float& v) {
    if (a.decoupled) p -= a.lr_wd * p;
    else g += a.wd * p;
    m = a.beta1 * m + (1.0f - a.beta1) * g;
    v = a.beta2 * v + (1.0f - a.beta2) * g * g;
    p -= a.step_size * m / (sqrtf(v) / a.bc2_sqrt + a.eps);
}

extern "C" __global__ void adam_step_f32(const AdamParams a) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < a.n; i += gridDim.x * blockDim.x)
        adam_one(a, a.p[i], a.g[i], a.m[i], a.v[i]);
}
KILN_EXPORT(adam_step_f32, AdamParams)

extern "C" __global__ void adam_step_vec4_f32(const AdamParams a) {
    const u32 n4 = a.n / 4, stride = gridDim.x * blockDim.x;
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += stride) {
        float4 p = reinterpret_cast<float4*>(a.p)[i], m = reinterpret_cast<float4*>(a.m)[i],
               v = reinterpret_cast<float4*>(a.v)[i];
        const float4 g = reinterpret_cast<const float4*>(a.g)[i];
        adam_one(a, p.x, g.x, m.x, v.x);
        adam_one(a, p.y, g.y, m.y, v.y);
        adam_one(a, p.z, g.z, m.z, v.z);
        adam_one(a, p.w, g.w, m.w, v.w);
        reinterpret_cast<float4*>(a.p)[i] = p;
        reinterpret_cast<float4*>(a.m)[i] = m;
        reinterpret_cast<float4*>(a.v)[i] = v;
    }
    for (u32 i = 4 * n4 + blockIdx.x * blockDim.x + threadIdx.x; i < a.n; i += stride)
        adam_one(a, a.p[i], a.g[i], a.m[i], a.v[i]);
}
KILN_EXPORT(adam_step_vec4_f32, AdamParams)
