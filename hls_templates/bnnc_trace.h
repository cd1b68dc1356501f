// bnnc_trace.h -- C-simulation only (never synthesized): per-stream dumps for debugging.
//
// When the generated top is compiled with -DBNNC_TRACE, every kernel's output stream is
// passed through trace_tap() after the kernel returns. Under C-simulation a DATAFLOW region
// runs its processes one after another, so the stream then holds all the words the kernel
// produced: trace_tap drains them into <dir>/<name>.txt (one hex word per line) and writes
// them back unchanged. bnnc compares these dumps with the golden model to name the first
// layer whose output differs.
#ifndef BNNC_TRACE_H
#define BNNC_TRACE_H
#ifndef __SYNTHESIS__

#include <cstdio>
#include <string>

#include "bnnc_common.h"

extern const char *bnnc_trace_dir;

namespace bnnc {

template <int W>
void trace_tap(hls::stream<ap_uint<W> > &s, const char *name) {
    const std::string path = std::string(bnnc_trace_dir) + "/" + name + ".txt";
    FILE *f = std::fopen(path.c_str(), "w");
    const size_t n = s.size();
    for (size_t i = 0; i < n; i++) {
        ap_uint<W> w = s.read();
        if (f) std::fprintf(f, "%s\n", w.to_string(16, false).c_str());
        s.write(w);
    }
    if (f) std::fclose(f);
}

}  // namespace bnnc

#endif  // __SYNTHESIS__
#endif
