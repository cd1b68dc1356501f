// bnnc_pool.h -- binary max-pool (OR of bits; AND on channels selected by a mask).
//
//   struct my_pool { static const unsigned C, H, W, K, SIMD; };
//   template <class CFG>
//   void bnnc::maxpool(hls::stream<ap_uint<SIMD>>& in, hls::stream<ap_uint<SIMD>>& out,
//                      const rom_u<SIMD>::t and_mask[C/SIMD], unsigned reps);
//
// Stream format. Input per frame: H*W*(C/SIMD) words in the order (y, x, cb),
// bipolar bits (1 = +1), channel cb*SIMD at the LSB. Output per frame:
// (H/K)*(W/K)*(C/SIMD) words in the order (oy, ox, cb). Kernel = stride = K, no
// padding; rows and columns past (H/K)*K, (W/K)*K are read and dropped. Output
// bit = OR over the KxK window (max of bipolar values), or AND (min) where the
// bit of and_mask[cb] is set. This equals bnnc.golden.pool.
//
// Cycle behaviour. One pipelined loop of H*W*(C/SIMD) iterations per frame at
// II=1, one input word per iteration. The K words of a window row are merged in
// a shift register of C/SIMD words (one per channel block); the merged row goes
// into a row accumulator of (W/K)*(C/SIMD) words, combined with the rows above;
// an output word is written in the iteration that reads its window's last word
// (row oy*K+K-1, column ox*K+K-1). The row accumulator entry of a window is
// touched once per input row, at least W*(C/SIMD) >= 2 iterations apart.
#ifndef BNNC_POOL_H
#define BNNC_POOL_H

#include "bnnc_common.h"

namespace bnnc {

template <class CFG>
struct pool_dims {
    static const unsigned CB = CFG::C / CFG::SIMD;
    static const unsigned OH = CFG::H / CFG::K;
    static const unsigned OW = CFG::W / CFG::K;
    static const unsigned IN_WORDS = CFG::H * CFG::W * CB;   // per frame
    static const unsigned OUT_WORDS = OH * OW * CB;          // per frame
};

namespace detail {

// OR where the mask bit is 0, AND where it is 1.
template <unsigned N>
ap_uint<N> pool_merge(const ap_uint<N>& a, const ap_uint<N>& b, const ap_uint<N>& and_mask) {
#pragma HLS INLINE
    return ((a | b) & ~and_mask) | (a & b & and_mask);
}

}  // namespace detail

template <class CFG>
void maxpool(hls::stream<ap_uint<CFG::SIMD> >& in, hls::stream<ap_uint<CFG::SIMD> >& out,
             const typename rom_u<CFG::SIMD>::t and_mask[CFG::C / CFG::SIMD], unsigned reps) {
    typedef pool_dims<CFG> D;
    static const unsigned H = CFG::H, W = CFG::W, K = CFG::K, SIMD = CFG::SIMD;
    static const unsigned CB = D::CB, OH = D::OH, OW = D::OW, CYCLES = D::IN_WORDS;
    static_assert(SIMD >= 1 && CFG::C % SIMD == 0, "maxpool: SIMD must divide C");
    static_assert(K >= 1 && H >= K && W >= K, "maxpool: the image must hold one window");

    ap_uint<SIMD> rows[OW * CB];  // window rows merged so far, per (ox, cb)
    ap_uint<SIMD> hreg[CB];       // merged words of the current window row, per cb
#pragma HLS ARRAY_PARTITION variable=hreg complete
    // rows[j] is read and written only once per input row, W*CB >= 2 iterations apart.
#pragma HLS DEPENDENCE variable=rows inter false

    unsigned x = 0, y = 0, cb = 0;  // input position
    unsigned kx = 0, ky = 0;        // position inside the window
    unsigned ox = 0;                // window column (>= OW in dropped columns)

    for (unsigned r = 0; r < reps; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1
        for (unsigned i = 0; i < CYCLES; i++) {
#pragma HLS PIPELINE II=1
            const ap_uint<SIMD> v = in.read();
            const bool used = y < OH * K && x < OW * K;
            if (used) {
                const unsigned col = ox * CB + cb;
                const ap_uint<SIMD> m = ap_uint<SIMD>(and_mask[cb]);
                // oldest shift-register entry = the same channel block one column left
                const ap_uint<SIMD> left = hreg[CB - 1];
                const ap_uint<SIMD> hrow = (kx == 0) ? v : detail::pool_merge<SIMD>(left, v, m);
                for (unsigned j = CB - 1; j > 0; j--) {
#pragma HLS UNROLL
                    hreg[j] = hreg[j - 1];
                }
                hreg[0] = hrow;
                if (kx == K - 1) {
                    const ap_uint<SIMD> merged =
                        (ky == 0) ? hrow : detail::pool_merge<SIMD>(rows[col], hrow, m);
                    if (ky == K - 1) {
                        out.write(merged);
                    } else {
                        rows[col] = merged;
                    }
                }
            }
            // advance (y, x, cb) and the window position (ky, oy implicit; kx, ox)
            const bool end_cb = cb == CB - 1;
            const bool end_x = end_cb && x == W - 1;
            const bool end_y = end_x && y == H - 1;
            const bool end_kx = end_cb && (end_x || kx == K - 1);
            const bool end_ky = end_x && (end_y || ky == K - 1);
            cb = end_cb ? 0 : cb + 1;
            if (end_cb) {
                x = end_x ? 0 : x + 1;
                kx = end_kx ? 0 : kx + 1;
            }
            if (end_kx) ox = end_x ? 0 : ox + 1;
            if (end_x) {
                y = end_y ? 0 : y + 1;
                ky = end_ky ? 0 : ky + 1;
            }
        }
    }
}

}  // namespace bnnc

#endif  // BNNC_POOL_H
