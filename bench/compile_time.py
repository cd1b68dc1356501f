"""Benchmark: compile time and C-simulation time of the CNV-W1A1 and TFC-W1A1 topologies.

Usage: python bench/compile_time.py [--out bench/results/compile_time.json] [--frames 4]

Builds the BNN-PYNQ CNV-W1A1 and FINN TFC-W1A1 topologies with random +-1 weights
(bnnc.testing), compiles each for pynq-z2 with the automatic folding and (CNV) with
BNN-PYNQ's published folding, C-simulates a few random frames, checks them against the
golden model, and prints a table; the figures are also written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import bnnc
from bnnc.testing import cnv_w1a1, tfc_w1a1

BNN_PYNQ_CNV_FOLD = {
    "conv1": {"pe": 16, "simd": 3}, "conv2": {"pe": 32, "simd": 32},
    "conv3": {"pe": 16, "simd": 32}, "conv4": {"pe": 16, "simd": 32},
    "conv5": {"pe": 4, "simd": 32}, "conv6": {"pe": 1, "simd": 32},
    "fc1": {"pe": 1, "simd": 4}, "fc2": {"pe": 1, "simd": 8}, "fc3": {"pe": 1, "simd": 1},
    "pool1": {"simd": 32}, "pool2": {"simd": 32},
}


def run(name: str, model: Path, work: Path, fold: dict | None, frames: int) -> dict:
    t0 = time.perf_counter()
    proj = bnnc.compile(model, work / name, fold=fold)
    t_compile = time.perf_counter() - t0
    shape = proj.spec.input_shape
    x = np.random.default_rng(0).integers(0, 256, (frames, *shape)).astype(np.uint8)
    from bnnc.csim import build_csim

    t0 = time.perf_counter()
    build_csim(proj.hls_dir)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    s = proj.scores(x, backend="csim")
    t_sim = time.perf_counter() - t0
    g = proj.scores(x, backend="golden")
    rep = proj.report
    return {
        "design": name, "compile_s": round(t_compile, 3), "csim_build_s": round(t_build, 2),
        "csim_s_per_frame": round(t_sim / frames, 4), "csim_equals_golden": bool(np.array_equal(s, g)),
        "interval_cycles": rep["interval_cycles"], "fps_at_clock": round(rep["fps"], 1),
        "est_luts": rep["estimate"]["luts"], "est_bram36": rep["estimate"]["bram36"],
        "bottleneck": rep["bottleneck"]["name"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "compile_time.json"))
    ap.add_argument("--frames", type=int, default=4)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as td:
        work = Path(td)
        os.environ["BNNC_CACHE"] = str(work / "cache")  # cold C-simulation builds
        cnv = cnv_w1a1(work / "cnv_w1a1.onnx")
        tfc = tfc_w1a1(work / "tfc_w1a1.onnx")
        rows.append(run("cnv-w1a1 (bnn-pynq fold)", cnv, work, BNN_PYNQ_CNV_FOLD, args.frames))
        rows.append(run("cnv-w1a1 (auto fold)", cnv, work, None, args.frames))
        rows.append(run("tfc-w1a1 (auto fold)", tfc, work, None, args.frames))
    cols = ["design", "compile_s", "csim_build_s", "csim_s_per_frame", "csim_equals_golden",
            "interval_cycles", "fps_at_clock", "est_luts", "est_bram36", "bottleneck"]
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in cols]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths)))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": "python bench/compile_time.py", "machine":
                               f"{platform.machine()}, {platform.python_version()}",
                               "rows": rows}, indent=1) + "\n")
    print(f"written {out}")
    return 0 if all(r["csim_equals_golden"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
