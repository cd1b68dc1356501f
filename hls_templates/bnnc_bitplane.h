// bnnc_bitplane.h -- the bit-plane first layer (DESIGN.md section 5): code ROM and unit.
//
//   struct my_code {
//       static const unsigned C;        // pixel channels (bytes per word)
//       static const unsigned PIXELS;   // words per frame (H*W)
//   };
//   template <class CFG>
//   void bnnc::code_map(hls::stream<ap_uint<C*8>>& in, hls::stream<ap_uint<C*8>>& out,
//                       const rom_u<8>::t code[256], unsigned reps);
//
// A word is one pixel, channel c at bits 8c..8c+7; byte p becomes code[p]. Bit i of
// channel c's code is bit-plane c*8 + i, so the output word is already the pixel's
// C*8 planes (1 = +1): the plane split is wiring. One word per cycle (II=1).
//
//   struct my_bp {
//       static const unsigned MW, MH;    // window bits (TAPS*PLANES) and filters
//       static const unsigned PE, SIMD;  // filters per step; SIMD == PLANES (one tap per word)
//       static const unsigned PLANES;    // C*8
//       static const unsigned TAPS;      // K*K
//       static const unsigned PIXELS;    // output pixels per frame
//       static const unsigned EBITS;     // signed width of a table entry
//       static const unsigned ACC_BITS;  // signed width of the sum and the threshold
//   };
//   SF = MW/SIMD = TAPS, NF = MH/PE (bnnc::matvec_dims<CFG>).
//   template <class CFG>
//   void bnnc::bitplane_matvec(hls::stream<ap_uint<PLANES>>& in, hls::stream<ap_uint<PE>>& out,
//       const rom_u<SIMD>::t w[PE][NF*SF], const rom_s<EBITS>::t tab[PE][PLANES][NF*(TAPS+1)],
//       const rom_s<ACC_BITS>::t thr[PE][NF], const rom_u<1>::t inv[PE][NF], unsigned reps);
//
// Stream format. Input per frame: PIXELS windows of TAPS words (the sliding window's
// (ky, kx) order); word sf holds tap sf of all planes, plane j at bit j. Weight word
// w[pe][nf*SF + sf] bit j is the kernel bit of (plane j, filter nf*PE + pe) at tap sf.
// Per (pe, plane j) a counter n_j adds the agreeing bits ~(w ^ x)[j] over the TAPS words;
// after the last tap acc = sum_j tab[pe][j][nf*(TAPS+1) + n_j] (ACC_BITS two's complement,
// exact: bnnc sizes it from the tables' bounds) and the output bit of filter nf*PE + pe is
// (acc >= thr[pe][nf]) ^ inv[pe][nf]. Output per frame: PIXELS*NF words of PE bits. This
// equals bnnc.golden.bitplane_matvec.
//
// Cycle behaviour: the schedule of bnnc::matvec_threshold (bnnc_matvec.h): PIXELS*NF*SF
// steps per frame at II=1, an input word read while nf == 0 (kept for nf > 0), an output
// word written at sf == SF-1 in the step that adds the last tap.
#ifndef BNNC_BITPLANE_H
#define BNNC_BITPLANE_H

#include "bnnc_common.h"
#include "bnnc_matvec.h"

namespace bnnc {

template <class CFG>
void code_map(hls::stream<ap_uint<CFG::C * 8> >& in, hls::stream<ap_uint<CFG::C * 8> >& out,
              const typename rom_u<8>::t code[256], unsigned reps) {
    static const unsigned C = CFG::C, PIXELS = CFG::PIXELS;
    static_assert(C >= 1 && PIXELS >= 1, "code_map: sizes must be positive");
    for (unsigned r = 0; r < reps; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1
        for (unsigned i = 0; i < PIXELS; i++) {
#pragma HLS PIPELINE II=1
            const ap_uint<C * 8> x = in.read();
            ap_uint<C * 8> y = 0;
            for (unsigned c = 0; c < C; c++) {
#pragma HLS UNROLL
                const unsigned p = unsigned(x((c + 1) * 8 - 1, c * 8));
                y((c + 1) * 8 - 1, c * 8) = ap_uint<8>(code[p]);
            }
            out.write(y);
        }
    }
}

template <class CFG>
void bitplane_matvec(hls::stream<ap_uint<CFG::SIMD> >& in, hls::stream<ap_uint<CFG::PE> >& out,
                     const typename rom_u<CFG::SIMD>::t w[CFG::PE][matvec_dims<CFG>::TILES],
                     const typename rom_s<CFG::EBITS>::t tab[CFG::PE][CFG::PLANES]
                                                           [matvec_dims<CFG>::NF * (CFG::TAPS + 1)],
                     const typename rom_s<CFG::ACC_BITS>::t thr[CFG::PE][matvec_dims<CFG>::NF],
                     const typename rom_u<1>::t inv[CFG::PE][matvec_dims<CFG>::NF], unsigned reps) {
#pragma HLS ARRAY_PARTITION variable=w complete dim=1
#pragma HLS ARRAY_PARTITION variable=tab complete dim=1
#pragma HLS ARRAY_PARTITION variable=tab complete dim=2
#pragma HLS ARRAY_PARTITION variable=thr complete dim=1
#pragma HLS ARRAY_PARTITION variable=inv complete dim=1
    typedef matvec_dims<CFG> D;
    static const unsigned PE = CFG::PE, SF = D::SF, CYCLES = D::CYCLES;
    static const unsigned PLANES = CFG::PLANES, TAPS = CFG::TAPS;
    static const unsigned CBITS = bits_for(TAPS);
    static_assert(CFG::SIMD == PLANES, "bitplane_matvec: SIMD must equal PLANES (one tap per word)");
    static_assert(CFG::MW == TAPS * PLANES, "bitplane_matvec: MW must be TAPS * PLANES");
    static_assert(CFG::PE >= 1 && CFG::MH % CFG::PE == 0, "bitplane_matvec: PE must divide MH");
    static_assert(CFG::PIXELS >= 1, "bitplane_matvec: PIXELS must be positive");
    static_assert(CFG::EBITS >= 2 && CFG::ACC_BITS >= CFG::EBITS, "bitplane_matvec: widths");

    ap_uint<PLANES> vec[SF];
    ap_uint<CBITS> cnt[PE][PLANES];
#pragma HLS ARRAY_PARTITION variable=cnt complete dim=0
    unsigned sf = 0, nf = 0, tile = 0;

    for (unsigned r = 0; r < reps; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1
        for (unsigned i = 0; i < CYCLES; i++) {
#pragma HLS PIPELINE II=1
            const ap_uint<PLANES> x = detail::schedule_fetch<SF>(in, vec, sf, nf);
            ap_uint<PE> bits = 0;
            for (unsigned pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
                const ap_uint<PLANES> agree = ~(ap_uint<PLANES>(w[pe][tile]) ^ x);
                for (unsigned j = 0; j < PLANES; j++) {
#pragma HLS UNROLL
                    cnt[pe][j] = (sf == 0 ? ap_uint<CBITS>(0) : cnt[pe][j]) + ap_uint<CBITS>(agree[j]);
                }
            }
            if (sf == SF - 1) {
                for (unsigned pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
                    // partial sums wrap modulo 2^ACC_BITS; the whole sum fits exactly
                    ap_int<CFG::ACC_BITS> acc = 0;
                    for (unsigned j = 0; j < PLANES; j++) {
#pragma HLS UNROLL
                        acc += ap_int<CFG::ACC_BITS>(
                            ap_int<CFG::EBITS>(tab[pe][j][nf * (TAPS + 1) + unsigned(cnt[pe][j])]));
                    }
                    const bool ge = acc >= ap_int<CFG::ACC_BITS>(thr[pe][nf]);
                    bits[pe] = ge != bool(inv[pe][nf]);
                }
                out.write(bits);
            }
            detail::schedule_advance<SF, D::NF>(sf, nf, tile);
        }
    }
}

}  // namespace bnnc

#endif  // BNNC_BITPLANE_H
