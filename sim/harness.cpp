// bnnc native Verilator harness: drives a Verilated bnnc design cycle by cycle in C++
// (no Python per cycle). Built by bnnc.sim.rtlsim with one of two -D choices:
//
//   BNNC_TOP (default)  the generated bnnc_top: 64-bit AXI4-Stream in_r_* / out_r_*.
//       harness IN.bin OUT.bin N_FRAMES IN_WORDS OUT_WORDS CYCLES.json SEED GAP BP LIMIT
//       IN.bin: N_FRAMES*IN_WORDS little-endian uint64 words (the csim testbench format);
//       OUT.bin receives N_FRAMES*OUT_WORDS words. TLAST is checked on every output word.
//   BNNC_KERNEL_TB      a kernel test wrapper (tb_kernels): sel, in_*, out_* of any width.
//       harness SEL IN.hex OUT.hex N_OUT CYCLES.txt SEED GAP BP LIMIT
//       IN.hex / OUT.hex: one hex word per line; CYCLES.txt: "in T..." / "out T..." lines.
//
// GAP: probability that the input holds TVALID low in a cycle (only between words: a
// raised TVALID stays up until its handshake, as AXI4-Stream requires); BP: probability
// that the output holds TREADY low. Both from a seeded xorshift generator.
// LIMIT: give up (exit 3, "no progress") after that many cycles without a handshake.
// STALL_CYCLES (top only, optional): apply GAP/BP only in cycles before it, then run free
// (to check that full rate returns after a stall).
// Cycle 0 is the first cycle after reset. Exit codes: 0 ok, 1 usage/IO, 3 protocol/hang.
#include <chrono>
#include <ctime>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "verilated.h"
#include BNNC_VTOP_HEADER

namespace {

struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull) {
        if (!s) s = 1;
    }
    double next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return (double)(s >> 11) * (1.0 / 9007199254740992.0);
    }
};

// Setting / reading Verilator ports of any width from 32-bit chunks (LSB first).
template <typename T>
void put(T& port, const std::vector<uint32_t>& c) {
    uint64_t v = c.empty() ? 0 : c[0];
    if (c.size() > 1) v |= (uint64_t)c[1] << 32;
    port = (T)v;
}
template <std::size_t N>
void put(VlWide<N>& port, const std::vector<uint32_t>& c) {
    for (std::size_t i = 0; i < N; i++) port[i] = i < c.size() ? c[i] : 0;
}
template <typename T>
std::vector<uint32_t> get(const T& port) {
    uint64_t v = (uint64_t)port;
    return {(uint32_t)v, (uint32_t)(v >> 32)};
}
template <std::size_t N>
std::vector<uint32_t> get(const VlWide<N>& port) {
    std::vector<uint32_t> c(N);
    for (std::size_t i = 0; i < N; i++) c[i] = port[i];
    return c;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

#ifndef BNNC_KERNEL_TB
int main(int argc, char** argv) {
    if (argc != 11 && argc != 12) {
        std::fprintf(stderr, "usage: %s IN.bin OUT.bin N_FRAMES IN_WORDS OUT_WORDS CYCLES.json "
                             "SEED GAP BP LIMIT [STALL_CYCLES]\n", argv[0]);
        return 1;
    }
    const uint64_t n = std::strtoull(argv[3], 0, 10);
    const uint64_t in_wpf = std::strtoull(argv[4], 0, 10), out_wpf = std::strtoull(argv[5], 0, 10);
    const uint64_t seed = std::strtoull(argv[7], 0, 10);
    const double gap = std::atof(argv[8]), bp = std::atof(argv[9]);
    const uint64_t limit = std::strtoull(argv[10], 0, 10);
    // gaps and backpressure only before this cycle (then free running): 0 = always
    const uint64_t stall_cycles = argc == 12 ? std::strtoull(argv[11], 0, 10) : 0;
    const uint64_t n_in = n * in_wpf, n_out = n * out_wpf;
    std::vector<uint64_t> in(n_in), out(n_out);
    FILE* f = std::fopen(argv[1], "rb");
    if (!f || std::fread(in.data(), 8, n_in, f) != n_in) {
        std::fprintf(stderr, "cannot read %llu words from %s\n", (unsigned long long)n_in, argv[1]);
        return 1;
    }
    std::fclose(f);
    std::vector<uint64_t> first_in(n, 0), last_out(n, 0);

    VerilatedContext ctx;
    ctx.commandArgs(argc, argv);
    BNNC_VTOP top(&ctx);
    Rng rng(seed);
    top.n_frames = (uint32_t)n;
    top.in_r_TKEEP = 0xff;
    top.in_r_TSTRB = 0xff;
    top.ap_rst_n = 0;
    top.in_r_TVALID = 0;
    top.out_r_TREADY = 0;
    for (int i = 0; i < 4; i++) {
        top.ap_clk = 0;
        top.eval();
        top.ap_clk = 1;
        top.eval();
    }
    top.ap_rst_n = 1;
    uint64_t i_in = 0, i_out = 0, cycle = 0, idle = 0;
    bool holding = false;  // TVALID raised and not yet taken
    const auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    while (i_out < n_out) {
        top.ap_clk = 0;
        const bool stalling = stall_cycles == 0 || cycle < stall_cycles;
        if (i_in < n_in && !holding && !(stalling && gap > 0 && rng.next() < gap)) holding = true;
        top.in_r_TVALID = holding;
        top.in_r_TDATA = holding ? in[i_in] : 0;
        top.in_r_TLAST = holding && i_in + 1 == n_in;
        const bool ready = !(stalling && bp > 0 && rng.next() < bp);
        top.out_r_TREADY = ready;
        top.eval();
        const bool in_hs = holding && top.in_r_TREADY;
        const bool out_hs = ready && top.out_r_TVALID;
        if (out_hs) {
            const bool want_last = i_out + 1 == n_out;
            if ((bool)top.out_r_TLAST != want_last) {
                std::fprintf(stderr, "protocol error: TLAST=%d on output word %llu of %llu\n",
                             (int)top.out_r_TLAST, (unsigned long long)i_out,
                             (unsigned long long)n_out);
                return 3;
            }
            out[i_out] = top.out_r_TDATA;
            if ((i_out + 1) % out_wpf == 0) last_out[i_out / out_wpf] = cycle;
            i_out++;
        }
        if (in_hs) {
            if (i_in % in_wpf == 0) first_in[i_in / in_wpf] = cycle;
            i_in++;
            holding = false;
        }
        top.ap_clk = 1;
        top.eval();
        idle = (in_hs || out_hs) ? 0 : idle + 1;
        if (idle > limit) {
            std::fprintf(stderr, "no progress for %llu cycles at cycle %llu: %llu of %llu input "
                                 "words taken, %llu of %llu output words seen (deadlock?)\n",
                         (unsigned long long)limit, (unsigned long long)cycle,
                         (unsigned long long)i_in, (unsigned long long)n_in,
                         (unsigned long long)i_out, (unsigned long long)n_out);
            return 3;
        }
        cycle++;
    }
    const double secs = seconds_since(t0);
    const double cpu_secs = (double)(std::clock() - c0) / CLOCKS_PER_SEC;
    top.final();
    FILE* g = std::fopen(argv[2], "wb");
    if (!g || std::fwrite(out.data(), 8, n_out, g) != n_out) {
        std::fprintf(stderr, "cannot write %s\n", argv[2]);
        return 1;
    }
    std::fclose(g);
    FILE* c = std::fopen(argv[6], "w");
    if (!c) return 1;
    std::fprintf(c, "{\"cycles\": %llu, \"seconds\": %.6f, \"cpu_seconds\": %.6f, "
                    "\"frames\": %llu,\n \"first_in\": [",
                 (unsigned long long)cycle, secs, cpu_secs, (unsigned long long)n);
    for (uint64_t k = 0; k < n; k++)
        std::fprintf(c, "%s%llu", k ? ", " : "", (unsigned long long)first_in[k]);
    std::fprintf(c, "],\n \"last_out\": [");
    for (uint64_t k = 0; k < n; k++)
        std::fprintf(c, "%s%llu", k ? ", " : "", (unsigned long long)last_out[k]);
    std::fprintf(c, "]}\n");
    std::fclose(c);
    return 0;
}
#else
namespace {

bool read_hex_words(const char* path, std::vector<std::vector<uint32_t> >& words) {
    FILE* f = std::fopen(path, "r");
    if (!f) return false;
    char line[8192];
    while (std::fgets(line, sizeof line, f)) {
        std::string s(line);
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
        if (s.empty()) continue;
        std::vector<uint32_t> c;
        for (std::size_t end = s.size(); end > 0;) {
            const std::size_t begin = end >= 8 ? end - 8 : 0;
            c.push_back((uint32_t)std::strtoul(s.substr(begin, end - begin).c_str(), 0, 16));
            end = begin;
        }
        words.push_back(c);
    }
    std::fclose(f);
    return true;
}

void write_hex_word(FILE* f, const std::vector<uint32_t>& c) {
    std::size_t top = c.size();
    while (top > 1 && c[top - 1] == 0) top--;
    std::fprintf(f, "%x", c[top - 1]);
    for (std::size_t i = top - 1; i > 0; i--) std::fprintf(f, "%08x", c[i - 1]);
    std::fputc('\n', f);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 10) {
        std::fprintf(stderr, "usage: %s SEL IN.hex OUT.hex N_OUT CYCLES.txt SEED GAP BP LIMIT\n",
                     argv[0]);
        return 1;
    }
    const unsigned sel = (unsigned)std::strtoul(argv[1], 0, 10);
    std::vector<std::vector<uint32_t> > in;
    if (!read_hex_words(argv[2], in)) {
        std::fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    const uint64_t n_out = std::strtoull(argv[4], 0, 10);
    const uint64_t seed = std::strtoull(argv[6], 0, 10);
    const double gap = std::atof(argv[7]), bp = std::atof(argv[8]);
    const uint64_t limit = std::strtoull(argv[9], 0, 10);
    VerilatedContext ctx;
    ctx.commandArgs(argc, argv);
    BNNC_VTOP top(&ctx);
    Rng rng(seed);
    top.sel = sel;
    top.rst_n = 0;
    top.in_valid = 0;
    top.out_ready = 0;
    for (int i = 0; i < 4; i++) {
        top.clk = 0;
        top.eval();
        top.clk = 1;
        top.eval();
    }
    top.rst_n = 1;
    std::vector<std::vector<uint32_t> > out;
    std::vector<uint64_t> t_in, t_out;
    uint64_t i_in = 0, cycle = 0, idle = 0;
    bool holding = false;
    const std::vector<uint32_t> zero(1, 0);
    while (out.size() < n_out) {
        top.clk = 0;
        if (i_in < in.size() && !holding && !(gap > 0 && rng.next() < gap)) holding = true;
        top.in_valid = holding;
        put(top.in_data, holding ? in[i_in] : zero);
        const bool ready = !(bp > 0 && rng.next() < bp);
        top.out_ready = ready;
        top.eval();
        const bool in_hs = holding && top.in_ready;
        const bool out_hs = ready && top.out_valid;
        if (out_hs) {
            out.push_back(get(top.out_data));
            t_out.push_back(cycle);
        }
        if (in_hs) {
            t_in.push_back(cycle);
            i_in++;
            holding = false;
        }
        top.clk = 1;
        top.eval();
        idle = (in_hs || out_hs) ? 0 : idle + 1;
        if (idle > limit) {
            std::fprintf(stderr, "no progress for %llu cycles: %llu of %zu input words taken, "
                                 "%zu of %llu output words seen\n", (unsigned long long)limit,
                         (unsigned long long)i_in, in.size(), out.size(),
                         (unsigned long long)n_out);
            return 3;
        }
        cycle++;
    }
    // drain: the kernel must take every remaining input word (trailing rows it drops).
    // Output is held (TREADY low): a sliding window may already offer the padding taps
    // of the next frame, which need no input.
    while (i_in < in.size()) {
        top.clk = 0;
        top.in_valid = 1;
        put(top.in_data, in[i_in]);
        top.out_ready = 0;
        top.eval();
        if (top.in_ready) {
            t_in.push_back(cycle);
            i_in++;
            idle = 0;
        } else if (++idle > limit) {
            std::fprintf(stderr, "the kernel left %zu input words unread\n", in.size() - i_in);
            return 3;
        }
        top.clk = 1;
        top.eval();
        cycle++;
    }
    top.final();
    FILE* g = std::fopen(argv[3], "w");
    if (!g) return 1;
    for (const auto& w : out) write_hex_word(g, w);
    std::fclose(g);
    FILE* c = std::fopen(argv[5], "w");
    if (!c) return 1;
    std::fprintf(c, "in");
    for (uint64_t t : t_in) std::fprintf(c, " %llu", (unsigned long long)t);
    std::fprintf(c, "\nout");
    for (uint64_t t : t_out) std::fprintf(c, " %llu", (unsigned long long)t);
    std::fprintf(c, "\n");
    std::fclose(c);
    return 0;
}
#endif
