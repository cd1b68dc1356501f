// bnnc_codebook.h -- codebook matrix-vector unit of a sub-bit conv (DESIGN.md section 5).
//
//   struct my_cb {
//       static const unsigned C, MH;       // input channels, output channels (neurons)
//       static const unsigned T;           // taps per channel (K*K)
//       static const unsigned TAU;         // index bits: the codebook has 2**TAU codewords
//       static const unsigned PE, SIMD;    // neurons and channels per cycle (PE | MH, SIMD | C)
//       static const unsigned PIXELS;      // vectors per frame (OH*OW)
//       static const unsigned DOMAIN;      // 0 popcount (unmasked), 1 dot
//       static const unsigned ACC_BITS;    // signed accumulator width
//       static const unsigned OUT_BITS;    // score width in the output word (scores only)
//       static const bool MASKED;          // input words carry one valid bit per tap
//       static const bool REUSE;           // false: decode, true: reuse (same results)
//   };
//   SF = C/SIMD (input words per vector), NF = MH/PE, TILES = NF*SF (index words per PE).
//
//   template <class CFG>
//   void bnnc::codebook_threshold(hls::stream<ap_uint<SIMD*T + (MASKED ? T : 0)>>& in,
//       hls::stream<ap_uint<PE>>& out, const rom_u<T>::t book[1 << TAU],
//       const rom_u<SIMD*TAU>::t idx[PE][TILES], const rom_s<ACC_BITS>::t thr[PE][NF],
//       const rom_u<1>::t inv[PE][NF], unsigned reps);
//   template <class CFG>
//   void bnnc::codebook_scores(in, hls::stream<ap_uint<PE*OUT_BITS>>& out, book, idx, reps);
//
// Stream format. Input: the "ckk" window stream (bnnc::sliding_window_ckk): word sf holds
// the T taps of channels sf*SIMD .. sf*SIMD+SIMD-1, tap t of channel i at bit i*T + t; with
// MASKED, bit SIMD*T + t is tap t's valid bit. book[k] is codeword k, tap t at bit t
// (1 = +1). Index word idx[pe][nf*SF + sf] holds at bits i*TAU .. i*TAU+TAU-1 the codeword
// of neuron nf*PE + pe on channel sf*SIMD + i. Per input word, PE and channel i with
// codeword w and taps x (valid taps v, all ones unless MASKED):
//   pc = popcount(~(w ^ x) & v);   DOMAIN 0: contribution pc;  DOMAIN 1: 2*pc - popcount(v)
// summed over the channels and the SF words of a vector. Output as bnnc_matvec.h
// (threshold bits or scores, PIXELS*NF words per frame). Equals bnnc.golden.codebook_matvec.
//
// Structure. decode: each (PE, channel) reads its codeword from the codebook ROM (a LUT per
// tap: ROM bit and XNOR) and counts the agreeing taps. reuse: for each channel the
// popcounts against all 2**TAU codewords are computed once per input word and shared by
// every PE, which selects its one by index (a 2**TAU:1 multiplexer of small counts).
//
// Cycle behaviour: exactly bnnc_matvec.h's schedule, through its helpers (PIXELS*NF*SF
// iterations per frame at II=1; input read while nf == 0 and kept in an SF-word buffer;
// output at sf == SF-1: detail::schedule_fetch, schedule_advance, threshold_bits, score_word).
#ifndef BNNC_CODEBOOK_H
#define BNNC_CODEBOOK_H

#include "bnnc_common.h"
#include "bnnc_matvec.h"

namespace bnnc {

template <class CFG>
struct codebook_dims {
    static const unsigned SF = CFG::C / CFG::SIMD;
    static const unsigned NF = CFG::MH / CFG::PE;
    static const unsigned TILES = NF * SF;
    static const unsigned WORDS = 1u << CFG::TAU;
    static const unsigned DATA_W = CFG::SIMD * CFG::T;
    static const unsigned IN_W = DATA_W + (CFG::MASKED ? CFG::T : 0);
    static const unsigned IDX_W = CFG::SIMD * CFG::TAU;
    static const unsigned PC_W = bits_for(CFG::T);
    static const unsigned CYCLES = CFG::PIXELS * NF * SF;
};

namespace detail {

template <class CFG>
struct codebook_checks {
    static_assert(CFG::SIMD >= 1 && CFG::C % CFG::SIMD == 0, "codebook: SIMD must divide C");
    static_assert(CFG::PE >= 1 && CFG::MH % CFG::PE == 0, "codebook: PE must divide MH");
    static_assert(CFG::TAU >= 1 && CFG::TAU <= 8, "codebook: TAU must be 1..8");
    static_assert(CFG::T >= 1 && CFG::T <= 64, "codebook: T must be 1..64");
    static_assert(CFG::DOMAIN <= 1, "codebook: DOMAIN is 0 (popcount) or 1 (dot)");
    static_assert(!CFG::MASKED || CFG::DOMAIN == 1, "codebook: masked input needs DOMAIN 1");
    static_assert(CFG::ACC_BITS >= 2, "codebook: ACC_BITS must be at least 2");
    static const bool ok = true;
};

// Contribution width (signed): a word adds at most SIMD*T.
template <class CFG>
struct codebook_contrib {
    typedef ap_int<bits_for(CFG::SIMD * CFG::T) + 2> type;
};

// The valid taps of an input word (all ones unless MASKED).
template <class CFG>
ap_uint<CFG::T> codebook_valid(const ap_uint<codebook_dims<CFG>::IN_W>& x) {
#pragma HLS INLINE
    typedef codebook_dims<CFG> D;
    ap_uint<CFG::T> v = ~ap_uint<CFG::T>(0);
    if (CFG::MASKED) v = x(D::IN_W - 1, D::DATA_W);
    return v;
}

// One cycle: add each PE's contribution of input word x (restart at sf == 0).
template <class CFG>
void codebook_accumulate(ap_int<CFG::ACC_BITS> acc[CFG::PE],
                         const typename rom_u<CFG::T>::t book[codebook_dims<CFG>::WORDS],
                         const typename rom_u<codebook_dims<CFG>::IDX_W>::t idx[CFG::PE][codebook_dims<CFG>::TILES],
                         unsigned tile, const ap_uint<codebook_dims<CFG>::IN_W>& x, bool first) {
#pragma HLS INLINE
    typedef codebook_dims<CFG> D;
    typedef typename codebook_contrib<CFG>::type contrib_t;
    static const unsigned T = CFG::T, TAU = CFG::TAU, SIMD = CFG::SIMD, WORDS = D::WORDS;
    const ap_uint<T> valid = codebook_valid<CFG>(x);
    const contrib_t nvalid = contrib_t(popcount<T>(valid));
    // reuse: the popcounts of every channel against every codeword, shared by all PEs
    ap_uint<D::PC_W> shared[SIMD][WORDS];
#pragma HLS ARRAY_PARTITION variable=shared complete dim=0
    if (CFG::REUSE) {
        for (unsigned i = 0; i < SIMD; i++) {
#pragma HLS UNROLL
            const ap_uint<T> xi = x((i + 1) * T - 1, i * T);
            for (unsigned k = 0; k < WORDS; k++) {
#pragma HLS UNROLL
                const ap_uint<T> w = ap_uint<T>(book[k]);
                shared[i][k] = popcount<T>(ap_uint<T>(~(w ^ xi) & valid));
            }
        }
    }
    for (unsigned pe = 0; pe < CFG::PE; pe++) {
#pragma HLS UNROLL
        const ap_uint<D::IDX_W> iw = ap_uint<D::IDX_W>(idx[pe][tile]);
        contrib_t sum = 0;
        for (unsigned i = 0; i < SIMD; i++) {
#pragma HLS UNROLL
            const unsigned k = unsigned(iw((i + 1) * TAU - 1, i * TAU));
            ap_uint<D::PC_W> pc;
            if (CFG::REUSE) {
                pc = shared[i][k];
            } else {
                const ap_uint<T> xi = x((i + 1) * T - 1, i * T);
                const ap_uint<T> w = ap_uint<T>(book[k]);
                pc = popcount<T>(ap_uint<T>(~(w ^ xi) & valid));
            }
            sum += CFG::DOMAIN == 0 ? contrib_t(pc) : contrib_t(contrib_t(pc) * 2 - nvalid);
        }
        const ap_int<CFG::ACC_BITS> base = first ? ap_int<CFG::ACC_BITS>(0) : acc[pe];
        acc[pe] = base + sum;
    }
}

}  // namespace detail

template <class CFG>
void codebook_threshold(hls::stream<ap_uint<codebook_dims<CFG>::IN_W> >& in,
                        hls::stream<ap_uint<CFG::PE> >& out,
                        const typename rom_u<CFG::T>::t book[codebook_dims<CFG>::WORDS],
                        const typename rom_u<codebook_dims<CFG>::IDX_W>::t idx[CFG::PE][codebook_dims<CFG>::TILES],
                        const typename rom_s<CFG::ACC_BITS>::t thr[CFG::PE][codebook_dims<CFG>::NF],
                        const typename rom_u<1>::t inv[CFG::PE][codebook_dims<CFG>::NF], unsigned reps) {
#pragma HLS ARRAY_PARTITION variable=book complete
#pragma HLS ARRAY_PARTITION variable=idx complete dim=1
#pragma HLS ARRAY_PARTITION variable=thr complete dim=1
#pragma HLS ARRAY_PARTITION variable=inv complete dim=1
    typedef codebook_dims<CFG> D;
    static const unsigned PE = CFG::PE, SF = D::SF, CYCLES = D::CYCLES;
    static_assert(detail::codebook_checks<CFG>::ok, "codebook: invalid configuration");

    ap_uint<D::IN_W> vec[SF];
    ap_int<CFG::ACC_BITS> acc[PE];
#pragma HLS ARRAY_PARTITION variable=acc complete
    unsigned sf = 0, nf = 0, tile = 0;

    for (unsigned r = 0; r < reps; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1
        for (unsigned i = 0; i < CYCLES; i++) {
#pragma HLS PIPELINE II=1
            const ap_uint<D::IN_W> x = detail::schedule_fetch<SF>(in, vec, sf, nf);
            detail::codebook_accumulate<CFG>(acc, book, idx, tile, x, sf == 0);
            if (sf == SF - 1) out.write(detail::threshold_bits<PE, D::NF, CFG::ACC_BITS>(acc, thr, inv, nf));
            detail::schedule_advance<SF, D::NF>(sf, nf, tile);
        }
    }
}

template <class CFG>
void codebook_scores(hls::stream<ap_uint<codebook_dims<CFG>::IN_W> >& in,
                     hls::stream<ap_uint<CFG::PE * CFG::OUT_BITS> >& out,
                     const typename rom_u<CFG::T>::t book[codebook_dims<CFG>::WORDS],
                     const typename rom_u<codebook_dims<CFG>::IDX_W>::t idx[CFG::PE][codebook_dims<CFG>::TILES],
                     unsigned reps) {
#pragma HLS ARRAY_PARTITION variable=book complete
#pragma HLS ARRAY_PARTITION variable=idx complete dim=1
    typedef codebook_dims<CFG> D;
    static const unsigned PE = CFG::PE, SF = D::SF, CYCLES = D::CYCLES, OUT_BITS = CFG::OUT_BITS;
    static_assert(detail::codebook_checks<CFG>::ok, "codebook: invalid configuration");
    static_assert(OUT_BITS >= CFG::ACC_BITS, "codebook_scores: OUT_BITS must hold ACC_BITS");

    ap_uint<D::IN_W> vec[SF];
    ap_int<CFG::ACC_BITS> acc[PE];
#pragma HLS ARRAY_PARTITION variable=acc complete
    unsigned sf = 0, nf = 0, tile = 0;

    for (unsigned r = 0; r < reps; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1
        for (unsigned i = 0; i < CYCLES; i++) {
#pragma HLS PIPELINE II=1
            const ap_uint<D::IN_W> x = detail::schedule_fetch<SF>(in, vec, sf, nf);
            detail::codebook_accumulate<CFG>(acc, book, idx, tile, x, sf == 0);
            if (sf == SF - 1) out.write(detail::score_word<PE, OUT_BITS, CFG::ACC_BITS>(acc));
            detail::schedule_advance<SF, D::NF>(sf, nf, tile);
        }
    }
}

}  // namespace bnnc

#endif  // BNNC_CODEBOOK_H
