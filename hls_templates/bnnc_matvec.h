// bnnc_matvec.h -- matrix-vector unit with binary weights, threshold or score output.
//
//   struct my_mv {
//       static const unsigned MW, MH;      // matrix width (inputs) and height (neurons)
//       static const unsigned PE, SIMD;    // neurons and inputs per cycle (PE | MH, SIMD | MW)
//       static const unsigned PIXELS;      // vectors per frame (OH*OW of a conv, 1 for dense)
//       static const unsigned IN_BITS;     // bits per input element: 1 (bipolar) or 8 (uint8)
//       static const unsigned DOMAIN;      // 0 popcount, 1 dot, 2 int (see below)
//       static const unsigned ACC_BITS;    // signed accumulator width
//       static const unsigned OUT_BITS;    // score width in the output word (scores only)
//       static const bool MASKED;          // input words carry a valid bit (DOMAIN 1 only)
//   };
//   SF = MW/SIMD (input words per vector), NF = MH/PE (output words per vector),
//   TILES = NF*SF (weight words per PE); see bnnc::matvec_dims<CFG>.
//
//   template <class CFG>
//   void bnnc::matvec_threshold(hls::stream<ap_uint<SIMD*IN_BITS + MASKED>>& in,
//       hls::stream<ap_uint<PE>>& out, const rom_u<SIMD>::t w[PE][TILES],
//       const rom_s<ACC_BITS>::t thr[PE][NF], const rom_u<1>::t inv[PE][NF], unsigned reps);
//   (rom_u/rom_s: ap_uint/ap_int for synthesis, plain integers in C-simulation; bnnc_common.h)
//   template <class CFG>
//   void bnnc::matvec_scores(hls::stream<ap_uint<SIMD*IN_BITS + MASKED>>& in,
//       hls::stream<ap_uint<PE*OUT_BITS>>& out, const rom_u<SIMD>::t w[PE][TILES],
//       unsigned reps);
//
// Stream format. Input per frame: PIXELS vectors of SF words; word sf holds
// vector elements sf*SIMD .. sf*SIMD+SIMD-1, element i at bits i*IN_BITS; with
// MASKED the valid bit is bit SIMD*IN_BITS. Weight word w[pe][nf*SF + sf] holds
// the weights of neuron nf*PE + pe for those elements, bit i for element
// sf*SIMD + i (1 = +1, 0 = -1). Per input word and PE the contribution is
//   DOMAIN 0 (bipolar, unmasked): popcount(~(w ^ x))            (agreeing bits)
//   DOMAIN 1 (bipolar):           valid ? 2*popcount(~(w ^ x)) - SIMD : 0
//   DOMAIN 2 (uint8 elements):    sum_i (w_i ? x_i : -x_i)
// summed over sf into a signed ACC_BITS accumulator. Output per frame: PIXELS*NF
// words in the order (pixel, nf):
//   threshold: PE bits, bit pe = (acc >= thr[pe][nf]) ^ inv[pe][nf]  (1 = +1);
//   scores:    PE two's-complement OUT_BITS fields, neuron nf*PE + pe at field pe
//              (pe 0 at the LSB).
// This equals bnnc.golden.matvec with the matching packing.
//
// Cycle behaviour. One pipelined loop of PIXELS*NF*SF iterations per frame at
// II=1 (frames back to back). While nf == 0 each iteration reads one input word
// and keeps it in an SF-word buffer; for nf > 0 the buffer is re-read. An output
// word is written at sf == SF-1. So a frame takes PIXELS*NF*SF cycles and the
// input is consumed at 1/NF of the clock.
#ifndef BNNC_MATVEC_H
#define BNNC_MATVEC_H

#include "bnnc_common.h"

namespace bnnc {

template <class CFG>
struct matvec_dims {
    static const unsigned SF = CFG::MW / CFG::SIMD;
    static const unsigned NF = CFG::MH / CFG::PE;
    static const unsigned TILES = NF * SF;
    static const unsigned IN_W = CFG::SIMD * CFG::IN_BITS + (CFG::MASKED ? 1 : 0);
    static const unsigned CYCLES = CFG::PIXELS * NF * SF;  // per frame
};

namespace detail {

template <class CFG>
struct matvec_checks {
    static_assert(CFG::SIMD >= 1 && CFG::MW % CFG::SIMD == 0, "matvec: SIMD must divide MW");
    static_assert(CFG::PE >= 1 && CFG::MH % CFG::PE == 0, "matvec: PE must divide MH");
    static_assert(CFG::PIXELS >= 1, "matvec: PIXELS must be positive");
    static_assert(CFG::DOMAIN <= 2, "matvec: DOMAIN is 0 (popcount), 1 (dot) or 2 (int)");
    static_assert(CFG::DOMAIN == 2 || CFG::IN_BITS == 1, "matvec: DOMAIN 0 and 1 take 1-bit input");
    static_assert(!CFG::MASKED || CFG::DOMAIN == 1, "matvec: only DOMAIN 1 (dot) takes masked input");
    static_assert(CFG::ACC_BITS >= 2, "matvec: ACC_BITS must be at least 2");
    static const bool ok = true;
};

// Width of one input word's contribution (signed).
template <class CFG>
struct matvec_contrib {
    static const unsigned BITS = CFG::DOMAIN == 2 ? CFG::IN_BITS + bits_for(CFG::SIMD) + 1
                                                  : bits_for(CFG::SIMD) + 2;
    typedef ap_int<BITS> type;
};

// Contribution of one input word x under one weight word w.
template <class CFG>
typename matvec_contrib<CFG>::type matvec_contribution(const ap_uint<CFG::SIMD>& w,
                                                       const ap_uint<matvec_dims<CFG>::IN_W>& x) {
#pragma HLS INLINE
    typedef typename matvec_contrib<CFG>::type contrib_t;
    static const unsigned SIMD = CFG::SIMD, IN_BITS = CFG::IN_BITS;
    if (CFG::DOMAIN == 2) {
        // signed sum of uint8 elements; HLS balances the unrolled sum into a tree
        contrib_t sum = 0;
        for (unsigned i = 0; i < SIMD; i++) {
#pragma HLS UNROLL
            const ap_uint<IN_BITS> e = x((i + 1) * IN_BITS - 1, i * IN_BITS);
            const contrib_t v = e;
            sum += w[i] ? contrib_t(v) : contrib_t(-v);
        }
        return sum;
    }
    const ap_uint<SIMD> data = x(SIMD - 1, 0);
    const ap_uint<SIMD> agree = ~(w ^ data);
    const ap_uint<bits_for(SIMD)> pc = popcount<SIMD>(agree);
    if (CFG::DOMAIN == 0) return contrib_t(pc);
    const bool valid = CFG::MASKED ? bool(x[matvec_dims<CFG>::IN_W - 1]) : true;
    const contrib_t dot = contrib_t(pc) * 2 - contrib_t(SIMD);
    return valid ? dot : contrib_t(0);
}

// One cycle of the schedule: add the contributions of input word x to the PE
// accumulators (restarting them at sf == 0).
template <class CFG>
void matvec_accumulate(ap_int<CFG::ACC_BITS> acc[CFG::PE],
                       const typename rom_u<CFG::SIMD>::t w[CFG::PE][matvec_dims<CFG>::TILES], unsigned tile,
                       const ap_uint<matvec_dims<CFG>::IN_W>& x, bool first) {
#pragma HLS INLINE
    for (unsigned pe = 0; pe < CFG::PE; pe++) {
#pragma HLS UNROLL
        const ap_int<CFG::ACC_BITS> base = first ? ap_int<CFG::ACC_BITS>(0) : acc[pe];
        acc[pe] = base + matvec_contribution<CFG>(ap_uint<CFG::SIMD>(w[pe][tile]), x);
    }
}

// The schedule of the matrix-vector units (matvec, codebook, bitplane): SF input words per
// vector, NF output words. The input word of this cycle: read from the stream while nf == 0
// (and kept), taken from the vector buffer afterwards.
template <unsigned SF, class WORD>
WORD schedule_fetch(hls::stream<WORD>& in, WORD vec[SF], unsigned sf, unsigned nf) {
#pragma HLS INLINE
    WORD x;
    if (nf == 0) {
        x = in.read();
        vec[sf] = x;
    } else {
        x = vec[sf];
    }
    return x;
}

// Advance (sf, nf, tile = nf*SF + sf) by one cycle.
template <unsigned SF, unsigned NF>
void schedule_advance(unsigned& sf, unsigned& nf, unsigned& tile) {
#pragma HLS INLINE
    const bool end_sf = sf == SF - 1;
    sf = end_sf ? 0 : sf + 1;
    if (end_sf) nf = (nf == NF - 1) ? 0 : nf + 1;
    tile = (tile == SF * NF - 1) ? 0 : tile + 1;
}

// The output word of threshold units: bit pe = (acc[pe] >= thr[pe][nf]) ^ inv[pe][nf].
template <unsigned PE, unsigned NF, unsigned ACC_BITS>
ap_uint<PE> threshold_bits(const ap_int<ACC_BITS> acc[PE], const typename rom_s<ACC_BITS>::t thr[PE][NF],
                           const typename rom_u<1>::t inv[PE][NF], unsigned nf) {
#pragma HLS INLINE
    ap_uint<PE> bits = 0;
    for (unsigned pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
        const bool ge = acc[pe] >= ap_int<ACC_BITS>(thr[pe][nf]);
        bits[pe] = ge != bool(inv[pe][nf]);
    }
    return bits;
}

// The output word of score units: PE two's-complement OUT_BITS fields, pe 0 at the LSB.
template <unsigned PE, unsigned OUT_BITS, unsigned ACC_BITS>
ap_uint<PE * OUT_BITS> score_word(const ap_int<ACC_BITS> acc[PE]) {
#pragma HLS INLINE
    static_assert(OUT_BITS >= ACC_BITS, "scores: OUT_BITS must hold ACC_BITS");
    ap_uint<PE * OUT_BITS> word = 0;
    for (unsigned pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
        const ap_int<OUT_BITS> v = acc[pe];  // sign extension
        word((pe + 1) * OUT_BITS - 1, pe * OUT_BITS) = v;
    }
    return word;
}

}  // namespace detail

template <class CFG>
void matvec_threshold(hls::stream<ap_uint<CFG::SIMD * CFG::IN_BITS + CFG::MASKED> >& in,
                      hls::stream<ap_uint<CFG::PE> >& out,
                      const typename rom_u<CFG::SIMD>::t w[CFG::PE][matvec_dims<CFG>::TILES],
                      const typename rom_s<CFG::ACC_BITS>::t thr[CFG::PE][matvec_dims<CFG>::NF],
                      const typename rom_u<1>::t inv[CFG::PE][matvec_dims<CFG>::NF], unsigned reps) {
#pragma HLS ARRAY_PARTITION variable=w complete dim=1
#pragma HLS ARRAY_PARTITION variable=thr complete dim=1
#pragma HLS ARRAY_PARTITION variable=inv complete dim=1
    typedef matvec_dims<CFG> D;
    static const unsigned PE = CFG::PE, SF = D::SF, CYCLES = D::CYCLES;
    static_assert(detail::matvec_checks<CFG>::ok, "matvec: invalid configuration");

    ap_uint<D::IN_W> vec[SF];
    ap_int<CFG::ACC_BITS> acc[PE];
#pragma HLS ARRAY_PARTITION variable=acc complete
    unsigned sf = 0, nf = 0, tile = 0;

    for (unsigned r = 0; r < reps; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1
        for (unsigned i = 0; i < CYCLES; i++) {
#pragma HLS PIPELINE II=1
            const ap_uint<D::IN_W> x = detail::schedule_fetch<SF>(in, vec, sf, nf);
            detail::matvec_accumulate<CFG>(acc, w, tile, x, sf == 0);
            if (sf == SF - 1) out.write(detail::threshold_bits<PE, D::NF, CFG::ACC_BITS>(acc, thr, inv, nf));
            detail::schedule_advance<SF, D::NF>(sf, nf, tile);
        }
    }
}

template <class CFG>
void matvec_scores(hls::stream<ap_uint<CFG::SIMD * CFG::IN_BITS + CFG::MASKED> >& in,
                   hls::stream<ap_uint<CFG::PE * CFG::OUT_BITS> >& out,
                   const typename rom_u<CFG::SIMD>::t w[CFG::PE][matvec_dims<CFG>::TILES], unsigned reps) {
#pragma HLS ARRAY_PARTITION variable=w complete dim=1
    typedef matvec_dims<CFG> D;
    static const unsigned PE = CFG::PE, SF = D::SF, CYCLES = D::CYCLES, OUT_BITS = CFG::OUT_BITS;
    static_assert(detail::matvec_checks<CFG>::ok, "matvec: invalid configuration");
    static_assert(OUT_BITS >= CFG::ACC_BITS, "matvec_scores: OUT_BITS must hold ACC_BITS");

    ap_uint<D::IN_W> vec[SF];
    ap_int<CFG::ACC_BITS> acc[PE];
#pragma HLS ARRAY_PARTITION variable=acc complete
    unsigned sf = 0, nf = 0, tile = 0;

    for (unsigned r = 0; r < reps; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1
        for (unsigned i = 0; i < CYCLES; i++) {
#pragma HLS PIPELINE II=1
            const ap_uint<D::IN_W> x = detail::schedule_fetch<SF>(in, vec, sf, nf);
            detail::matvec_accumulate<CFG>(acc, w, tile, x, sf == 0);
            if (sf == SF - 1) out.write(detail::score_word<PE, OUT_BITS, CFG::ACC_BITS>(acc));
            detail::schedule_advance<SF, D::NF>(sf, nf, tile);
        }
    }
}

}  // namespace bnnc

#endif  // BNNC_MATVEC_H
