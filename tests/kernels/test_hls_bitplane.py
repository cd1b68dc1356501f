"""C-simulation of the bit-plane kernels (bnnc_bitplane.h) against the golden model.

The code ROM and the bit-plane unit of every case in tests/bitplane_cases.py (the layer
compiled from ONNX with exact tables as wide as 60+ bits) run two frames; the output
words must equal golden's, packed by bnnc.host.packing.
"""

from __future__ import annotations

import numpy as np
import pytest

from bnnc import ir
from bnnc.backends.hls import bitplane_tables, matvec_weight_words
from bnnc.host.packing import tensor_to_words

from bitplane_cases import BP, CASES
from hls_harness import Array, Testbench, build_all, run

pytestmark = pytest.mark.csim

REPS = 2


def _unit(case: BP) -> ir.BitPlaneMatVec:
    return next(n for n in case.graph() if isinstance(n, ir.BitPlaneMatVec))


def _unit_tb(case: BP) -> Testbench:
    n = _unit(case)
    nf = n.mh // n.pe
    _, h, w = _shape(case, n)
    cfg = dict(MW=n.mw, MH=n.mh, PE=n.pe, SIMD=n.simd, PLANES=n.planes, TAPS=n.taps,
               PIXELS=h * w, EBITS=n.entry_bits, ACC_BITS=n.acc_bits)
    return Testbench(header="bnnc_bitplane.h", config=cfg, in_bits=n.planes, out_bits=n.pe,
                     arrays=(Array("w", f"ap_uint<{n.simd}>", n.simd, (n.pe, nf * n.taps)),
                             Array("tab", f"ap_int<{n.entry_bits}>", n.entry_bits,
                                   (n.pe, n.planes, nf * (n.taps + 1))),
                             Array("thr", f"ap_int<{n.acc_bits}>", n.acc_bits, (n.pe, nf)),
                             Array("inv", "ap_uint<1>", 1, (n.pe, nf))),
                     call="bnnc::bitplane_matvec<cfg>(in, out, w, tab, thr, inv, reps);")


def _shape(case: BP, n: ir.Node) -> tuple[int, int, int]:
    from bnnc.cost import shape_of

    return shape_of(case.graph(), n.inputs[0])


def _code_tb(case: BP) -> Testbench:
    c = case.channels
    return Testbench(header="bnnc_bitplane.h", config=dict(C=c, PIXELS=case.size ** 2),
                     in_bits=8 * c, out_bits=8 * c, arrays=(Array("code", "ap_uint<8>", 8, (256,)),),
                     call="bnnc::code_map<cfg>(in, out, code, reps);")


@pytest.fixture(scope="module", autouse=True)
def _build() -> None:
    build_all([_unit_tb(c) for c in CASES] + [_code_tb(c) for c in CASES])


def _flat(nested: object) -> list[int]:
    return [int(v) for v in np.asarray(nested, dtype=object).ravel()]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bitplane_unit(case: BP) -> None:
    n = _unit(case)
    nf = n.mh // n.pe
    g = case.graph()
    _, vals = case.streams(REPS)
    words = tensor_to_words(vals[n.inputs[0]], 1, n.simd, bipolar=True)
    expected = tensor_to_words(vals[n.name], 1, n.pe, bipolar=True)
    thr = np.asarray(g.consts[n.thresholds], dtype=object).reshape(nf, n.pe).T
    arrays = {"w": _flat(matvec_weight_words(g.consts[n.weights], n.pe, n.simd)),
              "tab": _flat(bitplane_tables(g.consts[n.tables], n.pe)),
              "thr": _flat(thr), "inv": _flat(g.consts[n.invert].reshape(nf, n.pe).T)}
    assert run(_unit_tb(case), words, reps=REPS, arrays=arrays) == expected


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_code_map(case: BP) -> None:
    code = next(n for n in case.graph() if isinstance(n, ir.CodeMap))
    x, vals = case.streams(REPS)
    words = tensor_to_words(x, 8, case.channels, bipolar=False)
    expected = tensor_to_words(vals[code.name], 1, case.channels * 8, bipolar=True)
    got = run(_code_tb(case), words, reps=REPS,
              arrays={"code": [int(v) for v in case.graph().consts[code.code]]})
    assert got == expected
