"""RTL simulation of every Verilog kernel against the golden model and the cycle model.

Each case runs FRAMES frames with the input always valid and the output always ready:
the output words must equal golden's (packed by bnnc.host.packing) and the measured
latency (first input to last output of frame 0) and interval (between the ends of the
last two frames) must equal bnnc.cycles.node_timing exactly. A second run of every
case with random input gaps and output backpressure must give the same words.
Configurations are pairwise sweeps; all instances of a kernel kind share one cached
Verilator build.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass

import numpy as np
import pytest

from bnnc import golden, ir
from bnnc.backends.hls import matvec_weight_words
from bnnc.backends.rtl import _concat, _hex_lines
from bnnc.cycles import node_timing
from bnnc.host.packing import tensor_to_words

from rtl_harness import Instance, KernelBench

pytestmark = pytest.mark.rtlsim

FRAMES = 4


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256(repr(key).encode()).hexdigest()[:12], 16))


def _bipolar(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.where(rng.integers(0, 2, size=shape) == 1, 1, -1).astype(np.int64)


def _graph(shape: tuple[int, int, int], node: ir.Node, dtype: ir.DType = ir.BIPOLAR) -> ir.Graph:
    inp = ir.Input(name="x", shape=shape, dtype=dtype)
    node = type(node)(**{**node.__dict__, "inputs": ("x",)})
    out = ir.Output(name="y", inputs=(node.name,), scale="s", bias="b")
    consts = {k: v for k, v in _CONSTS.items()}
    return ir.Graph([inp, node, out], consts)


_CONSTS: dict[str, np.ndarray] = {"s": np.ones(1), "b": np.zeros(1)}


def _check_timing(graph: ir.Graph, node: ir.Node, run, out_per_frame: int) -> None:  # type: ignore[no-untyped-def]
    t = node_timing(graph, graph.node(node.name), frames=FRAMES)
    ends = [run.t_out[(f + 1) * out_per_frame - 1] for f in range(FRAMES)]
    assert ends[0] - run.t_in[0] == t.latency, "latency differs from the cycle model"
    assert ends[-1] - ends[-2] == t.interval, "interval differs from the cycle model"


# ------------------------------------------------------------------ width converter
@dataclass(frozen=True)
class WC:
    in_w: int
    out_w: int
    frame_bits: int

    @property
    def in_words(self) -> int:
        return -(-self.frame_bits // self.in_w)

    @property
    def out_words(self) -> int:
        return -(-self.frame_bits // self.out_w)

    def inst(self) -> Instance:
        return Instance("bnnc_width_convert", (("IN_W", str(self.in_w)), ("OUT_W", str(self.out_w)),
                                               ("IN_WORDS", str(self.in_words)),
                                               ("OUT_WORDS", str(self.out_words))),
                        self.in_w, self.out_w)


WC_CASES = [WC(64, 8, 100), WC(64, 8, 72), WC(8, 64, 88), WC(4, 32, 52), WC(32, 4, 72),
            WC(16, 16, 80), WC(1, 4, 256), WC(24, 8, 96),
            # range edges of the narrow counters: one input / output word per frame, R = 3
            # with and without a zero-padded or dropped last word, odd word counts
            WC(64, 8, 64), WC(16, 8, 8), WC(24, 8, 88), WC(2, 4, 2), WC(8, 24, 56),
            WC(8, 24, 48), WC(8, 64, 40)]

SWG_BENCH = KernelBench("swg")
CKK_BENCH = KernelBench("swg_ckk")
MV_BENCH = KernelBench("matvec")
POOL_BENCH = KernelBench("pool")
WC_BENCH = KernelBench("wc")


@pytest.fixture(scope="module")
def wc_exe(tmp_path_factory):
    for c in WC_CASES:
        WC_BENCH.add(c.inst())
    return WC_BENCH.build(tmp_path_factory.mktemp("wc"))


@pytest.mark.parametrize("case", WC_CASES, ids=lambda c: f"{c.in_w}to{c.out_w}_{c.frame_bits}b")
def test_width_convert(case: WC, wc_exe) -> None:
    rng = _rng("wc", case)
    frames = [int(v) for v in rng.integers(0, 2, size=(FRAMES, case.frame_bits)) @
              (1 << np.arange(case.frame_bits, dtype=object))]
    words, expected = [], []
    for bits in frames:
        words += [(bits >> (i * case.in_w)) & ((1 << case.in_w) - 1) for i in range(case.in_words)]
        expected += [(bits >> (j * case.out_w)) & ((1 << case.out_w) - 1)
                     for j in range(case.out_words)]
    idx = WC_BENCH.add(case.inst())
    run = WC_BENCH.run(wc_exe, idx, words, len(expected))
    assert run.words == expected
    node = ir.WidthConvert(name="wc", in_bits=case.in_w, out_bits=case.out_w,
                           frame_bits=case.frame_bits)
    _check_timing(_graph((case.frame_bits, 1, 1), node), node, run, case.out_words)
    stalled = WC_BENCH.run(wc_exe, idx, words, len(expected), seed=7, gaps=0.3, backpressure=0.4)
    assert stalled.words == expected


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
    pad_value: int = 0
    ckk: bool = False  # whole-window words (bnnc_sliding_window_ckk)

    @property
    def ebits(self) -> int:
        return 8 if self.uint8 else 1

    @property
    def label(self) -> str:
        return (f"c{self.c}h{self.h}w{self.w}k{self.k}s{self.s}p{self.p}simd{self.simd}_"
                f"{'u8' if self.uint8 else 'bip'}_"
                f"{'masked' if self.masked else f'pad{self.pad_value:+d}'}")

    def node(self) -> ir.SlidingWindow:
        return ir.SlidingWindow(name="swg", channels=self.c, height=self.h, width=self.w,
                                kernel=self.k, stride=self.s, pad=self.p,
                                pad_value=0 if self.masked else self.pad_value,
                                masked=self.masked, dtype=ir.UINT8 if self.uint8 else ir.BIPOLAR,
                                simd=self.simd, order="ckk" if self.ckk else "kkc")

    def inst(self) -> Instance:
        oh = (self.h + 2 * self.p - self.k) // self.s + 1
        ow = (self.w + 2 * self.p - self.k) // self.s + 1
        pad_elem = 0 if self.masked else (self.pad_value if self.uint8 else int(self.pad_value > 0))
        vals = dict(C=self.c, H=self.h, W=self.w, K=self.k, S=self.s, P=self.p, SIMD=self.simd,
                    EBITS=self.ebits, OH=oh, OW=ow, MASKED=int(self.masked), PAD_ELEM=pad_elem)
        bits = self.simd * self.ebits
        if self.ckk:
            taps = self.k * self.k
            return Instance("bnnc_sliding_window_ckk",
                            tuple((k, str(v)) for k, v in vals.items()), bits,
                            bits * taps + int(self.masked) * taps)
        return Instance("bnnc_sliding_window", tuple((k, str(v)) for k, v in vals.items()),
                        bits, bits + int(self.masked))


SWG_CASES = [
    SWG(4, 5, 7, 3, 1, 1, 4, masked=True),
    SWG(4, 6, 5, 3, 2, 1, 2, pad_value=+1),
    SWG(2, 5, 4, 3, 1, 2, 1, pad_value=-1),
    SWG(3, 5, 6, 1, 2, 0, 3, uint8=True),
    SWG(3, 6, 5, 3, 2, 2, 1, uint8=True, pad_value=17),
    SWG(3, 7, 6, 3, 1, 0, 3, uint8=True),
    SWG(8, 4, 4, 1, 1, 0, 4),
    SWG(2, 3, 8, 2, 2, 1, 2, masked=True),
    SWG(16, 4, 3, 3, 1, 1, 4, masked=True),
    SWG(1, 2, 2, 3, 1, 1, 1, uint8=True, pad_value=17),
    SWG(2, 7, 8, 3, 3, 1, 1, pad_value=+1),
    SWG(2, 6, 9, 2, 1, 2, 2, pad_value=-1),
]


def _build(bench: KernelBench, cases: list, tmp_path_factory):  # type: ignore[no-untyped-def]
    for c in cases:
        bench.add(c.inst())
    return bench.build(tmp_path_factory.mktemp(bench.name))


@pytest.fixture(scope="module")
def swg_exe(tmp_path_factory):
    return _build(SWG_BENCH, SWG_CASES, tmp_path_factory)


@pytest.mark.parametrize("case", SWG_CASES, ids=lambda c: c.label)
def test_sliding_window(case: SWG, swg_exe) -> None:
    _check_window(case, SWG_BENCH, swg_exe)


def _check_window(case: SWG, bench: KernelBench, exe) -> None:  # type: ignore[no-untyped-def]
    """Golden words, the cycle model, and the same words under random stalls."""
    rng = _rng(bench.name, case)
    shape = (FRAMES, case.c, case.h, case.w)
    x = rng.integers(0, 256, size=shape) if case.uint8 else _bipolar(rng, shape)
    node = case.node()
    y = golden.sliding_window(node, x, {})
    words = tensor_to_words(x, case.ebits, case.simd, bipolar=not case.uint8)
    if case.ckk:
        expected = _ckk_words(case, y)
    else:
        expected = tensor_to_words(y, case.ebits, case.simd, bipolar=not case.uint8,
                                   masked=case.masked)
    idx = bench.add(case.inst())
    run = bench.run(exe, idx, words, len(expected))
    assert run.words == expected
    g = _graph((case.c, case.h, case.w), node, ir.UINT8 if case.uint8 else ir.BIPOLAR)
    _check_timing(g, node, run, len(expected) // FRAMES)
    stalled = bench.run(exe, idx, words, len(expected), seed=3, gaps=0.4, backpressure=0.3)
    assert stalled.words == expected


# whole-window words: both line-buffer layouts (address rotation: NR << clog2(words per
# bank row) <= 64; slot banks beyond), NR a power of two or not, CB > 1, P up to K-1, S = K
CKK_CASES = [
    SWG(4, 5, 7, 3, 1, 1, 4, masked=True, ckk=True),
    SWG(4, 6, 5, 3, 2, 1, 2, pad_value=+1, ckk=True),
    SWG(3, 7, 6, 3, 1, 0, 3, uint8=True, ckk=True),
    SWG(2, 3, 8, 2, 2, 1, 2, masked=True, ckk=True),
    SWG(16, 4, 3, 3, 1, 1, 4, masked=True, ckk=True),
    SWG(2, 7, 8, 3, 3, 1, 1, pad_value=+1, ckk=True),
    SWG(8, 4, 4, 1, 1, 0, 4, ckk=True),
    SWG(3, 6, 5, 3, 2, 2, 1, uint8=True, pad_value=17, ckk=True),
    SWG(4, 5, 40, 3, 1, 1, 1, pad_value=-1, ckk=True),
    SWG(2, 4, 70, 3, 2, 2, 1, masked=True, ckk=True),
]


def _ckk_words(case: SWG, y: np.ndarray) -> list[int]:
    """Stream words of a ckk window output: SIMD*K*K elements, then K*K valid bits."""
    taps = case.k * case.k
    words = tensor_to_words(y, case.ebits, case.simd * taps, bipolar=not case.uint8)
    if not case.masked:
        return words
    n, _, oh, ow = y.shape
    cb = case.c // case.simd
    oy, ox, ky, kx = np.meshgrid(np.arange(oh), np.arange(ow), np.arange(case.k),
                                 np.arange(case.k), indexing="ij")
    ty, tx = oy * case.s - case.p + ky, ox * case.s - case.p + kx
    inside = ((ty >= 0) & (ty < case.h) & (tx >= 0) & (tx < case.w)).reshape(oh * ow, taps)
    vbits = (inside.astype(np.int64) << np.arange(taps)).sum(axis=1)
    base = case.simd * taps * case.ebits
    per_frame = [int(v) << base for v in vbits for _ in range(cb)]
    return [w | v for w, v in zip(words, per_frame * n)]


@pytest.fixture(scope="module")
def ckk_exe(tmp_path_factory):
    return _build(CKK_BENCH, CKK_CASES, tmp_path_factory)


@pytest.mark.parametrize("case", CKK_CASES, ids=lambda c: c.label)
def test_sliding_window_ckk(case: SWG, ckk_exe) -> None:
    _check_window(case, CKK_BENCH, ckk_exe)


# ------------------------------------------------------------------ matrix-vector unit
@dataclass(frozen=True)
class MV:
    mh: int
    pe: int
    simd: int
    domain: str
    scores: bool
    c: int
    h: int = 1
    w: int = 1
    k: int = 0
    p: int = 0
    pad_value: int = 0

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
    def pixels(self) -> tuple[int, int]:
        if self.k == 0:
            return 1, 1
        return self.h + 2 * self.p - self.k + 1, self.w + 2 * self.p - self.k + 1

    def acc_range(self) -> tuple[int, int]:
        if self.domain == "popcount":
            return 0, self.mw
        if self.domain == "dot":
            return -self.mw, self.mw
        return -255 * self.mw, 255 * self.mw

    @property
    def acc_bits(self) -> int:
        lo, hi = self.acc_range()
        lo, hi = lo - 1, hi + 1
        b = 2
        while not (-(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1):
            b += 1
        return b

    def inst(self, k: int) -> Instance:
        ebits = 8 if self.uint8 else 1
        vals = dict(MW=self.mw, MH=self.mh, PE=self.pe, SIMD=self.simd, IN_BITS=ebits,
                    DOMAIN={"popcount": 0, "dot": 1, "int": 2}[self.domain],
                    ACC_BITS=self.acc_bits, OUT_BITS=32, MASKED=int(self.masked),
                    THRESH=int(not self.scores))
        params = [(a, str(v)) for a, v in vals.items()]
        params += [("W_FILE", f'"mv{k}_w.mem"'), ("T_FILE", f'"mv{k}_t.mem"'),
                   ("I_FILE", f'"mv{k}_i.mem"')]
        return Instance("bnnc_matvec", tuple(params), self.simd * ebits + int(self.masked),
                        self.pe * 32 if self.scores else self.pe)


MV_CASES = [
    MV(8, 2, 4, "popcount", False, c=4, h=4, w=4, k=3),
    MV(6, 6, 4, "dot", False, c=4, h=5, w=4, k=3, p=1),
    MV(4, 1, 1, "dot", True, c=2, h=3, w=3, k=3, p=1),
    MV(4, 2, 3, "int", False, c=3, h=5, w=6, k=3),
    MV(3, 3, 12, "int", True, c=12),
    MV(10, 5, 64, "popcount", True, c=64),
    MV(3, 1, 1, "dot", False, c=32),
    MV(8, 8, 8, "popcount", False, c=8, h=3, w=3, k=1),
    MV(16, 4, 32, "dot", False, c=32, h=3, w=3, k=3, p=1),
    MV(2, 2, 1, "int", True, c=5),
    MV(4, 4, 2, "dot", True, c=2, h=4, w=3, k=3),
    MV(6, 3, 2, "popcount", False, c=2, h=3, w=4, k=3, p=1, pad_value=1),
    # SIMD above the 128-bit popcount chunk: counts of chunks (128, 128, 44) added
    MV(4, 2, 300, "popcount", False, c=300),
    MV(2, 1, 160, "dot", False, c=160, h=3, w=3, k=3, p=1),
]


@pytest.fixture(scope="module")
def mv_exe(tmp_path_factory):
    for i, c in enumerate(MV_CASES):
        MV_BENCH.add(c.inst(i))
    return MV_BENCH.build(tmp_path_factory.mktemp("mv"))


@pytest.mark.parametrize("i", range(len(MV_CASES)), ids=lambda i: (
    lambda c: f"{c.domain}_{'scores' if c.scores else 'thr'}_mw{c.mw}mh{c.mh}pe{c.pe}"
              f"simd{c.simd}_{'dense' if c.k == 0 else f'conv{c.h}x{c.w}k{c.k}p{c.p}'}")(MV_CASES[i]))
def test_matvec(i: int, mv_exe) -> None:
    case = MV_CASES[i]
    rng = _rng("mv", case)
    shape = (FRAMES, case.c, case.h, case.w) if case.k else (FRAMES, case.c, 1, 1)
    x = rng.integers(0, 256, size=shape) if case.uint8 else _bipolar(rng, shape)
    if case.k:
        swg = ir.SlidingWindow(name="swg", channels=case.c, height=case.h, width=case.w,
                               kernel=case.k, pad=case.p, pad_value=case.pad_value,
                               masked=case.masked, dtype=ir.UINT8 if case.uint8 else ir.BIPOLAR,
                               simd=case.simd)
        x = golden.sliding_window(swg, x, {})
    wmat = _bipolar(rng, (case.mh, case.mw))
    consts: dict[str, np.ndarray] = {"w": wmat}
    dtype = ir.UINT8 if case.uint8 else ir.BIPOLAR
    node = ir.MatVec(name="mv", weights="w", mw=case.mw, mh=case.mh, in_dtype=dtype,
                     domain=case.domain, masked=case.masked, pe=case.pe, simd=case.simd,
                     acc_bits=case.acc_bits)
    acc = golden.matvec(node, x, consts)
    ebits = 8 if case.uint8 else 1
    words = tensor_to_words(x, ebits, case.simd, bipolar=not case.uint8, masked=case.masked)
    nf = case.mh // case.pe
    mems = {f"mv{i}_w.mem": _hex_lines(_concat(matvec_weight_words(wmat, case.pe, case.simd),
                                                case.simd), case.pe * case.simd)}
    if case.scores:
        expected = tensor_to_words(acc, 32, case.pe, bipolar=False)
    else:
        lo, hi = case.acc_range()
        t = np.array([rng.choice(acc[:, ch].ravel()) + (ch % 3 - 1) if ch % 4 else
                      rng.choice([lo - 1, hi + 1, lo, hi]) for ch in range(case.mh)])
        inv = rng.integers(0, 2, size=case.mh)
        consts.update(t=t, i=inv)
        node = ir.MatVec(name="mv", weights="w", mw=case.mw, mh=case.mh, in_dtype=dtype,
                         domain=case.domain, masked=case.masked, thresholds="t", invert="i",
                         pe=case.pe, simd=case.simd, acc_bits=case.acc_bits)
        out = golden.matvec(node, x, consts)
        expected = tensor_to_words(out, 1, case.pe, bipolar=True)
        tt = t.reshape(nf, case.pe).T.tolist()
        ii = inv.reshape(nf, case.pe).T.tolist()
        mems[f"mv{i}_t.mem"] = _hex_lines(_concat(tt, case.acc_bits), case.pe * case.acc_bits)
        mems[f"mv{i}_i.mem"] = _hex_lines(_concat(ii, 1), case.pe)
    idx = MV_BENCH.add(case.inst(i))
    run = MV_BENCH.run(mv_exe, idx, words, len(expected), mems=mems)
    assert run.words == expected
    _, hh, ww = x.shape[1:]
    _CONSTS.update(consts)
    g = _graph((case.mw, hh, ww), node, dtype)
    _check_timing(g, node, run, len(expected) // FRAMES)
    stalled = MV_BENCH.run(mv_exe, idx, words, len(expected), mems=mems, seed=5, gaps=0.3,
                           backpressure=0.5)
    assert stalled.words == expected


# ------------------------------------------------------------------ max-pool
@dataclass(frozen=True)
class Pool:
    c: int
    h: int
    w: int
    k: int
    simd: int
    and_mask: bool

    def inst(self) -> Instance:
        return Instance("bnnc_pool", (("C", str(self.c)), ("H", str(self.h)), ("W", str(self.w)),
                                      ("K", str(self.k)), ("SIMD", str(self.simd)),
                                      ("AND_MASK", f"{self.c}'h{self.mask_bits():x}")),
                        self.simd, self.simd)

    def mask(self) -> np.ndarray:
        if not self.and_mask:
            return np.zeros(self.c, dtype=np.int64)
        return _rng("mask", self).integers(0, 2, size=self.c)

    def mask_bits(self) -> int:
        return sum(1 << i for i in np.flatnonzero(self.mask()).tolist())


POOL_CASES = [Pool(4, 4, 4, 2, 4, False), Pool(6, 5, 7, 2, 2, True), Pool(8, 6, 6, 3, 1, True),
              Pool(32, 4, 4, 2, 16, False), Pool(3, 7, 5, 2, 3, True),
              # range edges of the narrow counters: one channel block and one window
              # (1-bit counters), K = 4 with a dropped row and column
              Pool(2, 3, 3, 3, 2, False), Pool(1, 2, 2, 2, 1, False), Pool(4, 9, 10, 4, 2, True)]


@pytest.fixture(scope="module")
def pool_exe(tmp_path_factory):
    for c in POOL_CASES:
        POOL_BENCH.add(c.inst())
    return POOL_BENCH.build(tmp_path_factory.mktemp("pool"))


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: (
    f"c{c.c}h{c.h}w{c.w}k{c.k}simd{c.simd}{'_andmask' if c.and_mask else ''}"))
def test_pool(case: Pool, pool_exe) -> None:
    rng = _rng("pool", case)
    x = _bipolar(rng, (FRAMES, case.c, case.h, case.w))
    _CONSTS["m"] = case.mask()
    node = ir.Pool(name="pool", channels=case.c, height=case.h, width=case.w, kernel=case.k,
                   and_mask="m", simd=case.simd)
    y = golden.pool(node, x, _CONSTS)
    words = tensor_to_words(x, 1, case.simd, bipolar=True)
    expected = tensor_to_words(y, 1, case.simd, bipolar=True)
    idx = POOL_BENCH.add(case.inst())
    run = POOL_BENCH.run(pool_exe, idx, words, len(expected))
    assert run.words == expected
    _check_timing(_graph((case.c, case.h, case.w), node), node, run, len(expected) // FRAMES)
    stalled = POOL_BENCH.run(pool_exe, idx, words, len(expected), seed=9, gaps=0.5,
                             backpressure=0.5)
    assert stalled.words == expected


# ------------------------------------------------------------------ lint
@pytest.mark.parametrize("kind", ["wc", "swg", "swg_ckk", "matvec", "pool"])
def test_kernels_lint_clean_in_every_swept_configuration(kind: str, tmp_path) -> None:
    """``verilator --lint-only -Wall`` on each kernel with every parameter set swept above
    (designs lint only the configurations they happen to instantiate)."""
    from bnnc.backends.rtl import TEMPLATE_DIR, module_files
    from bnnc.tools import find_tool

    bench = KernelBench(kind)
    cases = {"wc": WC_CASES, "swg": SWG_CASES, "swg_ckk": CKK_CASES, "matvec": MV_CASES,
             "pool": POOL_CASES}[kind]
    for i, c in enumerate(cases):
        bench.add(c.inst(i) if kind == "matvec" else c.inst())
    src = tmp_path / "tb_kernels.v"
    src.write_text(bench.source())
    files = [TEMPLATE_DIR / f for f in sorted({f for x in bench.instances
                                               for f in module_files(x.module)})]
    proc = subprocess.run([find_tool("verilator"), "--lint-only", "-Wall", "--top-module",
                           "tb_kernels", *map(str, files), str(src)], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr).strip()[:3000]
