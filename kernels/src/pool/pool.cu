// pool.cu: 2-D max pooling (k x k windows at stride s, no padding) over [N, C, H, W] read through
// strides, keeping the argmax (flat ih*W + iw within the plane, i64) for the backward; the same
// tie and NaN rules as pool/reference.rs (first maximum in row-major window order; a NaN wins).
//   max_pool2d_f32           one thread per output element
//   max_pool2d_backward_f32  one thread per output-gradient element, atomicAdd into a zeroed
//                            contiguous input gradient (windows may overlap when s < k; float
//                            atomics make the summation order, and so the last bits, vary on a GPU)
// Launch code: pool/cuda.rs.

struct MaxPoolParams {
    const float* x;
    float* y;
    i64* idx;
    u32 n, c, h, w, oh, ow;
    u32 k, s;
    u32 sn, sc, sh, sw;
};

struct MaxPoolBackwardParams {
    const float* g;  // [N, C, OH, OW] contiguous
    const i64* idx;
    float* dx;  // [N, C, H, W] contiguous, zeroed by the launcher
    u32 planes;
    u32 out_plane;  // OH*OW
    u32 in_plane;   // H*W
    u32 pad;
};

extern "C" __global__ void max_pool2d_f32(const MaxPoolParams p) {
    const u64 total = (u64)p.n * p.c * p.oh * p.ow;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        u64 r = i;
        const u32 ox = (u32)(r % p.ow); r /= p.ow;
        const u32 oy = (u32)(r % p.oh); r /= p.oh;
        const u32 c = (u32)(r % p.c);
        const u32 b = (u32)(r / p.c);
        const float* plane = p.x + (u64)b * p.sn + (u64)c * p.sc;
        float best = 0.0f;
        i64 best_at = -1;
        for (u32 ky = 0; ky < p.k; ++ky)
            for (u32 kx = 0; kx < p.k; ++kx) {
                const u32 y = oy * p.s + ky, x = ox * p.s + kx;
                const float v = plane[(u64)y * p.sh + (u64)x * p.sw];
                if (best_at < 0 || (!kiln_isnan(best) && (kiln_isnan(v) || v > best))) {
                    best = v;
                    best_at = (i64)y * p.w + x;
                }
            }
        p.y[i] = best_at < 0 ? -kiln_inf() : best;
        p.idx[i] = best_at < 0 ? 0 : best_at;
    }
}
KILN_EXPORT(max_pool2d_f32, MaxPoolParams)

extern "C" __global__ void max_pool2d_backward_f32(const MaxPoolBackwardParams p) {
    const u64 total = (u64)p.planes * p.out_plane;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        const i64 at = p.idx[i];
        if (at < 0 || at >= (i64)p.in_plane) continue;  // a corrupt index is dropped, not written out of bounds
        atomicAdd(p.dx + (i / p.out_plane) * p.in_plane + (u64)at, p.g[i]);
    }
}
KILN_EXPORT(max_pool2d_backward_f32, MaxPoolBackwardParams)
