"""Benchmark: cycle-accurate RTL simulation of CNV-W1A1 with BNN-PYNQ's folding.

Usage: python bench/rtl_cnv.py [--frames 40] [--out bench/results/rtl_cnv.json]

Builds the BNN-PYNQ CNV-W1A1 topology with random +-1 weights (bnnc.testing.cnv_w1a1),
compiles it with BNN-PYNQ's published folding (bench/compile_time.py), generates the
Verilog, simulates FRAMES random frames with Verilator (native C++ harness), checks the
outputs against golden, and prints per-layer model figures plus measured interval,
latency and simulated cycles per second. Expected: interval exactly 32,768 cycles/frame
(3,052 frames/s at 100 MHz), equal to the cycle model, and at least 1 M simulated cycles
per second (wall time of the harness loop; CPU time is reported beside it, and the load
average, since other processes share the machine).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compile_time import BNN_PYNQ_CNV_FOLD  # noqa: E402

from bnnc import golden  # noqa: E402
from bnnc.api import CompileOptions, compile_model  # noqa: E402
from bnnc.host.packing import pack_frames  # noqa: E402
from bnnc.sim.rtlsim import VERILATOR_FLAGS, build_top, run_top  # noqa: E402
from bnnc.testing import cnv_w1a1  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "rtl_cnv.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as td:
        work = Path(td)
        model = cnv_w1a1(work / "cnv_w1a1.onnx")
        t0 = time.perf_counter()
        proj = compile_model(model, work / "build", CompileOptions(
            fold=BNN_PYNQ_CNV_FOLD, generate="rtl", backend="rtl"))
        t_compile = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_top(proj.rtl_dir)
        t_build = time.perf_counter() - t0
        x = np.random.default_rng(0).integers(0, 256, (args.frames, 3, 32, 32))
        run = run_top(proj.rtl_dir, pack_frames(x, 8), args.frames)
        s = proj.spec.unpack(run.words, args.frames)
        equal = bool(np.array_equal(s, golden.run(proj.graph, x)))
        rep = proj.report
    model_cm = rep["cycle_model"]
    print(f"{'layer':16} {'kind':8} {'PE':>3} {'SIMD':>4} {'interval':>9} {'latency':>9}")
    for r in rep["layers"]:
        print(f"{r['name']:16} {r['kind']:8} {str(r.get('pe', '')):>3} {str(r.get('simd', '')):>4} "
              f"{r['interval_cycles']:9,} {r['latency_cycles']:9,}")
    clock = rep["target"]["clock_mhz"]
    res = {
        "design": "cnv-w1a1 (bnn-pynq fold)", "frames": args.frames, "rtlsim_equals_golden": equal,
        "interval_cycles_measured": run.interval, "interval_cycles_model": model_cm["interval"],
        "latency_cycles_measured": run.latency, "latency_cycles_model": model_cm["latency"],
        "fps_at_clock": round(clock * 1e6 / run.interval, 1) if run.interval else None,
        "clock_mhz": clock, "simulated_cycles": run.cycles,
        "sim_seconds": round(run.seconds, 3), "sim_cpu_seconds": round(run.cpu_seconds, 3),
        "sim_cycles_per_second": round(run.cycles_per_second),
        "sim_cycles_per_cpu_second": round(run.cycles_per_cpu_second),
        "sim_target_1m_cycles_per_second_met": run.cycles_per_second >= 1e6,
        "compile_s": round(t_compile, 2), "verilator_build_s": round(t_build, 1),
        "load_average_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
        "verilator_flags": list(VERILATOR_FLAGS),
        "fifo_depths": model_cm["fifo_depths"], "python": platform.python_version(),
    }
    print()
    for k in ("rtlsim_equals_golden", "interval_cycles_measured", "interval_cycles_model",
              "latency_cycles_measured", "latency_cycles_model", "fps_at_clock",
              "simulated_cycles", "sim_seconds", "sim_cpu_seconds", "sim_cycles_per_second",
              "sim_cycles_per_cpu_second", "sim_target_1m_cycles_per_second_met", "compile_s",
              "verilator_build_s", "load_average_1min"):
        print(f"{k:26} {res[k]}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    ok = equal and run.interval == model_cm["interval"] == 32768 and run.latency == model_cm["latency"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
