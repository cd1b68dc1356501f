// bnnc_common.h -- shared pieces of the bnnc streaming kernels (Vitis HLS C++).
//
// Contents
//   * the Xilinx arbitrary-precision and stream types (ap_int.h, hls_stream.h);
//   * bnnc::bits_for(n)          bits needed to hold the unsigned value n;
//   * bnnc::popcount<N>(x)       number of set bits of an ap_uint<N>, built as a
//                                balanced adder tree (every level only as wide as
//                                its partial counts need); purely combinational;
//   * bnnc_axis_t                the 64-bit AXI4-Stream word at the accelerator
//                                boundary (ap_axiu<64,0,0,0> under Vitis; a
//                                struct with the same fields for plain g++);
//   * bnnc::axis_in / axis_out   adapters between AXI4-Stream words and the
//                                internal ap_uint<64> streams.
//
// Stream formats (DESIGN.md section 2): the boundary carries 64-bit words, a
// frame padded to whole words, frames back to back; TLAST marks the last word
// of a batch of `reps` frames. Internally only the data bits travel.
//
// Cycle behaviour: axis_in and axis_out move one word per cycle (II=1), no
// fill latency beyond the pipeline depth.
#ifndef BNNC_COMMON_H
#define BNNC_COMMON_H

// The Xilinx headers read uninitialized members in their default constructors
// (harmless); GCC reports that even for system headers once inlined, so the
// two warnings are silenced for these headers only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <ap_int.h>
#include <hls_stream.h>
#if defined(__has_include)
#if __has_include(<ap_axi_sdata.h>) && !defined(BNNC_NO_AXI_SDATA)
#define BNNC_HAVE_AXI_SDATA 1
#include <ap_axi_sdata.h>
#endif
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#ifdef BNNC_HAVE_AXI_SDATA
typedef ap_axiu<64, 0, 0, 0> bnnc_axis_t;
#else
// C-simulation without Vitis: the fields of ap_axiu<64, 0, 0, 0> that bnnc uses.
struct bnnc_axis_t {
    ap_uint<64> data;
    ap_uint<8> keep;
    ap_uint<8> strb;
    ap_uint<1> last;
};
#endif

namespace bnnc {

// Element types of the generated constant memories (weights, thresholds, masks).
// Synthesis sees exact-width ap_uint/ap_int ROMs. C-simulation stores the same values
// as plain integers (g++ compiles large aggregate initializers of ap_uint objects very
// slowly) -- the initializer text is identical, so C-simulation checks the very data that
// is synthesized. Kernels convert an element to ap_uint/ap_int where they read it.
#ifdef __SYNTHESIS__
template <unsigned W>
struct rom_u {
    typedef ap_uint<W> t;
};
template <unsigned W>
struct rom_s {
    typedef ap_int<W> t;
};
#else
template <unsigned W, bool WIDE = (W > 64)>
struct rom_u {
    typedef unsigned long long t;
};
template <unsigned W>
struct rom_u<W, true> {
    typedef ap_uint<W> t;
};
template <unsigned W, bool WIDE = (W > 64)>
struct rom_s {
    typedef long long t;
};
template <unsigned W>
struct rom_s<W, true> {
    typedef ap_int<W> t;
};
#endif

// Bits needed to represent the unsigned value n (at least 1).
constexpr unsigned bits_for(unsigned long long n) {
    unsigned b = 1;
    while (n > 1) {
        n >>= 1;
        ++b;
    }
    return b;
}

namespace detail {

// Adder tree over the bits of an ap_uint<N>: the two halves are counted by
// smaller trees (template instantiation, resolved at compile time; no runtime
// recursion) and added with an adder only as wide as the result.
template <unsigned N>
struct popcount_tree {
    static const unsigned LO = N / 2;
    static const unsigned HI = N - N / 2;
    static ap_uint<bits_for(N)> count(const ap_uint<N>& x) {
#pragma HLS INLINE
        const ap_uint<LO> lo = x(LO - 1, 0);
        const ap_uint<HI> hi = x(N - 1, LO);
        const ap_uint<bits_for(LO)> a = popcount_tree<LO>::count(lo);
        const ap_uint<bits_for(HI)> b = popcount_tree<HI>::count(hi);
        return ap_uint<bits_for(N)>(a) + ap_uint<bits_for(N)>(b);
    }
};

template <>
struct popcount_tree<1> {
    static ap_uint<1> count(const ap_uint<1>& x) {
#pragma HLS INLINE
        return x;
    }
};

}  // namespace detail

// Number of set bits of x, in bits_for(N) bits.
// Synthesis (and C-simulation with BNNC_POPCOUNT_TREE defined, as the kernel tests do)
// uses the adder tree; whole-network C-simulation counts 64-bit chunks with the compiler
// builtin, which gives the same number an order of magnitude faster.
template <unsigned N>
ap_uint<bits_for(N)> popcount(const ap_uint<N>& x) {
#pragma HLS INLINE
#if defined(__SYNTHESIS__) || defined(BNNC_POPCOUNT_TREE)
    return detail::popcount_tree<N>::count(x);
#else
    unsigned n = 0;
    for (unsigned lo = 0; lo < N; lo += 64) {
        const unsigned hi = (lo + 63 < N) ? lo + 63 : N - 1;
        n += (unsigned)__builtin_popcountll(x(hi, lo).to_uint64());
    }
    return ap_uint<bits_for(N)>(n);
#endif
}

// AXI4-Stream -> internal stream: copies the data of `words` words (all frames
// of the batch), dropping keep/strb/last. One word per cycle.
inline void axis_in(hls::stream<bnnc_axis_t>& in, hls::stream<ap_uint<64> >& out,
                    unsigned words_per_frame_times_reps) {
    for (unsigned i = 0; i < words_per_frame_times_reps; i++) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=1 max=65536
        const bnnc_axis_t w = in.read();
        out.write(w.data);
    }
}

// Internal stream -> AXI4-Stream for `reps` frames of WORDS_PER_FRAME words:
// keep/strb all ones, last=1 only on the final word of the batch. One word per
// cycle.
template <unsigned WORDS_PER_FRAME>
void axis_out(hls::stream<ap_uint<64> >& in, hls::stream<bnnc_axis_t>& out, unsigned reps) {
    static_assert(WORDS_PER_FRAME >= 1, "axis_out: a frame needs at least one word");
    for (unsigned r = 0; r < reps; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1
        for (unsigned i = 0; i < WORDS_PER_FRAME; i++) {
#pragma HLS PIPELINE II=1
            bnnc_axis_t w;
            w.data = in.read();
            w.keep = -1;
            w.strb = -1;
            w.last = (r == reps - 1 && i == WORDS_PER_FRAME - 1) ? 1 : 0;
            out.write(w);
        }
    }
}

}  // namespace bnnc

#endif  // BNNC_COMMON_H
