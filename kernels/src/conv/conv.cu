// conv.cu: im2col / col2im for NCHW convolution with zero padding and a square stride, the same
// column layout as conv/im2col.rs, so a convolution is W [O, C*KH*KW] @ cols [C*KH*KW, OH*OW]
// per sample (matmul.cu's GEMM), and the input gradient is col2im(W^T @ grad).
//   im2col_f32  one thread per column entry of every sample: cols[b][(c*KH+i)*KW+j][oh*OW+ow]
//               = x[b, c, oh*stride+i-pad, ow*stride+j-pad] (0 in the padding); x through strides
//   col2im_f32  one thread per input pixel, gathering every (tap, position) that read it: no
//               atomics, deterministic, writes (not adds) a contiguous [N, C, H, W] gradient
// Launch code: conv/cuda.rs.

struct ConvColsParams {
    const float* x;  // im2col: input; col2im: cols
    float* out;      // im2col: cols;  col2im: input gradient
    u32 n, c, h, w;
    u32 kh, kw, oh, ow;
    u32 stride, pad;
    u32 sn, sc, sh, sw;  // input strides (im2col only)
};

extern "C" __global__ void im2col_f32(const ConvColsParams p) {
    const u64 per_sample = (u64)p.c * p.kh * p.kw * p.oh * p.ow, total = per_sample * p.n;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        u64 r = i;
        const u32 ow = (u32)(r % p.ow); r /= p.ow;
        const u32 oh = (u32)(r % p.oh); r /= p.oh;
        const u32 j = (u32)(r % p.kw); r /= p.kw;
        const u32 ki = (u32)(r % p.kh); r /= p.kh;
        const u32 c = (u32)(r % p.c);
        const u32 b = (u32)(r / p.c);
        const long long ih = (long long)oh * p.stride + ki - p.pad, iw = (long long)ow * p.stride + j - p.pad;
        float v = 0.0f;
        if (ih >= 0 && ih < p.h && iw >= 0 && iw < p.w)
            v = p.x[(u64)b * p.sn + (u64)c * p.sc + (u64)ih * p.sh + (u64)iw * p.sw];
        p.out[i] = v;
    }
}
KILN_EXPORT(im2col_f32, ConvColsParams)

extern "C" __global__ void col2im_f32(const ConvColsParams p) {
    const u64 total = (u64)p.n * p.c * p.h * p.w, rows = (u64)p.c * p.kh * p.kw, pos = (u64)p.oh * p.ow;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < total; i += (u64)gridDim.x * blockDim.x) {
        u64 r = i;
        const u32 iw = (u32)(r % p.w); r /= p.w;
        const u32 ih = (u32)(r % p.h); r /= p.h;
        const u32 c = (u32)(r % p.c);
        const u32 b = (u32)(r / p.c);
        const float* cols = p.x + (u64)b * rows * pos;
        float acc = 0.0f;
        for (u32 ki = 0; ki < p.kh; ++ki) {
            const long long th = (long long)ih + p.pad - ki;  // = oh * stride
            if (th < 0 || th % p.stride != 0 || th / p.stride >= p.oh) continue;
            const u32 oh = (u32)(th / p.stride);
            for (u32 j = 0; j < p.kw; ++j) {
                const long long tw = (long long)iw + p.pad - j;
                if (tw < 0 || tw % p.stride != 0 || tw / p.stride >= p.ow) continue;
                const u32 ow = (u32)(tw / p.stride);
                acc += cols[((u64)(c * p.kh + ki) * p.kw + j) * pos + (u64)oh * p.ow + ow];
            }
        }
        p.out[i] = acc;
    }
}
KILN_EXPORT(col2im_f32, ConvColsParams)
