// matmul.cu: batched SGEMM  C[b] = alpha * A[b] @ B[b] + beta * C[b], A [m, k], B [k, n], C [m, n].
// A and B are read through (row, column, batch) strides, so every transpose combination is a
// stride swap and no flag is needed; C has row stride c_rs and unit column stride. beta == 0 never
// reads C (it may hold garbage). Launch code: matmul/cuda.rs.
//
// Versions:
//   v1 gemm_naive_f32  one thread per C element, block 16x16, grid (n/16, m/16, batch)
//   v2 gemm_tiled_f32  64x64 C tile per 256-thread block, K in steps of 16 through shared memory
//                      (As and Bs stored k-major and padded by one column against bank conflicts),
//                      each thread accumulating a 4x4 register block at rows ty+16i, cols tx+16j
//                      (16 FMAs per 8 shared loads). Edge tiles are zero-filled. Tile loads are
//                      coalesced for either layout of each operand: consecutive threads walk
//                      whichever of its two dims has unit stride (k for row-major A, m for a
//                      transposed A; n for row-major B, k for a transposed B), decided per launch.

struct GemmParams {
    const float* a;
    const float* b;
    float* c;
    u32 m, n, k, batch;
    u32 a_rs, a_cs, b_rs, b_cs, c_rs;
    u32 a_bs, b_bs, c_bs;  // batch strides
    float alpha, beta;
};

extern "C" __global__ void gemm_naive_f32(const GemmParams p) {
    const u32 col = blockIdx.x * blockDim.x + threadIdx.x, row = blockIdx.y * blockDim.y + threadIdx.y;
    const u32 bt = blockIdx.z;
    if (row >= p.m || col >= p.n || bt >= p.batch) return;
    const float* a = p.a + (u64)bt * p.a_bs + (u64)row * p.a_rs;
    const float* b = p.b + (u64)bt * p.b_bs + (u64)col * p.b_cs;
    float acc = 0.0f;
    for (u32 kk = 0; kk < p.k; ++kk) acc += a[(u64)kk * p.a_cs] * b[(u64)kk * p.b_rs];
    float* c = p.c + (u64)bt * p.c_bs + (u64)row * p.c_rs + col;
    *c = p.beta == 0.0f ? p.alpha * acc : p.alpha * acc + p.beta * *c;
}
KILN_EXPORT(gemm_naive_f32, GemmParams)

#define TILE_M 64
#define TILE_N 64
#define TILE_K 16

extern "C" __global__ void gemm_tiled_f32(const GemmParams p) {
    __shared__ float As[TILE_K][TILE_M + 1];
    __shared__ float Bs[TILE_K][TILE_N + 1];
    const u32 tx = threadIdx.x, ty = threadIdx.y, tid = ty * 16 + tx;
    const u32 row0 = blockIdx.y * TILE_M, col0 = blockIdx.x * TILE_N, bt = blockIdx.z;
    const float* a = p.a + (u64)bt * p.a_bs;
    const float* b = p.b + (u64)bt * p.b_bs;
    float acc[4][4];
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

    // Which dim consecutive threads walk while loading a tile: the operand's unit-stride one.
    // Uniform over the launch, so no divergence; the padded tiles keep either store order free of
    // bank conflicts. Element l (0..4) of a thread's share of a tile sits at (base + step * l), so
    // the choice costs a few registers once, not index arithmetic per load.
    const bool a_down_m = p.a_rs == 1 && p.a_cs != 1;  // A is a transposed (column-major) view
    const bool b_down_k = p.b_rs == 1 && p.b_cs != 1;  // B is a transposed (column-major) view
    const u32 ar0 = a_down_m ? tid % TILE_M : tid / TILE_K, ar_step = a_down_m ? 0 : 256 / TILE_K;
    const u32 ak0 = a_down_m ? tid / TILE_M : tid % TILE_K, ak_step = a_down_m ? 256 / TILE_M : 0;
    const u32 bk0 = b_down_k ? tid % TILE_K : tid / TILE_N, bk_step = b_down_k ? 0 : 256 / TILE_N;
    const u32 bn0 = b_down_k ? tid / TILE_K : tid % TILE_N, bn_step = b_down_k ? 256 / TILE_K : 0;

    for (u32 k0 = 0; k0 < p.k; k0 += TILE_K) {
        // 1024 elements of each tile, 4 per thread.
        for (u32 l = 0; l < 4; ++l) {
            const u32 ar = ar0 + ar_step * l, ak = ak0 + ak_step * l;
            const u32 gr = row0 + ar, gk = k0 + ak;
            As[ak][ar] = (gr < p.m && gk < p.k) ? a[(u64)gr * p.a_rs + (u64)gk * p.a_cs] : 0.0f;
            const u32 bk = bk0 + bk_step * l, bn = bn0 + bn_step * l;
            const u32 hk = k0 + bk, gc = col0 + bn;
            Bs[bk][bn] = (hk < p.k && gc < p.n) ? b[(u64)hk * p.b_rs + (u64)gc * p.b_cs] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (u32 kk = 0; kk < TILE_K; ++kk) {
            float af[4], bf[4];
            for (int i = 0; i < 4; ++i) af[i] = As[kk][ty + 16 * i];
            for (int j = 0; j < 4; ++j) bf[j] = Bs[kk][tx + 16 * j];
            for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j) acc[i][j] += af[i] * bf[j];
        }
        __syncthreads();
    }
    float* c = p.c + (u64)bt * p.c_bs;
    for (int i = 0; i < 4; ++i) {
        const u32 r = row0 + ty + 16 * i;
        if (r >= p.m) continue;
        for (int j = 0; j < 4; ++j) {
            const u32 col = col0 + tx + 16 * j;
            if (col >= p.n) continue;
            float* out = c + (u64)r * p.c_rs + col;
            *out = p.beta == 0.0f ? p.alpha * acc[i][j] : p.alpha * acc[i][j] + p.beta * *out;
        }
    }
}
KILN_EXPORT(gemm_tiled_f32, GemmParams)
