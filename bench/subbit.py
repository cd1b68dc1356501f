"""Benchmark: sub-bit CNV (all convs but the first on a 2**tau codebook) vs the plain BNN.

Usage: python bench/subbit.py [--frames 3] [--no-rtl] [--out bench/results/subbit.json]

Both networks are BNN-PYNQ's CNV-W1A1 topology with random weights (bnnc.testing.cnv_w1a1;
the sub-bit one draws the kernels of conv2..conv6 from a random codebook, in plain form,
so the frontend's codebook discovery finds them). Both are folded automatically for
pynq-z2 with the same options (``Fold(wide_windows=True)``: every 3x3 conv may take whole
3x3 windows per word, so neither design is capped by a one-tap-per-cycle window). Printed
and written: weight bits of the sub-bit layers (9*C_out*C_in vs 9*2**tau + tau*C_out*C_in),
whole-network weight bits, estimated LUT/BRAM36, the cycle-model interval, the RTL-measured
interval (Verilator; outputs checked against golden, cycles against the model) for the BNN
and tau=5, and for tau = 4, 5, 6 the modelled throughput at equal LUT and at equal BRAM
budgets (the BNN's own usage), with the resource that bounds each design.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bnnc import golden, ir
from bnnc.backends.rtl import generate_rtl
from bnnc.cost import node_cost, subbit_weight_bits
from bnnc.cycles import design_timing
from bnnc.frontend.convert import ConvertOptions, onnx_to_ir
from bnnc.frontend.load import load_onnx
from bnnc.host.packing import pack_frames
from bnnc.passes import Fold, pipeline, run_pipeline
from bnnc.passes.fold import SHELL_BRAMS, SHELL_LUTS
from bnnc.sim.rtlsim import build_top, run_top
from bnnc.targets import get_target
from bnnc.testing import cnv_w1a1

TARGET = get_target("pynq-z2")


def _design(graph: ir.Graph, target: Any) -> tuple[ir.Graph, dict[str, Any]]:
    hw = run_pipeline(graph, pipeline(Fold(target=target, wide_windows=True)))
    costs = {n.name: node_cost(hw, n) for n in hw}
    luts = sum(c.luts for c in costs.values()) + SHELL_LUTS
    brams = sum(c.brams for c in costs.values()) + SHELL_BRAMS
    worst = max(costs, key=lambda k: costs[k].cycles)
    timing = design_timing(hw)
    sub_plain = sub_bits = 0
    for n in hw:
        if isinstance(n, ir.CodebookMatVec):
            p, s = subbit_weight_bits(n.tau, n.taps, n.mh, n.channels)
            sub_plain, sub_bits = sub_plain + p, sub_bits + s
    budget_l = target.luts * target.lut_fraction
    budget_b = target.bram36 * target.bram_fraction
    ul, ub = luts / budget_l, brams / budget_b
    bound = ("LUT" if ul >= ub else "BRAM") if max(ul, ub) > 0.85 else \
        f"structure ({worst} at its widest legal folding)"
    return hw, {
        "interval_model": timing.interval, "latency_model": timing.latency,
        "fps_model": round(target.clock_mhz * 1e6 / timing.interval, 1),
        "bottleneck": worst, "luts_est": luts, "bram36_est": brams,
        "lut_use": round(ul, 3), "bram_use": round(ub, 3), "bound_by": bound,
        "weight_bits": sum(c.weight_bits for c in costs.values()),
        "subbit_layers_plain_bits": sub_plain, "subbit_layers_bits": sub_bits,
        "folding": {n.name: {"pe": n.pe, "simd": n.simd, **({"subbit": n.mode} if isinstance(
            n, ir.CodebookMatVec) else {})} for n in hw if isinstance(n, (ir.MatVec, ir.CodebookMatVec))},
    }


def _rtl(hw: ir.Graph, work: Path, frames: int) -> dict[str, Any]:
    generate_rtl(hw, work, "cnv")
    t0 = time.perf_counter()
    build_top(work)
    t_build = time.perf_counter() - t0
    x = np.random.default_rng(0).integers(0, 256, (frames, 3, 32, 32))
    run = run_top(work, pack_frames(x, 8), frames)
    oc = hw.node(hw.output.inputs[0])
    classes = oc.mh if isinstance(oc, ir.MatVec) else 10
    words = np.asarray(run.words, dtype=np.uint64).reshape(frames, -1)
    got = words.view(np.int32).reshape(frames, -1)[:, :classes]
    equal = bool(np.array_equal(got.astype(np.int64), golden.run(hw, x)))
    return {"interval_measured": run.interval, "latency_measured": run.latency,
            "rtlsim_equals_golden": equal, "verilator_build_s": round(t_build, 1),
            "sim_cycles_per_second": round(run.cycles_per_second)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--no-rtl", action="store_true", help="model figures only")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "subbit.json"))
    args = ap.parse_args()
    res: dict[str, Any] = {"target": TARGET.name, "clock_mhz": TARGET.clock_mhz, "designs": {}}
    with tempfile.TemporaryDirectory() as td:
        work = Path(td)
        graphs = {"bnn": onnx_to_ir(load_onnx(cnv_w1a1(work / "bnn.onnx")),
                                    ConvertOptions(subbit="off"))}
        for tau in (4, 5, 6):
            g = onnx_to_ir(load_onnx(cnv_w1a1(work / f"sb{tau}.onnx", subbit_tau=tau)),
                           ConvertOptions(subbit=f"tau={tau}"))
            graphs[f"subbit_tau{tau}"] = g
        hws = {}
        for name, g in graphs.items():
            hws[name], res["designs"][name] = _design(g, TARGET)
            print(f"[bench] {name}: folded, interval {res['designs'][name]['interval_model']:,}",
                  file=sys.stderr)
        bnn = res["designs"]["bnn"]
        eq_lut = dataclasses.replace(TARGET, luts=int(bnn["luts_est"]), lut_fraction=1.0)
        eq_bram = dataclasses.replace(TARGET, bram36=int(np.ceil(bnn["bram36_est"])),
                                      bram_fraction=1.0)
        for tau in (4, 5, 6):
            name = f"subbit_tau{tau}"
            for label, tgt in (("equal_lut", eq_lut), ("equal_bram", eq_bram)):
                _, d = _design(graphs[name], tgt)
                res["designs"][name][label] = {k: d[k] for k in (
                    "interval_model", "fps_model", "luts_est", "bram36_est", "bound_by")}
        if not args.no_rtl:
            for name in ("bnn", "subbit_tau5"):
                print(f"[bench] {name}: Verilator build and {args.frames} frames", file=sys.stderr)
                r = _rtl(hws[name], work / f"rtl_{name}", args.frames)
                r["cycles_equal_model"] = (r["interval_measured"] ==
                                           res["designs"][name]["interval_model"] and
                                           r["latency_measured"] ==
                                           res["designs"][name]["latency_model"])
                res["designs"][name]["rtl"] = r
    d5 = res["designs"]["subbit_tau5"]
    ref = bnn.get("rtl", {}).get("interval_measured") or bnn["interval_model"]
    got = d5.get("rtl", {}).get("interval_measured") or d5["interval_model"]
    res["speedup_tau5_vs_bnn"] = round(ref / got, 3)
    res["subbit_weight_reduction_tau5"] = round(d5["subbit_layers_plain_bits"] /
                                                d5["subbit_layers_bits"], 3)
    print(f"{'design':14} {'interval':>9} {'FPS':>9} {'LUT est':>8} {'BRAM36':>7} "
          f"{'weight bits':>11} {'sub-bit layers':>21}  bound by")
    for name, d in res["designs"].items():
        meas = d.get("rtl", {}).get("interval_measured")
        iv = f"{meas:,}" if meas else f"{d['interval_model']:,}*"
        sb = (f"{d['subbit_layers_plain_bits']:,}->{d['subbit_layers_bits']:,}"
              if d["subbit_layers_bits"] else "-")
        print(f"{name:14} {iv:>9} {d['fps_model']:>9,.0f} {d['luts_est']:>8,} "
              f"{d['bram36_est']:>7g} {d['weight_bits']:>11,} {sb:>21}  {d['bound_by']}")
    print("(* = cycle model; others measured by RTL simulation, equal to the model)")
    print(f"\n{'at equal':10} {'design':14} {'interval':>9} {'FPS':>9} {'LUT est':>8} {'BRAM36':>7}  bound by")
    for tau in (4, 5, 6):
        d = res["designs"][f"subbit_tau{tau}"]
        for label in ("equal_lut", "equal_bram"):
            e = d[label]
            print(f"{label[6:]:10} tau={tau:<10} {e['interval_model']:>9,} {e['fps_model']:>9,.0f} "
                  f"{e['luts_est']:>8,} {e['bram36_est']:>7g}  {e['bound_by']}")
    print(f"\nsub-bit tau=5 vs BNN: {res['speedup_tau5_vs_bnn']}x throughput, sub-bit layer "
          f"weights {res['subbit_weight_reduction_tau5']}x fewer bits")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    ok = all(d.get("rtl", {}).get("rtlsim_equals_golden", True) and
             d.get("rtl", {}).get("cycles_equal_model", True) for d in res["designs"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
