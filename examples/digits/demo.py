"""make demo: compile the shipped digits CNV for pynq-z2, C-simulate it on the held-out
digits, and print the accuracy next to the PyTorch model's, plus the per-layer report.

Usage: python examples/digits/demo.py [--model cnv|tfc] [--target pynq-z2] [-o build/demo]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import bnnc
from bnnc.report import format_report

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="cnv", choices=("cnv", "tfc"))
    ap.add_argument("--target", default="pynq-z2")
    ap.add_argument("-o", "--output", default="build/demo")
    args = ap.parse_args()

    onnx_path = HERE / f"{args.model}.onnx"
    x = np.load(HERE / "data" / "x_test.npy")
    y = np.load(HERE / "data" / "y_test.npy")
    trained = json.loads((HERE / f"{args.model}.json").read_text())

    print(f"== compiling {onnx_path.name} for {args.target}")
    proj = bnnc.compile(onnx_path, Path(args.output) / args.model, target=args.target,
                        progress=lambda m: print(f"   {m}"))
    print()
    print(format_report(proj.report))
    print()
    print(f"== C-simulating {len(x)} held-out digits (g++ build of the generated HLS)")
    t0 = time.perf_counter()
    scores = proj.scores(x, backend="csim")
    t_csim = time.perf_counter() - t0
    gold = proj.scores(x, backend="golden")
    out = proj.spec.scores_to_output(scores)
    ref = proj.predict(x, backend="onnxruntime")
    acc = float((out.argmax(1) == y).mean())
    exact = np.array_equal(scores, gold)
    same_argmax = int((out.argmax(1) == ref.argmax(1)).sum())
    diff = np.abs(out.astype(np.float64) - ref.astype(np.float64))
    err = float(diff.max())
    outside = int((diff > proj.output_tolerance()[None, :]).sum())
    print(f"   csim time: {t_csim:.2f} s ({len(x)} frames)")
    print(f"   csim integer scores == golden: {exact}")
    print(f"   csim outputs vs onnxruntime: max |diff| = {err:.3g}, {outside} of {diff.size} "
          f"outside the float32 rounding bound, argmax identical on {same_argmax}/{len(x)}")
    print()
    print(f"digits test accuracy: C-simulation {acc:.4f}  |  PyTorch {trained['torch_test_accuracy']:.4f}"
          f"  |  onnxruntime {float((ref.argmax(1) == y).mean()):.4f}")
    ok = exact and same_argmax == len(x) and outside == 0
    if not ok:
        print("MISMATCH: see above", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
