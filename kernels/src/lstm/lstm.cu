// lstm.cu: the fused elementwise part of one LSTM time step (PyTorch's gate order i, f, g, o).
// The GEMMs (x @ W_ih^T for all steps, h @ W_hh^T per step) run before; this kernel takes their
// sum plus bias as `gates` [B, 4H] (row stride ld_gates) and does everything else in one pass:
//   lstm_cell_forward_f32   i=σ(a_i) f=σ(a_f) g=tanh(a_g) o=σ(a_o); c = f*c_prev + i*g;
//                           h = o*tanh(c); saves the activated gates [B, 4H] for the backward
//   lstm_cell_backward_f32  from dh, dc (the gradient flowing into c from step t+1; may be null),
//                           the saved activations, c_prev and c: the pre-activation gate gradients
//                           [B, 4H] and dc_prev [B, H]
// One thread per (batch, hidden unit); grid-stride. Launch code: lstm/cuda.rs.

struct LstmForwardParams {
    const float* gates;   // [B, 4H] pre-activations
    const float* c_prev;  // [B, H]
    float* h;             // [B, H]
    float* c;             // [B, H]
    float* act;           // [B, 4H] activated gates (saved)
    u32 batch, hidden, ld_gates, pad;
};

struct LstmBackwardParams {
    const float* dh;       // [B, H]
    const float* dc_next;  // [B, H] or null
    const float* act;      // [B, 4H]
    const float* c_prev;   // [B, H]
    const float* c;        // [B, H]
    float* dgates;         // [B, 4H] gradient w.r.t. the pre-activations
    float* dc_prev;        // [B, H]
    u32 batch, hidden;
};

extern "C" __global__ void lstm_cell_forward_f32(const LstmForwardParams p) {
    const u64 total = (u64)p.batch * p.hidden;
    for (u64 t = blockIdx.x * (u64)blockDim.x + threadIdx.x; t < total; t += (u64)gridDim.x * blockDim.x) {
        const u64 b = t / p.hidden, j = t % p.hidden, H = p.hidden;
        const float* a = p.gates + b * p.ld_gates;
        const float i = kiln_sigmoid(a[j]), f = kiln_sigmoid(a[H + j]), g = tanhf(a[2 * H + j]),
                    o = kiln_sigmoid(a[3 * H + j]);
        const float c = f * p.c_prev[t] + i * g;
        p.c[t] = c;
        p.h[t] = o * tanhf(c);
        float* act = p.act + b * 4 * H;
        act[j] = i;
        act[H + j] = f;
        act[2 * H + j] = g;
        act[3 * H + j] = o;
    }
}
KILN_EXPORT(lstm_cell_forward_f32, LstmForwardParams)

extern "C" __global__ void lstm_cell_backward_f32(const LstmBackwardParams p) {
    const u64 total = (u64)p.batch * p.hidden;
    for (u64 t = blockIdx.x * (u64)blockDim.x + threadIdx.x; t < total; t += (u64)gridDim.x * blockDim.x) {
        const u64 b = t / p.hidden, j = t % p.hidden, H = p.hidden;
        const float* act = p.act + b * 4 * H;
        const float i = act[j], f = act[H + j], g = act[2 * H + j], o = act[3 * H + j];
        const float tc = tanhf(p.c[t]), dh = p.dh[t];
        const float dc = (p.dc_next ? p.dc_next[t] : 0.0f) + dh * o * (1.0f - tc * tc);
        float* d = p.dgates + b * 4 * H;
        d[j] = dc * g * i * (1.0f - i);
        d[H + j] = dc * p.c_prev[t] * f * (1.0f - f);
        d[2 * H + j] = dc * i * (1.0f - g * g);
        d[3 * H + j] = dh * tc * o * (1.0f - o);
        p.dc_prev[t] = dc * f;
    }
}
KILN_EXPORT(lstm_cell_backward_f32, LstmBackwardParams)
