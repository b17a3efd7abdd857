// elementwise.cu: unary and binary maps over any layout (strided, broadcast) and their backward
// maps, plus float4-vectorised twins for contiguous operands. f32, grid-stride loops, one output
// element per iteration; the output is always contiguous. Launch code: elementwise/cuda.rs.
//
// Versions (kernel lab numbering):
//   v1 ew_unary_f32 / ew_binary_f32           strided: KilnStrided maps each output index to
//                                              every operand's offset (also the strided copy)
//   v2 ew_unary_vec4_f32 / ew_binary_vec4_f32  contiguous, 16-byte aligned: one float4 per
//                                              iteration, scalar tail
// Selection (strided only): ew_compare_f32 (a u32 0/1 mask) and ew_where_f32 (cond ? a : b).
// Op codes: `UnaryCode` etc., defined in Rust (kernels/src/cuda/shared_defs.rs) and generated here.
// Compiled with kernels/cuda/kiln_cuda.h in front (NVRTC) or with kiln_shim.h too (host tests).

// UnaryCode, BinaryCode and CompareCode are generated from kernels/src/cuda/shared_defs.rs.

struct UnaryParams {
    const float* x;
    float* y;
    u32 n;
    u32 op;
    float a0;  // leaky slope, affine mul, pow exponent
    float a1;  // affine add
    KilnStrided s;  // operand 0: x
};

struct BinaryParams {
    const float* a;
    const float* b;
    float* out;
    u32 n;
    u32 op;
    KilnStrided s;  // operand 0: a, 1: b
};

struct WhereParams {
    const u32* cond;
    const float* a;
    const float* b;
    float* out;
    u32 n;
    KilnStrided s;  // operand 0: cond, 1: a, 2: b
};

struct UnaryBackwardParams {
    const float* x;
    const float* y;
    const float* g;
    float* dx;
    u32 n;
    u32 op;
    float a0;
    float a1;
    KilnStrided s;  // operand 0: x, 1: y, 2: g
};

struct BinaryBackwardParams {
    const float* a;
    const float* b;
    const float* g;
    float* da;
    float* db;
    u32 n;
    u32 op;
    KilnStrided s;  // operand 0: a, 1: b, 2: g
};

__device__ __forceinline__ float unary_apply(u32 op, float x, float a0, float a1) {
    switch (op) {
        case U_COPY: return x;
        case U_NEG: return -x;
        case U_EXP: return expf(x);
        case U_LOG: return logf(x);
        case U_SQRT: return sqrtf(x);
        case U_ABS: return fabsf(x);
        case U_RELU: return x > 0.0f || x != x ? x : 0.0f;  // NaN propagates, as in PyTorch
        case U_LEAKY: return x > 0.0f ? x : x * a0;
        case U_SIGMOID: return kiln_sigmoid(x);
        case U_TANH: return tanhf(x);
        case U_AFFINE: return x * a0 + a1;
        case U_POW: return powf(x, a0);
        default: return __int_as_float(0x7fc00000);  // unknown op: NaN, never silently x
    }
}

// dy/dx from the input x and output y (the same kink conventions as ops.rs).
__device__ __forceinline__ float unary_derivative(u32 op, float x, float y, float a0) {
    switch (op) {
        case U_COPY: return 1.0f;
        case U_NEG: return -1.0f;
        case U_EXP: return y;
        case U_LOG: return 1.0f / x;
        case U_SQRT: return 0.5f / y;
        case U_ABS: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
        case U_RELU: return x > 0.0f ? 1.0f : 0.0f;
        case U_LEAKY: return x > 0.0f ? 1.0f : a0;
        case U_SIGMOID: return y * (1.0f - y);
        case U_TANH: return 1.0f - y * y;
        case U_AFFINE: return a0;
        case U_POW: return a0 * powf(x, a0 - 1.0f);
        default: return __int_as_float(0x7fc00000);
    }
}

__device__ __forceinline__ float binary_apply(u32 op, float a, float b) {
    switch (op) {
        case B_ADD: return a + b;
        case B_SUB: return a - b;
        case B_MUL: return a * b;
        case B_DIV: return a / b;
        case B_POW: return powf(a, b);
        // fmaxf/fminf drop a NaN operand; PyTorch's maximum/minimum propagate it.
        case B_MAX: return a != a || b != b ? a + b : fmaxf(a, b);
        case B_MIN: return a != a || b != b ? a + b : fminf(a, b);
        default: return __int_as_float(0x7fc00000);
    }
}

// (d/da, d/db); ties of max/min split the gradient evenly, as PyTorch does.
__device__ __forceinline__ void binary_partials(u32 op, float a, float b, float* da, float* db) {
    switch (op) {
        case B_ADD: *da = 1.0f; *db = 1.0f; return;
        case B_SUB: *da = 1.0f; *db = -1.0f; return;
        case B_MUL: *da = b; *db = a; return;
        case B_DIV: *da = 1.0f / b; *db = -a / (b * b); return;
        case B_POW: {
            float p = powf(a, b);
            *da = b * powf(a, b - 1.0f);
            *db = a == 0.0f ? 0.0f : p * logf(a);
            return;
        }
        case B_MAX:
        case B_MIN: {
            bool a_wins = op == B_MAX ? a > b : a < b;
            if (a == b) { *da = 0.5f; *db = 0.5f; }
            else if (a_wins) { *da = 1.0f; *db = 0.0f; }
            else { *da = 0.0f; *db = 1.0f; }
            return;
        }
        default: *da = *db = __int_as_float(0x7fc00000);
    }
}

extern "C" __global__ void ew_unary_f32(const UnaryParams p) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x)
        p.y[i] = unary_apply(p.op, p.x[kiln_offset(p.s, 0, i)], p.a0, p.a1);
}
KILN_EXPORT(ew_unary_f32, UnaryParams)

// x and y contiguous and 16-byte aligned.
extern "C" __global__ void ew_unary_vec4_f32(const UnaryParams p) {
    const u32 n4 = p.n / 4, stride = gridDim.x * blockDim.x;
    const float4* x4 = reinterpret_cast<const float4*>(p.x);
    float4* y4 = reinterpret_cast<float4*>(p.y);
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += stride) {
        float4 v = x4[i];
        v.x = unary_apply(p.op, v.x, p.a0, p.a1);
        v.y = unary_apply(p.op, v.y, p.a0, p.a1);
        v.z = unary_apply(p.op, v.z, p.a0, p.a1);
        v.w = unary_apply(p.op, v.w, p.a0, p.a1);
        y4[i] = v;
    }
    for (u32 i = 4 * n4 + blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += stride)
        p.y[i] = unary_apply(p.op, p.x[i], p.a0, p.a1);
}
KILN_EXPORT(ew_unary_vec4_f32, UnaryParams)

extern "C" __global__ void ew_binary_f32(const BinaryParams p) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x)
        p.out[i] = binary_apply(p.op, p.a[kiln_offset(p.s, 0, i)], p.b[kiln_offset(p.s, 1, i)]);
}
KILN_EXPORT(ew_binary_f32, BinaryParams)

// a, b and out contiguous, of one shape, 16-byte aligned.
extern "C" __global__ void ew_binary_vec4_f32(const BinaryParams p) {
    const u32 n4 = p.n / 4, stride = gridDim.x * blockDim.x;
    const float4* a4 = reinterpret_cast<const float4*>(p.a);
    const float4* b4 = reinterpret_cast<const float4*>(p.b);
    float4* o4 = reinterpret_cast<float4*>(p.out);
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += stride) {
        float4 a = a4[i], b = b4[i];
        o4[i] = make_float4(binary_apply(p.op, a.x, b.x), binary_apply(p.op, a.y, b.y), binary_apply(p.op, a.z, b.z),
                            binary_apply(p.op, a.w, b.w));
    }
    for (u32 i = 4 * n4 + blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += stride)
        p.out[i] = binary_apply(p.op, p.a[i], p.b[i]);
}
KILN_EXPORT(ew_binary_vec4_f32, BinaryParams)

// dx = g * f'(x, y), x/y/g of the output's shape through their own strides.
extern "C" __global__ void ew_unary_backward_f32(const UnaryBackwardParams p) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x) {
        float x = p.x[kiln_offset(p.s, 0, i)], y = p.y[kiln_offset(p.s, 1, i)], g = p.g[kiln_offset(p.s, 2, i)];
        p.dx[i] = g * unary_derivative(p.op, x, y, p.a0);
    }
}
KILN_EXPORT(ew_unary_backward_f32, UnaryBackwardParams)

// Gradients at the broadcast output shape (summed back to the inputs' shapes by the reduce kernels).
extern "C" __global__ void ew_binary_backward_f32(const BinaryBackwardParams p) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x) {
        float da, db;
        binary_partials(p.op, p.a[kiln_offset(p.s, 0, i)], p.b[kiln_offset(p.s, 1, i)], &da, &db);
        float g = p.g[kiln_offset(p.s, 2, i)];
        p.da[i] = g * da;
        p.db[i] = g * db;
    }
}
KILN_EXPORT(ew_binary_backward_f32, BinaryBackwardParams)

// IEEE comparisons, as Rust's PartialOrd: anything with a NaN is false, except != (true).
__device__ __forceinline__ u32 compare_apply(u32 op, float a, float b) {
    switch (op) {
        case C_EQ: return a == b;
        case C_NE: return a != b;
        case C_LT: return a < b;
        case C_LE: return a <= b;
        case C_GT: return a > b;
        case C_GE: return a >= b;
        default: return 2u;  // unknown op: neither 0 nor 1, never a plausible mask
    }
}

// Takes the binary maps' parameters; `out` holds u32 (the mask), so it is cast.
extern "C" __global__ void ew_compare_f32(const BinaryParams p) {
    u32* out = reinterpret_cast<u32*>(p.out);
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x)
        out[i] = compare_apply(p.op, p.a[kiln_offset(p.s, 0, i)], p.b[kiln_offset(p.s, 1, i)]);
}
KILN_EXPORT(ew_compare_f32, BinaryParams)

extern "C" __global__ void ew_where_f32(const WhereParams p) {
    for (u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x)
        p.out[i] = p.cond[kiln_offset(p.s, 0, i)] != 0u ? p.a[kiln_offset(p.s, 1, i)] : p.b[kiln_offset(p.s, 2, i)];
}
KILN_EXPORT(ew_where_f32, WhereParams)
