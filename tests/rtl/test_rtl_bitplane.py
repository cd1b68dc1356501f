"""RTL simulation of the bit-plane kernels (bnnc_code_map.v, bnnc_bitplane.v).

Every case of tests/bitplane_cases.py runs FRAMES frames with the input always valid and
the output always ready: the words must equal golden's and the measured latency and
interval must equal bnnc.cycles.node_timing exactly; a second run with random input
gaps and output backpressure must give the same words. All instances share one
Verilator build.
"""

from __future__ import annotations

import numpy as np
import pytest

from bnnc import ir
from bnnc.backends.hls import matvec_weight_words
from bnnc.backends.rtl import _concat, _hex_lines, bitplane_table_rows
from bnnc.cost import shape_of
from bnnc.cycles import node_timing
from bnnc.host.packing import tensor_to_words

from bitplane_cases import BP, CASES
from rtl_harness import Instance, KernelBench

pytestmark = pytest.mark.rtlsim

FRAMES = 4
BENCH = KernelBench("bitplane")


def _unit(case: BP) -> ir.BitPlaneMatVec:
    return next(n for n in case.graph() if isinstance(n, ir.BitPlaneMatVec))


def _unit_inst(case: BP, k: int) -> Instance:
    n = _unit(case)
    params = [(key, str(v)) for key, v in (
        ("MH", n.mh), ("PE", n.pe), ("PLANES", n.planes), ("TAPS", n.taps),
        ("EBITS", n.entry_bits), ("ACC_BITS", n.acc_bits))]
    params += [(key, f'"bp{k}_{s}.mem"') for key, s in (
        ("W_FILE", "w"), ("TAB_FILE", "tab"), ("T_FILE", "t"), ("I_FILE", "i"))]
    return Instance("bnnc_bitplane", tuple(params), n.planes, n.pe)


def _code_inst(case: BP, k: int) -> Instance:
    return Instance("bnnc_code_map", (("C", str(case.channels)), ("CODE_FILE", f'"code{k}.mem"')),
                    8 * case.channels, 8 * case.channels)


@pytest.fixture(scope="module")
def exe(tmp_path_factory):  # type: ignore[no-untyped-def]
    for k, c in enumerate(CASES):
        BENCH.add(_unit_inst(c, k))
        BENCH.add(_code_inst(c, k))
    return BENCH.build(tmp_path_factory.mktemp("bitplane"))


def _timing(node: ir.Node, in_shape: tuple[int, int, int], dtype: ir.DType, consts: dict,
            run, out_per_frame: int) -> None:  # type: ignore[no-untyped-def]
    inp = ir.Input(name="x", shape=in_shape, dtype=dtype)
    node = type(node)(**{**node.__dict__, "inputs": ("x",)})
    out = ir.Output(name="y", inputs=(node.name,), scale="s", bias="b")
    g = ir.Graph([inp, node, out], {**consts, "s": np.ones(1), "b": np.zeros(1)})
    t = node_timing(g, node, frames=FRAMES)
    ends = [run.t_out[(f + 1) * out_per_frame - 1] for f in range(FRAMES)]
    assert ends[0] - run.t_in[0] == t.latency, "latency differs from the cycle model"
    assert ends[-1] - ends[-2] == t.interval, "interval differs from the cycle model"


@pytest.mark.parametrize("k", range(len(CASES)), ids=[c.id for c in CASES])
def test_bitplane_unit(k: int, exe) -> None:  # type: ignore[no-untyped-def]
    case = CASES[k]
    g = case.graph()
    n = _unit(case)
    nf = n.mh // n.pe
    _, vals = case.streams(FRAMES)
    words = tensor_to_words(vals[n.inputs[0]], 1, n.simd, bipolar=True)
    expected = tensor_to_words(vals[n.name], 1, n.pe, bipolar=True)
    thr = np.asarray(g.consts[n.thresholds], dtype=object).reshape(nf, n.pe).T.tolist()
    inv = g.consts[n.invert].astype(np.int64).reshape(nf, n.pe).T.tolist()
    mems = {f"bp{k}_w.mem": _hex_lines(_concat(matvec_weight_words(g.consts[n.weights], n.pe,
                                                                   n.simd), n.simd),
                                       n.pe * n.simd),
            f"bp{k}_tab.mem": _hex_lines(bitplane_table_rows(g.consts[n.tables], n.pe,
                                                             n.entry_bits),
                                         n.pe * n.planes * (n.taps + 1) * n.entry_bits),
            f"bp{k}_t.mem": _hex_lines(_concat(thr, n.acc_bits), n.pe * n.acc_bits),
            f"bp{k}_i.mem": _hex_lines(_concat(inv, 1), n.pe)}
    idx = BENCH.add(_unit_inst(case, k))
    run = BENCH.run(exe, idx, words, len(expected), mems=mems)
    assert run.words == expected
    consts = {key: g.consts[key] for key in n.consts()}
    _timing(n, shape_of(g, n.inputs[0]), ir.BIPOLAR, consts, run, len(expected) // FRAMES)
    stalled = BENCH.run(exe, idx, words, len(expected), mems=mems, seed=7, gaps=0.3,
                        backpressure=0.5)
    assert stalled.words == expected


@pytest.mark.parametrize("k", range(len(CASES)), ids=[c.id for c in CASES])
def test_code_map(k: int, exe) -> None:  # type: ignore[no-untyped-def]
    case = CASES[k]
    g = case.graph()
    code = next(n for n in g if isinstance(n, ir.CodeMap))
    x, vals = case.streams(FRAMES)
    words = tensor_to_words(x, 8, case.channels, bipolar=False)
    expected = tensor_to_words(vals[code.name], 1, case.channels * 8, bipolar=True)
    mems = {f"code{k}.mem": _hex_lines([int(v) for v in g.consts[code.code]], 8)}
    idx = BENCH.add(_code_inst(case, k))
    run = BENCH.run(exe, idx, words, len(expected), mems=mems)
    assert run.words == expected
    _timing(code, (case.channels, case.size, case.size), ir.UINT8, {code.code: g.consts[code.code]},
            run, len(expected) // FRAMES)
    stalled = BENCH.run(exe, idx, words, len(expected), mems=mems, seed=3, gaps=0.3,
                        backpressure=0.5)
    assert stalled.words == expected
