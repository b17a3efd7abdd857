// kiln_shim.h: lets the host C++20 compiler build kiln's .cu files unchanged, so every kernel can
// run on the CPU in `cargo test` against the scalar references (no GPU exists where kiln is built).
//
// How: CUDA's qualifiers are defined away, `__shared__` becomes `static thread_local` (the blocks
// of one launch run one at a time on one OS thread), threadIdx/blockIdx/... read the running
// fiber's coordinates, `__syncthreads` is a block barrier and full-mask `__shfl_*_sync` a warp
// exchange through per-lane slots. kiln_shim.cpp runs each block's threads as ucontext fibers,
// switching only at barriers: deterministic, and a barrier deadlock is reported, not hung on.
//
// What it cannot emulate (kernels using these need a real GPU to be tested): partial-mask or
// divergent warp ops, code relying on warp lockstep without __syncwarp, ballot/any/all, cp.async,
// tensor cores (mma/wmma), cooperative groups, inline PTX, fp16 types, constant/texture memory,
// races between blocks, occupancy, bank conflicts, timing. Unsupported intrinsics are simply not
// defined here, so using one is a host compile error rather than a silently wrong answer.
#ifndef KILN_SHIM_H
#define KILN_SHIM_H

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>

#define KILN_HOST 1

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __shared__ static thread_local
#define __constant__ static const

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) float2 {
    float x, y;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline float2 make_float2(float x, float y) { return float2{x, y}; }

namespace kiln {
// The running thread's coordinates and the block's geometry (kiln_shim.cpp).
const uint3& shim_thread_idx();
const uint3& shim_block_idx();
const uint3& shim_block_dim();
const uint3& shim_grid_dim();
void* dynamic_smem();
void syncthreads();
// Full-mask warp exchange: every lane of the warp publishes `bits` and receives lane `src`'s.
uint64_t warp_exchange(unsigned mask, uint64_t bits, int src_lane, const char* what);
void syncwarp(unsigned mask);
unsigned lane_id();

template <class T>
T shfl(unsigned mask, T v, int src, const char* what) {
    static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    bits = warp_exchange(mask, bits, src, what);
    T out;
    std::memcpy(&out, &bits, sizeof(T));
    return out;
}

// Host export of a kernel: copies the parameter struct and runs `body` for every thread of the grid.
struct LaunchCfg {
    unsigned grid[3];
    unsigned block[3];
    unsigned shared_bytes;
};
int launch(const char* name, const LaunchCfg& cfg, const std::function<void()>& body);
int param_size_mismatch(const char* name, unsigned long expected, unsigned long got);
}  // namespace kiln

#define threadIdx (::kiln::shim_thread_idx())
#define blockIdx (::kiln::shim_block_idx())
#define blockDim (::kiln::shim_block_dim())
#define gridDim (::kiln::shim_grid_dim())
#define warpSize 32

inline void __syncthreads() { ::kiln::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::kiln::syncwarp(mask); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }

template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    int lane = (int)::kiln::lane_id();
    int base = lane & ~(width - 1);
    return ::kiln::shfl(mask, v, base + (src & (width - 1)), "__shfl_sync");
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    int lane = (int)::kiln::lane_id();
    int src = lane ^ lane_mask;
    // A source outside this lane's width-segment (only possible from a higher one) returns own value.
    if ((src & ~(width - 1)) > (lane & ~(width - 1))) src = lane;
    return ::kiln::shfl(mask, v, src, "__shfl_xor_sync");
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    int lane = (int)::kiln::lane_id();
    int src = lane + (int)delta;
    if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;
    return ::kiln::shfl(mask, v, src, "__shfl_down_sync");
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    int lane = (int)::kiln::lane_id();
    int src = lane - (int)delta;
    if (src < (lane & ~(width - 1))) src = lane;
    return ::kiln::shfl(mask, v, src, "__shfl_up_sync");
}

// Bit casts and fast-math intrinsics with their exact (IEEE) host meaning.
inline float __int_as_float(int i) {
    float f;
    std::memcpy(&f, &i, 4);
    return f;
}
inline int __float_as_int(float f) {
    int i;
    std::memcpy(&i, &f, 4);
    return i;
}
inline float __uint_as_float(unsigned i) {
    float f;
    std::memcpy(&f, &i, 4);
    return f;
}
inline unsigned __float_as_uint(float f) {
    unsigned i;
    std::memcpy(&i, &f, 4);
    return i;
}
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __frcp_rn(float x) { return 1.0f / x; }
template <class T>
inline T __ldg(const T* p) {
    return *p;
}

// CUDA's global min/max overloads.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }

// Atomics: the threads of a launch are cooperative fibers on one OS thread, so these are exact;
// atomic_ref keeps them correct even if two host launches ever touch the same buffer.
template <class T>
inline T atomicAdd(T* p, T v) {
    return std::atomic_ref<T>(*p).fetch_add(v);
}
template <class T>
inline T atomicExch(T* p, T v) {
    return std::atomic_ref<T>(*p).exchange(v);
}
template <class T>
inline T atomicCAS(T* p, T expected, T desired) {
    std::atomic_ref<T>(*p).compare_exchange_strong(expected, desired);
    return expected;
}
template <class T>
inline T atomicMax(T* p, T v) {
    std::atomic_ref<T> r(*p);
    T old = r.load();
    while (old < v && !r.compare_exchange_weak(old, v)) {
    }
    return old;
}
template <class T>
inline T atomicMin(T* p, T v) {
    std::atomic_ref<T> r(*p);
    T old = r.load();
    while (old > v && !r.compare_exchange_weak(old, v)) {
    }
    return old;
}

// Export a kernel taking one `const Params` argument under the symbol kiln_host_<name>; the build
// script collects every KILN_EXPORT into the name -> launcher table the Rust side calls.
#define KILN_EXPORT(name, Params)                                                                     \
    extern "C" int kiln_host_##name(const ::kiln::LaunchCfg* cfg, const void* params, unsigned long size) { \
        if (size != sizeof(Params)) return ::kiln::param_size_mismatch(#name, sizeof(Params), size); \
        Params copy;                                                                                \
        std::memcpy(static_cast<void*>(&copy), params, sizeof(Params));                              \
        return ::kiln::launch(#name, *cfg, [&copy] { name(copy); });                                 \
    }

#endif  // KILN_SHIM_H
