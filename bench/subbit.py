"""Benchmark: sub-bit CNV (all convs but the first on a 2**tau codebook) vs the plain BNN.

Usage: python bench/subbit.py [--frames 3] [--no-rtl] [--no-synth] [--jobs 1]
                              [--out bench/results/subbit.json]

Both networks are BNN-PYNQ's CNV-W1A1 topology with random weights (bnnc.testing.cnv_w1a1;
the sub-bit ones draw the kernels of conv2..conv6 from a random 2**tau codebook, tau = 4,
5, 6, in plain form, so the frontend's codebook discovery finds them). All are folded
automatically for pynq-z2 by the same folding pass with the same options
(``Fold(wide_windows=True)``: every 3x3 conv may take whole 3x3 windows per word) and the
same budgets (75% of the LUTs, 90% of the BRAM36, minus the DMA shell allowance); weight
memories are placed by the same rule for every matvec kind (block RAM when its tiles are
cheaper than its LUTs, moved between LUTs and BRAM by the folding when a budget runs out).

Printed and written per design: the cycle-model interval and the RTL-measured one
(Verilator, FRAMES random frames: outputs == golden, interval and latency == the model),
FPS at 100 MHz, estimated and Yosys (``bnnc synth``: synth_xilinx per unit, cached by
content) LUT/FF/BRAM36/DSP for the whole net (with the DMA shell allowance the folding
reserves), whole-net weight bits and those of the sub-bit layers (9*C_out*C_in vs
9*2**tau + tau*C_out*C_in), and which resource bounds the design; then for tau = 4, 5, 6
the throughput at equal LUT and at equal BRAM (each sub-bit net refolded with the BNN's
estimated usage as its budget); and, cycle model only, BNN vs tau = 5 when BRAM is scarce
(32 to 64 BRAM36 tiles with the board's LUTs).
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
from bnnc.cost import node_cost, subbit_weight_bits, weight_in_bram
from bnnc.cycles import design_timing
from bnnc.frontend.convert import ConvertOptions, onnx_to_ir
from bnnc.frontend.load import load_onnx
from bnnc.host.packing import pack_frames
from bnnc.passes import Fold, pipeline, run_pipeline
from bnnc.passes.fold import SHELL_BRAMS, SHELL_LUTS
from bnnc.sim.rtlsim import build_top, run_top
from bnnc.targets import Target, get_target
from bnnc.testing import cnv_w1a1

TARGET = get_target("pynq-z2")
TAUS = (4, 5, 6)
BRAM_SCARCE = (32, 40, 48, 56, 64)  # BRAM36 budgets of the scarce-BRAM comparison


def _bound(luts: float, brams: float, target: Target, worst: str) -> str:
    """The resource the folding ran out of (use over 85% of its budget), or the structure."""
    ul = luts / (target.luts * target.lut_fraction)
    ub = brams / (target.bram36 * target.bram_fraction)
    if max(ul, ub) > 0.85:
        return "LUT+BRAM" if min(ul, ub) > 0.85 else ("LUT" if ul >= ub else "BRAM")
    return f"structure ({worst} at its widest legal folding)"


def _design(graph: ir.Graph, target: Target) -> tuple[ir.Graph, dict[str, Any]]:
    hw = run_pipeline(graph, pipeline(Fold(target=target, wide_windows=True)))
    costs = {n.name: node_cost(hw, n) for n in hw}
    luts = sum(c.luts for c in costs.values()) + SHELL_LUTS
    brams = sum(c.brams for c in costs.values()) + SHELL_BRAMS
    ffs = sum(c.ffs for c in costs.values())
    worst = max(costs, key=lambda k: costs[k].cycles)
    timing = design_timing(hw)
    sub_plain = sub_bits = 0
    for n in hw:
        if isinstance(n, ir.CodebookMatVec):
            p, s = subbit_weight_bits(n.tau, n.taps, n.mh, n.channels)
            sub_plain, sub_bits = sub_plain + p, sub_bits + s
    fold: dict[str, Any] = {}
    for n in hw:
        if isinstance(n, (ir.MatVec, ir.CodebookMatVec)):
            fold[n.name] = {"pe": n.pe, "simd": n.simd,
                            "weights_in": "BRAM" if weight_in_bram(n) else "LUT"}
            if isinstance(n, ir.CodebookMatVec):
                fold[n.name]["subbit"] = n.mode
    return hw, {
        "interval_model": timing.interval, "latency_model": timing.latency,
        "fps_model": round(target.clock_mhz * 1e6 / timing.interval, 1),
        "bottleneck": worst, "luts_est": luts, "ffs_est": ffs, "bram36_est": brams,
        "dsps_est": 0,
        "lut_use": round(luts / (target.luts * target.lut_fraction), 3),
        "bram_use": round(brams / (target.bram36 * target.bram_fraction), 3),
        "bound_by": _bound(luts, brams, target, worst),
        "weight_bits": sum(c.weight_bits for c in costs.values()),
        "subbit_layers_plain_bits": sub_plain, "subbit_layers_bits": sub_bits,
        "folding": fold,
    }


def _rtl(hw: ir.Graph, work: Path, frames: int) -> dict[str, Any]:
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


def _synth(hw: ir.Graph, work: Path, jobs: int, label: str) -> dict[str, Any]:
    from bnnc.synth import synthesize

    t0 = time.perf_counter()
    res = synthesize(work, TARGET, graph=hw, model=label, jobs=jobs,
                     progress=lambda m: print(f"[bench] {label}: {m}", file=sys.stderr))
    tot = res.total
    return {"luts": tot.luts + SHELL_LUTS, "ffs": tot.ffs, "bram36": tot.bram36 + SHELL_BRAMS,
            "dsps": tot.dsps, "seconds": round(time.perf_counter() - t0, 1),
            "per_unit": {u.name: {"luts": u.measured.luts, "ffs": u.measured.ffs,
                                  "bram36": u.measured.bram36,
                                  "luts_est": u.estimate.luts, "bram36_est": u.estimate.bram36}
                         for u in res.units}}


def _measure(d: dict[str, Any], hw: ir.Graph, work: Path, args: argparse.Namespace,
             label: str, synth: bool) -> None:
    generate_rtl(hw, work, "cnv")
    if not args.no_rtl:
        print(f"[bench] {label}: Verilator build and {args.frames} frames", file=sys.stderr)
        r = _rtl(hw, work, args.frames)
        r["cycles_equal_model"] = (r["interval_measured"] == d["interval_model"] and
                                   r["latency_measured"] == d["latency_model"])
        d["rtl"] = r
    if synth and not args.no_synth:
        y = _synth(hw, work, args.jobs, label)
        d["yosys"] = y
        d["bound_by_yosys"] = _bound(y["luts"], y["bram36"], TARGET, d["bottleneck"])


def _iv(d: dict[str, Any]) -> tuple[int, str]:
    meas = d.get("rtl", {}).get("interval_measured")
    return (meas, f"{meas:,}") if meas else (d["interval_model"], f"{d['interval_model']:,}*")


def _table(res: dict[str, Any]) -> str:
    lines = [f"{'design':14} {'interval':>9} {'FPS':>7} {'LUT est':>8} {'LUT Yosys':>9} "
             f"{'FF Yosys':>8} {'BRAM est':>8} {'BRAM Yosys':>10} {'DSP':>3} "
             f"{'weight bits':>11} {'sub-bit layers':>21}  bound by (est / Yosys)"]
    for name, d in res["designs"].items():
        _, iv = _iv(d)
        y = {k: (f"{v:,}" if isinstance(v, int) else f"{v:g}")
             for k, v in d.get("yosys", {}).items() if k in ("luts", "ffs", "bram36", "dsps")}
        sb = (f"{d['subbit_layers_plain_bits']:,}->{d['subbit_layers_bits']:,}"
              if d["subbit_layers_bits"] else "-")
        lines.append(
            f"{name:14} {iv:>9} {d['fps_model']:>7,.0f} {d['luts_est']:>8,} "
            f"{y.get('luts', '-'):>9} {y.get('ffs', '-'):>8} {d['bram36_est']:>8g} "
            f"{y.get('bram36', '-'):>10} {y.get('dsps', '-'):>3} {d['weight_bits']:>11,} "
            f"{sb:>21}  {d['bound_by']} / {d.get('bound_by_yosys', '-')}")
    lines.append("(* = cycle model; others measured by RTL simulation, equal to the model. "
                 "LUT/BRAM include the 4,000 LUT / 4 BRAM36 DMA shell allowance)")
    lines.append("")
    lines.append(f"{'at equal':9} {'design':8} {'BNN budget':>10} {'interval':>9} {'FPS':>7} "
                 f"{'vs BNN':>6} {'LUT est':>8} {'BRAM est':>8}  bound by")
    for tau in TAUS:
        d = res["designs"][f"subbit_tau{tau}"]
        for label, budget in (("equal_lut", "luts_est"), ("equal_bram", "bram36_est")):
            e = d[label]
            _, iv = _iv(e)
            lines.append(f"{label[6:]:9} tau={tau:<4} {res['designs']['bnn'][budget]:>10,} "
                         f"{iv:>9} {e['fps_model']:>7,.0f} {e['speedup_vs_bnn']:>5}x "
                         f"{e['luts_est']:>8,} {e['bram36_est']:>8g}  {e['bound_by']}")
    lines.append("")
    lines.append(f"{'BRAM36 budget':>13} {'BNN interval':>12} {'tau=5 interval':>14} "
                 f"{'tau=5 vs BNN':>12}  bound by (BNN / tau=5), cycle model")
    for row in res.get("bram_scarce", []):
        iv = {k: (f"{row[k]['interval_model']:,}" if row[k]["fits"] else "does not fit")
              for k in ("bnn", "subbit_tau5")}
        sp = row["speedup_tau5_vs_bnn"]
        lines.append(f"{row['bram36_budget']:>13} {iv['bnn']:>12} {iv['subbit_tau5']:>14} "
                     f"{(f'{sp}x' if sp else '-'):>12}  {row['bnn']['bound_by']} / "
                     f"{row['subbit_tau5']['bound_by']}")
    return "\n".join(lines)


def _save(res: dict[str, Any], out: str, partial: bool) -> None:
    """Write the results (also after each design, marked partial, so a long Yosys run
    leaves what it measured)."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({**res, "partial": partial}, indent=1) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--no-rtl", action="store_true", help="skip RTL simulation")
    ap.add_argument("--no-synth", action="store_true", help="skip Yosys (bnnc synth)")
    ap.add_argument("--jobs", type=int, default=1, help="Yosys processes at once (4 GiB each)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "subbit.json"))
    args = ap.parse_args()
    res: dict[str, Any] = {
        "command": "python bench/subbit.py " + " ".join(sys.argv[1:]),
        "target": TARGET.name, "clock_mhz": TARGET.clock_mhz,
        "budget": {"luts": TARGET.luts * TARGET.lut_fraction,
                   "bram36": TARGET.bram36 * TARGET.bram_fraction,
                   "shell": {"luts": SHELL_LUTS, "bram36": SHELL_BRAMS}},
        "note": "Yosys figures are synth_xilinx's mapping (not Vivado's), units synthesized "
                "separately and summed, plus the DMA shell allowance",
        "designs": {}}
    with tempfile.TemporaryDirectory() as td:
        work = Path(td)
        graphs = {"bnn": onnx_to_ir(load_onnx(cnv_w1a1(work / "bnn.onnx")),
                                    ConvertOptions(subbit="off"))}
        for tau in TAUS:
            g = onnx_to_ir(load_onnx(cnv_w1a1(work / f"sb{tau}.onnx", subbit_tau=tau)),
                           ConvertOptions(subbit=f"tau={tau}"))
            graphs[f"subbit_tau{tau}"] = g
        for name in ("bnn", "subbit_tau5", "subbit_tau4", "subbit_tau6"):  # the headline first
            hw, d = _design(graphs[name], TARGET)
            res["designs"][name] = d
            print(f"[bench] {name}: folded, interval {d['interval_model']:,}", file=sys.stderr)
            _measure(d, hw, work / name, args, name, synth=True)
            _save(res, args.out, partial=True)
        res["designs"] = {k: res["designs"][k] for k in graphs}
        bnn = res["designs"]["bnn"]
        ref, _ = _iv(bnn)
        eq_lut = dataclasses.replace(TARGET, luts=int(bnn["luts_est"]), lut_fraction=1.0)
        eq_bram = dataclasses.replace(TARGET, bram36=int(np.ceil(bnn["bram36_est"])),
                                      bram_fraction=1.0)
        for tau in TAUS:
            name = f"subbit_tau{tau}"
            for label, tgt in (("equal_lut", eq_lut), ("equal_bram", eq_bram)):
                hw, d = _design(graphs[name], tgt)
                e = {k: d[k] for k in ("interval_model", "latency_model", "fps_model",
                                       "luts_est", "bram36_est", "bound_by", "folding")}
                if label == "equal_lut":  # the BRAM budget stays the board's, and vice versa
                    e["bound_by"] = _bound(d["luts_est"], d["bram36_est"], tgt, d["bottleneck"])
                _measure(e, hw, work / f"{name}_{label}", args, f"{name} {label}", synth=False)
                e["speedup_vs_bnn"] = round(ref / _iv(e)[0], 3)
                res["designs"][name][label] = e
        for name, d in res["designs"].items():
            d["speedup_vs_bnn"] = round(ref / _iv(d)[0], 3)
        # where the smaller weights pay: both nets refolded with few BRAM36 tiles (the
        # board's LUT budget), cycle model only
        res["bram_scarce"] = []
        for tiles in BRAM_SCARCE:
            tgt = dataclasses.replace(TARGET, bram36=tiles, bram_fraction=1.0)
            row: dict[str, Any] = {"bram36_budget": tiles}
            for name in ("bnn", "subbit_tau5"):
                _, d = _design(graphs[name], tgt)
                row[name] = {k: d[k] for k in ("interval_model", "fps_model", "luts_est",
                                               "bram36_est")}
                row[name]["fits"] = d["luts_est"] <= tgt.luts and d["bram36_est"] <= tiles
                row[name]["bound_by"] = _bound(d["luts_est"], d["bram36_est"], tgt,
                                               d["bottleneck"])
            row["speedup_tau5_vs_bnn"] = (round(row["bnn"]["interval_model"] /
                                                row["subbit_tau5"]["interval_model"], 3)
                                          if row["bnn"]["fits"] and row["subbit_tau5"]["fits"]
                                          else None)
            res["bram_scarce"].append(row)
    d5 = res["designs"]["subbit_tau5"]
    res["speedup_tau5_vs_bnn"] = d5["speedup_vs_bnn"]
    res["subbit_weight_reduction_tau5"] = round(d5["subbit_layers_plain_bits"] /
                                                d5["subbit_layers_bits"], 3)
    text = _table(res)
    print(text)
    print(f"\nsub-bit tau=5 vs BNN: {res['speedup_tau5_vs_bnn']}x throughput, sub-bit layer "
          f"weights {res['subbit_weight_reduction_tau5']}x fewer bits")
    _save(res, args.out, partial=False)
    ok = True
    for d in res["designs"].values():
        for e in (d, d.get("equal_lut", {}), d.get("equal_bram", {})):
            r = e.get("rtl", {})
            ok = ok and r.get("rtlsim_equals_golden", True) and r.get("cycles_equal_model", True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
