"""Calibration points of the binary matrix-vector unit's cost model (bnnc.cost, MatVec).

Usage: python bench/matvec_cost.py [--jobs 1] [--out bench/results/matvec_cost.json]

Compiles BNN-PYNQ's CNV-W1A1 topology (bnnc.testing.cnv_w1a1, random weights) with the
foldings of the other benches (BNN-PYNQ's, the automatic ones of cnv_fold.py,
finn_compare.py and subbit.py) plus a few that fill gaps (SIMD 64 to 576, PE 1 to 8, weight
ROMs of 4 to 64 words in LUTs and in block RAM), synthesizes each matvec unit (kernel +
output FIFO) with Yosys (bnnc synth; cached units are instant) and prints the estimate
next to Yosys's figures. The weight memory of every point is pinned, so a change of the
model's placement rule does not change what is measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compile_time import BNN_PYNQ_CNV_FOLD  # noqa: E402

from bnnc import ir  # noqa: E402
from bnnc.backends.rtl import generate_rtl  # noqa: E402
from bnnc.cost import node_cost, weight_rom  # noqa: E402
from bnnc.frontend.convert import ConvertOptions, onnx_to_ir  # noqa: E402
from bnnc.frontend.load import load_onnx  # noqa: E402
from bnnc.passes import Fold, pipeline, run_pipeline  # noqa: E402
from bnnc.synth import synthesize  # noqa: E402
from bnnc.targets import get_target  # noqa: E402
from bnnc.testing import cnv_w1a1  # noqa: E402

L, B = "lut", "bram"
# (label, {layer: (pe, simd, weight memory)}); the folder picks the layers not named
FOLDS: list[tuple[str, dict[str, tuple[int, int, str]]]] = [
    ("bnn-pynq", {k: (v["pe"], v["simd"], m) for (k, v), m in zip(
        ((k, v) for k, v in BNN_PYNQ_CNV_FOLD.items() if k.startswith(("conv", "fc"))),
        (L, L, B, B, B, B, B, B, B))}),
    ("cnv_fold-auto", {"conv2": (16, 64, L), "conv3": (16, 32, B), "conv4": (8, 64, B),
                       "conv5": (8, 16, B), "conv6": (4, 8, B), "fc1": (8, 4, B),
                       "fc2": (1, 8, B), "fc3": (2, 1, B)}),
    ("finn_compare-auto", {"conv2": (64, 64, L), "conv3": (16, 64, L), "conv4": (16, 128, B),
                           "conv5": (4, 128, B), "conv6": (1, 64, B), "fc1": (1, 16, B),
                           "fc2": (1, 32, B)}),
    ("subbit-bnn", {"conv2": (4, 576, L), "conv3": (2, 576, L), "conv4": (2, 576, B),
                    "conv5": (1, 288, B), "conv6": (1, 64, B)}),
    ("gaps-1", {"conv2": (2, 576, L), "conv3": (4, 288, L), "conv4": (4, 288, B),
                "conv5": (2, 576, B), "conv6": (2, 128, B), "fc3": (2, 256, L)}),
    ("gaps-2", {"fc1": (8, 64, B), "fc3": (1, 128, L)}),
    ("gaps-3", {"conv2": (64, 32, L), "fc3": (10, 64, L)}),  # NF = 1
    ("gaps-4", {"fc3": (5, 64, L)}),
]


def _graph(work: Path, fold: dict[str, tuple[int, int, str]]) -> ir.Graph:
    g = onnx_to_ir(load_onnx(cnv_w1a1(work / "cnv.onnx")), ConvertOptions(subbit="off"))
    over = {k: {"pe": pe, "simd": simd, "mem": mem} for k, (pe, simd, mem) in fold.items()}
    wide = any(simd > 64 and k.startswith("conv") for k, (_, simd, _) in fold.items())
    return run_pipeline(g, pipeline(Fold(target=get_target("pynq-z2"), overrides=over,
                                         wide_windows=wide)))


def point(n: ir.MatVec) -> dict[str, Any]:
    """The parameters of a matvec that the cost model sees."""
    width, depth = weight_rom(n)
    return {"mw": n.mw, "mh": n.mh, "pe": n.pe, "simd": n.simd, "depth": depth,
            "weights": n.weight_mem, "in_bits": n.in_dtype.bits, "acc_bits": n.acc_bits,
            "thresholds": n.thresholds is not None, "masked": n.masked}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--folds", nargs="*", default=[f for f, _ in FOLDS],
                    help="labels of the foldings to measure (default: all)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "matvec_cost.json"))
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    with tempfile.TemporaryDirectory() as td:
        for label, fold in [f for f in FOLDS if f[0] in args.folds]:
            work = Path(td) / label
            work.mkdir()
            hw = _graph(work, fold)
            names = [k for k in fold if (k, fold[k]) not in seen]
            seen.update((k, fold[k]) for k in fold)
            generate_rtl(hw, work / "rtl", "cnv")
            res = synthesize(work / "rtl", get_target("pynq-z2"), graph=hw, only=names,
                             jobs=args.jobs,
                             progress=lambda m: print(f"[bench] {label}: {m}", file=sys.stderr))
            for u in res.units:
                n = hw.node(u.name)
                assert isinstance(n, ir.MatVec)
                c = node_cost(hw, n)
                rows.append({"fold": label, "name": u.name, **point(n),
                             "luts": u.measured.luts, "ffs": u.measured.ffs,
                             "bram36": u.measured.bram36, "luts_est": u.estimate.luts,
                             "ffs_est": u.estimate.ffs, "bram36_est": u.estimate.bram36,
                             "fifo_luts_est": u.estimate.luts - c.luts})
                r = rows[-1]
                print(f"{label:18} {u.name:6} PE {r['pe']:>2} SIMD {r['simd']:>3} depth "
                      f"{r['depth']:>4} {r['weights']:4} LUT {r['luts']:>6,} est "
                      f"{r['luts_est']:>6,} ({(r['luts_est'] - r['luts']) / r['luts']:+.0%})  FF "
                      f"{r['ffs']:>5,} est {r['ffs_est']:>5,}", flush=True)
    Path(args.out).write_text(json.dumps({"command": "python bench/matvec_cost.py "
                                          + " ".join(sys.argv[1:]), "points": rows}, indent=1)
                              + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
