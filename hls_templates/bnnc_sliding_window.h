// bnnc_sliding_window.h -- sliding-window generator (the "im2col" stream of a conv).
//
//   struct my_swg {
//       static const unsigned C, H, W;   // input channels, rows, columns
//       static const unsigned K, S, P;   // kernel size, stride, padding
//       static const unsigned SIMD;      // channels per word (divides C)
//       static const unsigned EBITS;     // bits per element: 1 (bipolar) or 8 (uint8)
//       static const unsigned OH, OW;    // (H + 2P - K) / S + 1, same for W (checked)
//       static const bool MASKED;        // padded taps carry valid bit 0
//       static const unsigned PAD_ELEM;  // element value of a padded tap if !MASKED
//   };
//   template <class CFG>
//   void bnnc::sliding_window(hls::stream<ap_uint<SIMD*EBITS>>& in,
//                             hls::stream<ap_uint<SIMD*EBITS + (MASKED ? 1 : 0)>>& out,
//                             unsigned reps);
//
// Stream format. Input per frame: H*W*(C/SIMD) words in the order (y, x, cb);
// a word holds SIMD elements of EBITS bits, channel cb*SIMD at the LSB.
// Output per frame: OH*OW*K*K*(C/SIMD) words in the order (oy, ox, ky, kx, cb);
// tap (ky, kx) of window (oy, ox) is input pixel (oy*S-P+ky, ox*S-P+kx). A tap
// outside the image is, with MASKED, data 0 and valid bit (bit SIMD*EBITS) 0;
// without, SIMD copies of PAD_ELEM. A real tap carries valid bit 1 when MASKED.
// Trailing rows/columns that no window reaches are read and dropped (PyTorch
// semantics). This equals bnnc.golden.sliding_window followed by
// bnnc.host.packing.tensor_to_words(..., masked=MASKED).
//
// Cycle behaviour. One loop iteration per cycle (II=1) doing at most one input
// read and at most one output write. The line buffer holds K+S rows of
// W*(C/SIMD) words (one simple dual-port RAM); input row g goes to slot g mod
// (K+S), counting rows continuously over the frames of the batch.
//   * a read of row g is allowed once row g-(K+S) is no longer needed, i.e. it is
//     above the topmost row of the window being emitted; so while one output row
//     is emitted the S rows the next one needs stream in;
//   * a tap is emitted once its input word has been read (at least one cycle
//     earlier, so the RAM never serves a word in the cycle after it was
//     written); padded taps need no input;
//   * frames overlap: the next frame's first rows are read while the current
//     frame's last windows are emitted.
// Steady state: about max(H*W, OH*OW*K*K) * C/SIMD cycles per frame.
#ifndef BNNC_SLIDING_WINDOW_H
#define BNNC_SLIDING_WINDOW_H

#include "bnnc_common.h"

namespace bnnc {

template <class CFG>
struct sliding_window_dims {
    static const unsigned CB = CFG::C / CFG::SIMD;  // words per pixel
    static const unsigned ROW = CFG::W * CB;        // words per input row
    static const unsigned NR = CFG::K + CFG::S;     // rows in the line buffer
    static const unsigned IN_BITS = CFG::SIMD * CFG::EBITS;
    static const unsigned OUT_BITS = IN_BITS + (CFG::MASKED ? 1 : 0);
    static const unsigned IN_WORDS = CFG::H * ROW;  // per frame
    static const unsigned OUT_WORDS = CFG::OH * CFG::OW * CFG::K * CFG::K * CB;
    // Slot of the (virtual) row -P, the first window's top row.
    static const unsigned TOP_SLOT0 = (NR - CFG::P % NR) % NR;
    // Slot advance from the last window row of a frame to the next frame's first.
    static const int FRAME_DELTA = int(CFG::H) - int((CFG::OH - 1) * CFG::S);
    static const unsigned FRAME_STEP = unsigned((FRAME_DELTA % int(NR) + int(NR)) % int(NR));
    static const unsigned CYCLES = IN_WORDS > OUT_WORDS ? IN_WORDS : OUT_WORDS;
};

template <class CFG>
void sliding_window(hls::stream<ap_uint<CFG::SIMD * CFG::EBITS> >& in,
                    hls::stream<ap_uint<CFG::SIMD * CFG::EBITS + (CFG::MASKED ? 1 : 0)> >& out,
                    unsigned reps) {
    typedef sliding_window_dims<CFG> D;
    static const unsigned C = CFG::C, H = CFG::H, W = CFG::W, K = CFG::K, S = CFG::S;
    static const unsigned P = CFG::P, SIMD = CFG::SIMD, EBITS = CFG::EBITS;
    static const unsigned OH = CFG::OH, OW = CFG::OW;
    static const unsigned CB = D::CB, ROW = D::ROW, NR = D::NR;
    static const unsigned IN_BITS = D::IN_BITS, OUT_BITS = D::OUT_BITS;
    static const unsigned TRIP = D::CYCLES;  // loop trip count estimate (per frame)
    (void)TRIP;                                // used by the LOOP_TRIPCOUNT pragma only
    static_assert(C >= 1 && H >= 1 && W >= 1 && K >= 1 && S >= 1, "sliding_window: sizes must be positive");
    static_assert(SIMD >= 1 && C % SIMD == 0, "sliding_window: SIMD must divide C");
    static_assert(EBITS >= 1 && EBITS <= 32, "sliding_window: EBITS must be 1..32");
    static_assert(H + 2 * P >= K && W + 2 * P >= K, "sliding_window: kernel larger than the padded image");
    static_assert(OH == (H + 2 * P - K) / S + 1, "sliding_window: OH must be (H + 2P - K) / S + 1");
    static_assert(OW == (W + 2 * P - K) / S + 1, "sliding_window: OW must be (W + 2P - K) / S + 1");
    static_assert(CFG::MASKED || (unsigned long long)CFG::PAD_ELEM < (1ull << EBITS),
                  "sliding_window: PAD_ELEM does not fit in EBITS bits");

    ap_uint<IN_BITS> buf[NR][ROW];
#pragma HLS BIND_STORAGE variable=buf type=ram_s2p
    // A word is read from buf at least two iterations after it was written, and
    // never from the slot being written (see the header comment).
#pragma HLS DEPENDENCE variable=buf inter false
#pragma HLS DEPENDENCE variable=buf intra false

    // The word of a padded tap.
    ap_uint<OUT_BITS> pad_word = 0;
    if (!CFG::MASKED) {
        for (unsigned i = 0; i < SIMD; i++) {
#pragma HLS UNROLL
            pad_word((i + 1) * EBITS - 1, i * EBITS) = CFG::PAD_ELEM;
        }
    }

    // Input side: position of the next word to read.
    unsigned r_frames = 0;  // frames completely read
    unsigned r_row = 0;     // row within the frame
    unsigned r_col = 0;     // word within the row (x * CB + cb)
    unsigned r_g = 0;       // row counted over the whole batch
    unsigned w_slot = 0;    // r_g mod NR
    unsigned lag_g = 0;     // (r_g, r_col) at the start of the previous iteration
    unsigned lag_col = 0;

    // Output side: the next tap to emit.
    unsigned o_frames = 0;             // frames completely emitted
    unsigned o_base = 0;               // batch row of this frame's row 0
    unsigned oy = 0, ox = 0, ky = 0, kx = 0, cb = 0;
    int o_top = -int(P);               // oy * S - P
    int o_left = -int(P);              // ox * S - P
    unsigned top_slot = D::TOP_SLOT0;  // (o_base + o_top) mod NR

    while (r_frames < reps || o_frames < reps) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=TRIP max=TRIP
        const unsigned seen_g = lag_g;  // words before (seen_g, seen_col) are readable
        const unsigned seen_col = lag_col;
        lag_g = r_g;
        lag_col = r_col;

        // ---- output: the tap (oy, ox, ky, kx, cb)
        const int y = o_top + int(ky);
        const int x = o_left + int(kx);
        const bool inside = y >= 0 && y < int(H) && x >= 0 && x < int(W);
        const unsigned g = o_base + unsigned(y);
        const unsigned col = unsigned(x) * CB + cb;
        const bool ready = !inside || g < seen_g || (g == seen_g && col < seen_col);
        const bool emit = o_frames < reps && ready;
        unsigned tap_slot = top_slot + ky;
        if (tap_slot >= NR) tap_slot -= NR;
        if (emit) {
            ap_uint<OUT_BITS> word = pad_word;
            if (inside) {
                word(IN_BITS - 1, 0) = buf[tap_slot][col];
                if (CFG::MASKED) word[OUT_BITS - 1] = 1;
            }
            out.write(word);
        }

        // ---- input: row r_g may replace row r_g - NR once no window needs it
        const unsigned top_needed = o_base + unsigned(o_top > 0 ? o_top : 0);
        const bool take = r_frames < reps && (o_frames >= reps || r_g < top_needed + NR);
        if (take) {
            buf[w_slot][r_col] = in.read();
            if (r_col == ROW - 1) {
                r_col = 0;
                r_g++;
                w_slot = (w_slot == NR - 1) ? 0 : w_slot + 1;
                if (r_row == H - 1) {
                    r_row = 0;
                    r_frames++;
                } else {
                    r_row++;
                }
            } else {
                r_col++;
            }
        }

        // ---- advance the output position (cb fastest, then kx, ky, ox, oy)
        if (emit) {
            const bool end_cb = cb == CB - 1;
            const bool end_kx = end_cb && kx == K - 1;
            const bool end_ky = end_kx && ky == K - 1;
            const bool end_ox = end_ky && ox == OW - 1;
            const bool end_oy = end_ox && oy == OH - 1;
            cb = end_cb ? 0 : cb + 1;
            if (end_cb) kx = end_kx ? 0 : kx + 1;
            if (end_kx) ky = end_ky ? 0 : ky + 1;
            if (end_ky) {
                ox = end_ox ? 0 : ox + 1;
                o_left = end_ox ? -int(P) : o_left + int(S);
            }
            if (end_ox) {
                const unsigned step = end_oy ? D::FRAME_STEP : S;
                top_slot = (top_slot + step >= NR) ? top_slot + step - NR : top_slot + step;
                oy = end_oy ? 0 : oy + 1;
                o_top = end_oy ? -int(P) : o_top + int(S);
            }
            if (end_oy) {
                o_base += H;
                o_frames++;
            }
        }
    }
}


// ---------------------------------------------------------------------------
// Channel-major window ("ckk" order), for codebook kernels (bnnc_codebook.h).
//
//   template <class CFG>   // same CFG as sliding_window; additionally P < K
//   void bnnc::sliding_window_ckk(hls::stream<ap_uint<SIMD*EBITS>>& in,
//       hls::stream<ap_uint<SIMD*K*K*EBITS + (MASKED ? K*K : 0)>>& out, unsigned reps);
//
// Output per frame: OH*OW*(C/SIMD) words in the order (oy, ox, cb). Word (oy, ox, cb)
// holds all K*K taps of channels cb*SIMD .. cb*SIMD+SIMD-1: element (i, t) -- channel
// cb*SIMD+i, tap t = ky*K + kx -- at bits (i*K*K + t)*EBITS; with MASKED, bit
// SIMD*K*K*EBITS + t is tap t's valid bit (0 for a padded tap, whose data is 0); without,
// a padded tap holds PAD_ELEM. This equals bnnc.golden.sliding_window with order "ckk".
//
// Cycle behaviour: as sliding_window, with a word instead of a tap: the read side is
// identical; word (oy, ox, cb) is emitted once its last input word -- the bottom-right
// tap inside the image, (min(oy*S-P+K-1, H-1), min(ox*S-P+K-1, W-1), cb) -- was read in an
// earlier iteration. The line buffer is banked by (row slot, column mod K), so the K*K
// taps of a word are K*K reads of distinct banks in one iteration.
template <class CFG>
struct sliding_window_ckk_dims {
    typedef sliding_window_dims<CFG> D;
    static const unsigned KK = CFG::K * CFG::K;
    static const unsigned WB = (CFG::W + CFG::K - 1) / CFG::K;  // columns per bank
    static const unsigned DATA_BITS = CFG::SIMD * KK * CFG::EBITS;
    static const unsigned OUT_BITS = DATA_BITS + (CFG::MASKED ? KK : 0);
    static const unsigned OUT_WORDS = CFG::OH * CFG::OW * D::CB;
    static const unsigned CYCLES = D::IN_WORDS > OUT_WORDS ? D::IN_WORDS : OUT_WORDS;
};

template <class CFG>
void sliding_window_ckk(hls::stream<ap_uint<CFG::SIMD * CFG::EBITS> >& in,
                        hls::stream<ap_uint<sliding_window_ckk_dims<CFG>::OUT_BITS> >& out,
                        unsigned reps) {
    typedef sliding_window_dims<CFG> D;
    typedef sliding_window_ckk_dims<CFG> E;
    static const unsigned H = CFG::H, W = CFG::W, K = CFG::K, S = CFG::S, P = CFG::P;
    static const unsigned SIMD = CFG::SIMD, EBITS = CFG::EBITS, OH = CFG::OH, OW = CFG::OW;
    static const unsigned CB = D::CB, ROW = D::ROW, NR = D::NR, IN_BITS = D::IN_BITS;
    static const unsigned KK = E::KK, WB = E::WB, DATA_BITS = E::DATA_BITS, OUT_BITS = E::OUT_BITS;
    static const unsigned TRIP = E::CYCLES;
    (void)TRIP;
    static_assert(CFG::C % SIMD == 0, "sliding_window_ckk: SIMD must divide C");
    static_assert(P < K, "sliding_window_ckk: padding must be smaller than the kernel");
    static_assert(OH == (H + 2 * P - K) / S + 1, "sliding_window_ckk: OH must be (H + 2P - K) / S + 1");
    static_assert(OW == (W + 2 * P - K) / S + 1, "sliding_window_ckk: OW must be (W + 2P - K) / S + 1");

    ap_uint<IN_BITS> buf[NR][K][WB * CB];
#pragma HLS ARRAY_PARTITION variable=buf complete dim=1
#pragma HLS ARRAY_PARTITION variable=buf complete dim=2
#pragma HLS DEPENDENCE variable=buf inter false
#pragma HLS DEPENDENCE variable=buf intra false

    ap_uint<IN_BITS> pad_in = 0;  // the data of a padded tap
    if (!CFG::MASKED) {
        for (unsigned i = 0; i < SIMD; i++) {
#pragma HLS UNROLL
            pad_in((i + 1) * EBITS - 1, i * EBITS) = CFG::PAD_ELEM;
        }
    }

    unsigned r_frames = 0, r_row = 0, r_col = 0, r_g = 0, w_slot = 0;
    unsigned r_cb = 0, r_xk = 0, r_xq = 0;  // column x = r_xq*K + r_xk of the next word
    unsigned lag_g = 0, lag_col = 0;
    unsigned o_frames = 0, o_base = 0, oy = 0, ox = 0, cb = 0;
    int o_top = -int(P), o_left = -int(P);
    unsigned top_slot = D::TOP_SLOT0;

    while (r_frames < reps || o_frames < reps) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT min=TRIP max=TRIP
        const unsigned seen_g = lag_g, seen_col = lag_col;
        lag_g = r_g;
        lag_col = r_col;

        // ---- output: the word (oy, ox, cb) once its bottom-right real tap was read
        const int y_last = o_top + int(K) - 1 < int(H) - 1 ? o_top + int(K) - 1 : int(H) - 1;
        const int x_last = o_left + int(K) - 1 < int(W) - 1 ? o_left + int(K) - 1 : int(W) - 1;
        const unsigned g = o_base + unsigned(y_last);
        const unsigned col = unsigned(x_last) * CB + cb;
        const bool ready = g < seen_g || (g == seen_g && col < seen_col);
        const bool emit = o_frames < reps && ready;
        if (emit) {
            ap_uint<OUT_BITS> word = 0;
            for (unsigned ky = 0; ky < K; ky++) {
#pragma HLS UNROLL
                unsigned slot = top_slot + ky;
                if (slot >= NR) slot -= NR;
                for (unsigned kx = 0; kx < K; kx++) {
#pragma HLS UNROLL
                    const int y = o_top + int(ky), x = o_left + int(kx);
                    const bool inside = y >= 0 && y < int(H) && x >= 0 && x < int(W);
                    const unsigned xs = unsigned(x + int(K));  // x >= -P > -K
                    ap_uint<IN_BITS> d = pad_in;
                    if (inside) d = buf[slot][xs % K][(xs / K - 1) * CB + cb];
                    const unsigned t = ky * K + kx;
                    for (unsigned i = 0; i < SIMD; i++) {
#pragma HLS UNROLL
                        word((i * KK + t + 1) * EBITS - 1, (i * KK + t) * EBITS) =
                            d((i + 1) * EBITS - 1, i * EBITS);
                    }
                    if (CFG::MASKED) word[DATA_BITS + t] = inside;
                }
            }
            out.write(word);
        }

        // ---- input (as sliding_window)
        const unsigned top_needed = o_base + unsigned(o_top > 0 ? o_top : 0);
        const bool take = r_frames < reps && (o_frames >= reps || r_g < top_needed + NR);
        if (take) {
            buf[w_slot][r_xk][r_xq * CB + r_cb] = in.read();
            const bool end_cb = r_cb == CB - 1;
            r_cb = end_cb ? 0 : r_cb + 1;
            if (end_cb) {
                const bool end_k = r_xk == K - 1;
                r_xk = end_k ? 0 : r_xk + 1;
                if (end_k) r_xq++;
            }
            if (r_col == ROW - 1) {
                r_col = 0;
                r_cb = 0;
                r_xk = 0;
                r_xq = 0;
                r_g++;
                w_slot = (w_slot == NR - 1) ? 0 : w_slot + 1;
                if (r_row == H - 1) {
                    r_row = 0;
                    r_frames++;
                } else {
                    r_row++;
                }
            } else {
                r_col++;
            }
        }

        // ---- advance the output position (cb fastest, then ox, oy)
        if (emit) {
            const bool end_cb = cb == CB - 1;
            const bool end_ox = end_cb && ox == OW - 1;
            const bool end_oy = end_ox && oy == OH - 1;
            cb = end_cb ? 0 : cb + 1;
            if (end_cb) {
                ox = end_ox ? 0 : ox + 1;
                o_left = end_ox ? -int(P) : o_left + int(S);
            }
            if (end_ox) {
                const unsigned step = end_oy ? D::FRAME_STEP : S;
                top_slot = (top_slot + step >= NR) ? top_slot + step - NR : top_slot + step;
                oy = end_oy ? 0 : oy + 1;
                o_top = end_oy ? -int(P) : o_top + int(S);
            }
            if (end_oy) {
                o_base += H;
                o_frames++;
            }
        }
    }
}

}  // namespace bnnc

#endif  // BNNC_SLIDING_WINDOW_H
