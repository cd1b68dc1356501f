// bnnc_width_convert.h -- stream width converter.
//
//   template <unsigned IN_W, unsigned OUT_W, unsigned IN_WORDS, unsigned OUT_WORDS>
//   void bnnc::width_convert(hls::stream<ap_uint<IN_W>>& in,
//                            hls::stream<ap_uint<OUT_W>>& out, unsigned reps);
//
// Stream format: per frame IN_WORDS words of IN_W bits in, OUT_WORDS words of
// OUT_W bits out, carrying the same bit sequence LSB first (bit 0 of word 0 is
// the frame's first bit). One width is an integer multiple of the other.
//   * downsizing (IN_W = R * OUT_W): input word i is split into output words
//     R*i .. R*i+R-1, least significant part first; output words past
//     OUT_WORDS are discarded (the frame's padding bits in its last input
//     word(s)); IN_WORDS >= ceil(OUT_WORDS / R).
//   * upsizing (OUT_W = R * IN_W): R input words fill one output word, the first
//     at the least significant bits; the frame's last output word is padded with
//     zero bits; OUT_WORDS = ceil(IN_WORDS / R).
//   * IN_W == OUT_W: a plain copy (IN_WORDS == OUT_WORDS).
// Frames are independent: no state crosses a frame boundary.
//
// Cycle behaviour: one loop iteration per cycle (II=1), at most one read and at
// most one write per iteration. Per frame: downsizing takes
// max(OUT_WORDS, R*(IN_WORDS-1)+1) cycles (= OUT_WORDS when the input carries no
// spare word), upsizing and copying take IN_WORDS cycles.
#ifndef BNNC_WIDTH_CONVERT_H
#define BNNC_WIDTH_CONVERT_H

#include "bnnc_common.h"

namespace bnnc {

namespace detail {

enum width_convert_mode { WC_COPY, WC_DOWN, WC_UP };

template <unsigned IN_W, unsigned OUT_W>
struct width_convert_kind {
    static const width_convert_mode MODE =
        IN_W == OUT_W ? WC_COPY : (IN_W > OUT_W ? WC_DOWN : WC_UP);
};

template <width_convert_mode MODE, unsigned IN_W, unsigned OUT_W, unsigned IN_WORDS,
          unsigned OUT_WORDS>
struct width_convert_impl;

// IN_W == OUT_W: copy IN_WORDS words per frame.
template <unsigned IN_W, unsigned OUT_W, unsigned IN_WORDS, unsigned OUT_WORDS>
struct width_convert_impl<WC_COPY, IN_W, OUT_W, IN_WORDS, OUT_WORDS> {
    static_assert(IN_WORDS == OUT_WORDS,
                  "width_convert: a same-width copy needs IN_WORDS == OUT_WORDS");
    static void run(hls::stream<ap_uint<IN_W> >& in, hls::stream<ap_uint<OUT_W> >& out,
                    unsigned reps) {
        for (unsigned r = 0; r < reps; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1
            for (unsigned i = 0; i < IN_WORDS; i++) {
#pragma HLS PIPELINE II=1
                out.write(ap_uint<OUT_W>(in.read()));
            }
        }
    }
};

// IN_W = R * OUT_W: hold the current input word and emit its R slices in turn.
template <unsigned IN_W, unsigned OUT_W, unsigned IN_WORDS, unsigned OUT_WORDS>
struct width_convert_impl<WC_DOWN, IN_W, OUT_W, IN_WORDS, OUT_WORDS> {
    static const unsigned R = IN_W / OUT_W;
    static const unsigned LAST_READ = R * (IN_WORDS - 1) + 1;  // cycles to read every word
    static const unsigned CYCLES = OUT_WORDS > LAST_READ ? OUT_WORDS : LAST_READ;
    static_assert(IN_W % OUT_W == 0,
                  "width_convert: one width must be a multiple of the other "
                  "(convert through their gcd)");
    static_assert(OUT_WORDS <= IN_WORDS * R,
                  "width_convert: downsizing needs OUT_WORDS <= IN_WORDS * IN_W / OUT_W");

    static void run(hls::stream<ap_uint<IN_W> >& in, hls::stream<ap_uint<OUT_W> >& out,
                    unsigned reps) {
        ap_uint<IN_W> word = 0;
        unsigned sub = 0;    // slice of `word` emitted this cycle
        unsigned nread = 0;  // input words read in this frame
        unsigned nout = 0;   // output words written in this frame
        for (unsigned r = 0; r < reps; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1
            for (unsigned i = 0; i < CYCLES; i++) {
#pragma HLS PIPELINE II=1
                if (sub == 0 && nread < IN_WORDS) {
                    word = in.read();
                    nread++;
                }
                ap_uint<OUT_W> slice = 0;
                for (unsigned j = 0; j < R; j++) {
#pragma HLS UNROLL
                    if (j == sub) slice = word((j + 1) * OUT_W - 1, j * OUT_W);
                }
                if (nout < OUT_WORDS) {
                    out.write(slice);
                    nout++;
                }
                const bool frame_end = i == CYCLES - 1;
                sub = (sub == R - 1 || frame_end) ? 0 : sub + 1;
                if (frame_end) {
                    nread = 0;
                    nout = 0;
                }
            }
        }
    }
};

// OUT_W = R * IN_W: collect R input words per output word, the first at the LSB;
// the frame's last output word is zero-padded.
template <unsigned IN_W, unsigned OUT_W, unsigned IN_WORDS, unsigned OUT_WORDS>
struct width_convert_impl<WC_UP, IN_W, OUT_W, IN_WORDS, OUT_WORDS> {
    static const unsigned R = OUT_W / IN_W;
    static_assert(OUT_W % IN_W == 0,
                  "width_convert: one width must be a multiple of the other "
                  "(convert through their gcd)");
    static_assert(OUT_WORDS == (IN_WORDS + R - 1) / R,
                  "width_convert: upsizing needs OUT_WORDS == ceil(IN_WORDS * IN_W / OUT_W)");

    static void run(hls::stream<ap_uint<IN_W> >& in, hls::stream<ap_uint<OUT_W> >& out,
                    unsigned reps) {
        ap_uint<OUT_W> word = 0;
        unsigned slot = 0;  // slot filled this cycle
        for (unsigned r = 0; r < reps; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1
            for (unsigned i = 0; i < IN_WORDS; i++) {
#pragma HLS PIPELINE II=1
                const ap_uint<IN_W> v = in.read();
                ap_uint<OUT_W> next = (slot == 0) ? ap_uint<OUT_W>(0) : word;
                for (unsigned j = 0; j < R; j++) {
#pragma HLS UNROLL
                    if (j == slot) next((j + 1) * IN_W - 1, j * IN_W) = v;
                }
                const bool flush = slot == R - 1 || i == IN_WORDS - 1;
                if (flush) out.write(next);
                word = next;
                slot = flush ? 0 : slot + 1;
            }
        }
    }
};

}  // namespace detail

template <unsigned IN_W, unsigned OUT_W, unsigned IN_WORDS, unsigned OUT_WORDS>
void width_convert(hls::stream<ap_uint<IN_W> >& in, hls::stream<ap_uint<OUT_W> >& out,
                   unsigned reps) {
#pragma HLS INLINE
    static_assert(IN_W >= 1 && OUT_W >= 1, "width_convert: widths must be positive");
    static_assert(IN_WORDS >= 1 && OUT_WORDS >= 1, "width_convert: a frame needs words");
    detail::width_convert_impl<detail::width_convert_kind<IN_W, OUT_W>::MODE, IN_W, OUT_W,
                               IN_WORDS, OUT_WORDS>::run(in, out, reps);
}

}  // namespace bnnc

#endif  // BNNC_WIDTH_CONVERT_H
