// kiln_shim.cpp: the host launcher behind kiln_shim.h. Runs a kernel's grid block by block on the
// calling OS thread; inside a block every CUDA thread is a ucontext fiber with its own stack, and a
// fiber runs until it finishes or waits at a barrier (__syncthreads, or a warp exchange for the
// full-mask shuffles). The scheduler sweeps the fibers, alternating the sweep direction at every
// pass so that a missing barrier shows up as a wrong answer rather than hiding behind one fixed
// order. A pass in which no fiber can run while some have not finished is a barrier deadlock:
// the launch stops and reports it (CUDA would hang or be undefined there).
//
// Trade-off: ucontext costs a signal-mask syscall per switch (about a microsecond), which is fine
// for the small shapes tests use; one OS thread per CUDA thread was measured 18x slower.
#include "kiln_shim.h"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <string>
#include <vector>

namespace kiln {
namespace {

constexpr size_t kStackBytes = 64 * 1024;
constexpr unsigned kMaxThreads = 1024;

enum class State { Ready, Waiting, Done };

struct Fiber {
    ucontext_t ctx;
    uint3 tid;
    unsigned linear;
    State state;
    char* stack;
};

struct Warp {
    unsigned lanes = 0;    // threads in this warp
    unsigned arrived = 0;  // lanes waiting at the current exchange
    unsigned gen = 0;
    std::array<uint64_t, 32> slots{};
    std::array<unsigned, 32> waiting{};  // fiber index per waiting lane
};

struct Run {
    const char* name = nullptr;
    const std::function<void()>* body = nullptr;
    uint3 grid{}, block{}, block_idx{};
    std::vector<Fiber> fibers;
    std::vector<Warp> warps;
    unsigned block_arrived = 0;
    std::vector<unsigned> block_waiting;
    ucontext_t scheduler;
    Fiber* cur = nullptr;
    unsigned char* smem = nullptr;
    bool failed = false;
    std::string error;
};

thread_local Run* g_run = nullptr;
thread_local std::string g_last_error;
// Stacks are kept per OS thread and reused across blocks and launches.
thread_local std::vector<char*> g_stacks;

char* stack_for(size_t i) {
    while (g_stacks.size() <= i) {
        long page = sysconf(_SC_PAGESIZE);
        // One guard page below each stack turns an overflow into a crash instead of corruption.
        void* mem = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) return nullptr;
        mprotect(mem, page, PROT_NONE);
        g_stacks.push_back(static_cast<char*>(mem) + page);
    }
    return g_stacks[i];
}

void fail(const std::string& msg) {
    Run* r = g_run;
    if (!r->failed) {
        r->failed = true;
        r->error = msg;
    }
}

void fiber_main() {
    Run* r = g_run;
    (*r->body)();
    r->cur->state = State::Done;
    // Returning resumes uc_link, the scheduler.
}

// Parks the running fiber and switches to the scheduler until something marks it Ready again.
void park() {
    Run* r = g_run;
    Fiber* me = r->cur;
    me->state = State::Waiting;
    swapcontext(&me->ctx, &r->scheduler);
}

std::string where() {
    Run* r = g_run;
    char buf[160];
    snprintf(buf, sizeof buf, "%s block (%u,%u,%u)", r->name, r->block_idx.x, r->block_idx.y, r->block_idx.z);
    return buf;
}

bool run_block(Run& r) {
    const unsigned n = r.block.x * r.block.y * r.block.z;
    r.fibers.resize(n);
    r.block_arrived = 0;
    r.block_waiting.clear();
    r.warps.assign((n + 31) / 32, Warp{});
    for (unsigned w = 0; w < r.warps.size(); ++w) r.warps[w].lanes = std::min(32u, n - 32 * w);
    for (unsigned i = 0; i < n; ++i) {
        Fiber& f = r.fibers[i];
        f.linear = i;
        f.tid = uint3{i % r.block.x, (i / r.block.x) % r.block.y, i / (r.block.x * r.block.y)};
        f.state = State::Ready;
        f.stack = stack_for(i);
        if (f.stack == nullptr) {
            r.error = "could not allocate fiber stacks";
            return false;
        }
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack;
        f.ctx.uc_stack.ss_size = kStackBytes;
        f.ctx.uc_link = &r.scheduler;
        makecontext(&f.ctx, fiber_main, 0);
    }
    bool forward = true;
    for (;;) {
        bool ran = false, all_done = true;
        for (unsigned k = 0; k < n; ++k) {
            Fiber& f = r.fibers[forward ? k : n - 1 - k];
            if (f.state == State::Ready) {
                r.cur = &f;
                swapcontext(&r.scheduler, &f.ctx);
                ran = true;
                if (r.failed) return false;
            }
            if (f.state != State::Done) all_done = false;
        }
        if (all_done) return true;
        if (!ran) {
            unsigned done = 0;
            for (auto& f : r.fibers) done += f.state == State::Done;
            r.error = where() + ": barrier deadlock: " + std::to_string(n - done) + " threads wait at a barrier ("
                      + std::to_string(r.block_arrived) + " at __syncthreads) that " + std::to_string(done)
                      + " exited threads or other waits will never reach";
            return false;
        }
        forward = !forward;
    }
}

}  // namespace

const uint3& shim_thread_idx() { return g_run->cur->tid; }
const uint3& shim_block_idx() { return g_run->block_idx; }
const uint3& shim_block_dim() { return g_run->block; }
const uint3& shim_grid_dim() { return g_run->grid; }
void* dynamic_smem() { return g_run->smem; }
unsigned lane_id() { return g_run->cur->linear & 31u; }

void syncthreads() {
    Run* r = g_run;
    const unsigned n = static_cast<unsigned>(r->fibers.size());
    if (++r->block_arrived == n) {
        r->block_arrived = 0;
        for (unsigned i : r->block_waiting) r->fibers[i].state = State::Ready;
        r->block_waiting.clear();
        return;
    }
    r->block_waiting.push_back(r->cur->linear);
    park();
}

static void warp_barrier(const char* what) {
    Run* r = g_run;
    Fiber* me = r->cur;
    Warp& w = r->warps[me->linear / 32];
    if (w.lanes != 32) {
        fail(where() + ": " + what + " in a partial warp of " + std::to_string(w.lanes)
             + " threads (a full mask needs all 32 lanes; use a block size that is a multiple of 32)");
        swapcontext(&me->ctx, &r->scheduler);
        return;
    }
    if (++w.arrived == w.lanes) {
        w.arrived = 0;
        ++w.gen;
        for (unsigned l = 0; l < w.lanes; ++l)
            if (l != (me->linear & 31u)) r->fibers[(me->linear & ~31u) + l].state = State::Ready;
        return;
    }
    park();
}

uint64_t warp_exchange(unsigned mask, uint64_t bits, int src_lane, const char* what) {
    Run* r = g_run;
    if (mask != 0xffffffffu) {
        fail(where() + ": " + what + " with a partial mask is not supported by the host shim");
        swapcontext(&r->cur->ctx, &r->scheduler);
        return 0;
    }
    Warp& w = r->warps[r->cur->linear / 32];
    w.slots[r->cur->linear & 31u] = bits;
    warp_barrier(what);  // every lane has published
    uint64_t out = w.slots[static_cast<unsigned>(src_lane) & 31u];
    warp_barrier(what);  // every lane has read before the slots are reused
    return out;
}

void syncwarp(unsigned mask) {
    if (mask != 0xffffffffu) {
        fail(where() + ": __syncwarp with a partial mask is not supported by the host shim");
        swapcontext(&g_run->cur->ctx, &g_run->scheduler);
        return;
    }
    warp_barrier("__syncwarp");
}

int param_size_mismatch(const char* name, unsigned long expected, unsigned long got) {
    g_last_error = std::string(name) + ": parameter struct is " + std::to_string(got) + " bytes on the Rust side but "
                   + std::to_string(expected) + " in the CUDA source (the #[repr(C)] mirror is out of date)";
    return 1;
}

int launch(const char* name, const LaunchCfg& cfg, const std::function<void()>& body) {
    const unsigned threads = cfg.block[0] * cfg.block[1] * cfg.block[2];
    if (threads == 0 || threads > kMaxThreads) {
        g_last_error = std::string(name) + ": block of " + std::to_string(threads) + " threads (must be 1..1024)";
        return 1;
    }
    if (g_run != nullptr) {
        g_last_error = std::string(name) + ": launched from inside a kernel";
        return 1;
    }
    Run r;
    r.name = name;
    r.body = &body;
    r.grid = uint3{cfg.grid[0], cfg.grid[1], cfg.grid[2]};
    r.block = uint3{cfg.block[0], cfg.block[1], cfg.block[2]};
    std::vector<unsigned char> smem(cfg.shared_bytes + 16);
    auto* aligned = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(smem.data()) + 15) & ~uintptr_t{15});
    r.smem = aligned;
    g_run = &r;
    bool ok = true;
    for (unsigned z = 0; z < r.grid.z && ok; ++z)
        for (unsigned y = 0; y < r.grid.y && ok; ++y)
            for (unsigned x = 0; x < r.grid.x && ok; ++x) {
                r.block_idx = uint3{x, y, z};
                // Uninitialised shared memory reads back as NaN, as garbage would on a GPU.
                std::memset(aligned, 0xFF, cfg.shared_bytes);
                ok = run_block(r);
            }
    g_run = nullptr;
    if (!ok) {
        g_last_error = r.error;
        return 1;
    }
    return 0;
}

}  // namespace kiln

extern "C" const char* kiln_host_last_error() { return kiln::g_last_error.c_str(); }
