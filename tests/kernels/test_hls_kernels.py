"""C-simulation of the HLS kernel headers against the golden model.

Every case runs two frames (reps=2) so that state carried across a frame boundary
is checked; expected words always come from :mod:`bnnc.golden` (or, for the width
converter, from the bit sequence itself) packed by :mod:`bnnc.host.packing`, and are
compared with exact integer equality. Configurations are pairwise sweeps, not full
products; all testbenches are compiled up front in parallel and cached.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from bnnc import golden, ir
from bnnc.errors import ToolError
from bnnc.host.packing import tensor_to_words

from hls_harness import (CXXFLAGS, TEMPLATES, Array, CsimError, Testbench, build,
                         compile_source, run)

pytestmark = pytest.mark.csim

REPS = 2


def _rng(*key: object) -> np.random.Generator:
    """A generator seeded by the test case (stable across runs and processes)."""
    return np.random.default_rng(int(hashlib.sha256(repr(key).encode()).hexdigest()[:12], 16))


def _bits_signed(lo: int, hi: int) -> int:
    b = 1
    while not (-(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1):
        b += 1
    return b


def _bipolar(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.where(rng.integers(0, 2, size=shape) == 1, 1, -1).astype(np.int64)


# ------------------------------------------------------------------ width converter
@dataclass(frozen=True)
class WC:
    in_w: int
    out_w: int
    in_words: int
    out_words: int

    @property
    def id(self) -> str:
        return f"{self.in_w}to{self.out_w}_{self.in_words}w_{self.out_words}w"

    def tb(self) -> Testbench:
        return Testbench(header="bnnc_width_convert.h", config={}, in_bits=self.in_w,
                         out_bits=self.out_w,
                         call=f"bnnc::width_convert<{self.in_w}, {self.out_w}, {self.in_words}, "
                              f"{self.out_words}>(in, out, reps);")


WC_CASES = [
    WC(64, 8, 2, 13),    # 100-bit frame: the last input word is partly padding
    WC(64, 8, 3, 9),     # a spare input word: read and dropped
    WC(8, 64, 11, 2),    # upsizing, last output word zero-padded
    WC(4, 32, 13, 2),
    WC(32, 4, 3, 18),
    WC(16, 16, 5, 5),    # plain copy
]


def _wc_expected(case: WC, frames: list[list[int]]) -> list[int]:
    out = []
    for words in frames:
        bits = 0
        for i, w in enumerate(words):
            bits |= w << (i * case.in_w)
        for j in range(case.out_words):
            out.append((bits >> (j * case.out_w)) & ((1 << case.out_w) - 1))
    return out


@pytest.mark.parametrize("case", WC_CASES, ids=lambda c: c.id)
def test_width_convert(case: WC) -> None:
    rng = _rng("wc", case)
    frames = [[int(v) for v in rng.integers(0, 2, size=(case.in_words, case.in_w)) @
               (1 << np.arange(case.in_w, dtype=object))] for _ in range(REPS)]
    words = [w for f in frames for w in f]
    got = run(case.tb(), words, reps=REPS)
    assert got == _wc_expected(case, frames)


# ------------------------------------------------------------------ sliding window
@dataclass(frozen=True)
class SWG:
    c: int
    h: int
    w: int
    k: int
    s: int
    p: int
    simd: int
    uint8: bool = False
    masked: bool = False
    pad_value: int = 0   # in the input's domain: -1/+1 (bipolar), 0..255 (uint8)

    @property
    def ebits(self) -> int:
        return 8 if self.uint8 else 1

    @property
    def oh(self) -> int:
        return (self.h + 2 * self.p - self.k) // self.s + 1

    @property
    def ow(self) -> int:
        return (self.w + 2 * self.p - self.k) // self.s + 1

    @property
    def pad_elem(self) -> int:
        if self.masked:
            return 0
        if self.uint8:
            return self.pad_value
        return 1 if self.pad_value > 0 else 0

    @property
    def id(self) -> str:
        kind = "u8" if self.uint8 else "bip"
        pad = "masked" if self.masked else f"pad{self.pad_value:+d}"
        return (f"c{self.c}h{self.h}w{self.w}k{self.k}s{self.s}p{self.p}simd{self.simd}"
                f"_{kind}_{pad}")

    def node(self) -> ir.SlidingWindow:
        return ir.SlidingWindow(name="swg", channels=self.c, height=self.h, width=self.w,
                                kernel=self.k, stride=self.s, pad=self.p,
                                pad_value=0 if self.masked else self.pad_value,
                                masked=self.masked, dtype=ir.UINT8 if self.uint8 else ir.BIPOLAR,
                                simd=self.simd)

    def config(self) -> dict[str, int | bool]:
        return {"C": self.c, "H": self.h, "W": self.w, "K": self.k, "S": self.s, "P": self.p,
                "SIMD": self.simd, "EBITS": self.ebits, "OH": self.oh, "OW": self.ow,
                "MASKED": self.masked, "PAD_ELEM": self.pad_elem}

    def tb(self) -> Testbench:
        bits = self.simd * self.ebits
        return Testbench(header="bnnc_sliding_window.h", config=self.config(), in_bits=bits,
                         out_bits=bits + int(self.masked),
                         call="bnnc::sliding_window<cfg>(in, out, reps);")

    def random_input(self, rng: np.random.Generator) -> np.ndarray:
        shape = (REPS, self.c, self.h, self.w)
        return rng.integers(0, 256, size=shape) if self.uint8 else _bipolar(rng, shape)


SWG_CASES = [
    SWG(4, 5, 7, 3, 1, 1, 4, masked=True),
    SWG(4, 6, 5, 3, 2, 1, 2, pad_value=+1),
    SWG(2, 5, 4, 3, 1, 2, 1, pad_value=-1),
    SWG(3, 5, 6, 1, 2, 0, 3, uint8=True),
    SWG(3, 6, 5, 3, 2, 2, 1, uint8=True, pad_value=17),
    SWG(3, 7, 6, 3, 1, 0, 3, uint8=True),                  # CNV-like first layer
    SWG(3, 4, 5, 3, 1, 1, 3, uint8=True, pad_value=0),
    SWG(8, 4, 4, 1, 1, 0, 4),                              # K=1: a reordering-free copy
    SWG(4, 5, 5, 3, 2, 0, 4, masked=True),                 # masked but nothing padded
    SWG(2, 3, 8, 2, 2, 1, 2, masked=True),                 # even kernel, padding
    SWG(16, 4, 3, 3, 1, 1, 4, masked=True),                # line buffer taller than the image
    SWG(1, 2, 2, 3, 1, 1, 1, uint8=True, pad_value=17),    # tiny image, all windows padded
    SWG(2, 7, 8, 3, 3, 1, 1, pad_value=+1),                # stride == kernel, rows dropped
    SWG(2, 6, 9, 2, 1, 2, 2, pad_value=-1),                # P >= K
]


@pytest.mark.parametrize("case", SWG_CASES, ids=lambda c: c.id)
def test_sliding_window(case: SWG) -> None:
    rng = _rng("swg", case)
    x = case.random_input(rng)
    expected = golden.sliding_window(case.node(), x, {})
    in_words = tensor_to_words(x, case.ebits, case.simd, bipolar=not case.uint8)
    exp_words = tensor_to_words(expected, case.ebits, case.simd, bipolar=not case.uint8,
                                masked=case.masked)
    got = run(case.tb(), in_words, reps=REPS)
    assert len(got) == len(exp_words)
    assert got == exp_words


# ------------------------------------------------------------------ matrix-vector unit
DOMAINS = {"popcount": 0, "dot": 1, "int": 2}


@dataclass(frozen=True)
class MV:
    mh: int
    pe: int
    simd: int
    domain: str
    scores: bool
    # input: a window stream of a (c, h, w) image with kernel k, padding p (masked when
    # a bipolar dot layer pads with 0), or a dense vector of c elements when k == 0
    c: int
    h: int = 1
    w: int = 1
    k: int = 0
    p: int = 0
    pad_value: int = 0
    out_bits: int = 32

    @property
    def uint8(self) -> bool:
        return self.domain == "int"

    @property
    def masked(self) -> bool:
        return self.domain == "dot" and self.k > 0 and self.p > 0 and self.pad_value == 0

    @property
    def mw(self) -> int:
        return self.c * max(self.k, 1) ** 2

    @property
    def pixels(self) -> int:
        if self.k == 0:
            return 1
        return (self.h + 2 * self.p - self.k + 1) * (self.w + 2 * self.p - self.k + 1)

    @property
    def in_bits(self) -> int:
        return 8 if self.uint8 else 1

    def acc_range(self) -> tuple[int, int]:
        if self.domain == "popcount":
            return 0, self.mw
        if self.domain == "dot":
            return -self.mw, self.mw
        return -255 * self.mw, 255 * self.mw

    @property
    def id(self) -> str:
        src = f"dense{self.c}" if self.k == 0 else f"conv{self.c}x{self.h}x{self.w}k{self.k}p{self.p}"
        mode = f"scores{self.out_bits}" if self.scores else "thr"
        return f"{self.domain}_{mode}_mw{self.mw}mh{self.mh}pe{self.pe}simd{self.simd}_{src}"

    def inputs(self, rng: np.random.Generator) -> np.ndarray:
        """(REPS, MW, H', W') input tensor, from golden.sliding_window for conv cases."""
        shape = (REPS, self.c, self.h, self.w) if self.k else (REPS, self.c, 1, 1)
        x = rng.integers(0, 256, size=shape) if self.uint8 else _bipolar(rng, shape)
        if self.k == 0:
            return x
        node = ir.SlidingWindow(name="swg", channels=self.c, height=self.h, width=self.w,
                                kernel=self.k, stride=1, pad=self.p, pad_value=self.pad_value,
                                masked=self.masked,
                                dtype=ir.UINT8 if self.uint8 else ir.BIPOLAR, simd=self.simd)
        return golden.sliding_window(node, x, {})

    @property
    def acc_bits(self) -> int:
        """Signed accumulator width: the exact range, plus thresholds one beyond it."""
        lo, hi = self.acc_range()
        if not self.scores:
            lo, hi = lo - 1, hi + 1
        return max(_bits_signed(lo, hi), 2)

    def tb(self) -> Testbench:
        acc_bits = self.acc_bits
        sf, nf = self.mw // self.simd, self.mh // self.pe
        cfg = {"MW": self.mw, "MH": self.mh, "PE": self.pe, "SIMD": self.simd,
               "PIXELS": self.pixels, "IN_BITS": self.in_bits, "DOMAIN": DOMAINS[self.domain],
               "ACC_BITS": acc_bits, "OUT_BITS": self.out_bits, "MASKED": self.masked}
        arrays = [Array("w", f"ap_uint<{self.simd}>", self.simd, (self.pe, nf * sf))]
        if self.scores:
            call = "bnnc::matvec_scores<cfg>(in, out, w, reps);"
            out_bits = self.pe * self.out_bits
        else:
            arrays += [Array("thr", f"ap_int<{acc_bits}>", acc_bits, (self.pe, nf)),
                       Array("inv", "ap_uint<1>", 1, (self.pe, nf))]
            call = "bnnc::matvec_threshold<cfg>(in, out, w, thr, inv, reps);"
            out_bits = self.pe
        return Testbench(header="bnnc_matvec.h", config=cfg,
                         in_bits=self.simd * self.in_bits + int(self.masked),
                         out_bits=out_bits, call=call, arrays=tuple(arrays))


MV_CASES = [
    MV(8, 2, 4, "popcount", False, c=4, h=4, w=4, k=3),
    MV(6, 6, 4, "dot", False, c=4, h=5, w=4, k=3, p=1),              # masked, PE = MH
    MV(4, 1, 1, "dot", True, c=2, h=3, w=3, k=3, p=1, out_bits=16),  # masked scores, SIMD = 1
    MV(4, 2, 3, "int", False, c=3, h=5, w=6, k=3),                    # CNV-like first layer
    MV(3, 3, 12, "int", True, c=12),                                  # SIMD = MW
    MV(10, 5, 64, "popcount", True, c=64),                            # wide popcount scores
    MV(3, 1, 1, "dot", False, c=32),                                  # SIMD = 1, PE = 1
    MV(8, 8, 8, "popcount", False, c=8, h=3, w=3, k=1),               # fully parallel
    MV(16, 4, 32, "dot", False, c=32, h=3, w=3, k=3, p=1),            # 33-bit masked words
    MV(2, 2, 1, "int", True, c=5, out_bits=32),
    MV(4, 4, 2, "dot", True, c=2, h=4, w=3, k=3, p=0, out_bits=16),   # unmasked dot scores
    MV(6, 3, 2, "popcount", False, c=2, h=3, w=4, k=3, p=1, pad_value=1),  # +1-padded conv
]


def _mv_arrays(case: MV, wmat: np.ndarray, t: np.ndarray | None,
               inv: np.ndarray | None) -> dict[str, list[int]]:
    sf, nf = case.mw // case.simd, case.mh // case.pe
    words = []
    for p in range(case.pe):
        for n in range(nf):
            for s in range(sf):
                row = wmat[n * case.pe + p, s * case.simd:(s + 1) * case.simd] > 0
                words.append(sum(int(b) << i for i, b in enumerate(row)))
    arrays = {"w": words}
    if t is not None and inv is not None:
        arrays["thr"] = [int(t[n * case.pe + p]) for p in range(case.pe) for n in range(nf)]
        arrays["inv"] = [int(inv[n * case.pe + p]) for p in range(case.pe) for n in range(nf)]
    return arrays


def _mv_thresholds(rng: np.random.Generator, case: MV, acc: np.ndarray) -> tuple[np.ndarray,
                                                                                 np.ndarray]:
    """Thresholds in [lo-1, hi+1]: ties with real accumulator values (negative ones too in
    the dot and int domains), their neighbours, and the extremes (constant outputs)."""
    lo, hi = case.acc_range()
    t = np.empty(case.mh, dtype=np.int64)
    for ch in range(case.mh):
        vals = acc[:, ch].ravel()
        kind = ch % 4
        if kind == 0 or kind == 1:
            t[ch] = rng.choice(vals)                      # ties with some pixel
        elif kind == 2:
            t[ch] = rng.choice(vals) + rng.choice([-1, 1])
        else:
            t[ch] = rng.choice([lo - 1, hi + 1, lo, hi])
    inv = rng.integers(0, 2, size=case.mh).astype(np.int64)
    return t, inv


@pytest.mark.parametrize("case", MV_CASES, ids=lambda c: c.id)
def test_matvec(case: MV) -> None:
    rng = _rng("mv", case)
    x = case.inputs(rng)
    wmat = _bipolar(rng, (case.mh, case.mw))
    consts: dict[str, np.ndarray] = {"w": wmat}
    node = ir.MatVec(name="mv", weights="w", mw=case.mw, mh=case.mh,
                     in_dtype=ir.UINT8 if case.uint8 else ir.BIPOLAR, domain=case.domain,
                     masked=case.masked, pe=case.pe, simd=case.simd)
    acc = golden.matvec(node, x, consts)
    if case.masked:
        assert (x == 0).any(), "the test should feed padded taps"
    in_words = tensor_to_words(x, case.in_bits, case.simd, bipolar=not case.uint8,
                               masked=case.masked)
    if case.scores:
        expected = tensor_to_words(acc, case.out_bits, case.pe, bipolar=False)
        arrays = _mv_arrays(case, wmat, None, None)
    else:
        t, inv = _mv_thresholds(rng, case, acc)
        consts.update(t=t, i=inv)
        node = ir.MatVec(name="mv", weights="w", mw=case.mw, mh=case.mh,
                         in_dtype=node.in_dtype, domain=case.domain, masked=case.masked,
                         thresholds="t", invert="i", pe=case.pe, simd=case.simd)
        out = golden.matvec(node, x, consts)
        assert (out == 1).any() and (out == -1).any()
        expected = tensor_to_words(out, 1, case.pe, bipolar=True)
        arrays = _mv_arrays(case, wmat, t, inv)
    got = run(case.tb(), in_words, reps=REPS, arrays=arrays)
    assert len(got) == len(expected)
    assert got == expected


# ------------------------------------------------------------------ max-pool
@dataclass(frozen=True)
class Pool:
    c: int
    h: int
    w: int
    k: int
    simd: int
    and_mask: bool

    @property
    def id(self) -> str:
        return (f"c{self.c}h{self.h}w{self.w}k{self.k}simd{self.simd}"
                f"{'_andmask' if self.and_mask else ''}")

    def tb(self) -> Testbench:
        cb = self.c // self.simd
        return Testbench(header="bnnc_pool.h",
                         config={"C": self.c, "H": self.h, "W": self.w, "K": self.k,
                                 "SIMD": self.simd},
                         in_bits=self.simd, out_bits=self.simd,
                         arrays=(Array("and_mask", f"ap_uint<{self.simd}>", self.simd, (cb,)),),
                         call="bnnc::maxpool<cfg>(in, out, and_mask, reps);")


POOL_CASES = [
    Pool(4, 4, 4, 2, 4, False),
    Pool(6, 5, 7, 2, 2, True),     # odd H and W: last row/column dropped
    Pool(3, 7, 6, 3, 1, True),
    Pool(8, 6, 9, 3, 8, False),
    Pool(2, 3, 5, 2, 1, True),
    Pool(4, 8, 8, 2, 2, True),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: c.id)
def test_maxpool(case: Pool) -> None:
    rng = _rng("pool", case)
    x = _bipolar(rng, (REPS, case.c, case.h, case.w))
    mask = (rng.integers(0, 2, size=case.c) if case.and_mask
            else np.zeros(case.c, dtype=np.int64)).astype(np.int64)
    node = ir.Pool(name="pool", channels=case.c, height=case.h, width=case.w, kernel=case.k,
                   and_mask="m" if case.and_mask else None, simd=case.simd)
    expected = tensor_to_words(golden.pool(node, x, {"m": mask}), 1, case.simd, bipolar=True)
    mask_words = [sum(int(b) << i for i, b in enumerate(mask[j:j + case.simd]))
                  for j in range(0, case.c, case.simd)]
    got = run(case.tb(), tensor_to_words(x, 1, case.simd, bipolar=True), reps=REPS,
              arrays={"and_mask": mask_words})
    assert got == expected


# ------------------------------------------------------------------ AXI4-Stream adapters
AXIS_OUT = Testbench(
    header="bnnc_common.h", config={}, in_bits=64, out_bits=81,
    call="""hls::stream<bnnc_axis_t> axis;
    bnnc::axis_out<3>(in, axis, reps);
    while (!axis.empty()) {
        const bnnc_axis_t a = axis.read();
        ap_uint<81> o = 0;
        o(63, 0) = a.data;
        o(71, 64) = a.keep;
        o(79, 72) = a.strb;
        o[80] = a.last;
        out.write(o);
    }""")

AXIS_IN = Testbench(
    header="bnnc_common.h", config={}, in_bits=65, out_bits=64,
    call="""hls::stream<bnnc_axis_t> axis;
    unsigned n = 0;
    while (!in.empty()) {
        const ap_uint<65> v = in.read();
        bnnc_axis_t a;
        a.data = v(63, 0);
        a.keep = 0xff;
        a.strb = 0xff;
        a.last = v[64];
        axis.write(a);
        n++;
    }
    bnnc::axis_in(axis, out, n);""")


def test_axis_out_marks_the_last_word_of_the_batch() -> None:
    words = [int(v) for v in _rng("axis").integers(0, 2 ** 63, size=6)]
    got = run(AXIS_OUT, words, reps=REPS)
    assert [g & (2 ** 64 - 1) for g in got] == words
    assert [(g >> 64) & 0xFFFF for g in got] == [0xFFFF] * 6
    assert [g >> 80 for g in got] == [0, 0, 0, 0, 0, 1]


def test_axis_in_drops_the_side_channels() -> None:
    words = [int(v) for v in _rng("axis_in").integers(0, 2 ** 63, size=5)]
    tagged = [w | ((i == 4) << 64) for i, w in enumerate(words)]
    assert run(AXIS_IN, tagged, reps=1) == words


# ------------------------------------------------------------------ standalone headers
# Each header on its own, with one instantiation, at the flags the compiler uses (-O2).
STANDALONE = {
    "bnnc_common.h": """
void inst(hls::stream<ap_uint<64> >& a, hls::stream<bnnc_axis_t>& b, hls::stream<ap_uint<64> >& c) {
    bnnc::axis_out<4>(a, b, 2);
    bnnc::axis_in(b, c, 8);
}
ap_uint<7> pc(const ap_uint<100>& x) { return bnnc::popcount<100>(x); }""",
    "bnnc_width_convert.h": """
void inst(hls::stream<ap_uint<64> >& a, hls::stream<ap_uint<8> >& b, hls::stream<ap_uint<64> >& c) {
    bnnc::width_convert<64, 8, 2, 13>(a, b, 1);
    bnnc::width_convert<8, 64, 13, 2>(b, c, 1);
}""",
    "bnnc_sliding_window.h": """
struct cfg { static const unsigned C = 4, H = 5, W = 6, K = 3, S = 1, P = 1, SIMD = 2, EBITS = 1,
             OH = 5, OW = 6; static const bool MASKED = true; static const unsigned PAD_ELEM = 0; };
void inst(hls::stream<ap_uint<2> >& a, hls::stream<ap_uint<3> >& b) {
    bnnc::sliding_window<cfg>(a, b, 1);
}""",
    "bnnc_matvec.h": """
struct cfg { static const unsigned MW = 36, MH = 8, PE = 2, SIMD = 4, PIXELS = 9, IN_BITS = 1,
             DOMAIN = 1, ACC_BITS = 8, OUT_BITS = 16; static const bool MASKED = true; };
extern const bnnc::rom_u<4>::t w[2][36];
extern const bnnc::rom_s<8>::t thr[2][4];
extern const bnnc::rom_u<1>::t inv[2][4];
void inst(hls::stream<ap_uint<5> >& a, hls::stream<ap_uint<2> >& b,
          hls::stream<ap_uint<5> >& c, hls::stream<ap_uint<32> >& d) {
    bnnc::matvec_threshold<cfg>(a, b, w, thr, inv, 1);
    bnnc::matvec_scores<cfg>(c, d, w, 1);
}""",
    "bnnc_pool.h": """
struct cfg { static const unsigned C = 6, H = 5, W = 7, K = 2, SIMD = 3; };
extern const bnnc::rom_u<3>::t m[2];
void inst(hls::stream<ap_uint<3> >& a, hls::stream<ap_uint<3> >& b) {
    bnnc::maxpool<cfg>(a, b, m, 1);
}""",
}


def _compile_standalone(header: str) -> Path:
    flags = [f if f != "-O1" else "-O2" for f in CXXFLAGS]
    src = f'#include "{header}"\n{STANDALONE.get(header, "")}\n'
    return compile_source(src, flags=flags, link=False, name=Path(header).stem)


@pytest.mark.parametrize("header", sorted(p.name for p in TEMPLATES.glob("*.h")))
def test_header_compiles_standalone(header: str) -> None:
    """Every header compiles on its own with -O2 -Werror (kernels: with one instantiation)."""
    assert _compile_standalone(header).exists()


# ------------------------------------------------------------------ build everything first
@pytest.fixture(autouse=True, scope="module")
def _prebuild(request: pytest.FixtureRequest) -> None:
    """Compile the testbenches of the selected tests in parallel (cached across runs)."""
    tbs: list[Testbench] = []
    headers: list[str] = []
    for item in request.session.items:
        if getattr(item, "module", None) is not request.module:
            continue
        params = item.callspec.params if hasattr(item, "callspec") else {}
        if "case" in params:
            tbs.append(params["case"].tb())
        elif "header" in params:
            headers.append(params["header"])
        elif item.name.startswith("test_axis_out"):
            tbs.append(AXIS_OUT)
        elif item.name.startswith("test_axis_in"):
            tbs.append(AXIS_IN)
    try:
        unique = {tb.source(): tb for tb in tbs}.values()
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            jobs = [pool.submit(build, tb) for tb in unique]
            jobs += [pool.submit(_compile_standalone, h) for h in headers]
            for job in jobs:
                try:
                    job.result()
                except CsimError:
                    pass  # the test that needs it reports the compiler's message
    except ToolError as e:
        pytest.skip(str(e))
